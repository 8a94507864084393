package client

import (
	"bytes"
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/sluicedata/sluice/client/clienttest"
)

func TestFS_Conformance(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	files := map[string][]byte{
		"/a.txt":           []byte("hello"),
		"/dir/b.bin":       payload(3*4096+7, 1),
		"/dir/sub/c":       nil,
		"/dir/sub/deeper/": nil,
	}
	for p, data := range files {
		if p[len(p)-1] == '/' {
			if _, err := cl.Mkdir(t.Context(), p[:len(p)-1], MkdirOptions{Recursive: true}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := cl.WriteFile(t.Context(), p, data, CreateOptions{Recursive: true, BlockSize: 4096}); err != nil {
			t.Fatal(err)
		}
	}
	fsys := cl.FS(t.Context())
	if err := fstest.TestFS(fsys, "a.txt", "dir/b.bin", "dir/sub/c", "dir/sub/deeper"); err != nil {
		t.Fatal(err)
	}
	got, err := fs.ReadFile(fsys, "dir/b.bin")
	if err != nil || !bytes.Equal(got, files["/dir/b.bin"]) {
		t.Errorf("ReadFile = %d bytes, %v", len(got), err)
	}
	if _, err := fs.Stat(fsys, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing name = %v, want fs.ErrNotExist", err)
	}
	if _, err := fsys.Open("/abs"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open of an invalid name = %v, want fs.ErrInvalid", err)
	}
	if _, err := fs.ReadDir(fsys, "a.txt"); !errors.Is(err, ErrNotADirectory) {
		t.Errorf("ReadDir of a file = %v", err)
	}
}

func TestClient_WriteFileReadFile(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	data := payload(2*testBlockSize+1, 9)
	fi, err := cl.WriteFile(t.Context(), "/w", data, CreateOptions{BlockSize: testBlockSize, WriteType: WriteMustCache})
	if err != nil || fi.Length != int64(len(data)) || !fi.Complete {
		t.Fatalf("WriteFile = %+v, %v", fi, err)
	}
	got, err := cl.ReadFile(t.Context(), "/w", OpenOptions{})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile = %d bytes, %v", len(got), err)
	}
	if _, err := cl.WriteFile(t.Context(), "/w", data, CreateOptions{}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("WriteFile over a file = %v", err)
	}
	if _, err := cl.ReadFile(t.Context(), "/nope", OpenOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file = %v", err)
	}
}
