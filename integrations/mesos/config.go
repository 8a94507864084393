package mesos

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Errors of the package. They are returned wrapped; callers use errors.Is.
var (
	// ErrInvalidConfig reports a Config or backend setting that is rejected.
	ErrInvalidConfig = errors.New("mesos: invalid config")
	// ErrFrameworkIDFile reports a framework ID file that cannot be read or written.
	ErrFrameworkIDFile = errors.New("mesos: framework id file")
)

// Config configures a Backend. Start from DefaultConfig and set Master.
type Config struct {
	// Master is the Mesos master's address, host:port (the v1 scheduler API is at
	// http://Master/api/v1/scheduler). Required.
	Master string
	// Role is the role the framework subscribes with; resources reserved for it are
	// used before unreserved ones, resources reserved for other roles never. Default "*".
	Role string
	// Principal and Secret authenticate the framework with HTTP basic authentication
	// when Principal is set; the principal also goes into the FrameworkInfo.
	Principal string
	Secret    string
	// FailoverTimeout is how long Mesos keeps the framework's tasks running after this
	// scheduler disconnects; a scheduler that re-subscribes with the same framework ID
	// within it finds them again. It must be positive.
	FailoverTimeout time.Duration
	// FrameworkName is the FrameworkInfo name. Default "sluice".
	FrameworkName string
	// User is the user tasks run as; empty lets Mesos use the framework's default (the
	// stand-in and most agents run as the agent's user).
	User string
	// Hostname is the FrameworkInfo hostname; empty lets Mesos take the connection's.
	Hostname string
	// FrameworkIDFile is where the framework ID is kept between runs: read on New,
	// written when Mesos assigns it. The launched tasks are kept beside it, in
	// FrameworkIDFile + ".tasks.json", so that a restarted scheduler adopts them.
	// Empty keeps nothing: every New registers a new framework.
	FrameworkIDFile string
	// Executor describes how executor tasks (scheduler.KindExecutor) run as Mesos
	// executors.
	Executor ExecutorSpec
	// DefaultTask is what a task that asks for no CPU or no memory gets: Mesos refuses
	// tasks without resources.
	DefaultTask TaskDefaults
	// RefuseSeconds is the refuse filter of declined offers and of the leftover of
	// accepted ones: Mesos does not offer those resources again for that long, unless
	// the backend revives offers because a task became pending.
	RefuseSeconds time.Duration
	// LocalityWait is how long a job with Task.PreferNodes waits for an offer from one
	// of those agents before it takes any agent.
	LocalityWait time.Duration
	// ReconcileInterval is the period of implicit reconciliation (Mesos reports every
	// task of the framework); explicit reconciliation of known tasks runs after every
	// subscription.
	ReconcileInterval time.Duration
	// RecoveryTimeout bounds how long Launch waits, after New, for Mesos to report the
	// tasks kept in the tasks file (so that a service task still running is adopted
	// instead of launched twice).
	RecoveryTimeout time.Duration
	// AdoptGrace is how long a recovered service task may wait for the Scheduler to
	// claim it (by a Launch with the same sluice.slot label and kind) before it is
	// killed as an orphan.
	AdoptGrace time.Duration
	// ReconnectBackoff bounds the pause between subscription attempts: it starts at
	// ReconnectMin and doubles up to ReconnectMax, and is reset by a subscription.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// Logger receives the backend's logs; nil discards them.
	Logger *slog.Logger
}

// ExecutorSpec describes executor tasks: each runs as one Mesos executor (an
// ExecutorInfo whose command is the task's argv) holding one Mesos task.
type ExecutorSpec struct {
	// Wrapper, when set, is put before the task's argv in the executor's command: the
	// executor runs Wrapper followed by Task.Command. Leave it empty when Task.Command
	// is itself a Mesos executor (`sluice executor` under Mesos speaks the v1 executor
	// API); set it to run plain commands under an executor that speaks the API and runs
	// its arguments.
	Wrapper []string
	// CPU and MemMB are the resources of the executor itself, on top of the task's:
	// Mesos accounts the ExecutorInfo's resources separately from the TaskInfo's.
	CPU   float64
	MemMB int64
}

// TaskDefaults is the CPU and memory a task gets when it asks for none.
type TaskDefaults struct {
	CPU   float64
	MemMB int64
}

// DefaultConfig returns the defaults: role "*", a one-week failover timeout, framework
// name "sluice", executors with 0.1 CPU and 32 MiB of their own, tasks of at least 0.1
// CPU and 32 MiB, a 5 s refuse filter, a 3 s locality wait, implicit reconciliation
// every 5 minutes, 30 s to recover kept tasks, 2 minutes to adopt them, and reconnects
// between 200 ms and 10 s apart.
func DefaultConfig() Config {
	return Config{
		Role:              "*",
		FailoverTimeout:   7 * 24 * time.Hour,
		FrameworkName:     "sluice",
		Executor:          ExecutorSpec{CPU: 0.1, MemMB: 32},
		DefaultTask:       TaskDefaults{CPU: 0.1, MemMB: 32},
		RefuseSeconds:     5 * time.Second,
		LocalityWait:      3 * time.Second,
		ReconcileInterval: 5 * time.Minute,
		RecoveryTimeout:   30 * time.Second,
		AdoptGrace:        2 * time.Minute,
		ReconnectMin:      200 * time.Millisecond,
		ReconnectMax:      10 * time.Second,
	}
}

// Validate reports the first problem of c, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if c.Master == "" {
		return bad("no mesos master")
	}
	if _, port, err := net.SplitHostPort(c.Master); err != nil {
		return bad("mesos master %q is not host:port: %v", c.Master, err)
	} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return bad("mesos master %q: bad port", c.Master)
	}
	switch {
	case c.Role == "":
		return bad("empty role (use \"*\" for none)")
	case c.Secret != "" && c.Principal == "":
		return bad("secret without a principal")
	case c.FailoverTimeout <= 0:
		return bad("failover timeout %v <= 0", c.FailoverTimeout)
	case c.FrameworkName == "":
		return bad("empty framework name")
	case c.Executor.CPU < 0 || c.Executor.MemMB < 0:
		return bad("executor resources %v CPU, %d MiB < 0", c.Executor.CPU, c.Executor.MemMB)
	case c.DefaultTask.CPU <= 0 || c.DefaultTask.MemMB <= 0:
		return bad("default task resources %v CPU, %d MiB must be positive", c.DefaultTask.CPU, c.DefaultTask.MemMB)
	case c.RefuseSeconds <= 0:
		return bad("refuse seconds %v <= 0", c.RefuseSeconds)
	case c.LocalityWait < 0:
		return bad("locality wait %v < 0", c.LocalityWait)
	case c.ReconcileInterval <= 0:
		return bad("reconcile interval %v <= 0", c.ReconcileInterval)
	case c.RecoveryTimeout <= 0:
		return bad("recovery timeout %v <= 0", c.RecoveryTimeout)
	case c.AdoptGrace <= 0:
		return bad("adopt grace %v <= 0", c.AdoptGrace)
	case c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin:
		return bad("reconnect backoff %v..%v", c.ReconnectMin, c.ReconnectMax)
	}
	for i, a := range c.Executor.Wrapper {
		if a == "" && i == 0 {
			return bad("executor wrapper with an empty program")
		}
	}
	return nil
}

// tasksFile is where the launched tasks are kept, "" when nothing is kept.
func (c Config) tasksFile() string {
	if c.FrameworkIDFile == "" {
		return ""
	}
	return c.FrameworkIDFile + ".tasks.json"
}
