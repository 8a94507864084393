package executor

import (
	"bytes"
	"context"
	"hash/crc32"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

func TestBlockService_WriteReadRoundTrip(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 64<<20))
	c := blockClient(t, e.Addr())
	ctx := t.Context()
	const size = 3<<20 + 12345
	data := randBytes(1, size)
	id := sluicepb.NewBlockID(7, 0)
	resp, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: id, SizeHint: 4 << 20}, data, 100<<10)
	if err != nil {
		t.Fatalf("WriteBlock: %v", err)
	}
	crc := crc32.Checksum(data, castagnoli)
	if resp.GetLength() != size || resp.GetCrc32C() != crc || resp.GetTier() != "MEM" {
		t.Fatalf("WriteBlock response %v, want length %d crc %08x tier MEM", resp, size, crc)
	}
	cm := m.committed(id)
	if cm == nil || cm.GetLength() != size || cm.GetCrc32C() != crc || cm.GetExecutorId() != e.ExecutorID() {
		t.Fatalf("master commit %v, want length %d crc %08x executor %d", cm, size, crc, e.ExecutorID())
	}

	tests := []struct {
		name           string
		off, length    int64
		chunk          int64
		wantEnd        int64
		wantChunkBytes int
	}{
		{name: "whole block default chunk", wantEnd: size, wantChunkBytes: DefaultChunkSize},
		{name: "small chunks", chunk: 64 << 10, wantEnd: size, wantChunkBytes: 64 << 10},
		{name: "offset to end", off: 1<<20 + 7, wantEnd: size, wantChunkBytes: DefaultChunkSize},
		{name: "middle range", off: 999, length: 2 << 20, chunk: 300 << 10, wantEnd: 999 + 2<<20, wantChunkBytes: 300 << 10},
		{name: "last byte", off: size - 1, length: 1, wantEnd: size, wantChunkBytes: 1},
		{name: "empty range at end", off: size, wantEnd: size},
		{name: "chunk above the cap", chunk: 1 << 40, wantEnd: size, wantChunkBytes: size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, chunks, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id, Offset: tt.off, Length: tt.length, ChunkSize: tt.chunk})
			if err != nil {
				t.Fatalf("ReadBlock: %v", err)
			}
			if !bytes.Equal(got, data[tt.off:tt.wantEnd]) {
				t.Fatalf("read %d bytes, want bytes [%d, %d)", len(got), tt.off, tt.wantEnd)
			}
			if len(chunks) == 0 {
				t.Fatal("no chunk sent")
			}
			if f := chunks[0]; f.GetBlockLength() != size || f.GetTier() != "MEM" || f.GetFromUfs() || f.GetOffset() != tt.off {
				t.Fatalf("first chunk fields %d %q %v @%d", f.GetBlockLength(), f.GetTier(), f.GetFromUfs(), f.GetOffset())
			}
			off := tt.off
			for i, ch := range chunks {
				if ch.GetOffset() != off {
					t.Fatalf("chunk %d at %d, want %d", i, ch.GetOffset(), off)
				}
				if len(ch.GetData()) > tt.wantChunkBytes || (i < len(chunks)-1 && len(ch.GetData()) != tt.wantChunkBytes) {
					t.Fatalf("chunk %d has %d bytes, want %d", i, len(ch.GetData()), tt.wantChunkBytes)
				}
				off += int64(len(ch.GetData()))
			}
		})
	}
}

