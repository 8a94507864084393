package journal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluicedata/sluice/master/state"
)

func TestDeliveries(t *testing.T) {
	d := newDeliveries()
	w := d.add()
	other := newDeliveries()
	ow := other.add()
	// Tags of another Journal (a restart, another master) and malformed tags find
	// nobody, even with the same sequence number.
	for _, tag := range [][]byte{ow.tag, nil, w.tag[:8]} {
		d.deliver(tag, state.Result{Index: 1})
		select {
		case r := <-w.ch:
			t.Fatalf("tag %x delivered %+v", tag, r)
		default:
		}
	}
	d.deliver(w.tag, state.Result{Index: 2})
	if r := <-w.ch; r.Index != 2 {
		t.Fatalf("delivered %+v, want index 2", r)
	}
	// A result comes once; after remove nothing comes and nothing blocks.
	d.deliver(w.tag, state.Result{Index: 3})
	w2 := d.add()
	d.remove(w2)
	d.deliver(w2.tag, state.Result{Index: 4})
	select {
	case r := <-w.ch:
		t.Fatalf("second delivery %+v", r)
	case r := <-w2.ch:
		t.Fatalf("delivery after remove %+v", r)
	default:
	}
	if len(d.wait) != 0 {
		t.Errorf("%d waiters left", len(d.wait))
	}
}

// TestJournal_CloseDuringApplies closes a journal while callers keep applying: every
// Apply returns (acknowledged, or an error such as ErrClosed), nothing leaks (goleak in
// TestMain), and every acknowledged entry is in the reopened journal's state.
func TestJournal_CloseDuringApplies(t *testing.T) {
	dir := t.TempDir()
	_, trans := raft.NewInmemTransport("node1")
	st := state.New()
	j, err := Open(fastConfig(t, dir, trans), st)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, j, st)
	const callers = 16
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
	)
	started := make(chan struct{}, callers)
	for i := range callers {
		wg.Go(func() {
			for n := 0; ; n++ {
				p := fmt.Sprintf("/c%d/f%d", i, n)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := j.Apply(ctx, state.EntryCreateFile, c.createEntry(p))
				cancel()
				if err != nil {
					if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrLeadershipLost) && !errors.Is(err, ErrNotLeader) {
						t.Errorf("Apply %s: %v", p, err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, p)
				mu.Unlock()
				if n == 2 {
					started <- struct{}{}
				}
			}
		})
	}
	for range callers {
		<-started
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// Every acknowledged entry went through a counted log write.
	if writes, entries := j.LogWrites(); writes == 0 || writes > entries || entries < uint64(len(acked)) {
		t.Errorf("LogWrites() = %d writes, %d entries; %d entries acknowledged", writes, entries, len(acked))
	}
	trans.Close()

	_, trans2 := raft.NewInmemTransport("node1")
	defer trans2.Close()
	st2 := state.New()
	j2, err := Open(fastConfig(t, dir, trans2), st2)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	becomeLeader(t, j2)
	for _, p := range acked {
		if _, err := st2.View().Get(p); err != nil {
			t.Errorf("acknowledged %s: %v", p, err)
		}
	}
}
