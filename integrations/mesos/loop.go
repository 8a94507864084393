package mesos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	schedpb "github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// The event loop: one goroutine subscribes, reads the event stream and handles every
// event, kick and timer in turn; it resubscribes with backoff when the stream ends, an
// ERROR event arrives or heartbeats stop.

// errMissedHeartbeat ends a subscription whose master stopped sending events.
var errMissedHeartbeat = errors.New("mesos: missed heartbeats")

// errorEvent ends a subscription on an ERROR event.
type errorEvent struct{ msg string }

func (e *errorEvent) Error() string { return "mesos error event: " + e.msg }

// defaultHeartbeat is the heartbeat interval assumed until SUBSCRIBED says otherwise.
const defaultHeartbeat = 15 * time.Second

// forgetAfterErrors is how many subscriptions in a row may end with an ERROR event
// before SUBSCRIBED before the framework ID is given up (Mesos has removed the
// framework, e.g. after its failover timeout) and a new framework is registered.
const forgetAfterErrors = 3

// run subscribes again and again until ctx ends.
func (b *Backend) run(ctx context.Context) {
	wait := b.cfg.ReconnectMin
	errorsInRow := 0
	for ctx.Err() == nil {
		subscribed, err := b.session(ctx)
		b.disconnected()
		var ee *errorEvent
		switch {
		case subscribed:
			wait, errorsInRow = b.cfg.ReconnectMin, 0
		case errors.As(err, &ee):
			errorsInRow++
			if errorsInRow >= forgetAfterErrors {
				b.forgetFramework(ee.msg)
				errorsInRow = 0
			}
		}
		if ctx.Err() != nil || b.isTornDown() {
			return
		}
		b.log.Warn("mesos_disconnected", "error", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, b.cfg.ReconnectMax)
	}
}

func (b *Backend) isTornDown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tornDown
}

// disconnected notes the end of a subscription.
func (b *Backend) disconnected() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.connected = false
}

// received is one decoded event, or the stream's end.
type received struct {
	e   *schedpb.Event
	err error
}

// session subscribes once and handles events until the stream ends, ctx ends or a
// handler asks to resubscribe. subscribed reports whether SUBSCRIBED arrived.
func (b *Backend) session(ctx context.Context) (subscribed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := b.caller.Call(sctx, calls.Subscribe(b.frameworkInfo()))
	if err != nil {
		if resp != nil {
			resp.Close()
		}
		return false, fmt.Errorf("subscribe to %s: %w", b.cfg.Master, err)
	}
	events := make(chan received)
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			var e schedpb.Event
			err := resp.Decode(&e)
			select {
			case events <- received{&e, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	defer reader.Wait()
	defer cancel()
	defer resp.Close()

	watchdog := time.NewTimer(2 * defaultHeartbeat)
	defer watchdog.Stop()
	reconcile := time.NewTicker(b.cfg.ReconcileInterval)
	defer reconcile.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b.armTimer(timer)
		select {
		case <-ctx.Done():
			return subscribed, ctx.Err()
		case r := <-events:
			if r.err != nil {
				return subscribed, fmt.Errorf("event stream: %w", r.err)
			}
			if err := b.handle(sctx, r.e); err != nil {
				return subscribed, err
			}
			if r.e.GetType() == schedpb.Event_SUBSCRIBED {
				subscribed = true
			}
			if subscribed {
				// Mesos sends a heartbeat every interval: two missed ones end the stream.
				watchdog.Reset(b.heartbeatTimeout())
			}
		case <-watchdog.C:
			return subscribed, errMissedHeartbeat
		case <-b.kick:
			if subscribed {
				b.onKick(sctx)
			}
		case <-reconcile.C:
			if subscribed {
				b.call(sctx, calls.Reconcile())
			}
		case <-timer.C:
			if subscribed {
				b.onTimer(sctx)
			}
		}
	}
}

// frameworkInfo is the FrameworkInfo of the next SUBSCRIBE.
func (b *Backend) frameworkInfo() *mesosv1.FrameworkInfo {
	timeout := b.cfg.FailoverTimeout.Seconds()
	checkpoint := true
	role := b.cfg.Role
	info := &mesosv1.FrameworkInfo{
		User:            b.cfg.User,
		Name:            b.cfg.FrameworkName,
		FailoverTimeout: &timeout,
		Checkpoint:      &checkpoint,
		Role:            &role,
		Capabilities: []mesosv1.FrameworkInfo_Capability{
			{Type: mesosv1.FrameworkInfo_Capability_PARTITION_AWARE},
			{Type: mesosv1.FrameworkInfo_Capability_TASK_KILLING_STATE},
		},
	}
	if b.cfg.Hostname != "" {
		h := b.cfg.Hostname
		info.Hostname = &h
	}
	if b.cfg.Principal != "" {
		p := b.cfg.Principal
		info.Principal = &p
	}
	b.mu.Lock()
	if b.frameworkID != "" {
		info.ID = &mesosv1.FrameworkID{Value: b.frameworkID}
	}
	b.mu.Unlock()
	return info
}

// heartbeatTimeout is how long the current subscription may stay silent: two heartbeat
// intervals and a second.
func (b *Backend) heartbeatTimeout() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return 2*b.heartbeat + time.Second
}

// call makes a call that returns no data, logging a failure.
func (b *Backend) call(ctx context.Context, c *schedpb.Call) bool {
	if err := calls.CallNoData(ctx, b.caller, c); err != nil {
		if ctx.Err() == nil {
			b.log.Warn("mesos_call_failed", "call", c.GetType().String(), "error", err)
		}
		return false
	}
	return true
}

// handle applies one event. It returns an error when the subscription must end.
func (b *Backend) handle(ctx context.Context, e *schedpb.Event) error {
	switch e.GetType() {
	case schedpb.Event_SUBSCRIBED:
		b.onSubscribed(ctx, e.GetSubscribed())
	case schedpb.Event_OFFERS:
		b.onOffers(ctx, e.GetOffers().GetOffers())
	case schedpb.Event_UPDATE:
		if u := e.GetUpdate(); u != nil {
			b.onUpdate(ctx, &u.Status)
		}
	case schedpb.Event_FAILURE:
		b.onFailure(e.GetFailure())
	case schedpb.Event_ERROR:
		return &errorEvent{msg: e.GetError().GetMessage()}
	case schedpb.Event_HEARTBEAT, schedpb.Event_RESCIND, schedpb.Event_MESSAGE,
		schedpb.Event_INVERSE_OFFERS, schedpb.Event_RESCIND_INVERSE_OFFER, schedpb.Event_UPDATE_OPERATION_STATUS:
		// Offers are answered at once, never held, so a rescind needs nothing.
	default:
		b.log.Debug("mesos_event_ignored", "type", e.GetType().String())
	}
	return nil
}
