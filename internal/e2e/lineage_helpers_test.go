package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// Helpers of the lineage tests (lineage_test.go): a `sluice local` whose checkpoints
// are held back, the test's job program, and what the tests look at.
//
// The tests act through the binary (job submit, job wait, fs cat, job status), as a
// user does, but observe the cluster (persistence states, block locations, jobs,
// executors' PIDs) through the client SDK: one race-built CLI command costs about a
// second on a loaded machine, and the chain test looks at the cluster a hundred times.

// buildLineageJob builds the job program of testdata/lineagejob into the test's
// directory (without -race: it is the user's program, not Sluice's) and returns its path.
func buildLineageJob(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lineagejob")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/sluicedata/sluice/internal/e2e/testdata/lineagejob")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build lineagejob: %v\n%s", err, out)
	}
	return bin
}

// lineageFlags are the `sluice local` flags of the lineage tests: checkpoints at one
// byte a second (see holdCheckpoints), and reads of lost files waiting at most a minute.
var lineageFlags = []string{"local", "--checkpoint-bandwidth", "1", "--recompute-read-wait", "1m"}

// lineageCluster is a `sluice local` with a client of the test's own.
type lineageCluster struct {
	*localCluster
	cl *client.Client
}

// startLineageLocal starts `sluice local` with two executors and lineageFlags in dir.
// Unless restarted, it also holds checkpoints back (holdCheckpoints): a restarted
// cluster's throttle starts again with one token.
func startLineageLocal(t testing.TB, dir string, restarted bool) *lineageCluster {
	t.Helper()
	lc := &lineageCluster{localCluster: startLocal(t, dir, 2, lineageFlags...)}
	cfg := client.DefaultConfig()
	cfg.Masters = []string{lc.master}
	cfg.ShortCircuit = false
	cfg.RecomputeWait = waitLong
	cl, err := client.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect to %s: %v", lc.master, err)
	}
	t.Cleanup(func() { cl.Close() })
	lc.cl = cl
	if !restarted {
		lc.holdCheckpoints(t)
	}
	return lc
}

// holdCheckpoints makes sure no lineage output is checkpointed during the test. The
// checkpoint throttle is a token bucket of one byte a second that lets a file start
// whenever it holds a token and takes the file's whole length, going into debt: the
// first file checkpointed takes the one token. A 64 KiB ASYNC_THROUGH file is that
// file; once it is PERSISTED the bucket owes 64 Ki seconds, longer than any test.
func (lc *lineageCluster) holdCheckpoints(t testing.TB) {
	t.Helper()
	writeRandom(t, lc.dir, "checkpoint-debt.bin", 64<<10)
	lc.mustSluice(t, "fs", "put", "-t", "ASYNC_THROUGH", "checkpoint-debt.bin", "/checkpoint-debt")
	eventually(t, waitLong, "the checkpoint of /checkpoint-debt", func() error {
		if st := lc.persistence(t, "/checkpoint-debt"); st != "PERSISTED" {
			return fmt.Errorf("persistence %s", st)
		}
		return nil
	})
}

// persistence returns the persistence state of path (NOT_PERSISTED, PERSISTED, LOST…).
func (lc *lineageCluster) persistence(t testing.TB, path string) string {
	t.Helper()
	fi, err := lc.cl.Stat(t.Context(), path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return fi.PersistenceName()
}

// requireNotPersisted fails the test unless every path is complete and NOT_PERSISTED:
// the tests lose outputs that only lineage protects.
func (lc *lineageCluster) requireNotPersisted(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if st := lc.persistence(t, p); st != "NOT_PERSISTED" {
			t.Fatalf("%s is %s before the loss; the test needs un-checkpointed outputs", p, st)
		}
	}
}

// submit submits a job of the test's program and returns its ID.
func (lc *lineageCluster) submit(t testing.TB, name string, inputs, outputs []string, command ...string) string {
	t.Helper()
	args := []string{"job", "submit", "--name", name}
	for _, in := range inputs {
		args = append(args, "--input", in)
	}
	for _, out := range outputs {
		args = append(args, "--output", out)
	}
	args = append(append(args, "--"), command...)
	return strings.TrimSpace(lc.mustSluice(t, args...))
}

// waitJobs waits until the jobs completed (`sluice job wait`).
func (lc *lineageCluster) waitJobs(t testing.TB, ids ...string) {
	t.Helper()
	r := lc.sluice(t, append([]string{"job", "wait", "--timeout", waitLong.String()}, ids...)...)
	if r.code != 0 {
		t.Fatalf("jobs did not complete: %v\n%s", r, lc.sluice(t, append([]string{"job", "status"}, ids...)...).stdout)
	}
}

// jobs returns every job by ID.
func (lc *lineageCluster) jobs(t testing.TB) map[string]*sluicepb.JobInfo {
	t.Helper()
	l, err := lc.cl.ListJobs(t.Context(), client.ListJobsOptions{})
	if err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	m := make(map[string]*sluicepb.JobInfo, len(l))
	for _, j := range l {
		m[j.GetJobId()] = j
	}
	return m
}

