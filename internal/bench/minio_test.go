package bench

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicedata/sluice/internal/miniotest"
)

func TestMinIOVersion_MatchesMiniotest(t *testing.T) {
	if MinIOVersion != miniotest.Version {
		t.Errorf("MinIOVersion = %s, internal/miniotest.Version = %s: keep them equal", MinIOVersion, miniotest.Version)
	}
}

func TestFindMinIO(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "minio")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	if got, err := FindMinIO(env(map[string]string{"SLUICE_MINIO_BIN": bin})); err != nil || got != bin {
		t.Errorf("FindMinIO with SLUICE_MINIO_BIN = %q, %v; want %q", got, err, bin)
	}
	if _, err := FindMinIO(env(map[string]string{"SLUICE_MINIO_BIN": filepath.Join(dir, "none")})); !errors.Is(err, ErrNoMinIO) {
		t.Errorf("FindMinIO with a missing SLUICE_MINIO_BIN: %v, want ErrNoMinIO", err)
	}
}
