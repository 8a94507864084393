package toolbin

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindIn(t *testing.T) {
	root := t.TempDir()
	p := func(parts ...string) string { return filepath.Join(append([]string{root}, parts...)...) }
	writeFile(t, p("env", "minio"), 0o755)
	writeFile(t, p("plain", "minio"), 0o644)
	writeFile(t, p("cache", "minio-v1", "bin", "minio"), 0o755)
	writeFile(t, p("xdg", "sluice", "minio-v1", "bin", "minio"), 0o755)
	writeFile(t, p("home", ".cache", "sluice", "minio-v1", "bin", "minio"), 0o755)
	writeFile(t, p("path", "minio"), 0o755)

	tests := []struct {
		name    string
		env     map[string]string
		path    string // $PATH; empty means a folder without the binary
		version string
		want    string // empty means an error
	}{
		{name: "env wins", env: map[string]string{"BIN": p("env", "minio"), "SLUICE_CACHE": p("cache")}, version: "v1", want: p("env", "minio")},
		{name: "env missing is final", env: map[string]string{"BIN": p("env", "nomad"), "SLUICE_CACHE": p("cache")}, path: p("path"), version: "v1"},
		{name: "env not executable", env: map[string]string{"BIN": p("plain", "minio")}, path: p("path"), version: "v1"},
		{name: "env folder", env: map[string]string{"BIN": p("env")}, version: "v1"},
		{name: "SLUICE_CACHE", env: map[string]string{"SLUICE_CACHE": p("cache"), "XDG_CACHE_HOME": p("xdg")}, version: "v1", want: p("cache", "minio-v1", "bin", "minio")},
		{name: "XDG_CACHE_HOME", env: map[string]string{"XDG_CACHE_HOME": p("xdg"), "HOME": p("home")}, version: "v1", want: p("xdg", "sluice", "minio-v1", "bin", "minio")},
		{name: "HOME", env: map[string]string{"HOME": p("home")}, version: "v1", want: p("home", ".cache", "sluice", "minio-v1", "bin", "minio")},
		{name: "SLUICE_CACHE hides the others", env: map[string]string{"SLUICE_CACHE": p("empty"), "XDG_CACHE_HOME": p("xdg")}, version: "v1"},
		{name: "other version falls to PATH", env: map[string]string{"SLUICE_CACHE": p("cache")}, path: p("path"), version: "v2", want: p("path", "minio")},
		{name: "PATH", path: p("path"), version: "v1", want: p("path", "minio")},
		{name: "nowhere", env: map[string]string{"SLUICE_CACHE": p("cache")}, version: "v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = t.TempDir()
			}
			t.Setenv("PATH", path)
			getenv := func(k string) string { return tt.env[k] }
			got, err := FindIn(getenv, "BIN", "minio", tt.version)
			switch {
			case tt.want == "" && err == nil:
				t.Fatalf("FindIn() = %q, nil; want an error", got)
			case tt.want != "" && (err != nil || got != tt.want):
				t.Fatalf("FindIn() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFind_ReadsTheEnvironment(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "nomad")
	writeFile(t, bin, 0o755)
	t.Setenv("SLUICE_TOOLBIN_TEST_BIN", bin)
	if got, err := Find("SLUICE_TOOLBIN_TEST_BIN", "nomad", "v1"); err != nil || got != bin {
		t.Fatalf("Find() = %q, %v; want %q", got, err, bin)
	}
}

func writeFile(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 1\n"), mode); err != nil {
		t.Fatal(err)
	}
}
