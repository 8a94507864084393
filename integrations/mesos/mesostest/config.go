package mesostest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config configures a stand-in master. Build it from DefaultConfig.
type Config struct {
	// Logger receives the stand-in's logs; nil discards them.
	Logger *slog.Logger
	// WorkDir is the root under which agents create task sandboxes
	// (WorkDir/slaves/<agent>/frameworks/<framework>/executors/<executor>/runs/<container>).
	// Required; tests pass t.TempDir().
	WorkDir string
	// HeartbeatInterval is how often HEARTBEAT events are sent on scheduler streams
	// (heartbeat_interval_seconds in SUBSCRIBED). Mesos' default is 15s.
	HeartbeatInterval time.Duration
	// AllocationInterval is the period of the batch allocator, which also expires offer
	// filters, re-sends unacknowledged status updates and rescinds timed-out offers. Offers are
	// also made at once whenever resources free up or a framework subscribes or revives.
	// Mesos' default is 1s.
	AllocationInterval time.Duration
	// OfferTimeout rescinds offers outstanding this long (RESCIND event); 0 never rescinds, as
	// Mesos without --offer_timeout.
	OfferTimeout time.Duration
	// StatusUpdateRetryInterval is the first re-send delay of an unacknowledged status update;
	// it doubles on each re-send up to StatusUpdateRetryMax. Mesos uses 10s and 10mins.
	StatusUpdateRetryInterval time.Duration
	// StatusUpdateRetryMax caps the re-send delay.
	StatusUpdateRetryMax time.Duration
	// Credentials maps principals to secrets. When not empty, scheduler calls must carry HTTP
	// basic authentication with one of them, and a subscribing framework's principal must be the
	// authenticated one. Empty means no authentication, as Mesos without --authenticate_frameworks.
	Credentials map[string]string
	// Agents are started with the master.
	Agents []AgentConfig
}

// AgentConfig configures one stand-in agent. Zero fields take the defaults noted.
type AgentConfig struct {
	// ID is the agent ID; empty assigns "<master id>-S<n>".
	ID string
	// Hostname is reported in offers and AgentInfo; default "127.0.0.1". The agent always
	// listens on 127.0.0.1.
	Hostname string
	// Resources are the unreserved resources; the zero value means 4 cpus, 4096 MB of memory,
	// 10240 MB of disk and ports 31000-32000.
	Resources *Resources
	// Reserved are resources statically reserved for a role (role -> resources), as with the
	// agent's --resources flag "cpus(role):2".
	Reserved map[string]Resources
	// Attributes are text attributes of the agent, reported in offers.
	Attributes map[string]string
	// ExecutorShutdownGracePeriod is how long an executor has to exit after SHUTDOWN before it
	// is killed; it is passed as MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD. Default 5s.
	ExecutorShutdownGracePeriod time.Duration
	// ExecutorRegistrationTimeout kills an executor that has not subscribed this long after it
	// started (its tasks fail with REASON_EXECUTOR_REGISTRATION_TIMEOUT). Default 1 minute.
	ExecutorRegistrationTimeout time.Duration
	// RecoveryTimeout is how long an executor of a checkpointing framework may stay
	// disconnected before it is killed (MESOS_RECOVERY_TIMEOUT). Default 15 minutes.
	RecoveryTimeout time.Duration
	// SubscriptionBackoffMax is passed as MESOS_SUBSCRIPTION_BACKOFF_MAX. Default 2s.
	SubscriptionBackoffMax time.Duration
	// KillGracePeriod is the SIGTERM-to-SIGKILL delay for command tasks whose kill policy does
	// not set one. Default 3s, as Mesos' command executor.
	KillGracePeriod time.Duration
	// Environment is the base environment of executors and command tasks ("K=V" entries);
	// nil inherits the environment of the process running the stand-in, as a Mesos agent
	// without --executor_environment_variables does.
	Environment []string
}

// DefaultConfig returns the configuration of a master with Mesos' default intervals and no agents;
// WorkDir must still be set.
func DefaultConfig() Config {
	return Config{
		HeartbeatInterval:         15 * time.Second,
		AllocationInterval:        time.Second,
		StatusUpdateRetryInterval: 10 * time.Second,
		StatusUpdateRetryMax:      10 * time.Minute,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.WorkDir == "":
		return errors.New("mesostest: WorkDir is required")
	case c.HeartbeatInterval <= 0:
		return errors.New("mesostest: HeartbeatInterval must be positive")
	case c.AllocationInterval <= 0:
		return errors.New("mesostest: AllocationInterval must be positive")
	case c.OfferTimeout < 0:
		return errors.New("mesostest: OfferTimeout must not be negative")
	case c.StatusUpdateRetryInterval <= 0 || c.StatusUpdateRetryMax < c.StatusUpdateRetryInterval:
		return errors.New("mesostest: StatusUpdateRetryInterval must be positive and at most StatusUpdateRetryMax")
	}
	for p := range c.Credentials {
		if p == "" || strings.Contains(p, ":") {
			return fmt.Errorf("mesostest: invalid principal %q", p)
		}
	}
	for i, a := range c.Agents {
		if err := a.validate(); err != nil {
			return fmt.Errorf("mesostest: agent %d: %w", i, err)
		}
	}
	return nil
}

func (a AgentConfig) validate() error {
	for role := range a.Reserved {
		if role == "" || role == unreserved {
			return fmt.Errorf("invalid reservation role %q", role)
		}
	}
	if a.ExecutorShutdownGracePeriod < 0 || a.ExecutorRegistrationTimeout < 0 || a.RecoveryTimeout < 0 ||
		a.SubscriptionBackoffMax < 0 || a.KillGracePeriod < 0 {
		return errors.New("durations must not be negative")
	}
	return nil
}

// withDefaults fills the zero fields of a.
func (a AgentConfig) withDefaults() AgentConfig {
	if a.Hostname == "" {
		a.Hostname = "127.0.0.1"
	}
	if a.Resources == nil {
		a.Resources = &Resources{CPUs: 4, MemMB: 4096, DiskMB: 10240, Ports: []PortRange{{31000, 32000}}}
	}
	if a.ExecutorShutdownGracePeriod == 0 {
		a.ExecutorShutdownGracePeriod = 5 * time.Second
	}
	if a.ExecutorRegistrationTimeout == 0 {
		a.ExecutorRegistrationTimeout = time.Minute
	}
	if a.RecoveryTimeout == 0 {
		a.RecoveryTimeout = 15 * time.Minute
	}
	if a.SubscriptionBackoffMax == 0 {
		a.SubscriptionBackoffMax = 2 * time.Second
	}
	if a.KillGracePeriod == 0 {
		a.KillGracePeriod = 3 * time.Second
	}
	return a
}

// mesosDuration formats d the way Mesos' stout Duration prints it ("5secs", "250ms", "2mins"),
// which mesos-go's executor config parser requires.
func mesosDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d >= time.Hour:
		return fmt.Sprintf("%dhrs", d/time.Hour)
	case d%time.Minute == 0 && d >= time.Minute:
		return fmt.Sprintf("%dmins", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%dsecs", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d%time.Microsecond == 0:
		return fmt.Sprintf("%dus", d/time.Microsecond)
	default:
		return fmt.Sprintf("%dns", d)
	}
}
