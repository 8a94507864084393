package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client/clienttest"
)

// stallAfter returns a read hook that lets n bytes of each stream through and then holds
// the stream until it ends, so that the test decides when the executor disappears.
func stallAfter(n int64) clienttest.ReadHook {
	return func(ctx context.Context, _ uint64, sent int64) error {
		if sent >= n {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
}

func TestFallback_ExecutorDisappearsMidRead(t *testing.T) {
	const size = 3*testBlockSize + 100
	tests := []struct {
		name string
		// prepare gives the file a second source besides executor 0 and returns what the
		// read should resume from.
		prepare  func(t *testing.T, c *clienttest.Cluster, cl *Client)
		wantUFS  bool
		readType ReadType
	}{
		{
			name: "another copy",
			prepare: func(t *testing.T, c *clienttest.Cluster, cl *Client) {
				if err := c.Replicate("/f", c.Executors()[1]); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "UFS through another executor",
			prepare: func(t *testing.T, c *clienttest.Cluster, cl *Client) {
				if _, err := cl.Persist(t.Context(), "/f", PersistOptions{Wait: true}); err != nil {
					t.Fatal(err)
				}
			},
			wantUFS:  true,
			readType: ReadNoCache,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{
				{Host: "node-a"}, {Host: "node-b"},
			}})
			cl := newClient(t, c, nil)
			data := payload(size, 11)
			writeOn(t, c, cl, "/f", data, 0)
			tt.prepare(t, c, cl)
			e0 := c.Executors()[0]
			e0.SetReadHook(stallAfter(testBlockSize + 3*16<<10))

			r, err := cl.Open(t.Context(), "/f", OpenOptions{ReadType: tt.readType})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// Read the first block and part of the second from executor 0.
			head := make([]byte, testBlockSize+3*16<<10)
			if _, err := io.ReadFull(r, head); err != nil {
				t.Fatalf("reading the head: %v", err)
			}
			before := cl.Stats()
			e0.Stop()
			rest, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("reading on after executor 0 stopped: %v", err)
			}
			if got := append(head, rest...); !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, want %d matching bytes", len(got), len(data))
			}
			s := cl.Stats()
			if s.ReadFallbacks <= before.ReadFallbacks {
				t.Errorf("no fallback counted")
			}
			if ufs := s.BytesReadUFS - before.BytesReadUFS; tt.wantUFS != (ufs > 0) {
				t.Errorf("bytes read from the UFS after the stop = %d, want UFS=%v", ufs, tt.wantUFS)
			}
			// ReadAt on the same reader avoids the dead executor from now on.
			buf := make([]byte, 100)
			if _, err := r.ReadAt(buf, 10); err != nil || !bytes.Equal(buf, data[10:110]) {
				t.Errorf("ReadAt after the stop: %v", err)
			}
		})
	}
}

// writeOn writes data to path with MUST_CACHE and leaves executor i the only holder of
// its blocks.
func writeOn(t *testing.T, c *clienttest.Cluster, cl *Client, path string, data []byte, i int) {
	t.Helper()
	w, err := cl.Create(t.Context(), path, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Move blocks written elsewhere onto executor i and drop the other copies, so that
	// executor i is the only source.
	if err := c.Replicate(path, c.Executors()[i]); err != nil {
		t.Fatal(err)
	}
	for j, e := range c.Executors() {
		if j != i {
			c.DropCopies(path, e)
		}
	}
}

func TestFallback_NoSourceLeft(t *testing.T) {
	// The only executor goes away and the master never notices: the reader keeps asking
	// the master to wait for a recompute until RecomputeWait has passed, then fails.
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: "node-a"}}})
	cl := newClient(t, c, func(cfg *Config) { cfg.RecomputeWait = 500 * time.Millisecond })
	data := payload(2*testBlockSize, 12)
	writeFile(t, cl, "/f", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	r, err := cl.Open(t.Context(), "/f", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c.Executors()[0].Stop()
	_, err = io.ReadAll(r)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("reading with the only executor gone = %v, want ErrUnavailable", err)
	}
	// Open, the immediate refresh, and at least one refresh that waited for recompute.
	if n := c.Calls("GetBlockLocations"); n < 3 {
		t.Errorf("GetBlockLocations called %d times, want at least 3 (open, refresh, waiting refresh)", n)
	}
}

func TestOpen_LostFile(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	writeFile(t, cl, "/out", payload(100, 13), CreateOptions{WriteType: WriteMustCache})
	c.LoseExecutor(c.Executors()[0])
	_, err := cl.Open(t.Context(), "/out", OpenOptions{})
	if !errors.Is(err, ErrFileLost) {
		t.Fatalf("Open of a LOST file = %v, want ErrFileLost", err)
	}
	var se *Error
	if !errors.As(err, &se) || se.Path != "/out" {
		t.Errorf("error details: %+v", se)
	}
}

func TestFallback_StalledExecutor(t *testing.T) {
	// Executor 0 stops sending mid-block without going away; the idle timeout fails it
	// over to the copy on executor 1.
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: "node-a"}, {Host: "node-b"}}})
	cl := newClient(t, c, func(cfg *Config) { cfg.StreamIdleTimeout = 100 * time.Millisecond })
	data := payload(2*testBlockSize+9, 21)
	writeOn(t, c, cl, "/f", data, 0)
	if err := c.Replicate("/f", c.Executors()[1]); err != nil {
		t.Fatal(err)
	}
	c.Executors()[0].SetReadHook(stallAfter(testBlockSize / 2))
	got, err := cl.ReadFile(t.Context(), "/f", OpenOptions{})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile with a stalled executor = %d bytes, %v", len(got), err)
	}
	if cl.Stats().ReadFallbacks == 0 {
		t.Error("no fallback counted")
	}
}
