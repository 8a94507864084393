package state

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/lineage"
)

// submitEntry is a SubmitJobEntry for job id reading inputs and writing outputs.
func (f *fixture) submitEntry(id uint64, inputs, outputs []string) *sluicepb.SubmitJobEntry {
	n := 0
	for _, p := range outputs {
		n += max(PathDepth(p), 1)
	}
	r, err := f.ids.Reserve(max(n, 1))
	if err != nil {
		f.t.Fatal(err)
	}
	return &sluicepb.SubmitJobEntry{JobId: id, TimeMs: f.now, Ids: r, BlockSize: blockSize,
		Owner: "u", Group: "g", Mode: 0o644, DirMode: 0o755,
		Spec: &sluicepb.JournalJobSpec{Name: "job", Command: []string{"run", "it"}, Inputs: inputs, Outputs: outputs,
			Priority: 2, Env: map[string]string{"K": "V"}}}
}

func (f *fixture) stateEntry(id uint64, st lineage.State, attempt int32) *sluicepb.JobStateChangedEntry {
	return &sluicepb.JobStateChangedEntry{JobId: id, State: JobStateEntry(st), Attempt: attempt, TimeMs: f.now,
		TaskId: "t", Host: "h", RunTimeMs: 1500}
}

func (f *fixture) graphJobs() []lineage.Job {
	var out []lineage.Job
	f.s.Lineage(func(v *View, g *lineage.Graph) {
		out = g.Jobs()
		var recs []lineage.Job
		for j := range v.Jobs() {
			recs = append(recs, j.Job)
		}
		if diff := cmp.Diff(recs, out); diff != "" {
			f.t.Errorf("graph and View disagree (-view +graph):\n%s", diff)
		}
	})
	return out
}

func TestState_SubmitJob(t *testing.T) {
	f := newTree(t)
	res := f.must(EntrySubmitJob, f.submitEntry(1, []string{"/a/f", "/a"}, []string{"/out/x/p", "/out/q"}))
	if res.Job.ID != 1 || res.Job.State != lineage.StatePending || res.Job.Env["K"] != "V" {
		t.Errorf("job = %+v", res.Job)
	}
	var created []string
	for _, in := range res.Created {
		created = append(created, in.Path)
	}
	if want := []string{"/out", "/out/x", "/out/x/p", "/out/q"}; !slices.Equal(created, want) {
		t.Errorf("created %v, want %v", created, want)
	}
	p := f.get("/out/x/p")
	if p.Complete || p.JobID != 1 || p.BlockSize != blockSize {
		t.Errorf("placeholder = %+v", p)
	}
	if got := f.s.View().NextJobID(); got != 2 {
		t.Errorf("NextJobID = %d", got)
	}
	// A job reading an output of job 1 that is not complete yet is fine.
	f.must(EntrySubmitJob, f.submitEntry(2, []string{"/out/q"}, []string{"/res"}))
	f.s.Lineage(func(_ *View, g *lineage.Graph) {
		if got := g.Parents(2); !slices.Equal(got, []uint64{1}) {
			t.Errorf("parents of 2 = %v", got)
		}
	})
	f.graphJobs()
}

