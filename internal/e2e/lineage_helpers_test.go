package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// Helpers of the lineage tests (lineage_test.go): a `sluice local` whose checkpoints
// are held back, the test's job program, and views of `sluice job list`.

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

// startLineageLocal starts `sluice local` with two executors and lineageFlags in dir and
// holds its checkpoints back.
func startLineageLocal(t testing.TB, dir string) *localCluster {
	t.Helper()
	lc := startLocal(t, dir, 2, lineageFlags...)
	holdCheckpoints(t, lc)
	return lc
}

// holdCheckpoints makes sure no lineage output is checkpointed during the test. The
// checkpoint throttle is a token bucket of one byte a second that lets a file start
// whenever it holds a token and takes the file's whole length, going into debt: the
// first file checkpointed takes the one token. A 64 KiB ASYNC_THROUGH file is that
// file; once it is PERSISTED the bucket owes 64 Ki seconds, longer than any test.
func holdCheckpoints(t testing.TB, lc *localCluster) {
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
func (lc *localCluster) persistence(t testing.TB, path string) string {
	t.Helper()
	return strings.TrimSpace(lc.mustSluice(t, "fs", "stat", "-f", "%p", path))
}

// submit submits a job of the test's program and returns its ID.
func (lc *localCluster) submit(t testing.TB, name string, inputs, outputs []string, command ...string) string {
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
func (lc *localCluster) waitJobs(t testing.TB, ids ...string) {
	t.Helper()
	r := lc.sluice(t, append([]string{"job", "wait", "--timeout", waitLong.String()}, ids...)...)
	if r.code != 0 {
		t.Fatalf("jobs did not complete: %v\n%s", r, lc.sluice(t, append([]string{"job", "status"}, ids...)...).stdout)
	}
}

// jobs returns `sluice job list --json` by job ID.
func (lc *localCluster) jobs(t testing.TB) map[string]*sluicepb.JobInfo {
	t.Helper()
	out := lc.mustSluice(t, "job", "list", "--json")
	var l sluicepb.ListJobsResponse
	if err := protojson.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("job list --json: %v\n%s", err, out)
	}
	m := make(map[string]*sluicepb.JobInfo, len(l.GetJobs()))
	for _, j := range l.GetJobs() {
		m[j.GetJobId()] = j
	}
	return m
}

// attempts returns each job's run count.
func attempts(jobs map[string]*sluicepb.JobInfo) map[string]int32 {
	m := make(map[string]int32, len(jobs))
	for id, j := range jobs {
		m[id] = j.GetAttempts()
	}
	return m
}

// cat returns the bytes of a Sluice file (`sluice fs cat`), failing the test if the
// read fails.
func (lc *localCluster) cat(t testing.TB, path string) []byte {
	t.Helper()
	return []byte(lc.mustSluice(t, "fs", "cat", path))
}

// checkSame reads path and fails the test unless it holds want.
func (lc *localCluster) checkSame(t testing.TB, path string, want []byte) {
	t.Helper()
	if got := lc.cat(t, path); !bytes.Equal(got, want) {
		t.Errorf("%s reads back %d bytes that differ from the %d of the original", path, len(got), len(want))
	}
}

// killHolders SIGKILLs every executor process holding a copy of a block of any of
// paths, waits until the local backend replaced them and returns the IDs of the
// executors killed. The caller checks beforehand that the paths are not checkpointed.
func (lc *localCluster) killHolders(t testing.TB, paths ...string) []string {
	t.Helper()
	var ids []string
	for _, p := range paths {
		for _, h := range lc.holders(t, p) {
			if !slices.Contains(ids, h) {
				ids = append(ids, h)
			}
		}
	}
	if len(ids) == 0 {
		t.Fatalf("no executor holds any of %v", paths)
	}
	r := lc.report(t)
	var pids []int32
	for _, id := range ids {
		var pid int32
		for _, e := range liveExecutors(r) {
			if strconv.FormatUint(e.GetId(), 10) == id {
				pid = e.GetPid()
			}
		}
		if pid <= 0 {
			t.Fatalf("report has no PID for executor %s: %v", id, r.GetExecutors())
		}
		if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	t.Logf("killed executors %v (pids %v), holding %v", ids, pids, paths)
	lc.waitLive(t, 2, pids)
	return ids
}

// onlyOn reports whether every copy of every block of path is on the executors ids,
// from `sluice fs location` (a file without any copy counts as on them).
func (lc *localCluster) onlyOn(t testing.TB, path string, ids []string) bool {
	t.Helper()
	for _, h := range lc.holders(t, path) {
		if !slices.Contains(ids, h) {
			return false
		}
	}
	return true
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
