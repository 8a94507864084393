package nomad

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/nomad/api"
)

// ErrInvalidConfig reports a Config (or a backend setting) that Validate rejects.
var ErrInvalidConfig = errors.New("nomad: invalid config")

// Task drivers the backend runs jobs with.
const (
	// DriverRawExec runs the command as the Nomad client's user, without isolation.
	DriverRawExec = "raw_exec"
	// DriverExec runs the command in a chroot with cgroups (the client must be root).
	DriverExec = "exec"
)

// DefaultJobPrefix starts the IDs of the Nomad jobs the backend registers.
const DefaultJobPrefix = "sluice"

// DefaultAddress is the address of a Nomad agent on this machine.
const DefaultAddress = "http://127.0.0.1:4646"

// Config is how to reach a Nomad cluster and how to run tasks on it. It is shared by the
// Backend, the executor watch and the deploy commands.
type Config struct {
	// Address is the HTTP API address of a Nomad agent, "http(s)://host:port".
	Address string
	// Token is the ACL token (secret ID); empty when ACLs are off.
	Token string
	// Region and Namespace are those of the jobs; empty means the agent's defaults.
	Region    string
	Namespace string
	// Datacenters the jobs may run in; empty means every datacenter ("*").
	Datacenters []string
	// CACert, ClientCert and ClientKey are PEM file paths for a TLS API; ClientCert and
	// ClientKey go together. TLSServerName overrides the name checked in the server's
	// certificate; TLSSkipVerify turns the check off (tests only).
	CACert        string
	ClientCert    string
	ClientKey     string
	TLSServerName string
	TLSSkipVerify bool
	// JobPrefix starts the Nomad job IDs: "<prefix>-job-...", "<prefix>-executor".
	JobPrefix string
	// Driver is the task driver of jobs: DriverRawExec or DriverExec.
	Driver string
	// KillTimeout is how long Nomad waits after SIGTERM before it kills a task's
	// processes with SIGKILL; zero means 5 s.
	KillTimeout time.Duration
	// Logger receives the backend's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a Config for a local agent (DefaultAddress) with the job prefix
// DefaultJobPrefix and the raw_exec driver.
func DefaultConfig() Config {
	return Config{Address: DefaultAddress, JobPrefix: DefaultJobPrefix, Driver: DriverRawExec}
}

// Validate reports the first problem of c, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	u, err := url.Parse(c.Address)
	switch {
	case c.Address == "":
		return fmt.Errorf("no address: %w", ErrInvalidConfig)
	case err != nil:
		return fmt.Errorf("address %q: %v: %w", c.Address, err, ErrInvalidConfig)
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix":
		return fmt.Errorf("address %q: scheme must be http, https or unix: %w", c.Address, ErrInvalidConfig)
	case u.Scheme != "unix" && u.Host == "":
		return fmt.Errorf("address %q: no host: %w", c.Address, ErrInvalidConfig)
	case !validJobPrefix(c.JobPrefix):
		return fmt.Errorf("job prefix %q: want 1-40 letters, digits, '-' or '_': %w", c.JobPrefix, ErrInvalidConfig)
	case c.Driver != DriverRawExec && c.Driver != DriverExec:
		return fmt.Errorf("driver %q: want %s or %s: %w", c.Driver, DriverRawExec, DriverExec, ErrInvalidConfig)
	case c.KillTimeout < 0:
		return fmt.Errorf("kill timeout %v < 0: %w", c.KillTimeout, ErrInvalidConfig)
	case (c.ClientCert == "") != (c.ClientKey == ""):
		return fmt.Errorf("client cert and key go together: %w", ErrInvalidConfig)
	}
	for _, dc := range c.Datacenters {
		if dc == "" {
			return fmt.Errorf("empty datacenter name: %w", ErrInvalidConfig)
		}
	}
	return nil
}

// validJobPrefix accepts the characters Nomad job IDs and our sanitized names share.
func validJobPrefix(p string) bool {
	if p == "" || len(p) > 40 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// datacenters is c.Datacenters, or every datacenter.
func (c Config) datacenters() []string {
	if len(c.Datacenters) == 0 {
		return []string{"*"}
	}
	return append([]string(nil), c.Datacenters...)
}

// NewAPIClient returns a Nomad API client for cfg, with an HTTP transport of its own:
// call Close on the client when done, to release its idle connections. Blocking queries
// and the event stream use requests without a client-side timeout; their context bounds
// them.
func NewAPIClient(cfg Config) (*api.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport := &http.Transport{
		// The cluster is addressed directly; an environment proxy is not consulted.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	hc := &http.Client{Transport: transport}
	tlsCfg := &api.TLSConfig{
		CACert:        cfg.CACert,
		ClientCert:    cfg.ClientCert,
		ClientKey:     cfg.ClientKey,
		TLSServerName: cfg.TLSServerName,
		Insecure:      cfg.TLSSkipVerify,
	}
	if err := api.ConfigureTLS(hc, tlsCfg); err != nil {
		return nil, fmt.Errorf("nomad: TLS configuration: %v: %w", err, ErrInvalidConfig)
	}
	c, err := api.NewClient(&api.Config{
		Address:    cfg.Address,
		Region:     cfg.Region,
		Namespace:  cfg.Namespace,
		SecretID:   cfg.Token,
		HttpClient: hc,
		TLSConfig:  tlsCfg,
	})
	if err != nil {
		return nil, fmt.Errorf("nomad: API client for %s: %v: %w", cfg.Address, err, ErrInvalidConfig)
	}
	return c, nil
}
