package master

import (
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// BenchmarkMaster_CreateComplete measures one file's metadata life over gRPC: CreateFile,
// CommitBlock of its one block, CompleteFile (two journal entries through single-node
// Raft with an fsynced bolt log).
func BenchmarkMaster_CreateComplete(b *testing.B) {
	tm, _ := startMasterB(b)
	e := &fakeExecutor{ex: tm.ex, addr: "127.0.0.1:1", blocks: map[uint64]*sluicepb.StoredBlock{}, data: map[uint64][]byte{}}
	resp, err := tm.ex.RegisterExecutor(b.Context(), &sluicepb.RegisterExecutorRequest{Executor: &sluicepb.ExecutorInfo{RpcAddress: e.addr}})
	if err != nil {
		b.Fatal(err)
	}
	e.id = resp.GetExecutorId()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := fmt.Sprintf("/bench/f%d", i)
		i++
		cr, err := tm.fs.CreateFile(b.Context(), &sluicepb.CreateFileRequest{Path: p, Recursive: true, WriteType: sluicepb.WriteType_WRITE_TYPE_MUST_CACHE})
		if err != nil {
			b.Fatal(err)
		}
		id := sluicepb.NewBlockID(cr.GetFile().GetFileId(), 0)
		if _, err := tm.ex.CommitBlock(b.Context(), &sluicepb.CommitBlockRequest{ExecutorId: e.id, BlockId: id, Length: 100, Tier: "MEM"}); err != nil {
			b.Fatal(err)
		}
		if _, err := tm.fs.CompleteFile(b.Context(), &sluicepb.CompleteFileRequest{Path: p, Length: 100,
			Blocks: []*sluicepb.BlockInfo{{BlockId: id, Length: 100}}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMaster_GetBlockLocations measures the read path's metadata call (no journal
// entry: served from the immutable state view and the block master).
func BenchmarkMaster_GetBlockLocations(b *testing.B) {
	tm, stores := startMasterB(b)
	stores.Get("root").Put("/read/file", make([]byte, 8000))
	if _, err := tm.fs.GetStatus(b.Context(), &sluicepb.GetStatusRequest{Path: "/read/file"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.fs.GetBlockLocations(b.Context(), &sluicepb.GetBlockLocationsRequest{Path: "/read/file"}); err != nil {
			b.Fatal(err)
		}
	}
}
