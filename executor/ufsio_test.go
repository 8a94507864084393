package executor

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// ufsSetup starts a fake master and an executor whose "mem" scheme opens fsys.
func ufsSetup(t *testing.T, fsys *memFS) (*fakeMaster, *Executor, sluicepb.BlockServiceClient) {
	m := startFakeMaster(t, "127.0.0.1:0")
	cfg := testConfig(t, []string{m.addr}, 64<<20)
	cfg.UFS = fsys.registry()
	e, _ := startExecutor(t, cfg)
	registered(t, e)
	return m, e, blockClient(t, e.Addr())
}

func TestBlockService_UFSReadThrough(t *testing.T) {
	fsys := newMemFS()
	file := randBytes(3, 5<<20+100)
	fsys.put("/data/f.bin", file)
	m, _, c := ufsSetup(t, fsys)
	ctx := t.Context()
	const blockSize = 2 << 20
	src := func(i int) *sluicepb.UfsBlockSource {
		off := int64(i) * blockSize
		return &sluicepb.UfsBlockSource{
			File:         &sluicepb.UfsFile{Uri: "mem://bucket/data/f.bin", MountId: 1, MountOptions: map[string]string{"k": "v"}},
			OffsetInFile: off, Length: min(blockSize, int64(len(file))-off), FileLength: int64(len(file)),
		}
	}
	tests := []struct {
		name       string
		index      int
		noCache    bool
		off, n     int64
		wantCached bool
	}{
		{name: "cache whole block", index: 0, wantCached: true},
		{name: "cache range of the last block", index: 2, off: 1000, n: 50, wantCached: true},
		{name: "no cache", index: 1, noCache: true, off: 7, n: blockSize - 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := sluicepb.NewBlockID(11, uint32(tt.index))
			s := src(tt.index)
			got, chunks, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id, Offset: tt.off, Length: tt.n, NoCache: tt.noCache, Ufs: s})
			if err != nil {
				t.Fatalf("ReadBlock: %v", err)
			}
			end := s.GetLength()
			if tt.n > 0 {
				end = tt.off + tt.n
			}
			want := file[s.GetOffsetInFile()+tt.off : s.GetOffsetInFile()+end]
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d bytes of the UFS file", len(got), len(want))
			}
			if f := chunks[0]; !f.GetFromUfs() || f.GetTier() != "" || f.GetBlockLength() != s.GetLength() {
				t.Fatalf("first chunk: from_ufs %v tier %q length %d", f.GetFromUfs(), f.GetTier(), f.GetBlockLength())
			}
			_, _, err = readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id})
			if tt.wantCached {
				if err != nil {
					t.Fatalf("block not cached: %v", err)
				}
				waitFor(t, "CommitBlock of the cached block", func() bool { return m.committed(id) != nil })
				if cm := m.committed(id); cm.GetLength() != s.GetLength() || cm.GetCrc32C() != crc32.Checksum(file[s.GetOffsetInFile():s.GetOffsetInFile()+s.GetLength()], castagnoli) {
					t.Fatalf("commit %v does not match the UFS bytes", cm)
				}
			} else {
				reasonIs(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
			}
		})
	}
}

func TestBlockService_UFSErrors(t *testing.T) {
	fsys := newMemFS()
	fsys.put("/short", []byte("only a few bytes"))
	_, _, c := ufsSetup(t, fsys)
	ctx := t.Context()
	for _, noCache := range []bool{false, true} {
		_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{
			BlockId: sluicepb.NewBlockID(12, 0), NoCache: noCache,
			Ufs: &sluicepb.UfsBlockSource{File: &sluicepb.UfsFile{Uri: "mem://b/short"}, Length: 100},
		})
		reasonIs(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH)
		_, _, err = readBlock(ctx, c, &sluicepb.ReadBlockRequest{
			BlockId: sluicepb.NewBlockID(12, 1), NoCache: noCache,
			Ufs: &sluicepb.UfsBlockSource{File: &sluicepb.UfsFile{Uri: "mem://b/missing"}, Length: 100},
		})
		reasonIs(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
	}
}

func TestBlockService_UFSSingleflight(t *testing.T) {
	fsys := newMemFS()
	data := randBytes(4, 3<<20)
	fsys.put("/one", data)
	fsys.gate = make(chan struct{})
	m, e, c := ufsSetup(t, fsys)
	ctx := t.Context()
	id := sluicepb.NewBlockID(13, 0)
	src := &sluicepb.UfsBlockSource{File: &sluicepb.UfsFile{Uri: "mem://b/one"}, Length: int64(len(data))}
	const readers = 8
	var wg sync.WaitGroup
	errs := make([]error, readers+1)
	for i := range readers {
		wg.Go(func() {
			got, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: id, Ufs: src})
			if err == nil && !bytes.Equal(got, data) {
				err = errBadData
			}
			errs[i] = err
		})
	}
	wg.Go(func() {
		resp, err := c.CacheBlock(ctx, &sluicepb.CacheBlockRequest{BlockId: id, Source: src})
		if err == nil && resp.GetLength() != int64(len(data)) {
			err = errBadData
		}
		errs[readers] = err
	})
	// Let the load through once every reader missed the cache and the first one is
	// inside the UFS.
	waitFor(t, "all readers to miss", func() bool {
		return counterValue(e.metrics.cacheMisses) >= readers && fsys.opens.Load() >= 1
	})
	close(fsys.gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := fsys.opens.Load(); n != 1 {
		t.Fatalf("the UFS was opened %d times, want 1", n)
	}
	if m.committed(id) == nil {
		t.Fatal("the cached block was not committed")
	}
	// A second CacheBlock finds the block.
	resp, err := c.CacheBlock(ctx, &sluicepb.CacheBlockRequest{BlockId: id, Source: src})
	if err != nil || !resp.GetAlreadyCached() {
		t.Fatalf("CacheBlock again: %v, %v", resp, err)
	}
}

