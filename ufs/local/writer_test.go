package local

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/ufs"
)

func TestWriter_ReadFrom(t *testing.T) {
	fsys := newTestFS(t, DefaultOptions())
	src := filepath.Join(t.TempDir(), "block")
	data := strings.Repeat("0123456789abcdef", 1<<16)
	if err := os.WriteFile(src, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := fsys.Create(t.Context(), "/persisted")
	if err != nil {
		t.Fatal(err)
	}
	// io.Copy hands the file to the writer's ReadFrom, which lets the kernel copy.
	if n, err := io.Copy(w, f); err != nil || n != int64(len(data)) {
		t.Fatalf("io.Copy = %d, %v; want %d", n, err, len(data))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, fsys, "/persisted"); got != data {
		t.Errorf("content differs: %d bytes, want %d", len(got), len(data))
	}

	w, err = fsys.Create(t.Context(), "/aborted")
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if _, err := io.Copy(w, strings.NewReader("x")); !errors.Is(err, ufs.ErrAborted) {
		t.Errorf("io.Copy after Abort: %v, want ufs.ErrAborted", err)
	}
}

func TestWriter_CloseTwice(t *testing.T) {
	fsys := newTestFS(t, DefaultOptions())
	w, err := fsys.Create(t.Context(), "/f")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close: %v, want fs.ErrClosed", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Write after Close: %v, want fs.ErrClosed", err)
	}
}

func TestWriter_ParentRemoved(t *testing.T) {
	fsys := newTestFS(t, DefaultOptions())
	w, err := fsys.Create(t.Context(), "/gone/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "data"); err != nil {
		t.Fatal(err)
	}
	// Another process removes the directory under the writer.
	if err := os.RemoveAll(filepath.Join(fsys.Root(), "gone")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Close with the directory removed: %v, want fs.ErrNotExist", err)
	}
}
