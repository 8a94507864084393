package ufstest

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicedata/sluice/ufs"
)

// ignoreModTime compares FileInfo values without their backend-reported times.
var ignoreModTime = cmpopts.IgnoreFields(ufs.FileInfo{}, "ModTime")

// createErr returns the error of creating name with data, from Create, Write or Close.
func createErr(t testing.TB, fsys ufs.FS, name string, data []byte) error {
	w, err := fsys.Create(t.Context(), name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// testCreateRead checks that Create makes files readable whole: small, empty, nested
// under parents it creates, written in several pieces, and replacing an older file.
// A file cannot be created over a directory, nor a directory opened as a file.
func testCreateRead(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	writeFile(t, fsys, "/hello.txt", []byte("hello, world"))
	wantContent(t, fsys, "/hello.txt", []byte("hello, world"))

	// Missing parents are created.
	big := newContent(1).bytes(0, 1<<20+3)
	writeFile(t, fsys, "/a/b/c/d.bin", big)
	wantContent(t, fsys, "/a/b/c/d.bin", big)
	for _, dir := range []string{"/a", "/a/b", "/a/b/c"} {
		if fi, err := fsys.Stat(ctx, dir); err != nil || !fi.IsDir {
			t.Errorf("Stat(%q) = %+v, %v; want a directory", dir, fi, err)
		}
	}

	writeFile(t, fsys, "/empty", nil)
	wantContent(t, fsys, "/empty", nil)
	if fi, err := fsys.Stat(ctx, "/empty"); err != nil || fi.Size != 0 || fi.IsDir {
		t.Errorf("Stat(/empty) = %+v, %v; want an empty file", fi, err)
	}

	// Create replaces an existing file on Close.
	writeFile(t, fsys, "/hello.txt", []byte("bye"))
	wantContent(t, fsys, "/hello.txt", []byte("bye"))
	if fi, err := fsys.Stat(ctx, "/hello.txt"); err != nil || fi.Size != 3 {
		t.Errorf("Stat(/hello.txt) after replace = %+v, %v; want size 3", fi, err)
	}

	// Several writes make one file.
	w, err := fsys.Create(ctx, "/pieces")
	if err != nil {
		t.Fatalf("Create(/pieces): %v", err)
	}
	for _, piece := range []string{"one ", "", "two ", "three"} {
		if n, err := w.Write([]byte(piece)); err != nil || n != len(piece) {
			t.Fatalf("Write(%q) = %d, %v", piece, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(/pieces): %v", err)
	}
	wantContent(t, fsys, "/pieces", []byte("one two three"))

	if err := createErr(t, fsys, "/a/b", []byte("x")); !errors.Is(err, ufs.ErrIsDir) {
		t.Errorf("creating a file over directory /a/b: %v, want ufs.ErrIsDir", err)
	}
	_, err = readRange(t, fsys, "/a/b", 0, -1)
	wantErr(t, "Open(/a/b) of a directory", err, ufs.ErrIsDir)
	_, err = readRange(t, fsys, "/missing", 0, -1)
	wantErr(t, "Open(/missing)", err, fs.ErrNotExist)
	_, err = readRange(t, fsys, "/missing/x", 0, -1)
	wantErr(t, "Open(/missing/x)", err, fs.ErrNotExist)
}

// testOpenRange checks ranged reads: every combination of offset and length, inside,
// across and past the end of the file, must give exactly the bytes of the file that
// fall in the range; past the end that is nothing, with no error.
func testOpenRange(t *testing.T, fsys ufs.FS) {
	const size = 1000
	data := newContent(2).bytes(0, size)
	writeFile(t, fsys, "/r", data)
	tests := []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"all", 0, -1, data},
		{"exact length", 0, size, data},
		{"zero length", 0, 0, nil},
		{"middle", 10, 20, data[10:30]},
		{"from offset to end", 123, -1, data[123:]},
		{"length past end", 990, 100, data[990:]},
		{"last byte", size - 1, -1, data[size-1:]},
		{"at end", size, -1, nil},
		{"at end with length", size, 10, nil},
		{"far past end", 5000, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readRange(t, fsys, "/r", tt.off, tt.length)
			if err != nil {
				t.Fatalf("read (%d, %d): %v", tt.off, tt.length, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("read (%d, %d) mismatch (-want +got):\n%s", tt.off, tt.length, diff)
			}
		})
	}
	t.Run("read sizes", func(t *testing.T) {
		// Reads of every size, one byte at a time included, see the same bytes.
		r, err := fsys.Open(t.Context(), "/r", 100, 500)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer r.Close()
		if err := iotest.TestReader(r, data[100:600]); err != nil {
			t.Error(err)
		}
	})
	t.Run("negative offset", func(t *testing.T) {
		if got, err := readRange(t, fsys, "/r", -1, 10); err == nil {
			t.Errorf("read at offset -1 = %d bytes, nil error; want an error", len(got))
		}
	})
}

// testStat checks Stat on files, directories and the root, through paths written in
// several ways that clean to the same path; FileInfo.Path is always the cleaned one.
func testStat(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	writeFile(t, fsys, "/s/f.txt", []byte("0123456789"))
	file := ufs.FileInfo{Path: "/s/f.txt", Size: 10}
	dir := ufs.FileInfo{Path: "/s", IsDir: true}
	tests := []struct {
		name string
		want ufs.FileInfo
	}{
		{"/s/f.txt", file},
		{"s/f.txt", file},
		{"//s/./f.txt", file},
		{"/s/f.txt/", file},
		{"/s", dir},
		{"/s/", dir},
		{"/", ufs.FileInfo{Path: "/", IsDir: true}},
	}
	for _, tt := range tests {
		got, err := fsys.Stat(ctx, tt.name)
		if err != nil {
			t.Errorf("Stat(%q): %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, ignoreModTime); diff != "" {
			t.Errorf("Stat(%q) mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
	if fi, err := fsys.Stat(ctx, "/s/f.txt"); err == nil && fi.Name() != "f.txt" {
		t.Errorf("Stat(/s/f.txt).Name() = %q, want f.txt", fi.Name())
	}
	wantNotExist(t, fsys, "/missing")
	wantNotExist(t, fsys, "/s/missing")
	_, err := fsys.Stat(ctx, "/s/f.txt/x")
	wantErr(t, "Stat under a file", err, fs.ErrNotExist, ufs.ErrNotDir)
}

// testList checks that List gives the direct children of a directory, files and
// directories alike, sorted by path, with sizes, and never a file still being written.
func testList(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	got, err := fsys.List(ctx, "/")
	if err != nil || len(got) != 0 {
		t.Fatalf("List(/) of a new FS = %+v, %v; want it empty", got, err)
	}
	writeFile(t, fsys, "/l/b", []byte("bb"))
	writeFile(t, fsys, "/l/a", []byte("a"))
	writeFile(t, fsys, "/l/c/x", []byte("xxx"))
	writeFile(t, fsys, "/l/a-b", nil)
	if err := fsys.Mkdir(ctx, "/l/e"); err != nil {
		t.Fatalf("Mkdir(/l/e): %v", err)
	}
	// A write in progress is invisible to List and Stat.
	w, err := fsys.Create(ctx, "/l/pending")
	if err != nil {
		t.Fatalf("Create(/l/pending): %v", err)
	}
	defer w.Abort()
	if _, err := w.Write([]byte("not yet")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	want := []ufs.FileInfo{
		{Path: "/l/a", Size: 1},
		{Path: "/l/a-b"},
		{Path: "/l/b", Size: 2},
		{Path: "/l/c", IsDir: true},
		{Path: "/l/e", IsDir: true},
	}
	for _, name := range []string{"/l", "l/", "//l"} {
		got, err := fsys.List(ctx, name)
		if err != nil {
			t.Fatalf("List(%q): %v", name, err)
		}
		if diff := cmp.Diff(want, got, ignoreModTime); diff != "" {
			t.Errorf("List(%q) mismatch (-want +got):\n%s", name, diff)
		}
	}
	wantNotExist(t, fsys, "/l/pending")
	if err := w.Close(); err != nil {
		t.Fatalf("Close(/l/pending): %v", err)
	}
	got, err = fsys.List(ctx, "/l")
	if err != nil || len(got) != len(want)+1 || got[len(want)].Path != "/l/pending" {
		t.Errorf("List(/l) after Close = %+v, %v; want /l/pending added at the end", got, err)
	}

	got, err = fsys.List(ctx, "/")
	if diff := cmp.Diff([]ufs.FileInfo{{Path: "/l", IsDir: true}}, got, ignoreModTime); err != nil || diff != "" {
		t.Errorf("List(/) = %v (-want +got):\n%s", err, diff)
	}
	if got, err := fsys.List(ctx, "/l/e"); err != nil || len(got) != 0 {
		t.Errorf("List of an empty directory = %+v, %v; want it empty", got, err)
	}
	_, err = fsys.List(ctx, "/missing")
	wantErr(t, "List(/missing)", err, fs.ErrNotExist)
	_, err = fsys.List(ctx, "/l/a")
	wantErr(t, "List of a file", err, ufs.ErrNotDir)
}

// testMkdir checks that Mkdir creates parents, accepts an existing directory and
// refuses to turn a file into a directory.
func testMkdir(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	if err := fsys.Mkdir(ctx, "/m/a/b"); err != nil {
		t.Fatalf("Mkdir(/m/a/b): %v", err)
	}
	for _, dir := range []string{"/m", "/m/a", "/m/a/b"} {
		if fi, err := fsys.Stat(ctx, dir); err != nil || !fi.IsDir {
			t.Errorf("Stat(%q) = %+v, %v; want a directory", dir, fi, err)
		}
	}
	for _, dir := range []string{"/m/a/b", "/m/a", "/", "m/a/b/"} {
		if err := fsys.Mkdir(ctx, dir); err != nil {
			t.Errorf("Mkdir(%q) of an existing directory: %v", dir, err)
		}
	}
	// A file written into a directory made by Mkdir is listed there.
	writeFile(t, fsys, "/m/a/b/f", []byte("f"))
	got, err := fsys.List(ctx, "/m/a")
	if diff := cmp.Diff([]ufs.FileInfo{{Path: "/m/a/b", IsDir: true}}, got, ignoreModTime); err != nil || diff != "" {
		t.Errorf("List(/m/a) = %v (-want +got):\n%s", err, diff)
	}
	err = fsys.Mkdir(ctx, "/m/a/b/f")
	wantErr(t, "Mkdir over a file", err, ufs.ErrNotDir, fs.ErrExist)
	wantContent(t, fsys, "/m/a/b/f", []byte("f"))
}

// testFileAsParent checks that a file is never used as a directory.
func testFileAsParent(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	writeFile(t, fsys, "/p/f", []byte("file"))
	wantErr(t, "Mkdir under a file", fsys.Mkdir(ctx, "/p/f/sub"), ufs.ErrNotDir)
	wantErr(t, "Create under a file", createErr(t, fsys, "/p/f/x", []byte("x")), ufs.ErrNotDir)
	writeFile(t, fsys, "/p/g", []byte("g"))
	wantErr(t, "Rename under a file", fsys.Rename(ctx, "/p/g", "/p/f/g"), ufs.ErrNotDir)
	wantContent(t, fsys, "/p/f", []byte("file"))
	wantContent(t, fsys, "/p/g", []byte("g"))
}

// testRename checks Rename of files and directories to new places (parents created),
// and that it changes nothing when the destination exists or the source is missing.
func testRename(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	t.Run("file", func(t *testing.T) {
		writeFile(t, fsys, "/r/a", []byte("hello"))
		if err := fsys.Rename(ctx, "/r/a", "/r2/x/y"); err != nil {
			t.Fatalf("Rename(/r/a, /r2/x/y): %v", err)
		}
		wantNotExist(t, fsys, "/r/a")
		wantContent(t, fsys, "/r2/x/y", []byte("hello"))
		if err := fsys.Rename(ctx, "r2/x/y", "r/a"); err != nil {
			t.Fatalf("Rename back with relative paths: %v", err)
		}
		wantContent(t, fsys, "/r/a", []byte("hello"))
	})
	t.Run("directory", func(t *testing.T) {
		writeFile(t, fsys, "/rd/sub/f1", []byte("one"))
		writeFile(t, fsys, "/rd/f2", []byte("two"))
		if err := fsys.Rename(ctx, "/rd", "/rd2/in"); err != nil {
			t.Fatalf("Rename(/rd, /rd2/in): %v", err)
		}
		wantNotExist(t, fsys, "/rd")
		got, err := fsys.List(ctx, "/rd2/in")
		want := []ufs.FileInfo{{Path: "/rd2/in/f2", Size: 3}, {Path: "/rd2/in/sub", IsDir: true}}
		if diff := cmp.Diff(want, got, ignoreModTime); err != nil || diff != "" {
			t.Errorf("List(/rd2/in) = %v (-want +got):\n%s", err, diff)
		}
		wantContent(t, fsys, "/rd2/in/sub/f1", []byte("one"))
		if err := fsys.Rename(ctx, "/rd2", "/rd2/in/deeper"); err == nil {
			t.Errorf("Rename of a directory into itself succeeded")
		}
		wantContent(t, fsys, "/rd2/in/sub/f1", []byte("one"))
	})
	t.Run("destination exists", func(t *testing.T) {
		writeFile(t, fsys, "/e/a", []byte("A"))
		writeFile(t, fsys, "/e/b", []byte("B"))
		if err := fsys.Mkdir(ctx, "/e/d"); err != nil {
			t.Fatalf("Mkdir: %v", err)
		}
		for _, tt := range []struct{ src, dst string }{
			{"/e/a", "/e/b"}, {"/e/a", "/e/d"}, {"/e/d", "/e/b"}, {"/e/a", "/e/a"}, {"/e/a", "/"},
		} {
			err := fsys.Rename(ctx, tt.src, tt.dst)
			wantErr(t, fmt.Sprintf("Rename(%q, %q)", tt.src, tt.dst), err, fs.ErrExist)
		}
		wantContent(t, fsys, "/e/a", []byte("A"))
		wantContent(t, fsys, "/e/b", []byte("B"))
		if fi, err := fsys.Stat(ctx, "/e/d"); err != nil || !fi.IsDir {
			t.Errorf("Stat(/e/d) = %+v, %v; want the directory unchanged", fi, err)
		}
	})
	t.Run("missing source", func(t *testing.T) {
		err := fsys.Rename(ctx, "/nothing", "/somewhere")
		wantErr(t, "Rename of a missing source", err, fs.ErrNotExist)
		wantNotExist(t, fsys, "/somewhere")
	})
}

// testDelete checks Delete of files and empty directories, and its refusal of a
// directory with children and of missing paths.
func testDelete(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	writeFile(t, fsys, "/d/f", []byte("f"))
	writeFile(t, fsys, "/d/full/g", []byte("g"))
	if err := fsys.Mkdir(ctx, "/d/empty"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	if err := fsys.Delete(ctx, "/d/f"); err != nil {
		t.Errorf("Delete of a file: %v", err)
	}
	wantNotExist(t, fsys, "/d/f")
	if err := fsys.Delete(ctx, "/d/empty"); err != nil {
		t.Errorf("Delete of an empty directory: %v", err)
	}
	wantNotExist(t, fsys, "/d/empty")
	wantErr(t, "Delete of a non-empty directory", fsys.Delete(ctx, "/d/full"), ufs.ErrNotEmpty)
	wantContent(t, fsys, "/d/full/g", []byte("g"))
	wantErr(t, "Delete of a missing file", fsys.Delete(ctx, "/d/f"), fs.ErrNotExist)
	wantErr(t, "Delete under a missing directory", fsys.Delete(ctx, "/nope/f"), fs.ErrNotExist)

	// A deleted name can be created again.
	writeFile(t, fsys, "/d/f", []byte("again"))
	wantContent(t, fsys, "/d/f", []byte("again"))
}
