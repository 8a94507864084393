package executor

import (
	"bytes"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestPersist(t *testing.T) {
	fsys := newMemFS()
	fsys.put("/out/replaced.bin", []byte("left by an earlier attempt"))
	m := startFakeMaster(t, "127.0.0.1:0")
	start := func() (*Executor, sluicepb.BlockServiceClient) {
		cfg := testConfig(t, []string{m.addr}, 32<<20)
		cfg.UFS = fsys.registry()
		cfg.ChunkSize = 256 << 10
		e, _ := startExecutor(t, cfg)
		registered(t, e)
		return e, blockClient(t, e.Addr())
	}
	a, ca := start()
	b, cb := start()
	ctx := t.Context()

	// File 70: blocks 0 and 2 on a, block 1 only on b.
	const bs = 1<<20 + 17
	data := randBytes(7, 3*bs-100)
	var fbs []*sluicepb.FileBlockInfo
	for i := range 3 {
		id := sluicepb.NewBlockID(70, uint32(i))
		part := data[i*bs : min((i+1)*bs, len(data))]
		c, loc := ca, &sluicepb.BlockLocation{ExecutorId: a.ExecutorID(), RpcAddress: a.Addr()}
		if i == 1 {
			c, loc = cb, &sluicepb.BlockLocation{ExecutorId: b.ExecutorID(), RpcAddress: b.Addr()}
		}
		if _, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: id}, part, 100<<10); err != nil {
			t.Fatal(err)
		}
		fbs = append(fbs, &sluicepb.FileBlockInfo{
			Block:     &sluicepb.BlockInfo{BlockId: id, Length: int64(len(part)), Crc32C: proto.Uint32(crc32.Checksum(part, castagnoli))},
			Offset:    int64(i * bs),
			Locations: []*sluicepb.BlockLocation{loc},
		})
	}
	persist := func(fileID uint64, uri, temp string, blocks []*sluicepb.FileBlockInfo, length int64) *sluicepb.PersistFile {
		return &sluicepb.PersistFile{
			FileId: fileID, Path: "/p", Ufs: &sluicepb.UfsFile{Uri: uri}, TempUfsUri: temp,
			Blocks: blocks, Length: length, Attempt: 3,
		}
	}
	badCRC := proto.CloneOf(fbs[2])
	badCRC.Block.Crc32C = proto.Uint32(fbs[2].GetBlock().GetCrc32C() ^ 1)
	missing := &sluicepb.FileBlockInfo{Block: &sluicepb.BlockInfo{BlockId: sluicepb.NewBlockID(71, 0), Length: 10}}
	tests := []struct {
		name       string
		pf         *sluicepb.PersistFile
		wantOK     bool
		wantReason sluicepb.ErrorReason
		final      string
	}{
		{name: "local and remote blocks through a temporary name", pf: persist(70, "mem://b/out/f.bin", "mem://b/out/.f.bin.tmp3", fbs, int64(len(data))), wantOK: true, final: "/out/f.bin"},
		{name: "replaces a stale final file", pf: persist(72, "mem://b/out/replaced.bin", "mem://b/out/.r.tmp", fbs, int64(len(data))), wantOK: true, final: "/out/replaced.bin"},
		{name: "without a temporary name", pf: persist(73, "mem://b/out/direct.bin", "", fbs, int64(len(data))), wantOK: true, final: "/out/direct.bin"},
		{name: "block with no copy", pf: persist(74, "mem://b/out/missing.bin", "mem://b/out/.m.tmp", []*sluicepb.FileBlockInfo{missing}, 10), wantReason: sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{name: "checksum mismatch", pf: persist(75, "mem://b/out/crc.bin", "mem://b/out/.c.tmp", []*sluicepb.FileBlockInfo{fbs[0], fbs[1], badCRC}, int64(len(data))), wantReason: sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT},
		{name: "length mismatch", pf: persist(76, "mem://b/out/len.bin", "mem://b/out/.l.tmp", fbs, int64(len(data))+1), wantReason: sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH},
		{name: "read-only mount", pf: &sluicepb.PersistFile{FileId: 77, Attempt: 3, Ufs: &sluicepb.UfsFile{Uri: "mem://b/out/ro.bin", ReadOnly: true}}, wantReason: sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT},
		{name: "temporary name in another FS", pf: persist(78, "mem://b/out/x.bin", "mem://other/x.tmp", fbs, int64(len(data))), wantReason: sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	}
	for _, tt := range tests {
		m.command(a.ExecutorID(), &sluicepb.ExecutorCommand{Type: sluicepb.CommandType_COMMAND_TYPE_PERSIST_FILES, PersistFiles: []*sluicepb.PersistFile{tt.pf}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rep *sluicepb.ReportPersistedRequest
			waitFor(t, "the persist report", func() bool { rep = m.report(tt.pf.GetFileId()); return rep != nil })
			if rep.GetSuccess() != tt.wantOK || rep.GetAttempt() != 3 || rep.GetExecutorId() != a.ExecutorID() {
				t.Fatalf("report %v", rep)
			}
			if !tt.wantOK {
				if rep.GetReason() != tt.wantReason || rep.GetError() == "" {
					t.Fatalf("report reason %v (%q), want %v", rep.GetReason(), rep.GetError(), tt.wantReason)
				}
				return
			}
			got, ok := fsys.get(tt.final)
			if !ok || !bytes.Equal(got, data) {
				t.Fatalf("UFS file %s: %d bytes, want %d", tt.final, len(got), len(data))
			}
			if rep.GetBytes() != int64(len(data)) || rep.GetContentCrc32C() != crc32.Checksum(data, castagnoli) || rep.GetUfsUri() != tt.pf.GetUfs().GetUri() {
				t.Fatalf("report %v", rep)
			}
		})
	}
	for _, n := range fsys.names() {
		if strings.Contains(n, "tmp") {
			t.Errorf("temporary file %s left behind", n)
		}
	}
	want := []string{"/out/direct.bin", "/out/f.bin", "/out/replaced.bin"}
	if got := fsys.names(); !slices.Equal(got, want) {
		t.Errorf("UFS holds %v, want %v", got, want)
	}
	waitFor(t, "no persist running", func() bool { return len(a.persist.running()) == 0 })
}
