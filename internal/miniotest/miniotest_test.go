package miniotest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStart_NewBucket(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	a, b := s.NewBucket(t), s.NewBucket(t)
	if a == b {
		t.Fatalf("NewBucket returned %q twice", a)
	}
	for _, name := range []string{a, b} {
		ok, err := c.BucketExists(t.Context(), name)
		if err != nil || !ok {
			t.Errorf("BucketExists(%q) = %v, %v; want true, nil", name, ok, err)
		}
	}
}

func TestFindBinary_EnvWins(t *testing.T) {
	t.Setenv("SLUICE_MINIO_BIN", "/nonexistent/minio")
	if p, err := findBinary(); err == nil {
		t.Fatalf("findBinary() = %q, nil; want an error for a missing SLUICE_MINIO_BIN", p)
	}
}

func TestFindBinary_Cache(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SLUICE_MINIO_BIN", "")
	t.Setenv("SLUICE_CACHE", dir)
	t.Setenv("PATH", t.TempDir())
	if p, err := findBinary(); err == nil {
		t.Fatalf("findBinary() = %q, nil in an empty cache; want an error", p)
	}
	bin := dir + "/minio-" + Version + "/bin/minio"
	writeExecutable(t, bin)
	if p, err := findBinary(); err != nil || p != bin {
		t.Fatalf("findBinary() = %q, %v; want %q", p, err, bin)
	}
}

func writeExecutable(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
