package ufstest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/sluicedata/sluice/ufs"
)

// Sizes of the concurrency tests.
const (
	concWriters  = 8
	concFiles    = 4
	concFileSize = 256 << 10
)

// testConcurrentWriters runs writers of different files at once, in shared and in
// private directories that none of them made before, and checks every file.
func testConcurrentWriters(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	names := func(g, f int) []string {
		return []string{fmt.Sprintf("/conc/shared/g%d-f%d", g, f), fmt.Sprintf("/conc/g%d/sub/f%d", g, f)}
	}
	var eg errgroup.Group
	for g := range concWriters {
		eg.Go(func() error {
			if err := fsys.Mkdir(ctx, "/conc/made/by/all"); err != nil {
				return fmt.Errorf("writer %d: mkdir: %w", g, err)
			}
			for f := range concFiles {
				for i, name := range names(g, f) {
					data := newContent(uint64(1000+g*100+f*10+i)).bytes(0, concFileSize)
					if err := createErr(t, fsys, name, data); err != nil {
						return fmt.Errorf("writer %d: %s: %w", g, name, err)
					}
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	for g := range concWriters {
		for f := range concFiles {
			for i, name := range names(g, f) {
				wantContent(t, fsys, name, newContent(uint64(1000+g*100+f*10+i)).bytes(0, concFileSize))
			}
		}
	}
	got, err := fsys.List(ctx, "/conc/shared")
	if err != nil || len(got) != concWriters*concFiles {
		t.Errorf("List(/conc/shared) = %d entries, %v; want %d", len(got), err, concWriters*concFiles)
	}
	if fi, err := fsys.Stat(ctx, "/conc/made/by/all"); err != nil || !fi.IsDir {
		t.Errorf("Stat(/conc/made/by/all) = %+v, %v; want a directory", fi, err)
	}
}

// testConcurrentSameFile runs writers of one file at once: the file ends up holding
// exactly the content of one writer whose Close succeeded. A Close may fail with
// fs.ErrExist when another writer committed first.
func testConcurrentSameFile(t *testing.T, fsys ufs.FS) {
	contents := make([][]byte, concWriters)
	committed := make([]bool, concWriters)
	var eg errgroup.Group
	for g := range concWriters {
		contents[g] = newContent(uint64(2000+g)).bytes(0, concFileSize+g)
		eg.Go(func() error {
			err := createErr(t, fsys, "/same/f", contents[g])
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("writer %d: %w", g, err)
			}
			committed[g] = err == nil
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, fsys, "/same/f")
	for g, data := range contents {
		if bytes.Equal(got, data) {
			if !committed[g] {
				t.Errorf("/same/f holds the content of writer %d, whose Close failed", g)
			}
			return
		}
	}
	t.Errorf("/same/f holds %d bytes that no single writer wrote", len(got))
}
