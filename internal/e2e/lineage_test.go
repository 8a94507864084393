package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// The lineage tests run lineage-tracked jobs (testdata/lineagejob, a real program using
// the client SDK) on `sluice local`, lose their outputs before they are checkpointed by
// SIGKILLing the executors holding them, and read the outputs again: the master reruns
// the jobs that made them, inputs first. Checkpoints are held back (holdCheckpoints), so
// every output lives only in executor memory, protected by lineage alone.

// TestLineage_Pipeline runs examples/pipeline.sh --start with the test's sluice binary:
// gentext → wordcount → topn on its own `sluice local`, a SIGKILL of the executor holding
// the final output, and a read that is identical after the jobs reran.
func TestLineage_Pipeline(t *testing.T) {
	needBinary(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("pipeline.sh needs bash")
	}
	t.Parallel()
	tmp := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "bash", filepath.Join("..", "..", "examples", "pipeline.sh"),
		"--start", "--size", "1", "--top", "5", "--keep")
	// The script's default SLUICE_LOCAL_FLAGS hold checkpoints back; a race build of
	// sluice writes race reports into the output, which fail the test below.
	cmd.Env = sluiceEnv("SLUICE_BIN="+sluiceBin, "TIMEOUT=120", "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	text := string(out)
	// --keep leaves the script's folder (binaries, logs, data) for the checks below and
	// names it last; its MEM tiers in /dev/shm are named in its banner.
	kept := regexp.MustCompile(`(?m)^kept (\S+)$`).FindStringSubmatch(text)
	if kept != nil {
		t.Cleanup(func() {
			for _, m := range bannerMem.FindAllStringSubmatch(readFile(filepath.Join(kept[1], "local.out")), -1) {
				os.RemoveAll(filepath.Dir(m[1]))
			}
		})
	}
	if err != nil {
		t.Fatalf("pipeline.sh: %v\n%s", err, text)
	}
	if kept == nil {
		t.Fatalf("pipeline.sh --keep did not name its folder:\n%s", text)
	}
	logs, _ := filepath.Glob(filepath.Join(kept[1], "data", "logs", "*.log"))
	checkNoRace(t, append(logs, filepath.Join(kept[1], "local.err"))...)
	if strings.Contains(text, "WARNING: DATA RACE") {
		t.Errorf("race report in the output of pipeline.sh")
	}
	for _, want := range []string{"identical: ", "(topn)"} {
		if !strings.Contains(text, want) {
			t.Errorf("pipeline.sh output lacks %q", want)
		}
	}
	// The three jobs completed; the final one was rerun (ATTEMPTS 2) after the kill.
	if !regexp.MustCompile(`job \d+ topn: COMPLETED, 2 attempt\(s\)`).MatchString(text) {
		t.Errorf("pipeline.sh does not show topn completed after a second attempt")
	}
	if t.Failed() {
		t.Logf("pipeline.sh output:\n%s", text)
	}
}