func TestBlockService_ShortCircuit(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	// Room for two 1 MiB blocks: a third one evicts.
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 2<<20+512<<10))
	c := blockClient(t, e.Addr())
	ctx := t.Context()
	registered(t, e)

	data := randBytes(2, 1<<20)
	a := sluicepb.NewBlockID(1, 0)
	cr, err := c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: a, ReserveBytes: 1 << 20, ClientId: "c1"})
	if err != nil {
		t.Fatalf("CreateLocalBlock: %v", err)
	}
	if cr.GetTier() != "MEM" || cr.GetReservedBytes() != 1<<20 {
		t.Fatalf("CreateLocalBlock response %v", cr)
	}
	if err := os.WriteFile(cr.GetPath(), data, 0o644); err != nil {
		t.Fatalf("write block file: %v", err)
	}
	crc := crc32.Checksum(data, castagnoli)
	if _, err := c.CommitLocalBlock(ctx, &sluicepb.CommitLocalBlockRequest{BlockId: a, Length: 1<<20 - 1}); err == nil {
		t.Fatal("CommitLocalBlock with a wrong length succeeded")
	} else {
		reasonIs(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH)
	}
	// The failed commit discarded the block: start again.
	if cr, err = c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: a, ReserveBytes: 1 << 20, ClientId: "c1"}); err != nil {
		t.Fatalf("CreateLocalBlock again: %v", err)
	}
	if err := os.WriteFile(cr.GetPath(), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CommitLocalBlock(ctx, &sluicepb.CommitLocalBlockRequest{BlockId: a, Length: 1 << 20, Crc32C: proto.Uint32(crc ^ 1)}); err == nil {
		t.Fatal("CommitLocalBlock with a wrong CRC succeeded")
	} else {
		reasonIs(t, err, codes.DataLoss, sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT)
	}
	if cr, err = c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: a, ReserveBytes: 1 << 20, ClientId: "c1"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cr.GetPath(), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cm, err := c.CommitLocalBlock(ctx, &sluicepb.CommitLocalBlockRequest{BlockId: a, Length: 1 << 20, Crc32C: proto.Uint32(crc)})
	if err != nil {
		t.Fatalf("CommitLocalBlock: %v", err)
	}
	if cm.GetCrc32C() != crc || cm.GetLength() != 1<<20 || m.committed(a) == nil {
		t.Fatalf("CommitLocalBlock response %v, master commit %v", cm, m.committed(a))
	}

	// Lock a for a short-circuit read and read its file.
	ol, err := c.OpenLocalBlock(ctx, &sluicepb.OpenLocalBlockRequest{BlockId: a, ClientId: "c1"})
	if err != nil {
		t.Fatalf("OpenLocalBlock: %v", err)
	}
	got, err := os.ReadFile(ol.GetPath())
	if err != nil || !bytes.Equal(got[:ol.GetLength()], data) || ol.GetCrc32C() != crc {
		t.Fatalf("read locked block file: %v (%d bytes, crc %08x)", err, len(got), ol.GetCrc32C())
	}

	// Fill the tier: b, then c needs room; a is locked and b guarded (its file is not
	// persisted), so c fails with NO_SPACE. Once the master says b's file is persisted, b
	// may go: c evicts it, and the heartbeat reports the eviction.
	b, cc := sluicepb.NewBlockID(2, 0), sluicepb.NewBlockID(3, 0)
	if _, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: b, SizeHint: 1 << 20}, randBytes(b, 1<<20), 256<<10); err != nil {
		t.Fatalf("WriteBlock %d: %v", b, err)
	}
	_, err = writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: cc, SizeHint: 1 << 20}, randBytes(cc, 1<<20), 256<<10)
	reasonIs(t, err, codes.ResourceExhausted, sluicepb.ErrorReason_ERROR_REASON_NO_SPACE)
	m.setPersisted(2)
	waitFor(t, "b unguarded", func() bool { return !e.guards.isGuarded(blocks.ID(b)) })
	if _, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: cc, SizeHint: 1 << 20}, randBytes(cc, 1<<20), 256<<10); err != nil {
		t.Fatalf("WriteBlock %d: %v", cc, err)
	}
	if _, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: a}); err != nil {
		t.Fatalf("locked block a was evicted: %v", err)
	}
	waitFor(t, "eviction of b reported in a heartbeat", func() bool { return m.reportedRemoved(b) })
	if m.reportedRemoved(a) {
		t.Fatal("locked block a reported removed")
	}
	if _, err := c.CloseLocalBlock(ctx, &sluicepb.CloseLocalBlockRequest{LockId: ol.GetLockId()}); err != nil {
		t.Fatalf("CloseLocalBlock: %v", err)
	}
	if _, err := c.CloseLocalBlock(ctx, &sluicepb.CloseLocalBlockRequest{LockId: ol.GetLockId()}); err == nil {
		t.Fatal("second CloseLocalBlock succeeded")
	} else {
		reasonIs(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
	}

	// Abort discards a temporary block.
	d := sluicepb.NewBlockID(4, 0)
	if _, err := c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: d, ReserveBytes: 10, ClientId: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortLocalBlock(ctx, &sluicepb.AbortLocalBlockRequest{BlockId: d}); err != nil {
		t.Fatalf("AbortLocalBlock: %v", err)
	}
	if _, err := c.CommitLocalBlock(ctx, &sluicepb.CommitLocalBlockRequest{BlockId: d}); err == nil {
		t.Fatal("CommitLocalBlock after abort succeeded")
	}
}

