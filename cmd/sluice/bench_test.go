package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedata/sluice/internal/bench"
)

func TestBench_BadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"json and markdown", []string{"--json", "--markdown"}, "exclude each other"},
		{"size too small", []string{"--size", "1000"}, "at least 1MiB"},
		{"size not a size", []string{"--size", "big"}, "--size"},
		{"no clients", []string{"--clients", "0"}, "--clients 0"},
		{"no runs", []string{"--runs", "0"}, "--runs 0"},
		{"unknown group", []string{"--only", "read,disk"}, `unknown group "disk"`},
		{"empty only", []string{"--only", ","}, "names no group"},
		{"unknown mem", []string{"--mem", "ram"}, `--mem "ram"`},
		{"mem with master", []string{"--master", "127.0.0.1:1", "--mem", "shm"}, "--mem and --mem-dir configure the local cluster"},
		{"arguments", []string{"now"}, "takes no arguments"},
		{"no list entries", []string{"--list-entries", "0"}, "--list-entries 0"},
		{"no ops", []string{"--ops", "0"}, "--ops 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newApp()
			var out, errOut bytes.Buffer
			app.Writer, app.ErrWriter = &out, &errOut
			err := app.RunContext(t.Context(), append([]string{"sluice", "bench"}, tt.args...))
			if !errors.Is(err, errBadFlag) {
				t.Fatalf("bench %v: error %v, want one wrapping errBadFlag", tt.args, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("bench %v: error %q does not say %q", tt.args, err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("bench %v printed a report on bad flags:\n%s", tt.args, out.String())
			}
		})
	}
}

// benchRun is a `sluice bench` child process: this test binary acting as sluice, with
// its own temporary directory, so that what it leaves behind can be seen.
type benchRun struct {
	cmd    *exec.Cmd
	tmp    string
	stdout bytes.Buffer
	before leftovers
}

// startBench starts `sluice bench args...`; stderr lines go to lines (if not nil) and to
// the test's output.
func startBench(t *testing.T, lines chan<- string, args ...string) *benchRun {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := &benchRun{tmp: filepath.Join(t.TempDir(), "tmp"), before: snapshotLeftovers(t)}
	if err := os.Mkdir(b.tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(exe, append([]string{"bench"}, args...)...)
	b.cmd.Env = append(os.Environ(), envBeSluice+"=1", "TMPDIR="+b.tmp)
	b.cmd.Stdout = &b.stdout
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			// Progress lines end in a carriage return on terminals only; here each is a line.
			fmt.Fprintln(t.Output(), "bench:", sc.Text())
			if lines != nil {
				lines <- sc.Text()
			}
		}
		if lines != nil {
			close(lines)
		}
	}()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			// A test that failed early: let the run clean up as after Ctrl-C, then kill.
			b.cmd.Process.Signal(syscall.SIGINT)
			b.wait(t, time.Minute)
		}
	})
	return b
}

// wait waits for the process to end, at most limit (it is killed then), and returns its
// exit status.
func (b *benchRun) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		b.cmd.Process.Kill()
		<-done
		t.Errorf("sluice bench did not end within %v", limit)
	}
	return b.cmd.ProcessState.ExitCode()
}

// leftovers are what a run may leave outside its temporary directory: directories
// named sluice-bench-* in the shared-memory folder, links in its sluice folder (the
// local cluster's MEM directories), and tmpfs mounts.
type leftovers struct {
	shm, links, mounts []string
}

func snapshotLeftovers(t *testing.T) leftovers {
	t.Helper()
	var l leftovers
	shm := filepath.Dir(memRoot())
	l.shm, _ = filepath.Glob(filepath.Join(shm, "sluice-bench-*"))
	entries, _ := os.ReadDir(memRoot())
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			l.links = append(l.links, e.Name())
		}
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.Contains(f[1], "sluice-bench-") {
			l.mounts = append(l.mounts, f[1])
		}
	}
	return l
}

