package local

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestFS_RemoveStaleTemps(t *testing.T) {
	fsys := newTestFS(t, DefaultOptions())
	root := fsys.Root()
	create(t, fsys, "/x/y/kept", "kept")
	// A write in progress has a fresh temporary file; it must survive.
	w, err := fsys.Create(t.Context(), "/x/pending")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	old := time.Now().Add(-2 * time.Hour)
	stale := []string{".sluice-tmp-stale1", "x/y/.sluice-tmp-stale2"}
	for _, rel := range stale {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	// An old regular file is not a temporary file.
	if err := os.Chtimes(filepath.Join(root, "x", "y", "kept"), old, old); err != nil {
		t.Fatal(err)
	}

	n, err := fsys.RemoveStaleTemps(t.Context(), time.Hour)
	if err != nil || n != len(stale) {
		t.Fatalf("RemoveStaleTemps = %d, %v; want %d", n, err, len(stale))
	}
	for _, rel := range stale {
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", rel, err)
		}
	}
	if got := hostEntries(t, filepath.Join(root, "x", "y")); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("x/y holds %v, want [kept]", got)
	}
	if _, err := io.WriteString(w, "done"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close of the write in progress: %v", err)
	}
	if got := readAll(t, fsys, "/x/pending"); got != "done" {
		t.Errorf("/x/pending = %q, want done", got)
	}
}
