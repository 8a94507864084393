package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSweepMemDirs(t *testing.T) {
	root := t.TempDir()
	live := t.TempDir() // an existing data directory
	gone := filepath.Join(t.TempDir(), "deleted")
	mk := func(name, owner string) string {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(p, "executor-0"), 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := claimMemDir(p, owner); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	kept := []string{
		mk("local-live", live),
		mk("local-unowned", ""),      // an older version's: left alone
		mk("local-relative", "data"), // not an absolute path: left alone
		mk("other-gone", gone),       // not a local- directory
	}
	dropped := mk("local-gone", gone)
	target := t.TempDir()
	liveLink := filepath.Join(root, "local-link")
	deadLink := filepath.Join(root, "local-deadlink")
	if err := os.Symlink(target, liveLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(target, "missing"), deadLink); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, liveLink)

	removed, err := sweepMemDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{deadLink, dropped}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s should be kept: %v", p, err)
		}
	}
	for _, p := range []string{dropped, deadLink} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s should be gone: %v", p, err)
		}
	}
	if removed, err := sweepMemDirs(filepath.Join(root, "none")); err != nil || removed != nil {
		t.Errorf("missing root: %v, %v", removed, err)
	}
}
