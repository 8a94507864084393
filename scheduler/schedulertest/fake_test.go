package schedulertest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/scheduler"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFakeBackend_RecordsAndReports(t *testing.T) {
	f := NewFakeBackend(FakeConfig{ManualStart: true})
	defer f.Close()
	ev := NewEvents(mustWatch(t, f))
	task := scheduler.Task{Name: "x", Kind: scheduler.KindExecutor, Command: []string{"run"}, Env: map[string]string{"k": "v"}}
	id, err := f.Launch(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	task.Env["k"] = "changed" // the fake keeps its own copy
	if id != "x-1" {
		t.Errorf("ID %q, want x-1", id)
	}
	if got := f.Launches(); len(got) != 1 || got[0].Task.Env["k"] != "v" || got[0].ID != id {
		t.Errorf("Launches() = %+v", got)
	}
	if st, _ := f.Status(t.Context(), id); st.State != scheduler.StatePending {
		t.Errorf("a manually started task is %s before Start", st.State)
	}
	f.Start(id)
	f.Fail(id, 9)
	f.Finish(id) // after the end: dropped
	want := []scheduler.State{scheduler.StateRunning, scheduler.StateFailed}
	var got []scheduler.State
	for range want {
		e := ev.Next(t, id)
		if e.Kind != scheduler.KindExecutor || e.Node != FakeNode || e.PID != 1001 || e.Time.IsZero() {
			t.Errorf("event not filled in: %+v", e)
		}
		got = append(got, e.State)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if live := f.Live(); len(live) != 0 {
		t.Errorf("Live() = %v after the end", live)
	}
	if err := f.Kill(t.Context(), id); err != nil {
		t.Errorf("Kill of an ended task: %v", err)
	}
	if err := f.Kill(t.Context(), "nope"); !errors.Is(err, scheduler.ErrUnknownTask) {
		t.Errorf("Kill(unknown) = %v", err)
	}
	if k := f.Kills(); len(k) != 2 {
		t.Errorf("Kills() = %v", k)
	}
}

func TestFakeBackend_LaunchErrorsAndClose(t *testing.T) {
	boom := errors.New("boom")
	f := NewFakeBackend(FakeConfig{LaunchError: func(scheduler.Task) error { return boom }})
	if _, err := f.Launch(t.Context(), scheduler.Task{Kind: scheduler.KindJob, Command: []string{"x"}}); !errors.Is(err, boom) {
		t.Errorf("Launch = %v, want boom", err)
	}
	if _, err := f.Launch(t.Context(), scheduler.Task{Kind: scheduler.KindJob}); !errors.Is(err, scheduler.ErrInvalidTask) {
		t.Errorf("Launch of an invalid task = %v", err)
	}
	if l := f.Launches(); len(l) != 1 || l[0].ID != "" || !errors.Is(l[0].Err, boom) {
		t.Errorf("Launches() = %+v", l)
	}
	nodes, err := f.Nodes(t.Context())
	if err != nil || len(nodes) != 1 || nodes[0].ID != FakeNode {
		t.Errorf("Nodes() = %+v, %v", nodes, err)
	}
	ch := mustWatch(t, f)
	f.Close()
	if _, ok := <-ch; ok {
		t.Error("watch channel open after Close")
	}
	ok := NewFakeBackend(FakeConfig{})
	ok.Close()
	if _, err := ok.Launch(context.Background(), scheduler.Task{Kind: scheduler.KindJob, Command: []string{"x"}}); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("Launch after Close = %v", err)
	}
}

func mustWatch(t *testing.T, b scheduler.Backend) <-chan scheduler.TaskEvent {
	t.Helper()
	ch, err := b.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ch
}
