package client

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client/clienttest"
)

func TestReadTypes_FromUFS(t *testing.T) {
	const size = 2*testBlockSize + 5
	tests := []struct {
		rt         ReadType
		wantCached bool
	}{
		{ReadCache, true},
		{ReadNoCache, false},
		{ReadCachePromote, true},
		{ReadDefault, true},
	}
	for _, tt := range tests {
		for _, host := range []string{"", "node-b"} {
			t.Run(tt.rt.String()+"/host="+host, func(t *testing.T) {
				c := clienttest.New(t, clienttest.Options{BlockSize: testBlockSize, Executors: []clienttest.ExecutorOptions{{Host: host}}})
				cl := newClient(t, c, nil)
				data := payload(size, 8)
				c.PutUFS("mem:///root/in/data", data)
				if got := readFile(t, cl, "/in/data", OpenOptions{ReadType: tt.rt}); !bytes.Equal(got, data) {
					t.Fatal("read back wrong bytes")
				}
				s := cl.Stats()
				if s.BytesReadUFS != size {
					t.Errorf("bytes read from the UFS = %d, want %d", s.BytesReadUFS, size)
				}
				e := c.Executors()[0]
				if got := e.BlockCount() == 3; got != tt.wantCached {
					t.Errorf("executor caches %d blocks, want cached=%v", e.BlockCount(), tt.wantCached)
				}
				if !tt.wantCached {
					return
				}
				// A second read is served by the cached copies.
				before := cl.Stats()
				if got := readFile(t, cl, "/in/data", OpenOptions{ReadType: tt.rt}); !bytes.Equal(got, data) {
					t.Fatal("second read wrong")
				}
				after := cl.Stats()
				if after.BytesReadUFS != before.BytesReadUFS {
					t.Errorf("second read went to the UFS again")
				}
				if host == "" && after.BytesReadShortCircuit-before.BytesReadShortCircuit != size {
					t.Errorf("second read on the same host did not use short-circuit: %+v", after)
				}
				id := sluicepb.NewBlockID(mustStat(t, cl, "/in/data").FileID, 0)
				if promoted := e.Promotions(id) > 0; promoted != (tt.rt == ReadCachePromote) {
					t.Errorf("promotions of block 0 = %d with %v", e.Promotions(id), tt.rt)
				}
				if host == "" {
					checkReaderLearnsCache(t, c, cl, e, data, tt.rt)
				}
			})
		}
	}
}

func mustStat(t *testing.T, cl *Client, path string) FileInfo {
	t.Helper()
	fi, err := cl.Stat(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func TestLoad(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: "node-a"}, {Host: "node-b"}}})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	c.PutUFS("mem:///root/in/a", payload(3<<20, 1))
	c.PutUFS("mem:///root/in/sub/b", payload(1<<20+1, 2))
	res, err := cl.Load(ctx, "/in", LoadOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 2 || res.BlocksLoaded != 5 || res.BlocksCached != 0 || res.BytesLoaded != 4<<20+1 {
		t.Errorf("first Load = %+v", res)
	}
	if a, b := c.Executors()[0].BlockCount(), c.Executors()[1].BlockCount(); a+b != 5 || a == 0 || b == 0 {
		t.Errorf("blocks spread %d/%d, want 5 over both executors", a, b)
	}
	res, err = cl.Load(ctx, "/in/a", LoadOptions{})
	if err != nil || res.BlocksLoaded != 0 || res.BlocksCached != 3 {
		t.Errorf("second Load = %+v, %v", res, err)
	}
	if st := mustStat(t, cl, "/in/a"); st.InMemoryPercent != 100 {
		t.Errorf("in memory after load = %d%%", st.InMemoryPercent)
	}
	if cl.Stats().BlocksLoaded != 5 {
		t.Errorf("Stats.BlocksLoaded = %d", cl.Stats().BlocksLoaded)
	}
	// A file that lives only in executors and has lost its blocks cannot be loaded.
	writeFile(t, cl, "/mem", payload(10, 3), CreateOptions{WriteType: WriteMustCache})
	for _, e := range c.Executors() {
		c.DropCopies("/mem", e)
	}
	if _, err := cl.Load(ctx, "/mem", LoadOptions{}); !errors.Is(err, ErrNotPersisted) {
		t.Errorf("Load of an uncached, unpersisted file = %v, want ErrNotPersisted", err)
	}
	if _, err := cl.Load(ctx, "/missing", LoadOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load of a missing path = %v", err)
	}
}

// checkReaderLearnsCache checks that a reader which read a whole block from the UFS through
// the local executor (which cached it) reads that block by short-circuit afterwards,
// while a partial read leaves later reads going through the executor.
func checkReaderLearnsCache(t *testing.T, c *clienttest.Cluster, cl *Client, e *clienttest.Executor, data []byte, rt ReadType) {
	t.Helper()
	c.DropCopies("/in/data", e)
	r, err := cl.Open(t.Context(), "/in/data", OpenOptions{ReadType: rt})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const bs = testBlockSize
	before := cl.Stats()
	block := make([]byte, bs)
	if _, err := r.ReadAt(block, bs); err != nil || !bytes.Equal(block, data[bs:2*bs]) {
		t.Fatalf("ReadAt of block 1: %v", err)
	}
	small := make([]byte, 1000)
	if _, err := r.ReadAt(small, bs+5); err != nil || !bytes.Equal(small, data[bs+5:bs+1005]) {
		t.Fatalf("ReadAt in block 1: %v", err)
	}
	after := cl.Stats()
	if ufs, sc := after.BytesReadUFS-before.BytesReadUFS, after.BytesReadShortCircuit-before.BytesReadShortCircuit; ufs != bs || sc != 1000 {
		t.Errorf("whole block then a piece: %d bytes from the UFS and %d by short-circuit, want %d and 1000", ufs, sc, bs)
	}
	if after.ReadFallbacks != before.ReadFallbacks {
		t.Errorf("%d fallbacks", after.ReadFallbacks-before.ReadFallbacks)
	}
}