// TestLineage_ChainOfFive runs five jobs in a chain (a generator, then four transforms,
// each reading the previous output) and, for each stage k, SIGKILLs the executors
// holding stage k's output: the final output reads back identical, and exactly the jobs
// whose outputs lived only on the killed executors ran once more, inputs first.
func TestLineage_ChainOfFive(t *testing.T) {
	needBinary(t)
	t.Parallel()
	job := buildLineageJob(t)
	dir := t.TempDir()
	lc := startLineageLocal(t, dir, false)

	var ids, outs []string
	for k := 1; k <= 5; k++ {
		out := fmt.Sprintf("/chain/%d", k)
		var inputs []string
		if k > 1 {
			inputs = []string{outs[k-2]}
		}
		ids = append(ids, lc.submit(t, fmt.Sprintf("stage%d", k), inputs, []string{out},
			job, "--size", fmt.Sprint(96<<10), "--seed", fmt.Sprint(k)))
		outs = append(outs, out)
	}
	lc.waitJobs(t, ids...)
	orig := make([][]byte, 5)
	for k, out := range outs {
		orig[k] = lc.cat(t, out)
	}

	for k := range 5 {
		lc.requireNotPersisted(t, outs...)
		before := attempts(lc.jobs(t))
		// The executors holding stage k's output may hold other stages' outputs too;
		// those that lived only there are lost with it.
		var lost []bool
		killed := lc.holdersOf(t, outs[k])
		for _, out := range outs {
			lost = append(lost, lc.onlyOn(t, out, killed))
		}
		lc.killHolders(t, outs[k])
		t.Logf("loss at stage %d: outputs lost %v", k+1, lost)

		lc.checkSame(t, outs[4], orig[4])
		// Every lost output is rebuilt, also those the final one did not need again.
		for i, out := range outs {
			if lost[i] {
				lc.readSDK(t, out, orig[i])
			}
		}
		after := lc.settledJobs(t)
		for i, id := range ids {
			want := before[id]
			if lost[i] {
				want++
			}
			if got := after[id].GetAttempts(); got != want {
				t.Errorf("loss at stage %d (outputs lost %v): job %s (stage %d) ran %d times, want %d",
					k+1, lost, id, i+1, got, want)
			}
			// Inputs first: a rerun job started after its rerun input's job ended.
			if i > 0 && lost[i] && lost[i-1] {
				if s, e := after[id].GetStartTimeMs(), after[ids[i-1]].GetEndTimeMs(); s < e {
					t.Errorf("loss at stage %d: stage %d rerun started at %d, before stage %d ended at %d", k+1, i+1, s, i, e)
				}
			}
		}
		if t.Failed() {
			t.Fatalf("job list after the loss at stage %d:\n%s", k+1, lc.mustSluice(t, "job", "list"))
		}
	}
	for k, out := range outs {
		lc.checkSame(t, out, orig[k])
	}
	// `sluice job list` shows the same run counts.
	final := lc.settledJobs(t)
	list := lc.mustSluice(t, "job", "list")
	for k, id := range ids {
		row := fmt.Sprintf(`(?m)^\s*%s\s+stage%d\s+COMPLETED\s+%d\s`, id, k+1, final[id].GetAttempts())
		if !regexp.MustCompile(row).MatchString(list) {
			t.Errorf("job list has no row matching %q:\n%s", row, list)
		}
	}
	lc.interrupt(t)
}

// TestLineage_Diamond runs A → (B, C) → D, loses every output and reads D: identical,
// with each job rerun exactly once (A is not rerun once for B and once for C).
func TestLineage_Diamond(t *testing.T) {
	needBinary(t)
	t.Parallel()
	job := buildLineageJob(t)
	dir := t.TempDir()
	lc := startLineageLocal(t, dir, false)

	a := lc.submit(t, "a", nil, []string{"/d/a"}, job, "--size", fmt.Sprint(128<<10), "--seed", "11")
	b := lc.submit(t, "b", []string{"/d/a"}, []string{"/d/b"}, job, "--seed", "12")
	c := lc.submit(t, "c", []string{"/d/a"}, []string{"/d/c"}, job, "--seed", "13")
	d := lc.submit(t, "d", []string{"/d/b", "/d/c"}, []string{"/d/d"}, job, "--seed", "14")
	lc.waitJobs(t, a, b, c, d)
	want := lc.cat(t, "/d/d")
	if len(want) != 256<<10 {
		t.Fatalf("/d/d holds %d bytes, want B's and C's %d", len(want), 256<<10)
	}
	paths := []string{"/d/a", "/d/b", "/d/c", "/d/d"}
	lc.requireNotPersisted(t, paths...)
	lc.killHolders(t, paths...)

	lc.checkSame(t, "/d/d", want)
	jobs := lc.settledJobs(t)
	for _, id := range []string{a, b, c, d} {
		if got := jobs[id].GetAttempts(); got != 2 {
			t.Errorf("job %s (%s) ran %d times, want 2 (the first run and one recompute)", id, jobs[id].GetSpec().GetName(), got)
		}
	}
	// A before B and C, both before D.
	for _, edge := range [][2]string{{a, b}, {a, c}, {b, d}, {c, d}} {
		if s, e := jobs[edge[1]].GetStartTimeMs(), jobs[edge[0]].GetEndTimeMs(); s < e {
			t.Errorf("job %s rerun started at %d, before its input's job %s ended at %d", edge[1], s, edge[0], e)
		}
	}
	if t.Failed() {
		t.Logf("job list:\n%s", lc.mustSluice(t, "job", "list"))
	}
	lc.interrupt(t)
}

