package framework

import (
	"context"
	"errors"
	"fmt"
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
	if _, err := l.start(0, "", false); !errors.Is(err, ErrNotServing) {
		t.Fatalf("start after close: %v, want ErrNotServing", err)
	}
	l.append(&sluicepb.SchedulerEvent{}) // ignored
}

// start resolves every kind of WatchEvents request to a position, or refuses it.
func TestEventLog_Start(t *testing.T) {
	fresh := newEventLog(3)
	full := newEventLog(3)
	for range 5 { // seqs 1..5; 3, 4 and 5 are kept
		full.append(&sluicepb.SchedulerEvent{})
	}
	tests := []struct {
		log        *eventLog
		since      uint64
		epoch      string
		fromOldest bool
		want       uint64
		wantErr    error
	}{
		{log: fresh, want: 0},
		{log: fresh, fromOldest: true, want: 0},
		{log: fresh, epoch: fresh.epoch, want: 0},
		{log: fresh, epoch: "other", fromOldest: true, wantErr: ErrEventsMissed},
		{log: full, want: 5},
		{log: full, since: 3, epoch: full.epoch, want: 3},
		{log: full, since: 2, epoch: full.epoch, want: 2},
		{log: full, since: 1, epoch: full.epoch, wantErr: ErrEventsMissed},
		{log: full, since: 6, epoch: full.epoch, wantErr: ErrEventsMissed},
		{log: full, since: 4, epoch: "other", wantErr: ErrEventsMissed},
		{log: full, fromOldest: true, want: 2},
		{log: full, since: 1, epoch: full.epoch, fromOldest: true, want: 2},
		{log: full, since: 99, fromOldest: true, want: 2},
		{log: full, epoch: "other", fromOldest: true, wantErr: ErrEventsMissed},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := tt.log.start(tt.since, tt.epoch, tt.fromOldest)
			if !errors.Is(err, tt.wantErr) || (err == nil && got != tt.want) {
				t.Fatalf("start(%d, %q, %v) = %d, %v; want %d, %v", tt.since, tt.epoch, tt.fromOldest, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
