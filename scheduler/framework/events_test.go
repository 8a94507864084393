package framework

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// A stream whose reader falls behind by more than the history ends with
// ErrEventsMissed rather than skipping events silently.
func TestEventLog_ReaderFallsBehind(t *testing.T) {
	l := newEventLog(2)
	l.append(&sluicepb.SchedulerEvent{TaskId: "a"})
	blocked, release := make(chan struct{}), make(chan struct{})
	var got []uint64
	done := make(chan error, 1)
	go func() {
		done <- l.follow(context.Background(), 0, func(ev *sluicepb.SchedulerEvent) error {
			if ev.GetType() == sluicepb.EventType_EVENT_TYPE_STREAM_STARTED {
				return nil
			}
			got = append(got, ev.GetSeq())
			if ev.GetSeq() == 1 {
				close(blocked)
				<-release
			}
			return nil
		})
	}()
	<-blocked
	for range 3 {
		l.append(&sluicepb.SchedulerEvent{TaskId: "b"})
	}
	close(release)
	if err := <-done; !errors.Is(err, ErrEventsMissed) {
		t.Fatalf("follow of a reader that fell behind: %v, want ErrEventsMissed", err)
	}
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("sent %v before the gap, want [1]", got)
	}
}

// Closing the log ends every follow with ErrNotServing, and new streams are refused.
func TestEventLog_Close(t *testing.T) {
	l := newEventLog(4)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- l.follow(context.Background(), 0, func(*sluicepb.SchedulerEvent) error {
			close(started)
			return nil
		})
	}()
	<-started
	l.close()
	if err := <-done; !errors.Is(err, ErrNotServing) {
		t.Fatalf("follow after close: %v, want ErrNotServing", err)
	}
	if _, err := l.start(0, ""); !errors.Is(err, ErrNotServing) {
		t.Fatalf("start after close: %v, want ErrNotServing", err)
	}
	l.append(&sluicepb.SchedulerEvent{}) // ignored
}