func TestState_SubmitJobRefusals(t *testing.T) {
	tests := []struct {
		name            string
		id              uint64
		inputs, outputs []string
		want            error
	}{
		{"missing input", 5, []string{"/nope"}, []string{"/o"}, ErrNotFound},
		{"existing output", 5, nil, []string{"/a/f"}, ErrExists},
		{"output under a file", 5, nil, []string{"/a/f/x"}, ErrNotDirectory},
		{"output read-only", 5, nil, []string{"/ro/new"}, ErrReadOnly},
		{"output is input", 5, []string{"/a"}, []string{"/a/new"}, lineage.ErrOutputIsInput},
		{"no output", 5, []string{"/a/f"}, nil, lineage.ErrInvalidJob},
		{"unclean path", 5, nil, []string{"/o/../p"}, ErrInvalidPath},
		{"duplicate ID", 1, nil, []string{"/o2"}, lineage.ErrDuplicateID},
		{"zero ID", 0, nil, []string{"/o"}, ErrInvalidArgument},
		// Job 1 reads /a; a job writing into /a and reading job 1's output closes a cycle.
		{"cycle", 5, []string{"/j1"}, []string{"/e/new"}, lineage.ErrCycle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTree(t)
			f.must(EntrySubmitJob, f.submitEntry(1, []string{"/e"}, []string{"/j1"}))
			before := snapshotBytes(t, f.s.View())
			graphBefore := f.graphJobs()
			r := f.apply(EntrySubmitJob, f.submitEntry(tt.id, tt.inputs, tt.outputs))
			if !errors.Is(r.Err, tt.want) {
				t.Fatalf("err = %v, want %v", r.Err, tt.want)
			}
			// Nothing changed but the applied index.
			after := f.s.View()
			if _, err := after.Get("/o"); err == nil {
				t.Error("a refused job left an output")
			}
			if diff := cmp.Diff(graphBefore, f.graphJobs()); diff != "" {
				t.Errorf("graph changed:\n%s", diff)
			}
			if after.JobCount() != 1 || len(before) == 0 {
				t.Errorf("jobs = %d", after.JobCount())
			}
		})
	}
}

func TestState_JobRuns(t *testing.T) {
	f := newTree(t)
	f.must(EntrySubmitJob, f.submitEntry(1, nil, []string{"/o"}))
	steps := []struct {
		name    string
		st      lineage.State
		attempt int32
		want    error
	}{
		{"end of a run that never started", lineage.StateCompleted, 0, nil},
		{"second end", lineage.StateFailed, 0, ErrJobEnded},
		{"stale start", lineage.StateRunning, 0, ErrStaleRun},
		{"recompute starts", lineage.StateRunning, 1, nil},
		{"same run again updates", lineage.StateRunning, 1, nil},
		{"skipped run", lineage.StateFailed, 3, ErrStaleRun},
		{"next run while running", lineage.StateFailed, 2, ErrJobEnded},
		{"run fails", lineage.StateFailed, 1, nil},
		{"launch of run 2 fails", lineage.StateFailed, 2, nil},
		{"run 3", lineage.StateRunning, 3, nil},
		{"killed", lineage.StateKilled, 3, nil},
		{"killed jobs never run again", lineage.StateRunning, 4, ErrJobEnded},
		{"pending is no change", lineage.StatePending, 3, ErrInvalidArgument},
	}
	for _, s := range steps {
		r := f.apply(EntryJobStateChanged, f.stateEntry(1, s.st, s.attempt))
		if !errors.Is(r.Err, s.want) {
			t.Fatalf("%s: err = %v, want %v", s.name, r.Err, s.want)
		}
	}
	j, _ := f.s.View().Job(1)
	if j.State != lineage.StateKilled || j.Attempts != 3 || j.RunTime != 1500*time.Millisecond {
		t.Errorf("job = %+v", j)
	}
	if r := f.apply(EntryJobStateChanged, f.stateEntry(9, lineage.StateRunning, 1)); !errors.Is(r.Err, ErrNotFound) {
		t.Errorf("unknown job: %v", r.Err)
	}
	f.graphJobs()
}

func TestState_OutputFactsFirstCompletionOnly(t *testing.T) {
	f := newTree(t)
	f.must(EntrySubmitJob, f.submitEntry(1, nil, []string{"/o"}))
	e := f.stateEntry(1, lineage.StateCompleted, 1)
	e.OutputFacts = []*sluicepb.JournalOutputFact{{Path: "/o", FileId: 9, Length: 10, Checksum: "crc32c:01"}}
	f.must(EntryJobStateChanged, f.stateEntry(1, lineage.StateRunning, 1))
	f.must(EntryJobStateChanged, e)
	f.must(EntryJobStateChanged, f.stateEntry(1, lineage.StateRunning, 2))
	e = f.stateEntry(1, lineage.StateCompleted, 2)
	e.OutputFacts = []*sluicepb.JournalOutputFact{{Path: "/o", FileId: 9, Length: 11}}
	e.RunTimeMs = 700
	f.must(EntryJobStateChanged, e)
	j, _ := f.s.View().Job(1)
	if fact, ok := j.Fact("/o"); !ok || fact.Length != 10 || fact.Checksum != "crc32c:01" {
		t.Errorf("fact = %+v, %v", fact, ok)
	}
	if j.RunTime != 700*time.Millisecond {
		t.Errorf("run time %v", j.RunTime)
	}
}

