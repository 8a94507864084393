package schedulertest

import (
	"os"
	"testing"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// WaitTimeout is how long the helpers of this package wait for a condition or an event
// before failing the test. Nothing is asserted about speed: it only turns a hang into a
// failure.
const WaitTimeout = 20 * time.Second

// Eventually polls cond every few milliseconds until it is true, and fails the test
// naming what when WaitTimeout passes first.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", WaitTimeout, what)
		}
	}
}

// WaitFile waits until the file at path exists, failing the test after WaitTimeout.
func WaitFile(t testing.TB, path string) {
	t.Helper()
	Eventually(t, "file "+path, func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
}

// Events reads a watch channel and keeps the events of each task in order, so a test
// can wait for one task's events while others arrive.
type Events struct {
	ch      <-chan scheduler.TaskEvent
	pending map[scheduler.TaskID][]scheduler.TaskEvent
	closed  bool
}

// NewEvents reads ch.
func NewEvents(ch <-chan scheduler.TaskEvent) *Events {
	return &Events{ch: ch, pending: make(map[scheduler.TaskID][]scheduler.TaskEvent)}
}

// Next returns the next event of task id, failing the test if none comes within
// WaitTimeout or the channel closes.
func (e *Events) Next(t testing.TB, id scheduler.TaskID) scheduler.TaskEvent {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		if evs := e.pending[id]; len(evs) > 0 {
			e.pending[id] = evs[1:]
			return evs[0]
		}
		if e.closed {
			t.Fatalf("watch channel closed while waiting for an event of task %s", id)
		}
		e.read(t, deadline.C, "an event of task "+string(id))
	}
}

// End returns the terminal event of task id, failing the test if an event before it is
// out of order (anything but pending or running).
func (e *Events) End(t testing.TB, id scheduler.TaskID) scheduler.TaskEvent {
	t.Helper()
	for {
		ev := e.Next(t, id)
		if ev.State.Terminal() {
			return ev
		}
		if ev.State != scheduler.StatePending && ev.State != scheduler.StateRunning {
			t.Fatalf("task %s: unexpected event %+v before its end", id, ev)
		}
	}
}

// Closed waits until the channel is closed, failing the test after WaitTimeout. Events
// still unread are kept.
func (e *Events) Closed(t testing.TB) {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for !e.closed {
		e.read(t, deadline.C, "the watch channel to close")
	}
}

// read takes one event from the channel into pending, or notes that it is closed. It
// fails the test, naming what it waited for, when deadline fires first.
func (e *Events) read(t testing.TB, deadline <-chan time.Time, what string) {
	t.Helper()
	select {
	case ev, ok := <-e.ch:
		if !ok {
			e.closed = true
			return
		}
		e.pending[ev.TaskID] = append(e.pending[ev.TaskID], ev)
	case <-deadline:
		t.Fatalf("timed out after %v waiting for %s", WaitTimeout, what)
	}
}
