package ufstest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/ufs"
)

// badPaths are paths that ufs.CleanPath rejects: every method must refuse them.
var badPaths = []string{"", "/a/../../etc", "a\x00b", "../x", "/ok/..", "..", "a/../b"}

// testBadPaths checks that every method, and LocalPath where the backend has it,
// refuses each path of badPaths with ufs.ErrInvalidPath and changes nothing.
func testBadPaths(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	writeFile(t, fsys, "/ok", []byte("ok"))
	for _, bad := range badPaths {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			calls := map[string]func() error{
				"Open": func() error {
					r, err := fsys.Open(ctx, bad, 0, -1)
					if err == nil {
						r.Close()
					}
					return err
				},
				"Create": func() error {
					w, err := fsys.Create(ctx, bad)
					if err == nil {
						w.Abort()
					}
					return err
				},
				"Stat": func() error {
					_, err := fsys.Stat(ctx, bad)
					return err
				},
				"List": func() error {
					_, err := fsys.List(ctx, bad)
					return err
				},
				"Delete":         func() error { return fsys.Delete(ctx, bad) },
				"Mkdir":          func() error { return fsys.Mkdir(ctx, bad) },
				"Rename src":     func() error { return fsys.Rename(ctx, bad, "/renamed") },
				"Rename dst":     func() error { return fsys.Rename(ctx, "/ok", bad) },
				"Rename src dst": func() error { return fsys.Rename(ctx, bad, bad) },
			}
			if lp, ok := fsys.(ufs.LocalPather); ok {
				calls["LocalPath"] = func() error {
					_, err := lp.LocalPath(bad)
					return err
				}
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, ufs.ErrInvalidPath) {
					t.Errorf("%s(%q): %v, want an error wrapping ufs.ErrInvalidPath", name, bad, err)
				}
			}
		})
	}
	wantContent(t, fsys, "/ok", []byte("ok"))
	wantNotExist(t, fsys, "/renamed")
	if got, err := fsys.List(ctx, "/"); err != nil || len(got) != 1 {
		t.Errorf("List(/) after the bad calls = %+v, %v; want only /ok", got, err)
	}
}
