package nomadtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicedata/sluice/internal/toolbin"
)

// findBinary looks for Nomad in $SLUICE_NOMAD_BIN, the cache folder of scripts/tools.sh
// and $PATH, in that order.
func findBinary() (string, error) {
	return toolbin.Find("SLUICE_NOMAD_BIN", "nomad", Version)
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
