package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/sluicedata/sluice/scheduler"
)

func TestFanout_DeliversInOrderToEveryWatcher(t *testing.T) {
	var f scheduler.Fanout
	defer f.Close()
	a, err := f.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	// Publish never blocks, even though nobody reads yet.
	for i := range n {
		f.Publish(scheduler.TaskEvent{TaskID: scheduler.TaskID(fmt.Sprint(i))})
	}
	for _, ch := range []<-chan scheduler.TaskEvent{a, b} {
		for i := range n {
			if ev := <-ch; ev.TaskID != scheduler.TaskID(fmt.Sprint(i)) {
				t.Fatalf("event %d is %q", i, ev.TaskID)
			}
		}
	}
}

func TestFanout_CancelAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f scheduler.Fanout
		ctx, cancel := context.WithCancel(t.Context())
		cancelled, err := f.Watch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kept, err := f.Watch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		f.Publish(scheduler.TaskEvent{TaskID: "a"})
		cancel()
		synctest.Wait()
		// A cancelled watcher's channel closes; queued events may be dropped.
		for range cancelled {
		}
		if ev := <-kept; ev.TaskID != "a" {
			t.Errorf("kept watcher got %+v", ev)
		}
		f.Publish(scheduler.TaskEvent{TaskID: "b"})
		f.Close()
		for range kept {
		}
		if _, err := f.Watch(t.Context()); !errors.Is(err, scheduler.ErrClosed) {
			t.Errorf("Watch after Close: %v", err)
		}
		f.Publish(scheduler.TaskEvent{TaskID: "c"}) // no effect, no panic
		f.Close()
	})
}