// checkClean fails the test when the run left anything behind: files in its temporary
// directory, new shared-memory directories, links or mounts, or processes.
func (b *benchRun) checkClean(t *testing.T, children []int) {
	t.Helper()
	entries, err := os.ReadDir(b.tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in its temporary directory: %s", e.Name())
	}
	after := snapshotLeftovers(t)
	for _, pair := range []struct {
		what          string
		before, after []string
	}{{"shared-memory directory", b.before.shm, after.shm}, {"MEM link", b.before.links, after.links}, {"mount", b.before.mounts, after.mounts}} {
		for _, p := range pair.after {
			if !containsString(pair.before, p) {
				t.Errorf("left a %s: %s", pair.what, p)
			}
		}
	}
	for _, pid := range children {
		// A child is gone, or at most a zombie about to be reaped by init.
		err := pollUntil(30*time.Second, func() bool { return !processRunning(pid) })
		if err != nil {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			t.Errorf("child process %d still runs: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// childrenOf returns the pids of the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			p, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			out = append(out, p)
		}
	}
	return out
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// pollUntil polls cond every 10 ms until it holds, or fails after limit.
func pollUntil(limit time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	return waitUntil(ctx, cond)
}

func TestBench_JSONEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	b := startBench(t, nil, "--size", "4MiB", "--runs", "1", "--clients", "2", "--list-entries", "10", "--ops", "64", "--json")
	if code := b.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("sluice bench exited %d\n%s", code, b.stdout.String())
	}
	var rep struct {
		Setup []bench.KV
		Notes []string
		Rows  []bench.Row
	}
	if err := json.Unmarshal(b.stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, b.stdout.String())
	}
	groups := map[string]int{}
	figures := map[string]bool{}
	for _, r := range rep.Rows {
		groups[r.Group]++
		figures[r.Figure] = true
		if r.Skipped != "" {
			if !strings.Contains(r.Figure, "S3") {
				t.Errorf("row %q skipped (%s); only the S3 rows may be", r.Figure, r.Skipped)
			}
			if os.Getenv("CI") == "true" {
				t.Errorf("row %q skipped under CI=true: %s", r.Figure, r.Skipped)
			}
			continue
		}
		if len(r.Measured) != 1 || !(r.Measured[0] > 0) {
			t.Errorf("row %q (%s): measured %v, want one positive value", r.Figure, r.Reference, r.Measured)
		}
		if r.Reference != "" && (len(r.Ref) != 1 || !(r.Ref[0] > 0)) {
			t.Errorf("row %q (%s): reference %v, want one positive value", r.Figure, r.Reference, r.Ref)
		}
	}
	for _, g := range bench.AllGroups {
		if groups[g] == 0 {
			t.Errorf("no row of group %s in %v", g, groups)
		}
	}
	for _, f := range []string{bench.FigShortCircuitRead, bench.FigRemoteRead, bench.FigUFSCachedRead, bench.FigS3ColdRead,
		bench.FigMustCacheWrite, bench.FigAsyncWrite, bench.FigCacheThroughLocal, bench.FigThroughLocal, bench.FigThroughS3,
		fmt.Sprintf(bench.FigParallelDistinct, 2), fmt.Sprintf(bench.FigParallelHot, 2), "getStatus, 2 clients",
		"list a 10-entry directory, 1 client", bench.FigJobWrite, bench.FigRecovery} {
		if !figures[f] {
			t.Errorf("no row %q", f)
		}
	}
	if len(rep.Setup) == 0 {
		t.Error("the report describes no setup")
	}
	b.checkClean(t, nil)
}

func TestBench_InterruptRemovesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	lines := make(chan string, 256)
	b := startBench(t, lines, "--size", "4MiB", "--runs", "100000", "--clients", "2", "--only", "read")
	// Interrupt in the second run of the reads: by then the cluster, MinIO (if any), the
	// mounts and files in every place exist.
	var children []int
	for line := range lines {
		if strings.HasPrefix(line, "[read]") && strings.Contains(line, "run 2/") {
			children = childrenOf(b.cmd.Process.Pid)
			if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if len(children) < 2 {
		t.Errorf("found %d child processes before the interrupt, want at least the 2 executors", len(children))
	}
	go func() {
		for range lines {
		}
	}()
	if code := b.wait(t, 2*time.Minute); code != 130 {
		t.Errorf("exit status %d after SIGINT, want 130", code)
	}
	if b.stdout.Len() != 0 {
		t.Errorf("an interrupted run printed a report:\n%s", b.stdout.String())
	}
	b.checkClean(t, children)
}
