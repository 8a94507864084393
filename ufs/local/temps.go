package local

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"
)

// RemoveStaleTemps removes the temporary files of writes that were never closed or
// aborted (a crashed process leaves them) and were last modified more than olderThan
// ago, anywhere under the root. It returns how many it removed. Symbolic links are not
// followed. Call it when no write of that age can still be in progress, for example
// when a daemon starts with olderThan of an hour.
func (f *FS) RemoveStaleTemps(ctx context.Context, olderThan time.Duration) (int, error) {
	return f.removeStaleTemps(ctx, ".", time.Now().Add(-olderThan))
}

// removeStaleTemps removes stale temporary files in the directory rel and below.
func (f *FS) removeStaleTemps(ctx context.Context, rel string, before time.Time) (int, error) {
	name := "/"
	if rel != "." {
		name += rel
	}
	if err := ctxErr(ctx, "removetemps", name); err != nil {
		return 0, err
	}
	dir, err := f.root.Open(rel)
	if err != nil {
		return 0, f.pathErr("removetemps", name, err)
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return 0, f.pathErr("removetemps", name, err)
	}
	removed := 0
	for _, e := range entries {
		childRel := e.Name()
		if rel != "." {
			childRel = rel + "/" + e.Name()
		}
		switch {
		case e.IsDir():
			n, err := f.removeStaleTemps(ctx, childRel, before)
			removed += n
			if err != nil {
				return removed, err
			}
		case e.Type().IsRegular() && strings.HasPrefix(e.Name(), tempPrefix):
			fi, err := e.Info()
			if err != nil || !fi.ModTime().Before(before) {
				continue // gone already, or possibly still being written
			}
			if err := f.root.Remove(childRel); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, f.pathErr("removetemps", name, err)
			}
			removed++
		}
	}
	return removed, nil
}
