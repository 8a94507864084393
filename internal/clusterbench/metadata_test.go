package clusterbench

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/internal/bench"
)

const (
	// metaClients is the number of concurrent clients of BenchmarkMetadata (DESIGN: 16).
	metaClients = 16
	// createsPerClient and statsPerClient are each client's operations per iteration.
	createsPerClient = 128
	statsPerClient   = 1024
	// benchStatFiles is how many files each client stats in turn.
	benchStatFiles = 64
	// createTarget and statTarget are the bench issue's targets on 2 cores, in ops/s.
	createTarget = 5000
	statTarget   = 30000
)

// metaEnv is a cluster with metaClients separate clients of its master, and a stub
// FileSystemMaster with as many clients of its own.
type metaEnv struct {
	*env
	clients []*client.Client
	stub    []*client.Client
	// statFiles is how many files each client stats in turn.
	statFiles int
	// creates counts the create rounds, which name their files after it (a benchmark
	// function may run more than once on the same cluster).
	creates int
}

// newMetaEnv starts the cluster, creates a directory per client holding statFiles empty
// files, captures the master's real answers for the stub, and starts the stub.
func newMetaEnv(tb testing.TB, statFiles int) *metaEnv {
	tb.Helper()
	e := newEnv(tb, envConfig{memSize: 4 * benchBlock})
	ctx := tb.Context()
	m := &metaEnv{env: e, statFiles: statFiles}
	for i := range metaClients {
		cl := e.c.Client(tb)
		m.clients = append(m.clients, cl)
		for j := range statFiles {
			if _, err := bench.WriteFile(ctx, cl, statPath(i, j), client.WriteMustCache, nil); err != nil {
				tb.Fatal(err)
			}
		}
	}
	stubAddr := startStub(tb, e.c.MasterAddrs()[0])
	for range metaClients {
		m.stub = append(m.stub, e.c.Client(tb, func(cc *client.Config) { cc.Masters = []string{stubAddr} }))
	}
	return m
}

// clientDir is client i's directory.
func clientDir(i int) string { return fmt.Sprintf("/bench/meta/c%02d", i) }

// statPath is the j-th file of client i's directory.
func statPath(i, j int) string { return fmt.Sprintf("%s/s%03d", clientDir(i), j) }

// createOp creates and completes an empty MUST_CACHE file named by the round.
func createOp(round int) func(ctx context.Context, cl *client.Client, i, j int) error {
	return func(ctx context.Context, cl *client.Client, i, j int) error {
		_, err := bench.WriteFile(ctx, cl, fmt.Sprintf("%s/r%d-%04d", clientDir(i), round, j), client.WriteMustCache, nil)
		return err
	}
}

// statOp stats one of the client's files, in turn.
func (m *metaEnv) statOp(int) func(ctx context.Context, cl *client.Client, i, j int) error {
	return func(ctx context.Context, cl *client.Client, i, j int) error {
		_, err := cl.Stat(ctx, statPath(i, j%m.statFiles))
		return err
	}
}

// roundTimes are the wall and CPU times (of the whole process: clients and servers run in
// it) of one metaRound.
type roundTimes struct {
	master, stub       time.Duration
	masterCPU, stubCPU time.Duration
}

