package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/ufs"
)

func TestFS_RootAndReserved(t *testing.T) {
	ctx := t.Context()
	fsys := newTestFS(t, DefaultOptions())
	create(t, fsys, "/d/f", "f")
	_, createRootErr := fsys.Create(ctx, "/")
	_, statTempErr := fsys.Stat(ctx, "/d/.sluice-tmp-x/y")
	_, createTempErr := fsys.Create(ctx, "/.sluice-tmp-1")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"Delete root", fsys.Delete(ctx, "/"), ufs.ErrInvalidPath},
		{"Rename root", fsys.Rename(ctx, "/", "/x"), ufs.ErrInvalidPath},
		{"Rename into itself", fsys.Rename(ctx, "/d", "/d/e"), ufs.ErrInvalidPath},
		{"Create root", createRootErr, ufs.ErrIsDir},
		{"Stat reserved", statTempErr, ufs.ErrInvalidPath},
		{"Create reserved", createTempErr, ufs.ErrInvalidPath},
		{"Mkdir reserved", fsys.Mkdir(ctx, "/.sluice-tmp-dir"), ufs.ErrInvalidPath},
	}
	for _, tt := range tests {
		wantIs(t, tt.name, tt.err, tt.want)
	}
	if err := fsys.Mkdir(ctx, "/"); err != nil {
		t.Errorf("Mkdir(/): %v", err)
	}
}

func TestFS_ErrorsHoldUFSPaths(t *testing.T) {
	ctx := t.Context()
	fsys := newTestFS(t, DefaultOptions())
	create(t, fsys, "/f", "f")
	create(t, fsys, "/full/x", "x")
	_, statErr := fsys.Stat(ctx, "/missing")
	_, openErr := fsys.Open(ctx, "/full", 0, -1)
	_, listErr := fsys.List(ctx, "/f")
	tests := []struct {
		name       string
		err        error
		path, want error
		wantPath   string
	}{
		{name: "Stat", err: statErr, wantPath: "/missing"},
		{name: "Open", err: openErr, wantPath: "/full"},
		{name: "List", err: listErr, wantPath: "/f"},
		{name: "Delete", err: fsys.Delete(ctx, "full"), wantPath: "/full"},
		{name: "Mkdir", err: fsys.Mkdir(ctx, "/f/sub"), wantPath: "/f/sub"},
		{name: "Rename", err: fsys.Rename(ctx, "/f", "/full/x"), wantPath: "/full/x"},
	}
	for _, tt := range tests {
		var pe *fs.PathError
		if !errors.As(tt.err, &pe) || pe.Path != tt.wantPath {
			t.Errorf("%s: %v, want a *fs.PathError of %s", tt.name, tt.err, tt.wantPath)
		}
		if tt.err != nil && strings.Contains(tt.err.Error(), fsys.Root()) {
			t.Errorf("%s: %q shows the host root", tt.name, tt.err)
		}
	}
}

func TestFS_LocalPath(t *testing.T) {
	fsys := newTestFS(t, DefaultOptions())
	create(t, fsys, "/a/b.txt", "content")
	for _, name := range []string{"/a/b.txt", "a//b.txt"} {
		p, err := fsys.LocalPath(name)
		if err != nil {
			t.Fatalf("LocalPath(%q): %v", name, err)
		}
		if want := filepath.Join(fsys.Root(), "a", "b.txt"); p != want {
			t.Errorf("LocalPath(%q) = %q, want %q", name, p, want)
		}
		if data, err := os.ReadFile(p); err != nil || string(data) != "content" {
			t.Errorf("os.ReadFile(LocalPath(%q)) = %q, %v", name, data, err)
		}
	}
	if p, err := fsys.LocalPath("/not/yet"); err != nil || p != filepath.Join(fsys.Root(), "not", "yet") {
		t.Errorf("LocalPath of a missing file = %q, %v; want its future host path", p, err)
	}
	if p, err := fsys.LocalPath("/"); err != nil || p != fsys.Root() {
		t.Errorf("LocalPath(/) = %q, %v; want %q", p, err, fsys.Root())
	}
}
