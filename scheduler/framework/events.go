package framework

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// eventLog numbers the Server's events and remembers the last ones for WatchEvents
// streams, which read it at their own pace (no per-stream queue: a stream that falls
// behind by more than the history ends with ErrEventsMissed). Safe for concurrent use.
type eventLog struct {
	epoch string
	limit int

	// mu guards the fields below.
	mu sync.Mutex
	// last is the seq of the newest event; events holds the newest ones, oldest first
	// (events[i].Seq == last-len(events)+1+i).
	last   uint64
	events []*sluicepb.SchedulerEvent
	// wake is closed and replaced at every append and by close.
	wake   chan struct{}
	closed bool
}

func newEventLog(limit int) *eventLog {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return &eventLog{epoch: hex.EncodeToString(b), limit: max(limit, 1), wake: make(chan struct{})}
}

// append numbers ev, stamps the epoch and remembers it. ev must not be changed after.
func (l *eventLog) append(ev *sluicepb.SchedulerEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.last++
	ev.Seq, ev.Epoch = l.last, l.epoch
	if len(l.events) == l.limit {
		l.events[0] = nil
		l.events = l.events[1:]
	}
	l.events = append(l.events, ev)
	close(l.wake)
	l.wake = make(chan struct{})
}

// close ends every follow: they return ErrNotServing.
func (l *eventLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.wake)
	}
}

// start resolves a WatchEvents request to the seq of the last event before the stream's
// first: since_seq, the newest event for 0 without epoch, or the last forgotten event
// (0 when none is) with fromOldest.
func (l *eventLog) start(since uint64, epoch string, fromOldest bool) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("watch events: %w", ErrNotServing)
	}
	switch {
	case epoch != "" && epoch != l.epoch:
		return 0, fmt.Errorf("watch events: epoch %q is not the scheduler's %q (it restarted): %w", epoch, l.epoch, ErrEventsMissed)
	case fromOldest:
		return l.last - uint64(len(l.events)), nil
	case since == 0 && epoch == "":
		return l.last, nil
	case since > l.last:
		return 0, fmt.Errorf("watch events: since_seq %d is past the newest event %d: %w", since, l.last, ErrEventsMissed)
	case since < l.last-uint64(len(l.events)):
		return 0, fmt.Errorf("watch events: events after %d are forgotten (oldest kept: %d): %w",
			since, l.last-uint64(len(l.events))+1, ErrEventsMissed)
	}
	return since, nil
}

// after returns the remembered events after seq, and a channel closed at the next
// append. It fails when events after seq are forgotten or the log is closed.
func (l *eventLog) after(seq uint64) ([]*sluicepb.SchedulerEvent, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, fmt.Errorf("watch events: %w", ErrNotServing)
	}
	first := l.last - uint64(len(l.events)) + 1
	if seq+1 < first {
		return nil, nil, fmt.Errorf("watch events: reader fell behind (at %d, oldest kept %d): %w", seq, first, ErrEventsMissed)
	}
	if seq >= l.last {
		return nil, l.wake, nil
	}
	return l.events[seq+1-first:], l.wake, nil
}

// follow sends the STREAM_STARTED message for position seq, then every event after seq
// as it comes, until ctx ends (nil), send fails, or the log cannot serve the position.
func (l *eventLog) follow(ctx context.Context, seq uint64, send func(*sluicepb.SchedulerEvent) error) error {
	if err := send(&sluicepb.SchedulerEvent{Seq: seq, Epoch: l.epoch, Type: sluicepb.EventType_EVENT_TYPE_STREAM_STARTED}); err != nil {
		return err
	}
	for {
		evs, wake, err := l.after(seq)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			// Events are shared by every stream and never changed after append; the
			// marshalling in send only reads them.
			if err := send(ev); err != nil {
				return err
			}
			seq = ev.Seq
		}
		if len(evs) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		}
	}
}
