package client

import (
	"bytes"
	"io"
	"testing"

	"github.com/sluicedata/sluice/client/clienttest"
)

// A short-circuit block on 4 KiB pages is read with pread on the first pass and mapped
// for the second; the bytes are the same either way.
func TestShortCircuit_MapsOnSecondPass(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{}}})
	cl := newClient(t, c, nil)
	data := payload(2*testBlockSize+7, 4)
	writeFile(t, cl, "/f", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	r, err := cl.Open(t.Context(), "/f", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mapped := func() []bool {
		r.bmu.Lock()
		defer r.bmu.Unlock()
		var out []bool
		for _, b := range r.blocks {
			lb := r.local[b.GetBlock().GetBlockId()]
			if lb == nil {
				t.Fatalf("block %d is not open for short-circuit reads", b.GetBlock().GetBlockId())
			}
			if onHugePages(lb.f) {
				t.Skip("the block files are on huge pages: mapped at open")
			}
			out = append(out, lb.mm.Load() != nil)
		}
		return out
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("first pass: %v, bytes equal %v", err, bytes.Equal(got, data))
	}
	for i, m := range mapped() {
		if m {
			t.Errorf("block %d mapped after one pass, want pread only", i)
		}
	}
	clear(got)
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("second pass: %v, bytes equal %v", err, bytes.Equal(got, data))
	}
	for i, m := range mapped() {
		if !m {
			t.Errorf("block %d not mapped after a second pass", i)
		}
	}
	if s := cl.Stats(); s.BytesReadShortCircuit != 2*int64(len(data)) {
		t.Errorf("short-circuit bytes read = %d, want %d", s.BytesReadShortCircuit, 2*len(data))
	}
}

// A sequential Read of a short-circuit block takes the next block's lock ahead.
func TestShortCircuit_SequentialReadOpensNextBlock(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{}}})
	cl := newClient(t, c, nil)
	data := payload(3*testBlockSize, 5)
	writeFile(t, cl, "/f", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	r, err := cl.Open(t.Context(), "/f", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	open := func() map[int]bool {
		r.prefetch.Wait()
		r.bmu.Lock()
		defer r.bmu.Unlock()
		out := map[int]bool{}
		for i, b := range r.blocks {
			if r.local[b.GetBlock().GetBlockId()] != nil {
				out[i] = true
			}
		}
		return out
	}
	got := make([]byte, testBlockSize)
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, data[:testBlockSize]) {
		t.Fatalf("read of the first block: %v", err)
	}
	if o := open(); !o[0] || !o[1] || o[2] {
		t.Errorf("blocks open after reading block 0: %v, want 0 and 1", o)
	}
	// ReadAt is not sequential: it opens only what it reads.
	if _, err := r.ReadAt(got[:1], 2*testBlockSize); err != nil {
		t.Fatal(err)
	}
	if o := open(); len(o) != 3 {
		t.Errorf("blocks open after ReadAt in block 2: %v", o)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(rest, data[testBlockSize:]) {
		t.Fatalf("rest of the file: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := c.Executors()[0].OpenLocks(); n != 0 {
		t.Errorf("%d short-circuit locks left after Close", n)
	}
}