func TestState_DeleteLineage(t *testing.T) {
	f := newTree(t)
	f.must(EntrySubmitJob, f.submitEntry(1, nil, []string{"/j1"}))
	f.must(EntrySubmitJob, f.submitEntry(2, []string{"/j1"}, []string{"/j2"}))
	f.must(EntrySubmitJob, f.submitEntry(3, []string{"/a/f"}, []string{"/j3"}))
	if r := f.apply(EntryDeleteLineage, &sluicepb.DeleteLineageEntry{JobId: 1}); !errors.Is(r.Err, lineage.ErrHasDependents) {
		t.Fatalf("delete without cascade: %v", r.Err)
	}
	if r := f.apply(EntryDeleteLineage, &sluicepb.DeleteLineageEntry{JobId: 7}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("delete unknown: %v", r.Err)
	}
	r := f.must(EntryDeleteLineage, &sluicepb.DeleteLineageEntry{JobId: 1, Cascade: true})
	if !slices.Equal(r.RemovedJobs, []uint64{1, 2}) {
		t.Errorf("removed %v", r.RemovedJobs)
	}
	if f.get("/j1").JobID != 0 || f.get("/j2").JobID != 0 || f.get("/j3").JobID != 3 {
		t.Error("outputs of removed jobs keep their job")
	}
	if got := f.graphJobs(); len(got) != 1 || got[0].ID != 3 {
		t.Errorf("jobs left %v", got)
	}
	// The freed outputs cannot be claimed by a new job while they exist.
	if r := f.apply(EntrySubmitJob, f.submitEntry(4, nil, []string{"/j1"})); !errors.Is(r.Err, ErrExists) {
		t.Errorf("resubmit over an existing output: %v", r.Err)
	}
}

// lineageOps applies a fixed mix of lineage entries, with failures among them.
func lineageOps(f *fixture) {
	f.must(EntrySubmitJob, f.submitEntry(1, []string{"/a/f"}, []string{"/p/1"}))
	f.must(EntrySubmitJob, f.submitEntry(2, []string{"/p/1"}, []string{"/p/2", "/q/2"}))
	f.must(EntrySubmitJob, f.submitEntry(3, []string{"/p"}, []string{"/r/3"}))
	f.apply(EntrySubmitJob, f.submitEntry(4, []string{"/r/3"}, []string{"/p/4"})) // cycle
	f.must(EntryJobStateChanged, f.stateEntry(1, lineage.StateRunning, 1))
	e := f.stateEntry(1, lineage.StateCompleted, 1)
	e.OutputFacts = []*sluicepb.JournalOutputFact{{Path: "/p/1", FileId: 3, Length: 1}}
	f.must(EntryJobStateChanged, e)
	f.must(EntryJobStateChanged, f.stateEntry(2, lineage.StateFailed, 1))
	f.must(EntrySubmitJob, f.submitEntry(5, nil, []string{"/gone"}))
	f.must(EntryDeleteLineage, &sluicepb.DeleteLineageEntry{JobId: 5})
}

