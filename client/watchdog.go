package client

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// watchdog cancels a stream that makes no progress for Config.StreamIdleTimeout, so that
// an executor that hangs (rather than dies) is failed over like one that disappeared. A
// nil watchdog (timeout 0) does nothing.
type watchdog struct {
	idle  time.Duration
	timer *time.Timer
	fired atomic.Bool
}

func newWatchdog(idle time.Duration, cancel context.CancelFunc) *watchdog {
	if idle <= 0 {
		return nil
	}
	w := &watchdog{idle: idle}
	w.timer = time.AfterFunc(time.Hour, func() {
		w.fired.Store(true)
		cancel()
	})
	w.timer.Stop()
	return w
}

// arm starts the countdown before a blocking stream call.
func (w *watchdog) arm() {
	if w != nil {
		w.timer.Reset(w.idle)
	}
}

// disarm stops the countdown after the call returned.
func (w *watchdog) disarm() {
	if w != nil {
		w.timer.Stop()
	}
}

// check replaces err by an ErrUnavailable naming the stall when the watchdog cancelled
// the stream.
func (w *watchdog) check(err error) error {
	if err != nil && w != nil && w.fired.Load() {
		return fmt.Errorf("stream made no progress for %v: %w", w.idle, ErrUnavailable)
	}
	return err
}
