package executor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig returns a Config for an in-process executor on loopback ports with a
// MEM tier of quota bytes in a temporary directory and fast heartbeats.
func testConfig(t testing.TB, masters []string, quota int64) Config {
	cfg := DefaultConfig()
	cfg.Masters = masters
	cfg.RPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.AdvertiseHost = "test-host"
	cfg.Store.Tiers = []blocks.TierConfig{{Alias: blocks.MEM, Dirs: []blocks.DirConfig{{Path: t.TempDir(), Quota: quota}}}}
	cfg.HeartbeatInterval = 10 * time.Millisecond
	cfg.MaxBackoff = 50 * time.Millisecond
	cfg.RPCTimeout = 5 * time.Second
	cfg.ShutdownGrace = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg
}

// startExecutor runs an executor built from cfg until the test ends (or stop is called)
// and returns it once it listens.
func startExecutor(t testing.TB, cfg Config) (e *Executor, stop func()) {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return e, stop
}

// blockClient dials an executor's BlockService.
func blockClient(t testing.TB, addr string, opts ...grpc.DialOption) sluicepb.BlockServiceClient {
	t.Helper()
	w, bs := int32(1<<20), 256<<10
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)),
		grpc.WithInitialWindowSize(w), grpc.WithInitialConnWindowSize(2 * w),
		grpc.WithReadBufferSize(bs), grpc.WithWriteBufferSize(bs)}
	cc, err := grpc.NewClient(addr, append(dial, opts...)...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { cc.Close() })
	return sluicepb.NewBlockServiceClient(cc)
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// writeBlock writes data as block id through WriteBlock in chunks of chunk bytes.
func writeBlock(ctx context.Context, c sluicepb.BlockServiceClient, hdr *sluicepb.WriteBlockHeader, data []byte, chunk int) (*sluicepb.WriteBlockResponse, error) {
	s, err := c.WriteBlock(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Send(&sluicepb.WriteBlockRequest{Value: &sluicepb.WriteBlockRequest_Header{Header: hdr}}); err != nil {
		_, err = s.CloseAndRecv()
		return nil, err
	}
	for off := 0; off < len(data); off += chunk {
		if err := s.Send(&sluicepb.WriteBlockRequest{Value: &sluicepb.WriteBlockRequest_Chunk{Chunk: data[off:min(off+chunk, len(data))]}}); err != nil {
			_, err = s.CloseAndRecv()
			return nil, err
		}
	}
	return s.CloseAndRecv()
}

// readBlock reads a range through ReadBlock and returns the bytes and the chunks.
func readBlock(ctx context.Context, c sluicepb.BlockServiceClient, req *sluicepb.ReadBlockRequest) ([]byte, []*sluicepb.ReadBlockChunk, error) {
	s, err := c.ReadBlock(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	var data []byte
	var chunks []*sluicepb.ReadBlockChunk
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return data, chunks, nil
		}
		if err != nil {
			return data, chunks, err
		}
		data = append(data, m.GetData()...)
		chunks = append(chunks, m)
	}
}

// reasonIs checks that err is a gRPC status with code and ErrorDetail reason.
func reasonIs(t testing.TB, err error, code codes.Code, reason sluicepb.ErrorReason) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("error %v: code %v, want %v", err, status.Code(err), code)
	}
	if reason == sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED {
		return
	}
	d := errorDetail(err)
	if d == nil || d.GetReason() != reason {
		t.Fatalf("error %v: detail %v, want reason %v", err, d, reason)
	}
}

// freeAddr returns a loopback address nothing listens on (for a master that is down).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// registered waits until the executor has an ID.
func registered(t testing.TB, e *Executor) uint64 {
	t.Helper()
	waitFor(t, "registration", func() bool { return e.ExecutorID() != 0 })
	return e.ExecutorID()
}
