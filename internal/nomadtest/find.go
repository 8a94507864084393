package nomadtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// findBinary looks for Nomad in $SLUICE_NOMAD_BIN, the cache folder of scripts/tools.sh
// and $PATH, in that order.
func findBinary() (string, error) {
	if p := os.Getenv("SLUICE_NOMAD_BIN"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("SLUICE_NOMAD_BIN=%s is not an executable file", p)
	}
	if dir, ok := cacheDir(); ok {
		p := filepath.Join(dir, "nomad-"+Version, "bin", "nomad")
		if isExecutable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("nomad")
	if err != nil {
		return "", fmt.Errorf("not in the cache folder of scripts/tools.sh nor on PATH: %w", err)
	}
	return p, nil
}

// cacheDir mirrors SLUICE_CACHE in scripts/tools.sh.
func cacheDir() (string, bool) {
	if d := os.Getenv("SLUICE_CACHE"); d != "" {
		return d, true
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "sluice"), true
	}
	if h := os.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "sluice"), true
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// findConfig walks up from the working directory to the module root and returns the
// path of ConfigFile there.
func findConfig() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ConfigFile)
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("nomadtest: the agent configuration: %w", err)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("nomadtest: no go.mod above the working directory to find %s", ConfigFile)
		}
		dir = parent
	}
}

// environWithoutNomad is the test's environment minus NOMAD_* and CONSUL_*/VAULT_*
// variables, so that a developer's own settings cannot point the agent elsewhere.
func environWithoutNomad() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOMAD_") && !strings.HasPrefix(kv, "CONSUL_") && !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
