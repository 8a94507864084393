package executor

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// fakeReadStream collects what a ReadBlock handler sends.
type fakeReadStream struct {
	grpc.ServerStream
	ctx    context.Context
	chunks []*sluicepb.ReadBlockChunk
	data   []byte
}

func (s *fakeReadStream) Context() context.Context { return s.ctx }

func (s *fakeReadStream) Send(m *sluicepb.ReadBlockChunk) error {
	s.chunks = append(s.chunks, &sluicepb.ReadBlockChunk{Offset: m.GetOffset(), BlockLength: m.GetBlockLength()})
	s.data = append(s.data, m.GetData()...)
	return nil
}

// FuzzReadBlock feeds arbitrary ranges, chunk sizes and block IDs to the ReadBlock
// handler over a store holding one block: it must never panic, must answer a valid range
// with exactly its bytes and anything else with InvalidArgument or NotFound.
func FuzzReadBlock(f *testing.F) {
	const size = 200_000
	data := randBytes(8, size)
	id := sluicepb.NewBlockID(3, 1)
	cfg := testConfig(f, []string{"127.0.0.1:1"}, 8<<20)
	cfg.ChunkSize = 64 << 10
	e, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	store, err := blocks.Open(f.Context(), cfg.Store)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	tb, err := store.CreateTemp(f.Context(), blocks.ID(id), size, blocks.CreateOptions{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := tb.Write(data); err != nil {
		f.Fatal(err)
	}
	if _, err := tb.Commit(f.Context()); err != nil {
		f.Fatal(err)
	}
	e.store.Store(store)
	for _, s := range [][4]int64{{0, 0, 0, 0}, {size, 0, 1, 0}, {-1, 0, 0, 0}, {10, size, 0, 0}, {5, 7, 3, 0}, {0, 0, -1, 1}, {0, 0, 1 << 62, 0}} {
		f.Add(s[0], s[1], s[2], s[3] == 1)
	}
	f.Fuzz(func(t *testing.T, off, length, chunk int64, other bool) {
		req := &sluicepb.ReadBlockRequest{BlockId: id, Offset: off, Length: length, ChunkSize: chunk}
		if other {
			req.BlockId = id + 1
		}
		s := &fakeReadStream{ctx: t.Context()}
		err := e.ReadBlock(req, s)
		valid := !other && off >= 0 && length >= 0 && chunk >= 0 && off <= size && (length == 0 || length <= size-off)
		if !valid {
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.NotFound {
				t.Fatalf("ReadBlock(%v): %v, want InvalidArgument or NotFound", req, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ReadBlock(%v): %v", req, err)
		}
		end := int64(size)
		if length > 0 {
			end = off + length
		}
		if !bytes.Equal(s.data, data[off:end]) || len(s.chunks) == 0 || s.chunks[0].GetBlockLength() != size {
			t.Fatalf("ReadBlock(%v) sent %d bytes in %d chunks", req, len(s.data), len(s.chunks))
		}
	})
}