func TestBlockService_LocalLockTimeout(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	cfg := testConfig(t, []string{m.addr}, 8<<20)
	cfg.LocalLockTimeout = 50 * time.Millisecond
	e, _ := startExecutor(t, cfg)
	c := blockClient(t, e.Addr())
	ctx := t.Context()
	registered(t, e)
	id := sluicepb.NewBlockID(5, 0)
	if _, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: id}, []byte("locked"), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenLocalBlock(ctx, &sluicepb.OpenLocalBlockRequest{BlockId: id, ClientId: "gone"}); err != nil {
		t.Fatal(err)
	}
	// An abandoned temporary block is aborted too.
	tmp := sluicepb.NewBlockID(6, 0)
	if _, err := c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: tmp, ReserveBytes: 1 << 20, ClientId: "gone"}); err != nil {
		t.Fatal(err)
	}
	// Remove waits for the reader; it gets through once the idle client's lock expires.
	waitFor(t, "the idle client's lock to expire", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err := c.RemoveBlock(rctx, &sluicepb.RemoveBlockRequest{BlockId: id})
		// NotFound: an earlier Remove got through after its caller gave up.
		return err == nil || status.Code(err) == codes.NotFound
	})
	waitFor(t, "the abandoned temporary block to be aborted", func() bool {
		_, err := c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: tmp, ReserveBytes: 1, ClientId: "new"})
		return err == nil
	})
}

