package master

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/mastertest"
	"github.com/sluicedata/sluice/master/state"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		at    time.Duration // since t0
		bytes int64         // the file that wants to start
		want  bool
	}
	tests := []struct {
		name        string
		rate, burst int64
		steps       []step
	}{
		{"unlimited", 0, 0, []step{{0, 1 << 40, true}, {0, 1 << 40, true}}},
		{"burst then rate", 100, 200, []step{
			{0, 150, true}, {0, 100, true}, {0, 1, false}, // 200 → 50 → -50
			{400 * time.Millisecond, 10, false}, // -10
			{600 * time.Millisecond, 10, true},  // +10 → 10 → 0
			{600 * time.Millisecond, 10, false},
			{time.Hour, 500, true}, // refilled to the burst only: 200 → -300
			{time.Hour + 2*time.Second, 1, false},
			{time.Hour + 4*time.Second, 1, true}}},
		{"burst defaults to one second", 50, 0, []step{{0, 50, true}, {0, 1, false}, {time.Second, 1, true}}},
		{"a large file goes alone", 10, 10, []step{{0, 1000, true}, {10 * time.Second, 1, false}, {100 * time.Second, 1, true}}},
		{"the clock going back changes nothing", 100, 100, []step{{time.Second, 100, true}, {0, 1, false}, {time.Second, 1, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTokenBucket(tc.rate, tc.burst)
			for i, s := range tc.steps {
				got := b.ready(t0.Add(s.at))
				if got {
					b.spend(s.bytes)
				}
				if got != s.want {
					t.Fatalf("step %d (%v, %d bytes): ready = %v, want %v", i, s.at, s.bytes, got, s.want)
				}
			}
		})
	}
}

func TestThroughput(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tp := throughput{window: 10 * time.Second}
	if r := tp.rate(t0); r != 0 {
		t.Errorf("empty rate %v", r)
	}
	tp.add(t0, 100)
	tp.add(t0.Add(5*time.Second), 300)
	if r := tp.rate(t0.Add(5 * time.Second)); r != 40 {
		t.Errorf("rate = %v, want 40 B/s", r)
	}
	if r := tp.rate(t0.Add(12 * time.Second)); r != 30 {
		t.Errorf("rate once the first left the window = %v, want 30 B/s", r)
	}
	if r := tp.rate(t0.Add(time.Minute)); r != 0 || len(tp.events) != 0 {
		t.Errorf("rate after the window = %v (%d events kept)", r, len(tp.events))
	}
}

