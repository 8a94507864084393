package local

import (
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/ufs"
)

func TestFactory(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(t.TempDir(), "a", "b")
	tests := []struct {
		name    string
		uri     string
		options map[string]string
		want    Options
		wantErr error
	}{
		{name: "absolute path", uri: "file://" + dir, want: DefaultOptions()},
		{name: "localhost", uri: "file://localhost" + dir, want: DefaultOptions()},
		{name: "sync off", uri: "file://" + dir, options: map[string]string{"sync": "false"}, want: Options{}},
		{name: "create root", uri: "file://" + missing, options: map[string]string{"create_root": "true", "sync": "1"},
			want: Options{Sync: true, CreateRoot: true}},
		{name: "missing root", uri: "file://" + filepath.Join(dir, "nope"), wantErr: fs.ErrNotExist},
		{name: "other scheme", uri: "s3://bucket" + dir, wantErr: ErrInvalidURI},
		{name: "relative path", uri: "file:relative/dir", wantErr: ErrInvalidURI},
		{name: "other host", uri: "file://example.com" + dir, wantErr: ErrInvalidURI},
		{name: "query", uri: "file://" + dir + "?sync=false", wantErr: ErrInvalidURI},
		{name: "user", uri: "file://me@localhost" + dir, wantErr: ErrInvalidURI},
		{name: "unknown key", uri: "file://" + dir, options: map[string]string{"snyc": "true"}, wantErr: ErrInvalidOption},
		{name: "bad value", uri: "file://" + dir, options: map[string]string{"sync": "maybe"}, wantErr: ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Factory(t.Context(), u, tt.options)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("Factory(%q) = %v, %v; want nil and an error wrapping %v", tt.uri, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Factory(%q): %v", tt.uri, err)
			}
			fsys := got.(*FS)
			defer fsys.Close()
			if diff := cmp.Diff(tt.want, fsys.opts); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if _, err := fsys.Stat(t.Context(), "/"); err != nil {
				t.Errorf("Stat(/): %v", err)
			}
		})
	}
}

func TestFactory_Registry(t *testing.T) {
	dir := t.TempDir()
	reg := ufs.Registry{"file": Factory}
	fsys, err := reg.Open(t.Context(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.(io.Closer).Close()
	create(t, fsys, "/via/registry", "ok")
	if data, err := os.ReadFile(filepath.Join(dir, "via", "registry")); err != nil || string(data) != "ok" {
		t.Errorf("host file = %q, %v; want ok", data, err)
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(filepath.Join(dir, "missing"), DefaultOptions()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New of a missing root: %v, want fs.ErrNotExist", err)
	}
	if _, err := New(file, DefaultOptions()); !errors.Is(err, ufs.ErrNotDir) {
		t.Errorf("New of a file: %v, want ufs.ErrNotDir", err)
	}
	if _, err := New(filepath.Join(file, "sub"), Options{CreateRoot: true}); err == nil {
		t.Errorf("New with CreateRoot under a file succeeded")
	}

	// A root reached through a symbolic link is resolved once, at New.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	fsys, err := New(link, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if want, _ := filepath.EvalSymlinks(link); fsys.Root() != want {
		t.Errorf("Root() = %q, want %q", fsys.Root(), want)
	}

	created := filepath.Join(dir, "new", "root")
	fsys2, err := New(created, Options{CreateRoot: true})
	if err != nil {
		t.Fatalf("New with CreateRoot: %v", err)
	}
	defer fsys2.Close()
	if fi, err := os.Stat(created); err != nil || !fi.IsDir() {
		t.Errorf("root not created: %v", err)
	}
}
