package lineage

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// edgeFixture is a chain 1 → 2 → 3 → 4 over /a, /b, /c, /d, plus /u, which no job
// produced, and /x, a persist in flight. Every file is complete and 10 bytes; /c is
// hot; /a completed before /c.
func edgeFixture(t *testing.T) (*Graph, []FileFacts) {
	t.Helper()
	g := build(t, mk(1, "/in", "/a"), mk(2, "/a", "/b"), mk(3, "/b", "/c"), mk(4, "/c", "/d"))
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	return g, []FileFacts{
		{Path: "/a", Size: 10, Complete: true, CompletedAt: at(1)},
		{Path: "/b", Size: 10, Complete: true, CompletedAt: at(2)},
		{Path: "/c", Size: 10, Complete: true, CompletedAt: at(3), Accesses: 3},
		{Path: "/d", Size: 10, Complete: true, CompletedAt: at(4)},
		{Path: "/u", Size: 10, Complete: true, CompletedAt: at(5)},
		{Path: "/x", Size: 10, Complete: true, InFlight: true},
		{Path: "/in", Size: 10, Complete: true, Persisted: true},
	}
}

func TestRankCheckpoints(t *testing.T) {
	g, facts := edgeFixture(t)
	cfg := EdgeConfig{MaxUncheckpointedDepth: 2, HotAccesses: 2}
	got := g.RankCheckpoints(facts, cfg)
	// Depths: 1, 2, then 3 > 2, so /b (read by job 3 from job 2 at depth 2) cuts the
	// chain; job 4 is then at depth 2.
	want := []Candidate{
		{Path: "/u", Size: 10, Reason: ReasonUnprotected},
		{Path: "/d", Size: 10, JobID: 4, Reason: ReasonLeaf},
		{Path: "/b", Size: 10, JobID: 2, Reason: ReasonDeep},
		{Path: "/c", Size: 10, JobID: 3, Reason: ReasonHot},
		{Path: "/a", Size: 10, JobID: 1, Reason: ReasonCold},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Priority orders within a class: a high-priority intermediate goes before the
	// hot one.
	g2, _ := edgeFixture(t)
	if _, err := g2.Remove(1, true); err != nil {
		t.Fatal(err)
	}
	hi := mk(1, "/in", "/a")
	hi.Priority = 9
	for _, j := range []Job{hi, mk(2, "/a", "/b"), mk(3, "/b", "/c"), mk(4, "/c", "/d")} {
		if err := g2.Add(j); err != nil {
			t.Fatal(err)
		}
	}
	cfg.MaxUncheckpointedDepth = 5
	var paths []string
	for _, c := range g2.RankCheckpoints(facts, cfg) {
		paths = append(paths, c.Path+":"+c.Reason.String())
	}
	if diff := cmp.Diff([]string{"/u:unprotected", "/d:leaf", "/c:hot", "/a:cold", "/b:cold"}, paths); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
}

func TestPlanCheckpoints(t *testing.T) {
	g, facts := edgeFixture(t)
	noX := facts[:5:5]
	for _, tc := range []struct {
		name  string
		facts []FileFacts
		cfg   EdgeConfig
		want  []string
	}{
		{"slots left beside the one in flight", facts, EdgeConfig{MaxInFlight: 3, MaxBytesInFlight: 1000}, []string{"/u", "/d"}},
		{"no slot left", facts, EdgeConfig{MaxInFlight: 1, MaxBytesInFlight: 1000}, nil},
		{"bytes bound stops at the first misfit", facts, EdgeConfig{MaxInFlight: 9, MaxBytesInFlight: 25}, []string{"/u"}},
		{"oversized file waits for the one in flight", facts, EdgeConfig{MaxInFlight: 9, MaxBytesInFlight: 5}, nil},
		{"oversized file goes alone", noX, EdgeConfig{MaxInFlight: 9, MaxBytesInFlight: 5}, []string{"/u"}},
		{"zero config takes defaults", noX, EdgeConfig{}, []string{"/u", "/d", "/c", "/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range g.PlanCheckpoints(tc.facts, tc.cfg) {
				got = append(got, c.Path)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestProtectedAndCollectable(t *testing.T) {
	g, _ := edgeFixture(t)
	persisted := map[string]bool{"/a": true, "/c": true, "/d": true}
	isPersisted := func(p string) bool { return persisted[p] }
	if diff := cmp.Diff([]string{"/b"}, g.ProtectedOutputs(isPersisted)); diff != "" {
		t.Errorf("ProtectedOutputs (-want +got):\n%s", diff)
	}
	if g.Protected("/a", isPersisted) || !g.Protected("/b", isPersisted) || g.Protected("/u", isPersisted) {
		t.Errorf("Protected: /a, /b, /u")
	}
	// Job 1 waits for /b, a descendant's output; 3 and 4 are done.
	if diff := cmp.Diff([]uint64{4, 3}, g.Collectable(isPersisted)); diff != "" {
		t.Errorf("Collectable (-want +got):\n%s", diff)
	}
	persisted["/b"] = true
	if diff := cmp.Diff([]uint64{4, 3, 2, 1}, g.Collectable(isPersisted)); diff != "" {
		t.Errorf("Collectable (-want +got):\n%s", diff)
	}
}

func TestExposure(t *testing.T) {
	g, _ := edgeFixture(t)
	for _, id := range []uint64{1, 2, 3, 4} {
		if err := g.SetRunTime(id, time.Duration(id)*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// /b is persisted: a total loss reruns 1 alone, and 3 then 4.
	lost := func(p string) bool { return p != "/b" }
	want := []JobCost{
		{ID: 1, Name: "jx", RunTime: time.Second, Lost: []string{"/a"}},
		{ID: 3, Name: "j", RunTime: 3 * time.Second, Lost: []string{"/c"}},
		{ID: 4, Name: "jx", RunTime: 4 * time.Second, Lost: []string{"/d"}, Depth: 1},
	}
	got := g.Exposure(lost)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if TotalRunTime(got) != 8*time.Second {
		t.Errorf("TotalRunTime = %v", TotalRunTime(got))
	}
}