func TestBlockService_CacheBlockRefused(t *testing.T) {
	fsys := newMemFS()
	fsys.put("/f", []byte("0123456789"))
	m, _, c := ufsSetup(t, fsys)
	m.with(func(m *fakeMaster) {
		m.commitErr = statusErr(codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
	})
	id := sluicepb.NewBlockID(14, 0)
	_, err := c.CacheBlock(t.Context(), &sluicepb.CacheBlockRequest{BlockId: id, Source: &sluicepb.UfsBlockSource{File: &sluicepb.UfsFile{Uri: "mem://b/f"}, Length: 10}})
	reasonIs(t, err, codes.NotFound, sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND)
	waitFor(t, "the refused block to be removed", func() bool {
		_, _, err := readBlock(t.Context(), c, &sluicepb.ReadBlockRequest{BlockId: id})
		return err != nil
	})
}

func TestBlockService_WriteUfsFile(t *testing.T) {
	fsys := newMemFS()
	fsys.put("/exists", []byte("old"))
	_, _, c := ufsSetup(t, fsys)
	ctx := t.Context()
	data := randBytes(5, 3<<20+3)
	write := func(ctx context.Context, hdr *sluicepb.WriteUfsFileHeader, data []byte, cancelAfter bool) (*sluicepb.WriteUfsFileResponse, error) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := c.WriteUfsFile(cctx)
		if err != nil {
			return nil, err
		}
		if err := s.Send(&sluicepb.WriteUfsFileRequest{Value: &sluicepb.WriteUfsFileRequest_Header{Header: hdr}}); err != nil {
			return s.CloseAndRecv()
		}
		for off := 0; off < len(data); off += 1 << 20 {
			if err := s.Send(&sluicepb.WriteUfsFileRequest{Value: &sluicepb.WriteUfsFileRequest_Chunk{Chunk: data[off:min(off+1<<20, len(data))]}}); err != nil {
				return s.CloseAndRecv()
			}
		}
		if cancelAfter {
			cancel()
		}
		return s.CloseAndRecv()
	}
	resp, err := write(ctx, &sluicepb.WriteUfsFileHeader{Ufs: &sluicepb.UfsFile{Uri: "mem://b/new/file"}}, data, false)
	if err != nil {
		t.Fatalf("WriteUfsFile: %v", err)
	}
	if got, _ := fsys.get("/new/file"); !bytes.Equal(got, data) || resp.GetLength() != int64(len(data)) || resp.GetContentCrc32C() != crc32.Checksum(data, castagnoli) || resp.GetUfsUri() != "mem://b/new/file" {
		t.Fatalf("UFS file has %d bytes; response %v", len(got), resp)
	}
	_, err = write(ctx, &sluicepb.WriteUfsFileHeader{Ufs: &sluicepb.UfsFile{Uri: "mem://b/exists"}}, data, false)
	reasonIs(t, err, codes.AlreadyExists, sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS)
	if _, err = write(ctx, &sluicepb.WriteUfsFileHeader{Ufs: &sluicepb.UfsFile{Uri: "mem://b/exists"}, Overwrite: true}, []byte("new"), false); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if got, _ := fsys.get("/exists"); string(got) != "new" {
		t.Fatalf("overwritten file holds %q", got)
	}
	_, err = write(ctx, &sluicepb.WriteUfsFileHeader{Ufs: &sluicepb.UfsFile{Uri: "mem://b/ro", ReadOnly: true}}, data, false)
	reasonIs(t, err, codes.FailedPrecondition, sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT)
	if _, err = write(ctx, &sluicepb.WriteUfsFileHeader{Ufs: &sluicepb.UfsFile{Uri: "mem://b/cancelled"}}, data, true); err == nil {
		t.Fatal("cancelled write succeeded")
	}
	for _, n := range fsys.names() {
		if strings.Contains(n, "cancelled") || strings.Contains(n, "ro") {
			t.Fatalf("failed write left %s", n)
		}
	}
}

// statusErr returns a gRPC status error with an ErrorDetail of reason.
func statusErr(code codes.Code, reason sluicepb.ErrorReason) error {
	st, _ := status.New(code, "refused by the test").WithDetails(&sluicepb.ErrorDetail{Reason: reason})
	return st.Err()
}

var errBadData = errors.New("data differ")

// counterValue reads a Prometheus counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func TestExecutor_StopDuringUFSLoad(t *testing.T) {
	fsys := newMemFS()
	fsys.put("/slow", make([]byte, 1000))
	fsys.gate = make(chan struct{}) // never opened: the load hangs in the UFS
	m := startFakeMaster(t, "127.0.0.1:0")
	cfg := testConfig(t, []string{m.addr}, 8<<20)
	cfg.UFS = fsys.registry()
	e, stop := startExecutor(t, cfg)
	registered(t, e)
	c := blockClient(t, e.Addr())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := readBlock(ctx, c, &sluicepb.ReadBlockRequest{BlockId: sluicepb.NewBlockID(15, 0),
			Ufs: &sluicepb.UfsBlockSource{File: &sluicepb.UfsFile{Uri: "mem://b/slow"}, Length: 1000}})
		done <- err
	}()
	waitFor(t, "the load to reach the UFS", func() bool { return fsys.opens.Load() == 1 })
	// The reader gives up; the shared load goes on until the executor stops.
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled read: %v", err)
	}
	stop()
}
