package local

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/ufstest"
)

// newTestFS returns an FS with opts over a new temporary directory, closed at cleanup.
func newTestFS(t testing.TB, opts Options) *FS {
	t.Helper()
	fsys, err := New(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := fsys.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return fsys
}

func TestFS_Conformance(t *testing.T) {
	ufstest.Run(t, func(t testing.TB) ufs.FS { return newTestFS(t, DefaultOptions()) })
}

func TestFS_ConformanceNoSync(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs once, with Sync")
	}
	ufstest.Run(t, func(t testing.TB) ufs.FS { return newTestFS(t, Options{}) })
}

// hostEntries returns the names in the host directory dir.
func hostEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%s): %v", dir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// create writes name through fsys or fails the test.
func create(t *testing.T, fsys ufs.FS, name, data string) {
	t.Helper()
	w, err := fsys.Create(t.Context(), name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatalf("Write(%q): %v", name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(%q): %v", name, err)
	}
}

func TestFS_SymlinkEscape(t *testing.T) {
	ctx := t.Context()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	fsys := newTestFS(t, DefaultOptions())
	root := fsys.Root()
	create(t, fsys, "/inside/f", "inside")
	for link, target := range map[string]string{
		"out":    outside,
		"outrel": filepath.Join("..", filepath.Base(outside)),
		"in":     "inside",
		"infile": "inside/f",
		"dangle": "nowhere",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	// t.TempDir makes sibling directories, so outrel leaves the root too.
	if _, err := os.Stat(filepath.Join(root, "outrel", "secret")); err != nil {
		t.Fatalf("test setup: %v", err)
	}

	for _, out := range []string{"/out", "/outrel"} {
		_, err := fsys.Stat(ctx, out+"/secret")
		wantIs(t, "Stat", err, fs.ErrPermission)
		_, err = fsys.Open(ctx, out+"/secret", 0, -1)
		wantIs(t, "Open", err, fs.ErrPermission)
		_, err = fsys.List(ctx, out)
		wantIs(t, "List", err, fs.ErrPermission)
		_, err = fsys.Create(ctx, out+"/new")
		wantIs(t, "Create", err, fs.ErrPermission)
		wantIs(t, "Mkdir", fsys.Mkdir(ctx, out+"/dir"), fs.ErrPermission)
		wantIs(t, "Delete", fsys.Delete(ctx, out+"/secret"), fs.ErrPermission)
		wantIs(t, "Rename from outside", fsys.Rename(ctx, out+"/secret", "/stolen"), fs.ErrPermission)
		wantIs(t, "Rename to outside", fsys.Rename(ctx, "/inside/f", out+"/f"), fs.ErrPermission)
		_, err = fsys.LocalPath(out + "/secret")
		wantIs(t, "LocalPath", err, fs.ErrPermission)
	}
	if diff := cmp.Diff([]string{"secret"}, hostEntries(t, outside)); diff != "" {
		t.Errorf("the directory outside the root changed (-want +got):\n%s", diff)
	}

	// Links inside the root are followed; the others are not listed.
	got, err := fsys.List(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	want := []ufs.FileInfo{
		{Path: "/in", IsDir: true},
		{Path: "/infile", Size: 6},
		{Path: "/inside", IsDir: true},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(ufs.FileInfo{}, "ModTime")); diff != "" {
		t.Errorf("List(/) mismatch (-want +got):\n%s", diff)
	}
	if data := readAll(t, fsys, "/in/f"); data != "inside" {
		t.Errorf("/in/f = %q, want the file behind the link", data)
	}
}

// wantIs fails the test unless err wraps target.
func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: %v, want an error wrapping %v", what, err, target)
	}
}

// readAll returns the content of name or fails the test.
func readAll(t *testing.T, fsys ufs.FS, name string) string {
	t.Helper()
	r, err := fsys.Open(t.Context(), name, 0, -1)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return string(data)
}

// syncRecorder replaces the fsync of an FS and records what it was asked to sync,
// relative to the root with temporary names shortened to their prefix.
type syncRecorder struct {
	root   string
	mu     sync.Mutex // guards synced
	synced []string
	fail   error // returned for regular files when set
}

func recordSyncs(fsys *FS) *syncRecorder {
	r := &syncRecorder{root: fsys.Root()}
	fsys.syncFile = r.sync
	return r
}

func (r *syncRecorder) sync(f *os.File) error {
	rel, err := filepath.Rel(r.root, f.Name())
	if err != nil {
		return err
	}
	if dir, name := filepath.Split(rel); strings.HasPrefix(name, tempPrefix) {
		rel = dir + tempPrefix + "*"
	}
	r.mu.Lock()
	r.synced = append(r.synced, rel)
	r.mu.Unlock()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && r.fail != nil {
		return r.fail
	}
	return f.Sync()
}

// take returns and forgets what was synced.
func (r *syncRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.synced
	r.synced = nil
	return s
}

func TestFS_Sync(t *testing.T) {
	ctx := t.Context()
	fsys := newTestFS(t, DefaultOptions())
	rec := recordSyncs(fsys)
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"create with new parents", func() error {
			create(t, fsys, "/a/b/f", "data")
			return nil
		}, []string{".", "a", "a/b/.sluice-tmp-*", "a/b"}},
		{"replace", func() error {
			create(t, fsys, "/a/b/f", "new")
			return nil
		}, []string{"a/b/.sluice-tmp-*", "a/b"}},
		{"mkdir", func() error { return fsys.Mkdir(ctx, "/a/c/d") }, []string{"a", "a/c"}},
		{"mkdir existing", func() error { return fsys.Mkdir(ctx, "/a/c/d") }, nil},
		{"rename across directories", func() error { return fsys.Rename(ctx, "/a/b/f", "/a/c/d/f") }, []string{"a/c/d", "a/b"}},
		{"rename in a directory", func() error { return fsys.Rename(ctx, "/a/c/d/f", "/a/c/d/g") }, []string{"a/c/d"}},
		{"delete", func() error { return fsys.Delete(ctx, "/a/c/d/g") }, []string{"a/c/d"}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, rec.take()); diff != "" {
			t.Errorf("%s: synced (-want +got):\n%s", st.name, diff)
		}
	}

	noSync := newTestFS(t, Options{})
	rec = recordSyncs(noSync)
	create(t, noSync, "/a/b/f", "data")
	if err := errors.Join(noSync.Mkdir(ctx, "/x/y"), noSync.Rename(ctx, "/a/b/f", "/x/f"), noSync.Delete(ctx, "/x/f")); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("with Sync off, synced %v", got)
	}
}

func TestWriter_SyncFailure(t *testing.T) {
	fsys := newTestFS(t, DefaultOptions())
	create(t, fsys, "/d/old", "old")
	rec := recordSyncs(fsys)
	rec.fail = errors.New("injected fsync failure")
	for _, name := range []string{"/d/new", "/d/old"} {
		w, err := fsys.Create(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, "new"); err != nil {
			t.Fatal(err)
		}
		err = w.Close()
		var pe *fs.PathError
		if !errors.Is(err, rec.fail) || !errors.As(err, &pe) || pe.Path != name {
			t.Errorf("Close(%q) = %v, want a PathError of %s wrapping the fsync error", name, err, name)
		}
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after a failed Close: %v", err)
		}
	}
	if _, err := fsys.Stat(t.Context(), "/d/new"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(/d/new) after a failed Close: %v, want fs.ErrNotExist", err)
	}
	if got := readAll(t, fsys, "/d/old"); got != "old" {
		t.Errorf("/d/old after a failed replace = %q, want old", got)
	}
	if diff := cmp.Diff([]string{"old"}, hostEntries(t, filepath.Join(fsys.Root(), "d"))); diff != "" {
		t.Errorf("host directory after failed Closes (-want +got):\n%s", diff)
	}
}
