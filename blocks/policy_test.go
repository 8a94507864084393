package blocks

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAllocators(t *testing.T) {
	avail := []int64{10, 50, 30, 50}
	tests := []struct {
		name  string
		alloc allocator
		need  []int64
		want  []int
	}{
		{"maxfree", newAllocator(AllocatorMaxFree), []int64{5, 40, 60}, []int{1, 1, -1}},
		{"greedy", newAllocator(AllocatorGreedy), []int64{5, 20, 40, 60}, []int{0, 1, 1, -1}},
		{"roundrobin", newAllocator(AllocatorRoundRobin), []int64{5, 5, 5, 5, 5, 40, 60}, []int{0, 1, 2, 3, 0, 1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, n := range tt.need {
				got = append(got, tt.alloc.pick(0, avail, n))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("picks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLRU_Order(t *testing.T) {
	e := newEvictor(EvictorLRU)
	for id := ID(1); id <= 4; id++ {
		e.add(id)
	}
	e.access(2)
	e.access(1)
	e.remove(3)
	e.access(99) // unknown: ignored
	if diff := cmp.Diff([]ID{4, 2, 1}, e.order()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestLRFU_FrequencyAndRecency(t *testing.T) {
	e := newEvictor(EvictorLRFU)
	e.add(1)
	e.add(2)
	e.add(3)
	// Block 1 is read often, block 3 once but last; block 2 never again.
	for range 5 {
		e.access(1)
	}
	e.access(3)
	if diff := cmp.Diff([]ID{2, 3, 1}, e.order()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	e.remove(1)
	if diff := cmp.Diff([]ID{2, 3}, e.order()); diff != "" {
		t.Errorf("order after remove (-want +got):\n%s", diff)
	}
}
