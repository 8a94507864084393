package lineage

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// diamond: 1 writes /a; 2 and 3 read /a; 4 reads /b and /c.
func diamond(t *testing.T) *Graph {
	t.Helper()
	jobs := []Job{mk(1, "/in", "/a"), mk(2, "/a", "/b"), mk(3, "/a", "/c"), mk(4, "/b /c", "/d")}
	jobs[0].Name, jobs[1].Name, jobs[2].Name, jobs[3].Name = "gen", "left", "right", "join"
	jobs[0].RunTime = 1500 * time.Millisecond
	jobs[3].State = StateRunning
	return build(t, jobs...)
}

func TestView_Text(t *testing.T) {
	g := diamond(t)
	for _, tc := range []struct {
		name string
		view View
		want string
	}{
		{"file at the bottom", g.ShowPath("/d", 0), `/d
produced by job 4 "join" [running]
ancestors:
├── job 2 "left" [completed] writes /b
│   └── job 1 "gen" [completed, ran 1.5s] writes /a
└── job 3 "right" [completed] writes /c
    └── job 1 "gen" [completed, ran 1.5s] writes /a (see above)
descendants: none
`},
		{"file at the top", g.ShowPath("/a", 0), `/a
produced by job 1 "gen" [completed, ran 1.5s]
ancestors: none
descendants:
├── job 2 "left" [completed] reads /a
│   └── job 4 "join" [running] reads /b
└── job 3 "right" [completed] reads /a
    └── job 4 "join" [running] reads /c (see above)
`},
		{"depth bound", g.ShowPath("/a", 1), `/a
produced by job 1 "gen" [completed, ran 1.5s]
ancestors: none
descendants:
├── job 2 "left" [completed] reads /a
│   └── …
└── job 3 "right" [completed] reads /a
    └── …
`},
		{"plain input", g.ShowPath("/in", 1), `/in
no lineage (not produced by a recorded job)
ancestors: none
descendants:
└── job 1 "gen" [completed, ran 1.5s] reads /in
    └── …
`},
		{"job", mustJobView(t, g, 2), `job 2 "left" [completed]
  outputs: /b
ancestors:
└── job 1 "gen" [completed, ran 1.5s] writes /a
descendants:
└── job 4 "join" [running] reads /b
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.view.Text()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func mustJobView(t *testing.T, g *Graph, id uint64) View {
	t.Helper()
	v, ok := g.ShowJob(id, 0)
	if !ok {
		t.Fatalf("ShowJob(%d) not found", id)
	}
	return v
}

func TestView_Dot(t *testing.T) {
	g := diamond(t)
	want := `digraph lineage {
  rankdir=LR;
  "file:/a" [shape=ellipse, label="/a"];
  "file:/b" [shape=ellipse, label="/b"];
  "file:/c" [shape=ellipse, label="/c"];
  "file:/d" [shape=ellipse, label="/d", style=filled, fillcolor=lightblue];
  "job:1" [shape=box, label="job 1 \"gen\"\ncompleted"];
  "job:2" [shape=box, label="job 2 \"left\"\ncompleted"];
  "job:3" [shape=box, label="job 3 \"right\"\ncompleted"];
  "job:4" [shape=box, label="job 4 \"join\"\nrunning"];
  "file:/a" -> "job:2";
  "file:/a" -> "job:3";
  "file:/b" -> "job:4";
  "file:/c" -> "job:4";
  "job:1" -> "file:/a";
  "job:2" -> "file:/b";
  "job:3" -> "file:/c";
  "job:4" -> "file:/d";
}
`
	if diff := cmp.Diff(want, g.ShowPath("/d", 0).Dot()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The whole diamond seen from its top has the same edges, with /a in focus.
	top := g.ShowPath("/a", 0).Dot()
	for _, e := range []string{`"job:2" -> "file:/b"`, `"file:/b" -> "job:4"`, `"job:1" -> "file:/a"`, `"file:/a" -> "job:3"`} {
		if !strings.Contains(top, e) {
			t.Errorf("top view misses edge %s:\n%s", e, top)
		}
	}
	if got := dotQuote("a\"b\\c\nd"); got != `"a\"b\\c\nd"` {
		t.Errorf("dotQuote = %s", got)
	}
}
