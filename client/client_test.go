package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client/clienttest"
)

// newClient starts a client on cluster c with test-friendly settings; mutate may change
// the configuration first.
func newClient(t testing.TB, c *clienttest.Cluster, mutate func(*Config)) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Masters = []string{c.Address()}
	cfg.ChunkSize = 16 << 10
	cfg.RetryBackoff = time.Millisecond
	cfg.User = "tester"
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	if mutate != nil {
		mutate(&cfg)
	}
	cl, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n:n]
}

// writeFile writes data to path with opts and fails the test on error.
func writeFile(t testing.TB, cl *Client, path string, data []byte, opts CreateOptions) FileInfo {
	t.Helper()
	w, err := cl.Create(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Create(%s): %v", path, err)
	}
	// Odd-sized writes exercise the block and chunk splitting.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 7777)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write(%s): %v", path, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(%s): %v", path, err)
	}
	return w.Info()
}

// readFile reads path whole through Read and fails the test on error.
func readFile(t testing.TB, cl *Client, path string, opts OpenOptions) []byte {
	t.Helper()
	r, err := cl.Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	defer r.Close()
	var buf bytes.Buffer
	b := make([]byte, 5000)
	for {
		n, err := r.Read(b)
		buf.Write(b[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Read(%s): %v", path, err)
		}
	}
	return buf.Bytes()
}

func TestNew_NoMaster(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Masters = []string{"127.0.0.1:1"}
	cfg.DialTimeout = 200 * time.Millisecond
	_, err := New(t.Context(), cfg)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New without a master: got %v, want ErrUnavailable", err)
	}
}

func TestNew_InvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ChunkSize = -1
	if _, err := New(t.Context(), cfg); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("got %v, want ErrInvalidArgument", err)
	}
}

func TestClient_Closed(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	cl.Close()
	if _, err := cl.Stat(t.Context(), "/"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stat after Close: got %v, want ErrClosed", err)
	}
}

func TestClient_ContextErrorsPassThrough(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := cl.Stat(ctx, "/"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