// metaRound runs perClient operations on every master client and on every stub client,
// the stub first when stubFirst, and returns the wall and CPU times of both.
func (m *metaEnv) metaRound(ctx context.Context, perClient int, op func(ctx context.Context, cl *client.Client, i, j int) error, stubFirst bool) (roundTimes, error) {
	var rt roundTimes
	run := func(clients []*client.Client, wall, cpu *time.Duration) error {
		c0 := processCPU()
		d, err := bench.RunOps(ctx, clients, perClient, op)
		*wall, *cpu = d, processCPU()-c0
		return err
	}
	if stubFirst {
		if err := run(m.stub, &rt.stub, &rt.stubCPU); err != nil {
			return rt, fmt.Errorf("stub: %w", err)
		}
	}
	if err := run(m.clients, &rt.master, &rt.masterCPU); err != nil {
		return rt, err
	}
	if !stubFirst {
		if err := run(m.stub, &rt.stub, &rt.stubCPU); err != nil {
			return rt, fmt.Errorf("stub: %w", err)
		}
	}
	return rt, nil
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMetadata measures the master's metadata throughput with 16 separate
// client.Client instances (each its own gRPC connection, one goroutine each) on one
// master over a single-node Raft journal on disk:
//   - create: create+complete of empty MUST_CACHE files (two journaled RPCs each),
//     16×128 per iteration, in one directory per client;
//   - getStatus: Stat of existing files, 16×1024 per iteration.
//
// Beside each, the same calls through 16 more clients go to a stub FileSystemMaster that
// returns the real master's canned answers at once: the ceiling of the client and gRPC on
// this machine. Metrics: ops/s of both, master/stub, and the ratio to the target
// (5,000 creates/s, 30,000 getStatus/s).
func BenchmarkMetadata(b *testing.B) {
	skipShort(b)
	m := newMetaEnv(b, benchStatFiles)
	b.Run("create", func(b *testing.B) {
		m.benchOps(b, createsPerClient, createTarget, "creates", createOp)
	})
	b.Run("getStatus", func(b *testing.B) {
		m.benchOps(b, statsPerClient, statTarget, "getStatus", m.statOp)
	})
}

// benchOps runs metaRound once per iteration and reports name/s, stub-name/s,
// master/stub (the median of the rounds' ratios), name/target, the journal entries the
// master applied per operation and, when it wrote its log, the entries per log write
// (group commit).
func (m *metaEnv) benchOps(b *testing.B, perClient int, target float64, name string, op func(round int) func(context.Context, *client.Client, int, int) error) {
	var p bench.Pairs
	var masterCPU, stubCPU time.Duration
	rounds := 0
	index0 := m.appliedIndex(b)
	leader := m.c.Master(m.c.WaitForLeader())
	writes0, entries0 := leader.JournalLogWrites()
	for b.Loop() {
		rt, err := m.metaRound(b.Context(), perClient, op(m.creates), rounds%2 == 1)
		m.creates++
		if err != nil {
			b.Fatal(err)
		}
		p.Add(rt.master, rt.stub)
		masterCPU += rt.masterCPU
		stubCPU += rt.stubCPU
		rounds++
	}
	master, stub := p.Total()
	ops := float64(rounds * perClient * len(m.clients))
	b.ReportMetric(float64(m.appliedIndex(b)-index0)/ops, "journal-entries/op")
	if writes, entries := leader.JournalLogWrites(); writes > writes0 {
		// Group commit: how many entries shared each synced log write.
		b.ReportMetric(float64(entries-entries0)/float64(writes-writes0), "entries/log-write")
	}
	// CPU per operation does not depend on how much of the machine other processes take:
	// 2 cores divided by it bounds the ops/s this process could reach here.
	b.ReportMetric(float64(masterCPU.Microseconds())/ops, "cpu-µs/op")
	b.ReportMetric(float64(stubCPU.Microseconds())/ops, "stub-cpu-µs/op")
	b.ReportMetric(ops/master.Seconds(), name+"/s")
	b.ReportMetric(ops/stub.Seconds(), "stub-"+name+"/s")
	b.ReportMetric(p.Ratio(), "master/stub")
	b.ReportMetric(ops/master.Seconds()/target, name+"/target")
}

// appliedIndex returns the leader's last applied journal index.
func (m *metaEnv) appliedIndex(tb testing.TB) uint64 {
	tb.Helper()
	info, err := m.sc.MasterInfo(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return info.GetRaftAppliedIndex()
}

// startStub captures the answers of the master at addr and serves them from a stub
// master until tb ends; it returns the stub's address.
func startStub(tb testing.TB, addr string) string {
	tb.Helper()
	a, err := bench.CaptureAnswers(tb.Context(), addr, "/bench/meta/stub-sample", "")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := bench.StartStub(a)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stub master: %v", err)
		}
	})
	return s.Addr
}