func TestState_SnapshotWithJobs(t *testing.T) {
	f := newTree(t)
	lineageOps(f)
	v := f.s.View()
	snap := snapshotBytes(t, v)
	restored := New()
	if err := restored.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	rv := restored.View()
	if diff := cmp.Diff(dump(t, v), dump(t, rv)); diff != "" {
		t.Fatalf("restored namespace differs:\n%s", diff)
	}
	var want, got []Job
	for j := range v.Jobs() {
		want = append(want, j)
	}
	for j := range rv.Jobs() {
		got = append(got, j)
	}
	if len(want) != 3 {
		t.Fatalf("%d jobs before the snapshot", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("restored jobs differ:\n%s", diff)
	}
	if rv.NextJobID() != 6 {
		t.Errorf("NextJobID %d", rv.NextJobID())
	}
	g := &fixture{t: t, s: restored, ids: NewIDAllocator(rv.NextID()), now: f.now, index: f.index}
	g.graphJobs()
	// The restored graph refuses what the original refuses.
	if r := g.apply(EntrySubmitJob, g.submitEntry(6, []string{"/r/3"}, []string{"/p/6"})); !errors.Is(r.Err, lineage.ErrCycle) {
		t.Errorf("cycle after restore: %v", r.Err)
	}
	if !bytes.Equal(snap, snapshotBytes(t, rv)) {
		t.Error("snapshot of the restored state differs")
	}
}

func TestState_RestoreRejectsBadJobs(t *testing.T) {
	f := newTree(t)
	lineageOps(f)
	snap := snapshotBytes(t, f.s.View())
	var recs []*sluicepb.SnapshotRecord
	r := bytes.NewReader(snap)
	for r.Len() > 0 {
		rec := new(sluicepb.SnapshotRecord)
		if err := protodelim.UnmarshalFrom(r, rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	write := func(rs []*sluicepb.SnapshotRecord) []byte {
		var buf bytes.Buffer
		for _, rec := range rs {
			if _, err := protodelim.MarshalTo(&buf, rec); err != nil {
				t.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	jobAt := slices.IndexFunc(recs, func(r *sluicepb.SnapshotRecord) bool { return r.GetJob() != nil })
	tests := map[string]func(rs []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord{
		"job twice": func(rs []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			return slices.Insert(rs, jobAt, rs[jobAt])
		},
		"job dropped": func(rs []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			return slices.Delete(rs, jobAt, jobAt+1)
		},
		"two producers": func(rs []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			rs[jobAt+1].GetJob().Spec.Outputs = rs[jobAt].GetJob().GetSpec().GetOutputs()
			return rs
		},
		"job ID too high": func(rs []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			rs[jobAt].GetJob().JobId = 99
			return rs
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			var rs []*sluicepb.SnapshotRecord
			for _, rec := range recs {
				rs = append(rs, protoClone(rec))
			}
			s := New()
			if err := s.Restore(bytes.NewReader(write(mutate(rs)))); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("Restore = %v", err)
			}
			if s.View().JobCount() != 0 {
				t.Error("a failed restore changed the state")
			}
		})
	}
}

func protoClone(r *sluicepb.SnapshotRecord) *sluicepb.SnapshotRecord {
	return proto.Clone(r).(*sluicepb.SnapshotRecord)
}

// FuzzReadSnapshotJobs starts from a snapshot holding jobs: whatever ReadSnapshot
// accepts has a lineage graph that agrees with its jobs and writes out alike.
func FuzzReadSnapshotJobs(f *testing.F) {
	fx := newTree(f)
	lineageOps(fx)
	f.Add(snapshotBytes(f, fx.s.View()))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New()
		if err := s.Restore(bytes.NewReader(b)); err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("Restore error %v does not wrap ErrCorruptSnapshot", err)
			}
			return
		}
		g := &fixture{t: t, s: s}
		g.graphJobs()
		again := New()
		if err := again.Restore(bytes.NewReader(snapshotBytes(t, s.View()))); err != nil {
			t.Fatalf("re-read: %v", err)
		}
	})
}

// BenchmarkState_SubmitJob applies SubmitJob entries of a growing chain (each job reads
// the previous one's output) plus their two run entries: the journal replay cost per job.
func BenchmarkState_SubmitJob(b *testing.B) {
	f := newFixture(b)
	prev := []string(nil)
	b.ReportAllocs()
	for i := range b.N {
		id := uint64(i + 1)
		out := fmt.Sprintf("/chain/%d/out", id)
		f.must(EntrySubmitJob, f.submitEntry(id, prev, []string{out}))
		f.must(EntryJobStateChanged, f.stateEntry(id, lineage.StateRunning, 1))
		f.must(EntryJobStateChanged, f.stateEntry(id, lineage.StateCompleted, 1))
		prev = []string{out}
	}
}
