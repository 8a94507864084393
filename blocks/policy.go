package blocks

import (
	"container/list"
	"math"
	"sort"
)

// allocator picks, among the directories of one tier, the one to place a block in.
// avail[i] is the space directory i can offer; pick returns an index with
// avail[i] >= need, or -1. Calls are serialized by the Store's mutex.
type allocator interface {
	pick(tier int, avail []int64, need int64) int
}

func newAllocator(name string) allocator {
	switch name {
	case AllocatorRoundRobin:
		return &roundRobin{next: map[int]int{}}
	case AllocatorGreedy:
		return greedy{}
	}
	return maxFree{}
}

// maxFree picks the directory with the most available space.
type maxFree struct{}

func (maxFree) pick(_ int, avail []int64, need int64) int {
	best := -1
	for i, a := range avail {
		if a >= need && (best < 0 || a > avail[best]) {
			best = i
		}
	}
	return best
}

// greedy picks the first directory with enough space.
type greedy struct{}

func (greedy) pick(_ int, avail []int64, need int64) int {
	for i, a := range avail {
		if a >= need {
			return i
		}
	}
	return -1
}

// roundRobin picks directories of a tier in turn, skipping those without enough space.
type roundRobin struct {
	next map[int]int // tier index → directory to try first
}

func (r *roundRobin) pick(tier int, avail []int64, need int64) int {
	n := len(avail)
	start := r.next[tier] % max(n, 1)
	for k := range n {
		i := (start + k) % n
		if avail[i] >= need {
			r.next[tier] = i + 1
			return i
		}
	}
	return -1
}

// evictor keeps the committed blocks in eviction order. Calls are serialized by the
// Store's mutex.
type evictor interface {
	// add starts tracking a block, as if just accessed.
	add(id ID)
	// remove stops tracking a block; unknown IDs are ignored.
	remove(id ID)
	// access records a read of a tracked block.
	access(id ID)
	// order returns the tracked blocks, the first to evict first.
	order() []ID
}

func newEvictor(name string) evictor {
	if name == EvictorLRFU {
		return &lrfu{entries: map[ID]*lrfuEntry{}}
	}
	return &lru{elems: map[ID]*list.Element{}}
}

// lru evicts the least recently used block first.
type lru struct {
	l     list.List // front: least recently used
	elems map[ID]*list.Element
}

func (e *lru) add(id ID) {
	if el, ok := e.elems[id]; ok {
		e.l.MoveToBack(el)
		return
	}
	e.elems[id] = e.l.PushBack(id)
}

func (e *lru) remove(id ID) {
	if el, ok := e.elems[id]; ok {
		e.l.Remove(el)
		delete(e.elems, id)
	}
}

func (e *lru) access(id ID) {
	if el, ok := e.elems[id]; ok {
		e.l.MoveToBack(el)
	}
}

func (e *lru) order() []ID {
	ids := make([]ID, 0, len(e.elems))
	for el := e.l.Front(); el != nil; el = el.Next() {
		ids = append(ids, el.Value.(ID))
	}
	return ids
}

// LRFU parameters, as in Alluxio's LRFUEvictor: the weight of an access made d logical
// steps ago is (1/lrfuAttenuation)^(lrfuStep*d). Step 0 makes it LFU-like, large steps LRU-like.
const (
	lrfuStep        = 0.25
	lrfuAttenuation = 2.0
)

// lrfu evicts the block with the lowest combined recency and frequency (CRF) first.
type lrfu struct {
	clock   uint64 // logical time, one step per access or add
	entries map[ID]*lrfuEntry
}

type lrfuEntry struct {
	crf  float64 // CRF as of last
	last uint64
}

func lrfuWeight(steps uint64) float64 {
	return math.Pow(1/lrfuAttenuation, lrfuStep*float64(steps))
}

func (e *lrfu) add(id ID) {
	if _, ok := e.entries[id]; ok {
		e.access(id)
		return
	}
	e.clock++
	e.entries[id] = &lrfuEntry{crf: 1, last: e.clock}
}

func (e *lrfu) remove(id ID) { delete(e.entries, id) }

func (e *lrfu) access(id ID) {
	en, ok := e.entries[id]
	if !ok {
		return
	}
	e.clock++
	en.crf = en.crf*lrfuWeight(e.clock-en.last) + 1
	en.last = e.clock
}

func (e *lrfu) order() []ID {
	type scored struct {
		id    ID
		score float64
		last  uint64
	}
	s := make([]scored, 0, len(e.entries))
	for id, en := range e.entries {
		s = append(s, scored{id, en.crf * lrfuWeight(e.clock-en.last), en.last})
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].score != s[j].score {
			return s[i].score < s[j].score
		}
		if s[i].last != s[j].last {
			return s[i].last < s[j].last
		}
		return s[i].id < s[j].id
	})
	ids := make([]ID, len(s))
	for i := range s {
		ids[i] = s[i].id
	}
	return ids
}
