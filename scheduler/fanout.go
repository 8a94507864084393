package scheduler

import (
	"context"
	"sync"
)

// Fanout delivers TaskEvents to any number of watchers, each with its own unbounded
// queue, so a slow watcher never blocks the publisher nor loses events. Backends use it
// to implement Watch, and the Scheduler to implement Subscribe.
//
// Each watcher is served by one goroutine that Fanout owns; it ends when the watcher's
// ctx ends or Close is called, and Close waits for all of them. The zero value is ready
// to use. All methods are safe for concurrent use.
type Fanout struct {
	// mu guards watchers and closed.
	mu       sync.Mutex
	watchers map[*watcher]struct{}
	closed   bool
	// done is closed by Close; created lazily under mu.
	done chan struct{}
	// wg counts the watcher goroutines.
	wg sync.WaitGroup
}

// watcher is one Watch call: its queue and the channel its goroutine feeds.
type watcher struct {
	out chan TaskEvent
	// wake has room for one token, sent when the queue grows.
	wake chan struct{}
	// mu guards queue.
	mu    sync.Mutex
	queue []TaskEvent
}

// doneLocked returns the channel Close closes. f.mu must be held.
func (f *Fanout) doneLocked() chan struct{} {
	if f.done == nil {
		f.done = make(chan struct{})
	}
	return f.done
}

// Watch returns a channel of every event published from now on, in order. The channel
// is closed when ctx ends or Close is called; events still queued then are dropped.
// After Close, Watch returns ErrClosed.
func (f *Fanout) Watch(ctx context.Context) (<-chan TaskEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if f.watchers == nil {
		f.watchers = make(map[*watcher]struct{})
	}
	w := &watcher{out: make(chan TaskEvent), wake: make(chan struct{}, 1)}
	f.watchers[w] = struct{}{}
	done := f.doneLocked()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(w.out)
		w.serve(ctx, done)
		f.mu.Lock()
		delete(f.watchers, w)
		f.mu.Unlock()
	}()
	return w.out, nil
}

// serve moves events from the queue to out until ctx ends or done is closed.
func (w *watcher) serve(ctx context.Context, done <-chan struct{}) {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.mu.Unlock()
			select {
			case <-w.wake:
				continue
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
		ev := w.queue[0]
		w.mu.Unlock()
		select {
		case w.out <- ev:
			w.mu.Lock()
			w.queue[0] = TaskEvent{}
			w.queue = w.queue[1:]
			w.mu.Unlock()
		case <-ctx.Done():
			return
		case <-done:
			return
		}
	}
}

// Publish queues ev for every current watcher. It never blocks; after Close it does
// nothing.
func (f *Fanout) Publish(ev TaskEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	for w := range f.watchers {
		w.mu.Lock()
		w.queue = append(w.queue, ev)
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Close closes every watcher's channel and waits for their goroutines to end. It is safe
// to call more than once.
func (f *Fanout) Close() {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.doneLocked())
	}
	f.mu.Unlock()
	f.wg.Wait()
}
