package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// memOwnerFile, in a `sluice local` MEM directory (memRoot()/local-<hash>), holds the
// absolute path of the data directory the MEM tiers belong to.
const memOwnerFile = "data-dir"

// claimMemDir records dataDir as the owner of the MEM directory dir (creating it), so
// that a later run can tell when its data directory is gone.
func claimMemDir(dir, dataDir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, memOwnerFile), []byte(dataDir+"\n"), 0o644)
}

// sweepMemDirs removes, under root, the `sluice local` MEM directories ("local-*")
// whose recorded data directory no longer exists, and links named so whose target is
// gone (sluice bench links one into its own tmpfs). Their blocks belonged to a cluster
// that cannot start again, and they would otherwise hold memory until a reboot. A
// directory without an owner file (written by an older version) or whose owner cannot be
// checked is left alone. It returns the paths it removed.
func sweepMemDirs(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "local-") {
			continue
		}
		p := filepath.Join(root, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				if err := os.Remove(p); err != nil {
					errs = append(errs, err)
					continue
				}
				removed = append(removed, p)
			}
			continue
		}
		if !e.IsDir() || !ownerGone(p) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// ownerGone reports whether the MEM directory dir records an absolute data directory
// that does not exist.
func ownerGone(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, memOwnerFile))
	if err != nil {
		return false
	}
	owner := strings.TrimSpace(string(b))
	if !filepath.IsAbs(owner) {
		return false
	}
	_, err = os.Stat(owner)
	return errors.Is(err, fs.ErrNotExist)
}

// tidyMemDirs claims o's MEM directory and sweeps those of data directories that are
// gone. Failures only warn: the cluster runs without the sweep.
func (o localOptions) tidyMemDirs() {
	warn := func(format string, args ...any) {
		if o.Stderr != nil {
			fmt.Fprintf(o.Stderr, "sluice local: warning: "+format+"\n", args...)
		}
	}
	dir := filepath.Dir(o.memDir(0))
	if err := claimMemDir(dir, o.DataDir); err != nil {
		warn("record the owner of %s: %v", dir, err)
	}
	if _, err := sweepMemDirs(filepath.Dir(dir)); err != nil {
		warn("remove MEM directories of deleted data directories: %v", err)
	}
}
