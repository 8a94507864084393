package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestCheckpointStatus(t *testing.T) {
	c := newCluster(t)
	mustRun(t, "durable", "fs", "put", "--write-type", "CACHE_THROUGH", "-", "/plain")
	gen, wc, _ := pipeline(t)
	writeJobOutput(t, c, gen, "/p/text", strings.Repeat("w ", 1024))
	c.UpdateJob(gen, func(j *sluicepb.JobInfo) { j.StartTimeMs -= 2000 })
	c.FinishJob(gen, 0, "")
	writeJobOutput(t, c, wc, "/p/counts", "w\t1024\n")
	c.FinishJob(wc, 0, "")

	out := mustRun(t, "", "checkpoint", "status")
	for _, want := range []string{
		"Checkpoint status of /", "Waiting:          2 files, 2.0KiB", "Persisted files:  1",
		"NOT_PERSISTED  2.0KiB", "/p/text", "/p/counts",
		"Recompute exposure if every executor died now: 2 jobs",
		`gen`, "/p/counts",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("checkpoint status lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, "", "checkpoint", "status", "--raw", "/p/counts"); !strings.Contains(out, "1 files, 7\n") {
		t.Errorf("checkpoint status of one file, raw:\n%s", out)
	}
	var resp sluicepb.GetCheckpointStatusResponse
	out = mustRun(t, "", "checkpoint", "status", "--json")
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil || resp.GetTotals().GetBytesWaiting() != 2055 || len(resp.GetExposure()) != 2 {
		t.Errorf("checkpoint status --json: %v\n%s", err, out)
	}
	if out := mustRun(t, "", "checkpoint", "status", "--max-files", "1"); !strings.Contains(out, "… and 1 more") {
		t.Errorf("checkpoint status --max-files 1:\n%s", out)
	}
	if r := runApp(t, "", "checkpoint", "status", "/nope"); r.code != exitFailure || r.err != "status: /nope: No such file or directory\n" {
		t.Errorf("status of a missing path: exit %d, stderr %q", r.code, r.err)
	}
	if r := runApp(t, "", "checkpoint", "status", "/a", "/b"); r.code != exitUsage {
		t.Errorf("status of two paths: exit %d", r.code)
	}
}

func TestCheckpointStatusWatch(t *testing.T) {
	newCluster(t)
	old := checkpointWatchInterval
	checkpointWatchInterval = time.Millisecond
	t.Cleanup(func() { checkpointWatchInterval = old })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &cancelAfter{mark: "Checkpoint status of", n: 3, cancel: cancel}
	app := newApp()
	app.Writer, app.ErrWriter = out, out
	// Interrupting --watch is its normal end: exit status 0.
	if err := app.RunContext(ctx, []string{"sluice", "checkpoint", "status", "--watch"}); err != nil {
		t.Fatalf("status --watch: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "Checkpoint status of"); n < 3 {
		t.Errorf("status --watch printed %d reports, want at least 3:\n%s", n, out.String())
	}
}