func TestCheckpointConfig_Validate(t *testing.T) {
	if err := DefaultCheckpointConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := DefaultRecomputeConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tweak := range map[string]func(*Config){
		"negative bandwidth": func(c *Config) { c.Checkpoint.Bandwidth = -1 },
		"no bytes in flight": func(c *Config) { c.Checkpoint.MaxBytesInFlight = 0 },
		"no depth":           func(c *Config) { c.Checkpoint.MaxUncheckpointedDepth = 0 },
		"no window":          func(c *Config) { c.Checkpoint.ThroughputWindow = 0 },
		"no recompute slot":  func(c *Config) { c.Recompute.MaxConcurrent = 0 },
		"no read wait":       func(c *Config) { c.Recompute.ReadWait = 0 },
		"no attempts":        func(c *Config) { c.Recompute.MaxAttempts = 0 },
	} {
		cfg, _ := testConfig(t, t.TempDir(), "m0", &mastertest.Stores{})
		if err := cfg.Validate(); err != nil {
			t.Fatalf("test config: %v", err)
		}
		tweak(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// persistTasks heartbeats e until it is handed at least one PERSIST_FILES task and
// returns the tasks of that heartbeat.
func persistTasks(t *testing.T, e *fakeExecutor) []*sluicepb.PersistFile {
	t.Helper()
	var got []*sluicepb.PersistFile
	waitFor(t, "a persist task", func() bool {
		if c, err := commandOf(e.heartbeat(), sluicepb.CommandType_COMMAND_TYPE_PERSIST_FILES); err == nil {
			got = c.GetPersistFiles()
		}
		return len(got) > 0
	})
	return got
}

// noPersistTask runs a round of the persist loop and checks that e is handed nothing.
func noPersistTask(t *testing.T, tm *testMaster, e *fakeExecutor) {
	t.Helper()
	tm.m.dispatchPersists()
	if c, err := commandOf(e.heartbeat(), sluicepb.CommandType_COMMAND_TYPE_PERSIST_FILES); err == nil {
		t.Fatalf("unexpected persist tasks %v", c.GetPersistFiles())
	}
}

// reportPersisted reports a task done.
func reportPersisted(t *testing.T, tm *testMaster, e *fakeExecutor, pf *sluicepb.PersistFile) {
	t.Helper()
	if _, err := tm.ex.ReportPersisted(callCtx(t), &sluicepb.ReportPersistedRequest{ExecutorId: e.id, FileId: pf.GetFileId(),
		Attempt: pf.GetAttempt(), UfsUri: pf.GetUfs().GetUri(), Success: true, Bytes: pf.GetLength(), DurationMs: 1}); err != nil {
		t.Fatal(err)
	}
}

func paths(pfs []*sluicepb.PersistFile) []string {
	var out []string
	for _, pf := range pfs {
		out = append(out, pf.GetPath())
	}
	return out
}

func TestCheckpoint_EdgeOrderAndGC(t *testing.T) {
	tm, farm, jm, _ := farmMaster(t, func(c *Config) {
		c.PersistConcurrency = 1
		c.LineageGCInterval = 20 * time.Millisecond
	})
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	// An ASYNC_THROUGH file goes first and, held in flight, keeps the queue waiting
	// while the chain's outputs arrive (oldest first: FIFO would take /e/1 next).
	writeFile(t, tm, x, "/plain", []byte("async"), sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH)
	first := persistTasks(t, x)
	if diff := cmp.Diff([]string{"/plain"}, paths(first)); diff != "" {
		t.Fatalf("first task (-want +got):\n%s", diff)
	}
	writeFile(t, tm, x, "/cached", []byte("MUST_CACHE without lineage"), sluicepb.WriteType_WRITE_TYPE_MUST_CACHE)
	ids := []string{
		farmJob(t, farm, jm, "s1", x.id, []string{"/in"}, []string{"/e/1"}),
		farmJob(t, farm, jm, "s2", x.id, []string{"/e/1"}, []string{"/e/2"}),
		farmJob(t, farm, jm, "s3", x.id, []string{"/e/2"}, []string{"/e/3"}),
	}
	for range 2 { // /e/2 becomes hot
		if _, err := tm.fs.GetBlockLocations(callCtx(t), &sluicepb.GetBlockLocationsRequest{Path: "/e/2"}); err != nil {
			t.Fatal(err)
		}
	}
	noPersistTask(t, tm, x) // one at a time
	reportPersisted(t, tm, x, first[0])
	var order []string
	for range 3 {
		pfs := persistTasks(t, x)
		if len(pfs) != 1 {
			t.Fatalf("tasks %v at once with PersistConcurrency 1", paths(pfs))
		}
		order = append(order, pfs[0].GetPath())
		reportPersisted(t, tm, x, pfs[0])
	}
	// The leaf first, then the hot intermediate output, then the cold one.
	if diff := cmp.Diff([]string{"/e/3", "/e/2", "/e/1"}, order); diff != "" {
		t.Fatalf("checkpoint order (-want +got):\n%s", diff)
	}
	// Nothing is left to checkpoint: the MUST_CACHE file without lineage is not.
	waitFor(t, "empty checkpoint queue", func() bool {
		n, _, _ := tm.m.persist.waitingTotals(time.Now())
		return n == 0
	})
	noPersistTask(t, tm, x)
	if st := tm.persistence("/cached"); st != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Errorf("/cached is %v", st)
	}
	cs, err := jm.GetCheckpointStatus(callCtx(t), &sluicepb.GetCheckpointStatusRequest{})
	if err != nil || cs.GetTotals().GetThroughputBytesPerSec() <= 0 || cs.GetTotals().GetPersistedFiles() != 4 {
		t.Fatalf("checkpoint status %v, %v", cs.GetTotals(), err)
	}
	// Checkpointed lineage is collected.
	for _, id := range ids {
		waitFor(t, "lineage of job "+id+" collected", func() bool {
			_, err := jm.GetJob(callCtx(t), &sluicepb.GetJobRequest{JobId: id})
			c, _ := reasonOf(err)
			return c == codes.NotFound
		})
	}
	// The metrics show the checkpoint side.
	resp, err := http.Get("http://" + tm.m.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"sluice_master_checkpoint_waiting_bytes 0", "sluice_master_checkpoint_throughput_bytes_per_second",
		"sluice_master_checkpoint_lag_seconds", "sluice_master_recompute_runs_total 0"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
}

func TestCheckpoint_Concurrency(t *testing.T) {
	tm, _ := startMaster(t, func(c *Config) { c.PersistConcurrency = 2 })
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	for _, p := range []string{"/a", "/b", "/c", "/d", "/e"} {
		writeFile(t, tm, x, p, []byte("data of "+p), sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH)
	}
	var inflight []*sluicepb.PersistFile
	waitFor(t, "two persist tasks", func() bool {
		if c, err := commandOf(x.heartbeat(), sluicepb.CommandType_COMMAND_TYPE_PERSIST_FILES); err == nil {
			inflight = append(inflight, c.GetPersistFiles()...)
		}
		return len(inflight) >= 2
	})
	if len(inflight) != 2 {
		t.Fatalf("%d tasks in flight, want 2", len(inflight))
	}
	noPersistTask(t, tm, x)
	done := paths(inflight)
	for len(done) < 5 {
		reportPersisted(t, tm, x, inflight[0])
		inflight = inflight[1:]
		next := persistTasks(t, x)
		if len(next) != 1 {
			t.Fatalf("one finished task let %d start", len(next))
		}
		inflight = append(inflight, next...)
		done = append(done, next[0].GetPath())
		noPersistTask(t, tm, x)
	}
	slices.Sort(done)
	if diff := cmp.Diff([]string{"/a", "/b", "/c", "/d", "/e"}, done); diff != "" {
		t.Errorf("persisted (-want +got):\n%s", diff)
	}
}

func TestCheckpoint_Bandwidth(t *testing.T) {
	tm, _ := startMaster(t, func(c *Config) {
		c.PersistConcurrency = 4
		c.Checkpoint.Bandwidth, c.Checkpoint.Burst = 100, 100
	})
	// A clock that only the test moves, ahead of the real one.
	now := time.Now().Add(time.Hour)
	setClock := func(t time.Time) {
		q := tm.m.persist
		q.mu.Lock()
		q.now = func() time.Time { return t }
		q.mu.Unlock()
	}
	setClock(now)
	x := newFakeExecutor(t, tm, "127.0.0.1:7001")
	x.register()
	data := []byte(strings.Repeat("x", 100))
	for _, p := range []string{"/a", "/b", "/c"} {
		writeFile(t, tm, x, p, data, sluicepb.WriteType_WRITE_TYPE_ASYNC_THROUGH)
	}
	// 100 bytes of burst: one file, then one more per second, although four could run.
	var started []string
	for i := range 3 {
		started = append(started, paths(persistTasks(t, x))...)
		if len(started) != i+1 {
			t.Fatalf("second %d: %v started, want %d", i, started, i+1)
		}
		noPersistTask(t, tm, x)
		now = now.Add(time.Second)
		setClock(now)
	}
}

func TestCheckpointable(t *testing.T) {
	file := func(complete bool, ps state.PersistenceState, job uint64) state.Inode {
		return state.Inode{ID: 9, Path: "/f", Complete: complete, PersistenceState: ps, JobID: job}
	}
	tests := []struct {
		name     string
		in       state.Inode
		producer uint64
		want     bool
	}{
		{"ASYNC_THROUGH file", file(true, state.ToBePersisted, 0), 0, true},
		{"plain MUST_CACHE file", file(true, state.NotPersisted, 0), 0, false},
		{"lineage output", file(true, state.NotPersisted, 4), 4, true},
		{"output of another job", file(true, state.NotPersisted, 4), 5, false},
		{"output being written", file(false, state.NotPersisted, 4), 4, false},
		{"persisted output", file(true, state.Persisted, 4), 4, false},
		{"lost output", file(true, state.Lost, 4), 4, false},
		{"directory", state.Inode{Directory: true, PersistenceState: state.ToBePersisted}, 0, false},
	}
	for _, tc := range tests {
		if got := checkpointable(tc.in, tc.producer); got != tc.want {
			t.Errorf("%s: checkpointable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
