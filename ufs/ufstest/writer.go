package ufstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/sluicedata/sluice/ufs"
)

// testAbort checks that Abort leaves the path as it was before Create, that a writer
// cannot be used after it, and that Abort after Close changes nothing.
func testAbort(t *testing.T, fsys ufs.FS) {
	ctx := t.Context()
	if err := fsys.Mkdir(ctx, "/ab"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	t.Run("new file", func(t *testing.T) {
		w, err := fsys.Create(ctx, "/ab/f")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := w.Write(newContent(3).bytes(0, 1<<20)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		wantNotExist(t, fsys, "/ab/f")
		if got, err := fsys.List(ctx, "/ab"); err != nil || len(got) != 0 {
			t.Errorf("List(/ab) after Abort = %+v, %v; want it empty", got, err)
		}
		_, err = w.Write([]byte("more"))
		wantErr(t, "Write after Abort", err, ufs.ErrAborted)
		wantErr(t, "Close after Abort", w.Close(), ufs.ErrAborted)
		wantNotExist(t, fsys, "/ab/f")
	})
	t.Run("existing file", func(t *testing.T) {
		writeFile(t, fsys, "/ab/g", []byte("old"))
		w, err := fsys.Create(ctx, "/ab/g")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := w.Write([]byte("new content")); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		wantContent(t, fsys, "/ab/g", []byte("old"))
	})
	t.Run("after Close", func(t *testing.T) {
		w, err := fsys.Create(ctx, "/ab/h")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := w.Write([]byte("kept")); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after Close: %v, want nil", err)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Errorf("Write after Close succeeded")
		}
		wantContent(t, fsys, "/ab/h", []byte("kept"))
	})
}

// testContextCancel checks that a cancelled context stops every method with an error
// wrapping context.Canceled, and that cancelling the context of Create during a write
// keeps the file from being committed.
func testContextCancel(t *testing.T, fsys ufs.FS) {
	writeFile(t, fsys, "/c/f", []byte("f"))
	done, cancel := context.WithCancel(t.Context())
	cancel()
	t.Run("done before the call", func(t *testing.T) {
		_, err := fsys.Stat(done, "/c/f")
		wantErr(t, "Stat", err, context.Canceled)
		_, err = fsys.List(done, "/c")
		wantErr(t, "List", err, context.Canceled)
		err = fsys.Mkdir(done, "/c/new")
		wantErr(t, "Mkdir", err, context.Canceled)
		err = fsys.Delete(done, "/c/f")
		wantErr(t, "Delete", err, context.Canceled)
		err = fsys.Rename(done, "/c/f", "/c/g")
		wantErr(t, "Rename", err, context.Canceled)
		// Open and Create may fail at once or at the first Read or Close.
		r, err := fsys.Open(done, "/c/f", 0, -1)
		if err == nil {
			_, err = io.ReadAll(r)
			r.Close()
		}
		wantErr(t, "Open and read", err, context.Canceled)
		w, err := fsys.Create(done, "/c/h")
		if err == nil {
			w.Write([]byte("h"))
			err = w.Close()
		}
		wantErr(t, "Create and Close", err, context.Canceled)
		wantContent(t, fsys, "/c/f", []byte("f"))
		wantNotExist(t, fsys, "/c/g")
		wantNotExist(t, fsys, "/c/h")
	})
	t.Run("done during a write", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		w, err := fsys.Create(ctx, "/c/w")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := w.Write(newContent(4).bytes(0, 1<<20)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		cancel()
		// The write may fail or be buffered; Close must not commit.
		w.Write([]byte("more"))
		if err := w.Close(); err == nil {
			t.Errorf("Close after the context of Create was cancelled succeeded")
		}
		wantNotExist(t, fsys, "/c/w")
	})
}

// atomicPieces is how many Writes make the file of the atomicity tests.
const atomicPieces = 64

// testAtomicCreate checks that a reader polling a path while a writer writes it sees no
// file or the whole file, never a part.
func testAtomicCreate(t *testing.T, fsys ufs.FS) {
	data := newContent(5).bytes(0, 8<<20)
	ctx := t.Context()
	w, err := fsys.Create(ctx, "/atomic/f")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	_, err = readRange(t, fsys, "/atomic/f", 0, -1)
	wantErr(t, "Open before any write", err, fs.ErrNotExist)

	var committed atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return poll(gctx, fsys, "/atomic/f", &committed, nil, data)
	})
	g.Go(func() error {
		piece := len(data) / atomicPieces
		for i := range atomicPieces {
			if _, err := w.Write(data[i*piece : (i+1)*piece]); err != nil {
				return fmt.Errorf("write piece %d: %w", i, err)
			}
			if i == atomicPieces/2 {
				if fi, err := fsys.Stat(gctx, "/atomic/f"); !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("half-way through the write, Stat = %+v, %v; want fs.ErrNotExist", fi, err)
				}
			}
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
		committed.Store(true)
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// testAtomicReplace checks that a reader polling a file while a writer replaces it sees
// the old or the new content whole.
func testAtomicReplace(t *testing.T, fsys ufs.FS) {
	oldData := newContent(6).bytes(0, 4<<20)
	newData := newContent(7).bytes(0, 4<<20+1)
	writeFile(t, fsys, "/atomic/g", oldData)
	ctx := t.Context()
	w, err := fsys.Create(ctx, "/atomic/g")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()

	var committed atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return poll(gctx, fsys, "/atomic/g", &committed, oldData, newData)
	})
	g.Go(func() error {
		piece := len(newData) / atomicPieces
		for i := range atomicPieces {
			end := (i + 1) * piece
			if i == atomicPieces-1 {
				end = len(newData)
			}
			if _, err := w.Write(newData[i*piece : end]); err != nil {
				return fmt.Errorf("write piece %d: %w", i, err)
			}
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
		committed.Store(true)
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	wantContent(t, fsys, "/atomic/g", newData)
}

// poll reads name over and over until it holds newData. Before, it may hold oldData (or
// not exist, when oldData is nil); anything else is an error, as is a missing or old
// file once committed is set.
func poll(ctx context.Context, fsys ufs.FS, name string, committed *atomic.Bool, oldData, newData []byte) error {
	buf := make([]byte, max(len(oldData), len(newData))+1)
	for {
		after := committed.Load()
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := fsys.Stat(ctx, name)
		switch {
		case errors.Is(err, fs.ErrNotExist) && oldData == nil && !after:
		case err != nil:
			return fmt.Errorf("stat (committed %v): %w", after, err)
		case fi.Size == int64(len(newData)):
		case oldData == nil || fi.Size != int64(len(oldData)) || after:
			return fmt.Errorf("stat (committed %v): size %d; want the old (%d bytes, or none) or the new (%d)", after, fi.Size, len(oldData), len(newData))
		}
		got, err := readInto(ctx, fsys, name, buf)
		switch {
		case errors.Is(err, fs.ErrNotExist) && oldData == nil && !after:
		case err != nil:
			return fmt.Errorf("read (committed %v): %w", after, err)
		case bytes.Equal(got, newData):
			return nil
		case oldData == nil || !bytes.Equal(got, oldData) || after:
			return fmt.Errorf("read (committed %v) %d bytes with SHA-256 %x: neither the old nor the new content", after, len(got), sha256.Sum256(got))
		}
		runtime.Gosched()
	}
}

// readInto reads the whole file name into buf, which must be longer than the file.
func readInto(ctx context.Context, fsys ufs.FS, name string, buf []byte) ([]byte, error) {
	r, err := fsys.Open(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return buf[:n], nil
	}
	if err == nil {
		return nil, fmt.Errorf("file longer than %d bytes", len(buf))
	}
	return nil, err
}
