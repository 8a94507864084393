package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/client/clienttest"
)

// writeJobOutput plays job id's program: it writes data to its output p.
func writeJobOutput(t *testing.T, c *clienttest.Cluster, id, p, data string) {
	t.Helper()
	cfg := client.DefaultConfig()
	cfg.Masters = []string{c.Address()}
	j, err := client.NewJob(t.Context(), cfg, client.JobEnvironment{JobID: id})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	w, err := j.CreateOutput(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// submit runs `sluice job submit` with args and returns the printed job ID.
func submit(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(mustRun(t, "", append([]string{"job", "submit"}, args...)...))
}

func TestJobSubmit(t *testing.T) {
	c := newCluster(t)
	mustRun(t, "in", "fs", "put", "-", "/in.txt")

	id := submit(t, "--name", "wc", "--input", "/in.txt", "--output", "/out/a", "--output", "out/b,c",
		"--priority", "3", "--cpu", "1.5", "--mem", "1GiB", "--env", "K=V=1", "--",
		"wordcount", "--output", "x", "-v")
	if id != "1" {
		t.Fatalf("submit printed %q, want the job ID 1", id)
	}
	cl := newTestClient(t, c)
	j, err := cl.GetJob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	spec := j.GetSpec()
	if spec.GetName() != "wc" || strings.Join(spec.GetCommand(), " ") != "wordcount --output x -v" ||
		strings.Join(spec.GetOutputs(), "|") != "/out/a|/out/b,c" || strings.Join(spec.GetInputs(), "|") != "/in.txt" ||
		spec.GetPriority() != 3 || spec.GetCpu() != 1.5 || spec.GetMemMb() != 1024 || spec.GetEnv()["K"] != "V=1" {
		t.Errorf("submitted spec = %v", spec)
	}

	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no command", []string{"--output", "/o"}, exitUsage, "no command"},
		{"no output", []string{"--", "true"}, exitUsage, "--output"},
		{"bad mem", []string{"--output", "/o", "--mem", "lots", "--", "true"}, exitUsage, "--mem"},
		{"bad env", []string{"--output", "/o", "--env", "novalue", "--", "true"}, exitUsage, "KEY=VALUE"},
		{"missing input", []string{"--input", "/nope", "--output", "/o", "--", "true"}, exitFailure, "submit: No such file or directory"},
		{"existing output", []string{"--output", "/in.txt", "--", "true"}, exitFailure, "submit: File exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runApp(t, "", append([]string{"job", "submit"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.err, tt.err) || r.out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", r.code, r.out, r.err, tt.code, tt.err)
			}
		})
	}
}

