package main

import (
	"strings"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// pipeline submits gen → wc → top on the fake cluster and returns their IDs.
func pipeline(t *testing.T) (gen, wc, top string) {
	t.Helper()
	gen = submit(t, "--name", "gen", "--output", "/p/text", "--", "gentext")
	wc = submit(t, "--name", "wc", "--input", "/p/text", "--output", "/p/counts", "--", "wordcount")
	top = submit(t, "--name", "top", "--input", "/p/counts", "--output", "/p/top", "--", "topn")
	return gen, wc, top
}

func TestLineageList(t *testing.T) {
	newCluster(t)
	pipeline(t)
	out := mustRun(t, "", "lineage", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "1 ") || !strings.Contains(lines[3], "/p/counts") || !strings.Contains(lines[3], "/p/top") {
		t.Errorf("lineage list, oldest first:\n%s", out)
	}
}

func TestLineageShow(t *testing.T) {
	c := newCluster(t)
	gen, wc, _ := pipeline(t)
	c.UpdateJob(gen, func(j *sluicepb.JobInfo) {
		j.State, j.RunTimeMs = sluicepb.JobState_JOB_STATE_COMPLETED, 3000
	})
	c.UpdateJob(wc, func(j *sluicepb.JobInfo) { j.State = sluicepb.JobState_JOB_STATE_COMPLETED })

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"text", []string{"/p/counts"}, []string{
			"/p/counts\n", `produced by job 2 "wc" [completed]`,
			"ancestors:\n└── job 1 \"gen\" [completed, ran 3s] writes /p/text",
			"descendants:\n└── job 3 \"top\" [running] reads /p/counts",
		}},
		{"relative path", []string{"p/text"}, []string{`produced by job 1 "gen"`, `job 2 "wc"`, `job 3 "top"`}},
		{"dot", []string{"--dot", "/p/counts"}, []string{"digraph", `"/p/text"`, "->", "}\n"}},
		{"by job", []string{"--job", wc}, []string{`job 2 "wc"`, `job 1 "gen"`, `job 3 "top"`}},
		{"depth", []string{"--depth", "1", "/p/top"}, []string{`job 2 "wc"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustRun(t, "", append([]string{"lineage", "show"}, tt.args...)...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("lineage show %v lacks %q:\n%s", tt.args, w, out)
				}
			}
		})
	}

	failures := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no lineage", []string{"/elsewhere"}, exitFailure, "show: /elsewhere: No lineage (no recorded job produced it)\n"},
		{"unknown job", []string{"--job", "77"}, exitFailure, "show: 77: No such job\n"},
		{"nothing", nil, exitUsage, "show: give a PATH or --job ID\n"},
		{"both", []string{"--job", "1", "/p/text"}, exitUsage, "show: give a PATH or --job ID\n"},
		{"negative depth", []string{"--depth", "-1", "/p/text"}, exitUsage, "show: --depth must not be negative\n"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			r := runApp(t, "", append([]string{"lineage", "show"}, tt.args...)...)
			if r.code != tt.code || !strings.HasPrefix(r.err, tt.err) {
				t.Errorf("exit %d, stderr %q; want exit %d, %q", r.code, r.err, tt.code, tt.err)
			}
		})
	}
}

func TestLineageDelete(t *testing.T) {
	newCluster(t)
	gen, wc, top := pipeline(t)
	r := runApp(t, "", "lineage", "delete", gen)
	if r.code != exitFailure || r.err != "delete: "+gen+": Other jobs read its outputs (use --cascade to forget them too)\n" {
		t.Errorf("delete without cascade: exit %d, stderr %q", r.code, r.err)
	}
	if out := mustRun(t, "", "lineage", "delete", "--cascade", wc); out != "deleted lineage of job "+wc+"\ndeleted lineage of job "+top+"\n" {
		t.Errorf("delete --cascade printed %q", out)
	}
	if out := mustRun(t, "", "lineage", "delete", gen); out != "deleted lineage of job "+gen+"\n" {
		t.Errorf("delete of a leaf printed %q", out)
	}
	if r := runApp(t, "", "lineage", "delete", gen); r.code != exitFailure || r.err != "delete: "+gen+": No such job\n" {
		t.Errorf("delete of a forgotten job: exit %d, stderr %q", r.code, r.err)
	}
	// The outputs stay.
	if out := mustRun(t, "", "fs", "ls", "/p"); !strings.Contains(out, "/p/text") {
		t.Errorf("outputs after deleting their lineage:\n%s", out)
	}
}
