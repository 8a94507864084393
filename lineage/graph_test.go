package lineage

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// mk returns a valid job reading ins and writing outs, given as space-separated paths.
func mk(id uint64, ins, outs string) Job {
	return Job{
		ID: id, Name: "j" + strings.Repeat("x", int(id%3)), Command: []string{"run", "x"},
		Inputs: strings.Fields(ins), Outputs: strings.Fields(outs),
		SubmitTime: time.Unix(int64(id), 0).UTC(), State: StateCompleted,
	}
}

// build returns a graph with jobs added in order, failing the test on a refusal.
func build(t *testing.T, jobs ...Job) *Graph {
	t.Helper()
	g := New()
	for _, j := range jobs {
		if err := g.Add(j); err != nil {
			t.Fatalf("Add(%d): %v", j.ID, err)
		}
	}
	return g
}

// chain is a → b → c: job 1 writes /a, job 2 reads /a writes /b, job 3 reads /b writes /c.
func chain() []Job {
	return []Job{mk(1, "/in", "/a"), mk(2, "/a", "/b"), mk(3, "/b", "/c")}
}

func TestGraph_Add(t *testing.T) {
	for _, tc := range []struct {
		name string
		base []Job
		add  Job
		want error
	}{
		{"first", nil, mk(1, "/in", "/out"), nil},
		{"no inputs", nil, mk(1, "", "/out"), nil},
		{"zero id", nil, mk(0, "/in", "/out"), ErrInvalidJob},
		{"no output", nil, mk(1, "/in", ""), ErrInvalidJob},
		{"no command", nil, Job{ID: 1, Outputs: []string{"/o"}}, ErrInvalidJob},
		{"relative path", nil, mk(1, "in", "/out"), ErrInvalidJob},
		{"unclean path", nil, mk(1, "/in/../x", "/out"), ErrInvalidJob},
		{"output root", nil, mk(1, "", "/"), ErrInvalidJob},
		{"output twice", nil, mk(1, "", "/o /o"), ErrInvalidJob},
		{"bad state", nil, Job{ID: 1, Command: []string{"x"}, Outputs: []string{"/o"}, State: 9}, ErrInvalidJob},
		{"output is input", nil, mk(1, "/o", "/o"), ErrOutputIsInput},
		{"output inside input dir", nil, mk(1, "/d", "/d/o"), ErrOutputIsInput},
		{"output inside root input", nil, mk(1, "/", "/o"), ErrOutputIsInput},
		{"sibling with common prefix", nil, mk(1, "/d", "/d2/o"), nil},
		{"duplicate id", []Job{mk(1, "", "/a")}, mk(1, "", "/b"), ErrDuplicateID},
		{"output taken", []Job{mk(1, "", "/a")}, mk(2, "", "/a"), ErrOutputTaken},
		{"reads output", []Job{mk(1, "", "/a")}, mk(2, "/a", "/b"), nil},
		// Job 2 reads directory /d, which will contain job 3's output; job 3 reads job 2's.
		{"cycle through directory", []Job{mk(1, "", "/x"), mk(2, "/d", "/b")}, mk(3, "/b", "/d/c"), ErrCycle},
		{"cycle two hops", []Job{mk(1, "/z", "/a"), mk(2, "/a", "/b")}, mk(3, "/b", "/z"), ErrCycle},
		{"cycle long", chain(), mk(4, "/c", "/in"), ErrCycle},
		{"no cycle diamond", chain(), mk(4, "/a /c", "/d"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := build(t, tc.base...)
			before := g.Snapshot()
			if err := g.Check(tc.add); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff(before, g.Snapshot()); diff != "" {
				t.Fatalf("Check changed the graph (-before +after):\n%s", diff)
			}
			err := g.Add(tc.add)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Add = %v, want %v", err, tc.want)
			}
			if err != nil {
				if diff := cmp.Diff(before, g.Snapshot()); diff != "" {
					t.Fatalf("refused Add changed the graph (-before +after):\n%s", diff)
				}
			}
		})
	}
}

