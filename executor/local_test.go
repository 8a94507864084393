package executor

import (
	"bytes"
	"hash/crc32"
	"os"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/blocks/blockstest"
)

// A short-circuit write after a block went away gets its file back (pages allocated),
// writes less than it holds, and commits exactly what it wrote.
func TestBlockService_ShortCircuitRecycledFile(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	c := blockClient(t, e.Addr())
	ctx := t.Context()
	registered(t, e)
	store, err := e.storeOrErr()
	if err != nil {
		t.Fatal(err)
	}

	// Two 2 MiB blocks written by short-circuit, then removed: their files are recycled.
	for f := uint64(10); f < 12; f++ {
		old := sluicepb.NewBlockID(f, 0)
		cr, err := c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: old, ReserveBytes: 2 << 20, ClientId: "c1"})
		if err != nil {
			t.Fatalf("CreateLocalBlock: %v", err)
		}
		blockstest.Overwrite(t, cr.GetPath(), randBytes(f, 2<<20))
		if _, err := c.CommitLocalBlock(ctx, &sluicepb.CommitLocalBlockRequest{BlockId: old, Length: 2 << 20}); err != nil {
			t.Fatalf("CommitLocalBlock: %v", err)
		}
	}
	for f := uint64(10); f < 12; f++ {
		if err := store.Remove(ctx, blocks.ID(sluicepb.NewBlockID(f, 0))); err != nil {
			t.Fatal(err)
		}
	}

	// The next short-circuit block is handed one of those files.
	data := randBytes(2, 1<<20+123)
	crc := crc32.Checksum(data, castagnoli)
	a := sluicepb.NewBlockID(2, 0)
	create := func() string {
		t.Helper()
		cr, err := c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: a, ReserveBytes: 2 << 20, ClientId: "c1"})
		if err != nil {
			t.Fatalf("CreateLocalBlock: %v", err)
		}
		if fi, err := os.Stat(cr.GetPath()); err != nil || fi.Size() != 2<<20 {
			t.Fatalf("handed file: %v, %v; want a recycled file of 2 MiB", fi, err)
		}
		return cr.GetPath()
	}
	path := create()
	blockstest.Overwrite(t, path, data)
	// A length past the end of the file does not commit (and discards the block).
	_, err = c.CommitLocalBlock(ctx, &sluicepb.CommitLocalBlockRequest{BlockId: a, Length: 2<<20 + 1})
	reasonIs(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH)

	// Start again with the other recycled file.
	path = create()
	blockstest.Overwrite(t, path, data)
	cm, err := c.CommitLocalBlock(ctx, &sluicepb.CommitLocalBlockRequest{BlockId: a, Length: int64(len(data)), Crc32C: proto.Uint32(crc)})
	if err != nil {
		t.Fatalf("CommitLocalBlock: %v", err)
	}
	if cm.GetLength() != int64(len(data)) || cm.GetCrc32C() != crc {
		t.Fatalf("CommitLocalBlock response %v, want length %d crc %08x", cm, len(data), crc)
	}
	got, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: a})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v, equal %v", err, bytes.Equal(got, data))
	}
}