func TestBlockService_BadRequests(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	cfg := testConfig(t, []string{m.addr}, 8<<20)
	cfg.MaxMessageSize = 1 << 20
	cfg.ChunkSize = 256 << 10
	e, _ := startExecutor(t, cfg)
	c := blockClient(t, e.Addr())
	ctx := t.Context()
	registered(t, e)
	id := sluicepb.NewBlockID(9, 1)
	if _, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: id}, randBytes(9, 1000), 100); err != nil {
		t.Fatal(err)
	}
	missing := sluicepb.NewBlockID(9, 2)
	mem := &sluicepb.UfsFile{Uri: "mem://x/f"}
	tests := []struct {
		name   string
		call   func() error
		code   codes.Code
		reason sluicepb.ErrorReason
	}{
		{"read unknown block", func() error {
			_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: missing})
			if d := errorDetail(err); d != nil && d.GetBlockId() != missing {
				t.Errorf("detail names block %d, want %d", d.GetBlockId(), missing)
			}
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"read offset beyond end", func() error {
			_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id, Offset: 1001})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"read length beyond end", func() error {
			_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id, Offset: 10, Length: 991})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"read negative offset", func() error {
			_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id, Offset: -1})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"read negative chunk", func() error {
			_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id, ChunkSize: -5})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"read unknown UFS scheme", func() error {
			_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: missing, Ufs: &sluicepb.UfsBlockSource{File: &sluicepb.UfsFile{Uri: "nope://b/f"}, Length: 10}})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_UNKNOWN_SCHEME},
		{"read UFS source without file", func() error {
			_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: missing, Ufs: &sluicepb.UfsBlockSource{Length: 10}})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"write without header", func() error {
			s, err := c.WriteBlock(ctx)
			if err != nil {
				return err
			}
			s.Send(&sluicepb.WriteBlockRequest{Value: &sluicepb.WriteBlockRequest_Chunk{Chunk: []byte("x")}})
			_, err = s.CloseAndRecv()
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"write empty stream", func() error {
			s, err := c.WriteBlock(ctx)
			if err != nil {
				return err
			}
			_, err = s.CloseAndRecv()
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"write existing block", func() error {
			_, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: id}, []byte("x"), 1)
			return err
		}, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS},
		{"write unknown tier", func() error {
			_, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: missing, Tier: "TAPE"}, []byte("x"), 1)
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"write negative size hint", func() error {
			_, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: missing, SizeHint: -1}, nil, 1)
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"write oversized message", func() error {
			_, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: missing}, make([]byte, 2<<20), 2<<20)
			return err
		}, codes.ResourceExhausted, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"write block larger than the tier", func() error {
			_, err := writeBlock(ctx, c, &sluicepb.WriteBlockHeader{BlockId: missing, SizeHint: 1 << 30}, nil, 1)
			return err
		}, codes.ResourceExhausted, sluicepb.ErrorReason_ERROR_REASON_NO_SPACE},
		{"open local unknown block", func() error {
			_, err := c.OpenLocalBlock(ctx, &sluicepb.OpenLocalBlockRequest{BlockId: missing})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"close unknown lock", func() error {
			_, err := c.CloseLocalBlock(ctx, &sluicepb.CloseLocalBlockRequest{LockId: 424242})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"commit local unknown block", func() error {
			_, err := c.CommitLocalBlock(ctx, &sluicepb.CommitLocalBlockRequest{BlockId: missing})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"abort local unknown block", func() error {
			_, err := c.AbortLocalBlock(ctx, &sluicepb.AbortLocalBlockRequest{BlockId: missing})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"create local negative reservation", func() error {
			_, err := c.CreateLocalBlock(ctx, &sluicepb.CreateLocalBlockRequest{BlockId: missing, ReserveBytes: -1})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"remove unknown block", func() error {
			_, err := c.RemoveBlock(ctx, &sluicepb.RemoveBlockRequest{BlockId: missing})
			return err
		}, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND},
		{"cache without source", func() error {
			_, err := c.CacheBlock(ctx, &sluicepb.CacheBlockRequest{BlockId: missing})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"cache negative source offset", func() error {
			_, err := c.CacheBlock(ctx, &sluicepb.CacheBlockRequest{BlockId: missing, Source: &sluicepb.UfsBlockSource{File: mem, OffsetInFile: -1}})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"cache source beyond its file", func() error {
			_, err := c.CacheBlock(ctx, &sluicepb.CacheBlockRequest{BlockId: missing, Source: &sluicepb.UfsBlockSource{File: mem, OffsetInFile: 5, Length: 10, FileLength: 12}})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"cache URI without path", func() error {
			_, err := c.CacheBlock(ctx, &sluicepb.CacheBlockRequest{BlockId: missing, Source: &sluicepb.UfsBlockSource{File: &sluicepb.UfsFile{Uri: "mem://x"}, Length: 1}})
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
		{"UFS write without header", func() error {
			s, err := c.WriteUfsFile(ctx)
			if err != nil {
				return err
			}
			s.Send(&sluicepb.WriteUfsFileRequest{Value: &sluicepb.WriteUfsFileRequest_Chunk{Chunk: []byte("x")}})
			_, err = s.CloseAndRecv()
			return err
		}, codes.InvalidArgument, sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("call succeeded")
			}
			reasonIs(t, err, tt.code, tt.reason)
		})
	}
	// The executor still serves after all that.
	if got, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id}); err != nil || len(got) != 1000 {
		t.Fatalf("read after bad requests: %d bytes, %v", len(got), err)
	}
}

func TestBlockService_CancelledWriteLeavesNothing(t *testing.T) {
	m := startFakeMaster(t, "127.0.0.1:0")
	e, _ := startExecutor(t, testConfig(t, []string{m.addr}, 8<<20))
	registered(t, e)
	c := blockClient(t, e.Addr())
	id := sluicepb.NewBlockID(16, 0)
	ctx, cancel := context.WithCancel(t.Context())
	s, err := c.WriteBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&sluicepb.WriteBlockRequest{Value: &sluicepb.WriteBlockRequest_Header{Header: &sluicepb.WriteBlockHeader{BlockId: id, SizeHint: 1 << 20}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&sluicepb.WriteBlockRequest{Value: &sluicepb.WriteBlockRequest_Chunk{Chunk: make([]byte, 1000)}}); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The aborted block frees its ID: a new write of it goes through.
	waitFor(t, "the cancelled write to be aborted", func() bool {
		_, err := writeBlock(t.Context(), c, &sluicepb.WriteBlockHeader{BlockId: id}, []byte("second"), 3)
		return err == nil
	})
	got, _, err := readBlock(t.Context(), c, &sluicepb.ReadBlockRequest{BlockId: id})
	if err != nil || string(got) != "second" {
		t.Fatalf("block holds %q, %v", got, err)
	}
	if m.committed(id).GetLength() != 6 {
		t.Fatalf("master commit %v", m.committed(id))
	}
}