func TestGraph_Queries(t *testing.T) {
	// 1 writes /a and /d/x; 2 reads /a writes /b; 3 reads directory /d writes /c;
	// 4 reads /b and /c writes /e.
	g := build(t, mk(1, "/in", "/a /d/x"), mk(2, "/a", "/b"), mk(3, "/d", "/c"), mk(4, "/b /c", "/e"))
	ids := func(js []Job) []uint64 {
		var out []uint64
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	if p, ok := g.Producer("/d/x"); !ok || p.ID != 1 {
		t.Errorf("Producer(/d/x) = %v, %v", p.ID, ok)
	}
	if _, ok := g.Producer("/in"); ok {
		t.Errorf("Producer(/in) found a job")
	}
	for _, tc := range []struct {
		name string
		got  []uint64
		want []uint64
	}{
		{"consumers /a", ids(g.Consumers("/a")), []uint64{2}},
		{"consumers /d/x", ids(g.Consumers("/d/x")), []uint64{3}},
		{"consumers /e", ids(g.Consumers("/e")), nil},
		{"parents 4", g.Parents(4), []uint64{2, 3}},
		{"parents 3", g.Parents(3), []uint64{1}},
		{"children 1", g.Children(1), []uint64{2, 3}},
		{"ancestors 4", ids(g.AncestorJobs(4, 0)), []uint64{1, 2, 3}},
		{"ancestors 4 depth 1", ids(g.AncestorJobs(4, 1)), []uint64{2, 3}},
		{"descendants 1", ids(g.DescendantJobs(1, 0)), []uint64{2, 3, 4}},
		{"descendants 4", ids(g.DescendantJobs(4, 0)), nil},
		{"topological", g.Topological(), []uint64{1, 2, 3, 4}},
		{"jobs", ids(g.Jobs()), []uint64{1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	produced, plain := g.Reads(3)
	if diff := cmp.Diff([]string{"/d/x"}, produced); diff != "" {
		t.Errorf("Reads(3) produced (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/d"}, plain); diff != "" {
		t.Errorf("Reads(3) plain (-want +got):\n%s", diff)
	}
}

func TestGraph_TopologicalNotByID(t *testing.T) {
	// Job 1 reads a directory that job 2 writes into later: 2 must come first.
	g := build(t, mk(1, "/d", "/o"), mk(2, "", "/d/f"))
	if diff := cmp.Diff([]uint64{2, 1}, g.Topological()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGraph_Remove(t *testing.T) {
	for _, tc := range []struct {
		name    string
		id      uint64
		cascade bool
		removed []uint64
		left    []uint64
		want    error
	}{
		{"leaf", 3, false, []uint64{3}, []uint64{1, 2, 4}, nil},
		{"has dependents", 2, false, nil, []uint64{1, 2, 3, 4}, ErrHasDependents},
		{"cascade", 2, true, []uint64{2, 3}, []uint64{1, 4}, nil},
		{"cascade root", 1, true, []uint64{1, 2, 3}, []uint64{4}, nil},
		{"unknown", 9, true, nil, []uint64{1, 2, 3, 4}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := build(t, append(chain(), mk(4, "/in", "/z"))...)
			removed, err := g.Remove(tc.id, tc.cascade)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Remove = %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff(tc.removed, removed); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.left, g.Topological()); diff != "" {
				t.Errorf("left (-want +got):\n%s", diff)
			}
			// The freed outputs can be produced again.
			for _, id := range removed {
				if err := g.Add(mk(id+100, "", "/"+string(rune('a'+id-1)))); err != nil && id <= 3 {
					t.Errorf("re-adding output of job %d: %v", id, err)
				}
			}
		})
	}
}

func TestGraph_SetState(t *testing.T) {
	g := build(t, mk(1, "", "/a"))
	if err := g.SetState(1, StateFailed); err != nil {
		t.Fatal(err)
	}
	if err := g.SetRunTime(1, time.Second); err != nil {
		t.Fatal(err)
	}
	j, _ := g.Job(1)
	if j.State != StateFailed || j.RunTime != time.Second {
		t.Errorf("job = %v %v", j.State, j.RunTime)
	}
	if err := g.SetState(2, StateFailed); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetState(unknown) = %v", err)
	}
	if err := g.SetState(1, 42); !errors.Is(err, ErrInvalidJob) {
		t.Errorf("SetState(42) = %v", err)
	}
	if err := g.SetRunTime(1, -1); !errors.Is(err, ErrInvalidJob) {
		t.Errorf("SetRunTime(-1) = %v", err)
	}
	// Copies never alias the graph.
	j.Outputs[0] = "/changed"
	if p, ok := g.Producer("/a"); !ok || p.Outputs[0] != "/a" {
		t.Errorf("graph changed through a copy")
	}
}

func TestSnapshot_RoundTrip(t *testing.T) {
	g := build(t, mk(1, "/d", "/o"), mk(2, "", "/d/f"), mk(3, "/o /d/f", "/z"))
	b, err := g.Snapshot().Encode()
	if err != nil {
		t.Fatal(err)
	}
	h, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g.Snapshot(), h.Snapshot()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(g.Topological(), h.Topological()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name string
		jobs []Job
		want error
	}{
		{"cycle", []Job{mk(1, "/b", "/a"), mk(2, "/a", "/b")}, ErrCycle},
		{"taken", []Job{mk(1, "", "/a"), mk(2, "", "/a")}, ErrOutputTaken},
		{"dup", []Job{mk(1, "", "/a"), mk(1, "", "/b")}, ErrDuplicateID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Restore(Snapshot{Version: 1, Jobs: tc.jobs})
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("Restore = %v, want %v and ErrBadSnapshot", err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "{", `{"v":2,"jobs":[]}`, `{"v":1,"jobs":[{"id":0}]}`} {
		if _, err := Decode([]byte(bad)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("Decode(%q) = %v", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	g := New()
	for _, j := range []Job{mk(1, "/d", "/o"), mk(2, "", "/d/f"), mk(3, "/o /d/f", "/z")} {
		if err := g.Add(j); err != nil {
			f.Fatal(err)
		}
	}
	b, err := g.Snapshot().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1,"jobs":[{"id":1,"cmd":["x"],"in":["/b"],"out":["/a"]},{"id":2,"cmd":["x"],"in":["/a"],"out":["/b"]}]}`))
	f.Add([]byte(`{"v":1,"jobs":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Decode error %v does not wrap ErrBadSnapshot", err)
			}
			return
		}
		if n := len(g.Topological()); n != g.Len() {
			t.Fatalf("topological order has %d of %d jobs", n, g.Len())
		}
		again, err := g.Snapshot().Encode()
		if err != nil {
			t.Fatal(err)
		}
		h, err := Decode(again)
		if err != nil {
			t.Fatalf("re-decoding an encoded graph: %v", err)
		}
		if diff := cmp.Diff(g.Snapshot(), h.Snapshot()); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}
