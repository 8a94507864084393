package nomad

import (
	"errors"
	"testing"
)

func TestConfig_Validate(t *testing.T) {
	mod := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", DefaultConfig(), true},
		{"https with datacenters", mod(func(c *Config) { c.Address = "https://nomad.example:4646"; c.Datacenters = []string{"dc1"} }), true},
		{"unix socket", mod(func(c *Config) { c.Address = "unix:///run/nomad.sock" }), true},
		{"exec driver", mod(func(c *Config) { c.Driver = DriverExec }), true},
		{"no address", mod(func(c *Config) { c.Address = "" }), false},
		{"no scheme", mod(func(c *Config) { c.Address = "127.0.0.1:4646" }), false},
		{"ftp", mod(func(c *Config) { c.Address = "ftp://127.0.0.1" }), false},
		{"no host", mod(func(c *Config) { c.Address = "http://" }), false},
		{"docker driver", mod(func(c *Config) { c.Driver = "docker" }), false},
		{"empty prefix", mod(func(c *Config) { c.JobPrefix = "" }), false},
		{"prefix with a slash", mod(func(c *Config) { c.JobPrefix = "a/b" }), false},
		{"cert without key", mod(func(c *Config) { c.ClientCert = "c.pem" }), false},
		{"empty datacenter", mod(func(c *Config) { c.Datacenters = []string{""} }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewAPIClient(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Address = "http://127.0.0.1:1"
	cfg.Region, cfg.Namespace, cfg.Token = "r1", "ns1", "secret"
	c, err := NewAPIClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Address() != cfg.Address {
		t.Errorf("Address() = %q, want %q", c.Address(), cfg.Address)
	}
	cfg.ClientCert, cfg.ClientKey = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	if _, err := NewAPIClient(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewAPIClient with missing cert files = %v, want ErrInvalidConfig", err)
	}
	if _, err := NewAPIClient(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewAPIClient(Config{}) = %v, want ErrInvalidConfig", err)
	}
}
