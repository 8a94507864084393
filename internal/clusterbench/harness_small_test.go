package clusterbench

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"testing"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
)

// The benchmarks' measuring code, run at small sizes: every round must move the right
// bytes the right way, and the cluster and its tmpfs directory must go away with the test.

// smallBlock and smallSize make the small files span several blocks, the last one short.
const (
	smallBlock = 1 << 20
	smallSize  = 3*smallBlock + 12345
)

func TestHarness_Reads(t *testing.T) {
	var memDir string
	t.Run("cluster", func(t *testing.T) {
		r := newReadEnv(t, smallSize, smallBlock)
		memDir = r.memDir
		ctx := t.Context()
		dst := make([]byte, smallSize)
		tcp := newTCPStream(t, r.data)
		buf := make([]byte, 64<<10)
		for round, refFirst := range []bool{false, true, false} {
			sc0, remote0 := r.sc.Stats(), r.remote.Stats()
			clear(dst)
			tm, err := r.shortCircuitRound(ctx, dst, round, true)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if tm.Sluice <= 0 || tm.Memcpy <= 0 || tm.Pread <= 0 {
				t.Errorf("round %d: short-circuit round took %+v", round, tm)
			}
			if !bytes.Equal(dst, r.data) {
				t.Errorf("round %d: the last part of the round left other bytes than the file's", round)
			}
			if got := r.sc.Stats().BytesReadShortCircuit - sc0.BytesReadShortCircuit; got != smallSize {
				t.Errorf("round %d: short-circuit client read %d bytes by short-circuit, want %d", round, got, smallSize)
			}
			if s, tt, err := r.remoteRound(ctx, tcp, buf, refFirst); err != nil || s <= 0 || tt <= 0 {
				t.Fatalf("round %d: remote round = %v, %v, %v", round, s, tt, err)
			}
			st := r.remote.Stats()
			if got := st.BytesReadRemote - remote0.BytesReadRemote; got != smallSize {
				t.Errorf("round %d: gRPC-only client streamed %d bytes, want %d", round, got, smallSize)
			}
			if st.BytesReadShortCircuit != 0 {
				t.Errorf("round %d: gRPC-only client read %d bytes by short-circuit", round, st.BytesReadShortCircuit)
			}
		}
		if st, err := os.Stat(memDir); err != nil || !st.IsDir() {
			t.Fatalf("MEM directory %s while the cluster runs: %v", memDir, err)
		}
	})
	if _, err := os.Stat(memDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MEM directory %s after the test: %v, want it removed", memDir, err)
	}
}

func TestHarness_Writes(t *testing.T) {
	e := newEnv(t, envConfig{memSize: 4 * smallSize, blockSize: smallBlock})
	data := bench.Payload(smallSize, 3)
	times := newWriteTimes()
	before := e.sc.Stats()
	const rounds = 2
	for round := range rounds {
		if err := e.writeRound(t.Context(), data, round, times); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	for _, row := range writeRows {
		if got := times.rows[row]; len(got) != rounds || slices.Min(got) <= 0 {
			t.Errorf("%s: durations %v, want %d positive ones", row, got, rounds)
		}
	}
	if times.asyncDurable < times.total(client.WriteAsyncThrough.String()) {
		t.Errorf("ASYNC_THROUGH durable after %v, before its close (%v)", times.asyncDurable, times.total(client.WriteAsyncThrough.String()))
	}
	if r := times.ratio(client.WriteMustCache.String(), client.WriteThrough.String()); r <= 0 {
		t.Errorf("mustcache/through = %v, want > 0", r)
	}
	after := e.sc.Stats()
	if got, want := after.BytesWrittenShortCircuit-before.BytesWrittenShortCircuit, int64(3*rounds*smallSize); got != want {
		t.Errorf("short-circuit bytes written = %d, want %d", got, want)
	}
	if got, want := after.BytesWrittenUFS-before.BytesWrittenUFS, int64(rounds*smallSize); got != want {
		t.Errorf("THROUGH bytes written = %d, want %d", got, want)
	}
	// Every row deleted its file, from the UFS too.
	if got, err := e.sc.List(t.Context(), "/bench", client.ListOptions{LoadMetadata: client.LoadMetadataNever}); err != nil || len(got) != 0 {
		t.Errorf("List(/bench) after the rounds = %d entries, %v; want none", len(got), err)
	}
	if ents, err := os.ReadDir(e.c.UFSDir() + "/bench"); err != nil || len(ents) != 0 {
		t.Errorf("UFS /bench after the rounds: %d entries, %v; want none", len(ents), err)
	}
}

func TestHarness_Metadata(t *testing.T) {
	m := newMetaEnv(t, 2)
	if len(m.clients) != metaClients || len(m.stub) != metaClients {
		t.Fatalf("%d master clients and %d stub clients, want %d each", len(m.clients), len(m.stub), metaClients)
	}
	const perClient = 3
	for round, stubFirst := range []bool{false, true} {
		if rt, err := m.metaRound(t.Context(), perClient, createOp(round), stubFirst); err != nil || rt.master <= 0 || rt.stub <= 0 {
			t.Fatalf("create round %d = %+v, %v", round, rt, err)
		}
		if rt, err := m.metaRound(t.Context(), perClient, m.statOp(round), stubFirst); err != nil || rt.master <= 0 || rt.stub <= 0 {
			t.Fatalf("stat round %d = %+v, %v", round, rt, err)
		}
	}
	// The master holds every created file (the stub created none).
	for i := range metaClients {
		got, err := m.clients[i].List(t.Context(), clientDir(i), client.ListOptions{LoadMetadata: client.LoadMetadataNever})
		if err != nil {
			t.Fatal(err)
		}
		if want := 2 + 2*perClient; len(got) != want {
			t.Errorf("client %d's directory has %d files, want %d", i, len(got), want)
		}
		for _, fi := range got {
			if !fi.Complete || fi.Length != 0 {
				t.Errorf("%s: complete=%v length=%d, want a complete empty file", fi.Path, fi.Complete, fi.Length)
			}
		}
	}
}
