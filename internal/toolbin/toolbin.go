package toolbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Find is FindIn with the process environment.
func Find(envVar, name, version string) (string, error) {
	return FindIn(os.Getenv, envVar, name, version)
}

// FindIn returns the path of the executable name, looking in the variable envVar, the
// cache folder of scripts/tools.sh (for version) and $PATH, in that order, reading the
// variables through getenv ($PATH excepted: exec.LookPath reads it). A set envVar is
// final: if it does not name an executable file, FindIn fails rather than look further.
// Every error means that no usable binary was found.
func FindIn(getenv func(string) string, envVar, name, version string) (string, error) {
	if p := getenv(envVar); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file", envVar, p)
	}
	if dir, ok := cacheDir(getenv); ok {
		p := filepath.Join(dir, name+"-"+version, "bin", name)
		if isExecutable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("not in the cache folder of scripts/tools.sh nor on PATH: %w", err)
	}
	return p, nil
}

// cacheDir mirrors SLUICE_CACHE in scripts/tools.sh; false when no variable it derives
// from is set.
func cacheDir(getenv func(string) string) (string, bool) {
	if d := getenv("SLUICE_CACHE"); d != "" {
		return d, true
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "sluice"), true
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "sluice"), true
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