// TestLineage_RecomputeFails runs a job that succeeds the first time and fails when
// rerun, loses its output and reads it: the read fails soon with an error naming the job
// and its exit status, and `sluice job status` shows the failure with the log's tail.
func TestLineage_RecomputeFails(t *testing.T) {
	needBinary(t)
	t.Parallel()
	job := buildLineageJob(t)
	dir := t.TempDir()
	lc := startLineageLocal(t, dir, false)

	marker := filepath.Join(dir, "ran-once")
	id := lc.submit(t, "once", nil, []string{"/f/once"}, job, "--size", fmt.Sprint(64<<10),
		"--marker", marker, "--fail-on-rerun")
	lc.waitJobs(t, id)
	lc.requireNotPersisted(t, "/f/once")
	lc.killHolders(t, "/f/once")

	// The read waits for the recompute (at most --recompute-read-wait, a minute; the
	// command's own deadline is two) and fails when it fails.
	r := lc.sluice(t, "fs", "cat", "/f/once")
	wantFailureMatch(t, r, `^cat: /f/once: File is lost \(its job `+id+` did not recompute it\): .*`,
		`job `+id+` "once" failed`, `exit status 3`)

	st := lc.mustSluice(t, "job", "status", id)
	for _, re := range []string{`(?m)^State:\s+FAILED$`, `(?m)^Exit code:\s+3$`, `refusing to run again`} {
		if !regexp.MustCompile(re).MatchString(st) {
			t.Errorf("job status does not match %q:\n%s", re, st)
		}
	}
	// A second read fails the same way without a new run: the failure is remembered for
	// a while, so a job that keeps failing is not rerun in a loop.
	runs := lc.jobs(t)[id].GetAttempts()
	wantFailureMatch(t, lc.sluice(t, "fs", "cat", "/f/once"), `exit status 3`)
	if got := lc.jobs(t)[id].GetAttempts(); got != runs {
		t.Errorf("a second read reran job %s: %d attempts, then %d", id, runs, got)
	}
	lc.interrupt(t)
}

// TestLineage_MasterRestartDuringRecompute loses the output of a job whose rerun waits
// for a file the test creates, restarts `sluice local` (Ctrl-C, start again in the same
// directory) while the rerun waits, and checks that the restarted master reruns the job
// again and the read returns identical bytes.
func TestLineage_MasterRestartDuringRecompute(t *testing.T) {
	needBinary(t)
	t.Parallel()
	job := buildLineageJob(t)
	dir := t.TempDir()
	lc := startLineageLocal(t, dir, false)

	marker := filepath.Join(dir, "ran-once")
	rerun := marker + ".rerun"
	release := filepath.Join(dir, "release")
	id := lc.submit(t, "slow", nil, []string{"/r/slow"}, job, "--size", fmt.Sprint(192<<10), "--seed", "21",
		"--marker", marker, "--wait-on-rerun", release)
	lc.waitJobs(t, id)
	want := lc.cat(t, "/r/slow")
	lc.requireNotPersisted(t, "/r/slow")
	lc.killHolders(t, "/r/slow")

	eventually(t, waitLong, "the recompute run starts", func() error {
		if _, err := os.Stat(rerun); err != nil {
			return err
		}
		return nil
	})
	eventually(t, waitLong, "the job is shown RUNNING (recompute)", func() error {
		if j := lc.jobs(t)[id]; j.GetState() != sluicepb.JobState_JOB_STATE_RUNNING || !j.GetRecomputing() {
			return fmt.Errorf("job %s: %v, recomputing %v", id, j.GetState(), j.GetRecomputing())
		}
		return nil
	})
	if err := os.Remove(rerun); err != nil {
		t.Fatal(err)
	}
	lc.interrupt(t)

	lc = startLineageLocal(t, dir, true)
	eventually(t, waitLong, "the restarted master reruns the job", func() error {
		if _, err := os.Stat(rerun); err != nil {
			return err
		}
		return nil
	})
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lc.checkSame(t, "/r/slow", want)
	j := lc.settledJobs(t)[id]
	if j.GetAttempts() < 3 {
		t.Errorf("job %s completed after %d attempts, want at least 3 (first run, the run the restart stopped, the resumed one)",
			id, j.GetAttempts())
	}
	if st := lc.persistence(t, "/r/slow"); st == "LOST" {
		t.Errorf("/r/slow still LOST after it was read back")
	}
	lc.interrupt(t)
}