// settledJobs waits until every job is COMPLETED (a rerun job's state follows the
// completion of its outputs by a moment: the process still has to exit) and returns
// them.
func (lc *lineageCluster) settledJobs(t testing.TB) map[string]*sluicepb.JobInfo {
	t.Helper()
	var jobs map[string]*sluicepb.JobInfo
	eventually(t, waitLong, "every job completed", func() error {
		jobs = lc.jobs(t)
		for id, j := range jobs {
			if j.GetState() != sluicepb.JobState_JOB_STATE_COMPLETED {
				return fmt.Errorf("job %s (%s) is %v", id, j.GetSpec().GetName(), j.GetState())
			}
		}
		return nil
	})
	return jobs
}

// readSDK reads path through the test's client (a read of a LOST file waits for its
// recompute) and fails the test unless it holds want.
func (lc *lineageCluster) readSDK(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := lc.cl.ReadFile(t.Context(), path, client.OpenOptions{})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s reads back %d bytes that differ from the %d of the original", path, len(got), len(want))
	}
}

// attempts returns each job's run count.
func attempts(jobs map[string]*sluicepb.JobInfo) map[string]int32 {
	m := make(map[string]int32, len(jobs))
	for id, j := range jobs {
		m[id] = j.GetAttempts()
	}
	return m
}

// cat returns the bytes of a Sluice file read by `sluice fs cat`, failing the test if
// the read fails.
func (lc *lineageCluster) cat(t testing.TB, path string) []byte {
	t.Helper()
	return []byte(lc.mustSluice(t, "fs", "cat", path))
}

// checkSame reads path with `sluice fs cat` and fails the test unless it holds want.
func (lc *lineageCluster) checkSame(t testing.TB, path string, want []byte) {
	t.Helper()
	if got := lc.cat(t, path); !bytes.Equal(got, want) {
		t.Errorf("%s reads back %d bytes that differ from the %d of the original", path, len(got), len(want))
	}
}

// holdersOf returns the IDs of the executors holding a copy of a block of path.
func (lc *lineageCluster) holdersOf(t testing.TB, path string) []string {
	t.Helper()
	bl, err := lc.cl.BlockLocations(t.Context(), path)
	if err != nil {
		t.Fatalf("locations of %s: %v", path, err)
	}
	var ids []string
	for _, b := range bl.GetBlocks() {
		for _, l := range b.GetLocations() {
			if id := strconv.FormatUint(l.GetExecutorId(), 10); !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// onlyOn reports whether every copy of every block of path is on the executors ids (a
// file without any copy counts as on them).
func (lc *lineageCluster) onlyOn(t testing.TB, path string, ids []string) bool {
	t.Helper()
	for _, h := range lc.holdersOf(t, path) {
		if !slices.Contains(ids, h) {
			return false
		}
	}
	return true
}

// liveExecutors returns the live executors by ID.
func (lc *lineageCluster) liveExecutors(t testing.TB) map[string]*sluicepb.ExecutorInfo {
	t.Helper()
	l, err := lc.cl.Executors(t.Context(), false)
	if err != nil {
		t.Fatalf("list executors: %v", err)
	}
	m := make(map[string]*sluicepb.ExecutorInfo, len(l))
	for _, e := range l {
		if e.GetState() == sluicepb.ExecutorState_EXECUTOR_STATE_LIVE {
			m[strconv.FormatUint(e.GetId(), 10)] = e
		}
	}
	return m
}

// killHolders SIGKILLs every executor process holding a copy of a block of any of
// paths, waits until the local backend replaced them (two live executors, none with a
// killed PID) and returns the IDs of the executors killed. The caller checks beforehand
// that the paths are not checkpointed.
func (lc *lineageCluster) killHolders(t testing.TB, paths ...string) []string {
	t.Helper()
	var ids []string
	for _, p := range paths {
		for _, h := range lc.holdersOf(t, p) {
			if !slices.Contains(ids, h) {
				ids = append(ids, h)
			}
		}
	}
	if len(ids) == 0 {
		t.Fatalf("no executor holds any of %v", paths)
	}
	live := lc.liveExecutors(t)
	var pids []int32
	for _, id := range ids {
		pid := live[id].GetPid()
		if pid <= 0 {
			t.Fatalf("no PID for executor %s: %v", id, live)
		}
		if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	t.Logf("killed executors %v (pids %v), holding %v", ids, pids, paths)
	eventually(t, waitLong, "the killed executors are replaced", func() error {
		live := lc.liveExecutors(t)
		if len(live) != 2 {
			return fmt.Errorf("%d live executors", len(live))
		}
		for id, e := range live {
			if slices.Contains(pids, e.GetPid()) {
				return fmt.Errorf("executor %s still has pid %d", id, e.GetPid())
			}
		}
		return nil
	})
	return ids
}

// wantFailureMatch checks that a command failed with stderr matching every pattern.
func wantFailureMatch(t testing.TB, r result, patterns ...string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("want a failure, got %v", r)
		return
	}
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(r.stderr) {
			t.Errorf("stderr does not match %q: %v", p, r)
		}
	}
}
