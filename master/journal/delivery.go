package journal

import (
	"crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/sluicedata/sluice/master/state"
)

// tagLen is the length of a delivery tag: an 8-byte nonce of the Journal, then an
// 8-byte sequence number.
const tagLen = 16

// deliveries hands the results of applied entries from the FSM goroutine straight to
// the Apply calls waiting for them. Apply tags its entry (raft.Log.Extensions, stored
// with the entry but meaningless to the state) with a nonce drawn at Open and a
// sequence number; the FSM looks the tag up after applying the entry. Entries replayed
// after a restart, or applied on another master, carry other nonces and find nobody.
// Safe for concurrent use.
type deliveries struct {
	nonce [8]byte

	mu   sync.Mutex
	next uint64
	wait map[uint64]*delivery
}

// delivery is one Apply waiting for its entry's result.
type delivery struct {
	seq uint64
	tag []byte
	// ch receives the result once; it is buffered so the FSM never blocks on it.
	ch chan state.Result
}

func newDeliveries() *deliveries {
	d := &deliveries{wait: make(map[uint64]*delivery)}
	_, _ = rand.Read(d.nonce[:])
	return d
}

// add registers a new waiting Apply; remove it when the wait ends.
func (d *deliveries) add() *delivery {
	d.mu.Lock()
	d.next++
	w := &delivery{seq: d.next, ch: make(chan state.Result, 1)}
	d.wait[w.seq] = w
	d.mu.Unlock()
	w.tag = binary.BigEndian.AppendUint64(append(make([]byte, 0, tagLen), d.nonce[:]...), w.seq)
	return w
}

// remove forgets w; a result that arrives later is dropped.
func (d *deliveries) remove(w *delivery) {
	d.mu.Lock()
	delete(d.wait, w.seq)
	d.mu.Unlock()
}

// deliver hands res to the Apply that tagged its entry with tag, if it still waits.
func (d *deliveries) deliver(tag []byte, res state.Result) {
	if len(tag) != tagLen || [8]byte(tag[:8]) != d.nonce {
		return
	}
	seq := binary.BigEndian.Uint64(tag[8:])
	d.mu.Lock()
	w, ok := d.wait[seq]
	delete(d.wait, seq)
	d.mu.Unlock()
	if ok {
		w.ch <- res
	}
}