// newTestClient connects an SDK client to the fake cluster.
func newTestClient(t *testing.T, c *clienttest.Cluster) *client.Client {
	t.Helper()
	cfg := client.DefaultConfig()
	cfg.Masters = []string{c.Address()}
	cl, err := client.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func TestJobListStatusKill(t *testing.T) {
	c := newCluster(t)
	gen := submit(t, "--name", "gen", "--output", "/p/text", "--", "gentext")
	writeJobOutput(t, c, gen, "/p/text", "a b a\n")
	c.FinishJob(gen, 0, "")
	wc := submit(t, "--name", "wc", "--input", "/p/text", "--output", "/p/counts", "--", "wordcount")
	c.FinishJob(wc, 2, "reading /p/text\npanic: boom\n")
	top := submit(t, "--output", "/p/top", "--input", "/p/counts", "--", "topn")

	out := mustRun(t, "", "job", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") ||
		!strings.Contains(lines[1], "RUNNING") || !strings.Contains(lines[2], "FAILED") || !strings.Contains(lines[3], "COMPLETED") {
		t.Errorf("job list, newest first:\n%s", out)
	}
	if out := mustRun(t, "", "job", "list", "--state", "failed"); !strings.Contains(out, "wc") || strings.Contains(out, "gen") {
		t.Errorf("job list --state failed:\n%s", out)
	}
	if r := runApp(t, "", "job", "list", "--state", "sleepy"); r.code != exitUsage {
		t.Errorf("job list with a bad state: exit %d, stderr %s", r.code, r.err)
	}

	st := mustRun(t, "", "job", "status", gen)
	for _, want := range []string{"State:      COMPLETED", "/p/text (6B, NOT_PERSISTED)", "Exit code:  0", "Children:   " + wc} {
		if !strings.Contains(st, want) {
			t.Errorf("job status %s lacks %q:\n%s", gen, want, st)
		}
	}
	st = mustRun(t, "", "job", "status", wc)
	for _, want := range []string{"State:      FAILED", "Exit code:  2", "Message:    exit status 2", "Log tail:\n  reading /p/text\n  panic: boom\n", "/p/counts (INCOMPLETE)"} {
		if !strings.Contains(st, want) {
			t.Errorf("job status of a failed job lacks %q:\n%s", want, st)
		}
	}
	var info sluicepb.JobInfo
	if st := mustRun(t, "", "job", "status", "--json", top); protojson.Unmarshal([]byte(st), &info) != nil || info.GetState() != sluicepb.JobState_JOB_STATE_RUNNING {
		t.Errorf("job status --json:\n%s", st)
	}
	r := runApp(t, "", "job", "status", top, "99")
	if r.code != exitFailure || r.err != "status: 99: No such job\n" || !strings.Contains(r.out, "RUNNING") {
		t.Errorf("job status with an unknown job: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}

	if out := mustRun(t, "", "job", "kill", top, gen); out != "job "+top+": KILLED\njob "+gen+": COMPLETED\n" {
		t.Errorf("job kill printed %q", out)
	}
	if r := runApp(t, "", "job", "kill"); r.code != exitUsage {
		t.Errorf("job kill without ID: exit %d", r.code)
	}
	if r := runApp(t, "", "job", "frobnicate"); r.code != exitUsage || !strings.Contains(r.err, `unknown command "frobnicate"`) {
		t.Errorf("unknown job subcommand: exit %d, stderr %q", r.code, r.err)
	}
}

func TestJobLogs(t *testing.T) {
	c := newCluster(t)
	id := submit(t, "--output", "/o", "--", "prog")
	r := runApp(t, "", "job", "logs", id)
	if r.code != exitFailure || r.err != "logs: "+id+": No log kept for this job\n" {
		t.Errorf("logs without a log: exit %d, stderr %q", r.code, r.err)
	}
	c.UpdateJob(id, func(j *sluicepb.JobInfo) { j.LogTail = "last line" })
	if out := mustRun(t, "", "job", "logs", id); out != "last line\n" {
		t.Errorf("logs from the tail = %q", out)
	}
	logFile := filepath.Join(t.TempDir(), "job.log")
	if err := os.WriteFile(logFile, []byte("line 1\nline 2\nlast line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.UpdateJob(id, func(j *sluicepb.JobInfo) { j.LogPath = logFile })
	if out := mustRun(t, "", "job", "logs", id); out != "line 1\nline 2\nlast line\n" {
		t.Errorf("logs from the file = %q", out)
	}
	// A log file on another host falls back to the tail.
	c.UpdateJob(id, func(j *sluicepb.JobInfo) { j.LogPath = "/elsewhere/job.log" })
	if out := mustRun(t, "", "job", "logs", id); out != "last line\n" {
		t.Errorf("logs of a log file on another host = %q", out)
	}
	if r := runApp(t, "", "job", "logs", "42"); r.code != exitFailure || r.err != "logs: 42: No such job\n" {
		t.Errorf("logs of an unknown job: exit %d, stderr %q", r.code, r.err)
	}
}

func TestJobHelp(t *testing.T) {
	newCluster(t)
	for _, args := range [][]string{
		{"job", "--help"}, {"job", "submit", "--help"}, {"job", "status", "--help"}, {"job", "logs", "--help"},
		{"lineage", "--help"}, {"lineage", "show", "--help"}, {"lineage", "delete", "--help"},
		{"checkpoint", "--help"}, {"checkpoint", "status", "--help"},
	} {
		if out := mustRun(t, "", args...); !strings.Contains(out, "USAGE") && !strings.Contains(out, "Usage") {
			t.Errorf("sluice %s printed no usage:\n%s", strings.Join(args, " "), out)
		}
	}
}

func TestParseMemMB(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512", 512, true}, {"1GiB", 1024, true}, {"1.5g", 1536, true}, {"1KiB", 1, true},
		{"0", 0, true}, {"-1", 0, false}, {"lots", 0, false},
	}
	for _, tt := range tests {
		got, err := parseMemMB(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMemMB(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestDurationText(t *testing.T) {
	for ms, want := range map[int64]string{0: "-", -5: "-", 850: "850ms", 1500: "1.5s", 123456: "2m3s"} {
		if got := durationText(ms); got != want {
			t.Errorf("durationText(%d) = %q, want %q", ms, got, want)
		}
	}
}

// cancelAfter is a writer that cancels a context once it has seen n occurrences of mark.
type cancelAfter struct {
	strings.Builder
	mark   string
	n      int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	n, err := w.Builder.Write(p)
	if strings.Count(w.String(), w.mark) >= w.n {
		w.cancel()
	}
	return n, err
}

func TestJobWait(t *testing.T) {
	c := newCluster(t)
	done := submit(t, "--output", "/done", "--", "prog")
	writeJobOutput(t, c, done, "/done", "x")
	c.FinishJob(done, 0, "")
	failed := submit(t, "--output", "/failed", "--", "prog")
	c.FinishJob(failed, 1, "")
	running := submit(t, "--output", "/running", "--", "prog")

	if out := mustRun(t, "", "job", "wait", done); out != "job "+done+": COMPLETED\n" {
		t.Errorf("wait for a completed job printed %q", out)
	}
	r := runApp(t, "", "job", "wait", done, failed)
	if r.code != exitFailure || !strings.Contains(r.out, "job "+failed+": FAILED") ||
		r.err != "wait: "+failed+": FAILED: exit status 1 (see sluice job status "+failed+")\n" {
		t.Errorf("wait with a failed job: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
	r = runApp(t, "", "job", "wait", "--timeout", "50ms", running)
	if r.code != exitFailure || r.err != "wait: "+running+": still running after 50ms\n" {
		t.Errorf("wait past its timeout: exit %d, stderr %q", r.code, r.err)
	}
	if r := runApp(t, "", "job", "wait", "404"); r.code != exitFailure || r.err != "wait: 404: No such job\n" {
		t.Errorf("wait for an unknown job: exit %d, stderr %q", r.code, r.err)
	}

	// A job that ends while waited for: the wait sees it at a later poll.
	old := jobWaitInterval
	jobWaitInterval = time.Millisecond
	t.Cleanup(func() { jobWaitInterval = old })
	writeJobOutput(t, c, running, "/running", "x")
	polls := c.Calls("GetJob")
	go func() {
		// Let the wait poll the running job twice before it ends.
		for c.Calls("GetJob") < polls+2 {
			runtime.Gosched()
		}
		c.FinishJob(running, 0, "")
	}()
	app := newApp()
	var out strings.Builder
	app.Writer, app.ErrWriter = &out, &out
	if err := app.RunContext(t.Context(), []string{"sluice", "job", "wait", running}); err != nil {
		t.Fatalf("wait: %v\n%s", err, out.String())
	}
	if out.String() != "job "+running+": COMPLETED\n" {
		t.Errorf("wait for a job ending meanwhile printed %q", out.String())
	}
}

func TestAbsCommand(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for in, want := range map[string]string{
		"prog":        "prog",
		"./prog":      filepath.Join(dir, "prog"),
		"./missing":   "./missing",
		"/bin/true":   "/bin/true",
		"sub/../prog": filepath.Join(dir, "prog"),
	} {
		if got := absCommand(in); got != want {
			t.Errorf("absCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestJobFlagsIgnoreEnvironment checks that per-invocation flags take no SLUICE_*
// variable: an exported SLUICE_MEM or SLUICE_NAME must not change a submitted job.
func TestJobFlagsIgnoreEnvironment(t *testing.T) {
	c := newCluster(t)
	t.Setenv("SLUICE_NAME", "from-env")
	t.Setenv("SLUICE_MEM", "4096")
	t.Setenv("SLUICE_OUTPUT", "/env-out")
	t.Setenv("SLUICE_JSON", "true")
	id := submit(t, "--output", "/o", "--", "prog")
	j, err := newTestClient(t, c).GetJob(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.GetSpec().GetName() != "" || j.GetSpec().GetMemMb() != 0 || strings.Join(j.GetSpec().GetOutputs(), ",") != "/o" {
		t.Errorf("spec took values from the environment: %v", j.GetSpec())
	}
	if out := mustRun(t, "", "job", "list"); !strings.HasPrefix(out, "ID") {
		t.Errorf("job list printed JSON because of SLUICE_JSON:\n%s", out)
	}
}
