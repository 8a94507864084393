package master

import (
	"context"
	"errors"
	"io/fs"
	"testing"

	"github.com/sluicedata/sluice/master/mastertest"
	"github.com/sluicedata/sluice/ufs"
)

// racingFS writes a file into dir at each of its first writes deletes of dir, before the
// delete runs: an executor's persist that keeps dropping its temporary file there.
type racingFS struct {
	*mastertest.MemFS
	dir    string
	writes int
}

func (r *racingFS) Delete(ctx context.Context, name string) error {
	if name == r.dir && r.writes > 0 {
		r.writes--
		w, err := r.MemFS.Create(ctx, name+"/.out.sluice-persist-7-1.tmp")
		if err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return r.MemFS.Delete(ctx, name)
}

func TestRemoveAll_FileAppearingDuringDelete(t *testing.T) {
	for _, tc := range []struct {
		name    string
		writes  int
		wantErr error
	}{
		{"none", 0, nil},
		{"one persist", 1, nil},
		{"keeps writing", removeAllRounds - 1, nil},
		{"never stops", removeAllRounds, ufs.ErrNotEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f := &racingFS{MemFS: mastertest.NewMemFS(), dir: "/d", writes: tc.writes}
			for _, name := range []string{"/d/a", "/d/sub/b"} {
				w, err := f.Create(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			err := removeAll(ctx, f, "/d")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("removeAll: %v, want %v", err, tc.wantErr)
			}
			_, serr := f.Stat(ctx, "/d")
			if gone := errors.Is(serr, fs.ErrNotExist); gone != (tc.wantErr == nil) {
				t.Errorf("after removeAll (err %v), Stat /d: %v", err, serr)
			}
		})
	}
}
