package state

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

func TestIDKeys(t *testing.T) {
	ids := []uint64{0, 1, 15, 16, 255, 256, RootID, FirstID, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for i, id := range ids {
		k := inodeKey(id)
		if len(k) != idKeyLen {
			t.Fatalf("inodeKey(%d) has %d bytes", id, len(k))
		}
		for _, d := range k {
			if d > 0xf {
				t.Fatalf("inodeKey(%d) = %x: digit above 15", id, k)
			}
		}
		if got := parseID(k); got != id {
			t.Errorf("parseID(inodeKey(%d)) = %d", id, got)
		}
		if got := parseID(persistKey(Persisted, id)[1:]); got != id {
			t.Errorf("persistKey round trip of %d = %d", id, got)
		}
		if got := parseID(ttlKey(-5, id)[8:]); got != id {
			t.Errorf("ttlKey round trip of %d = %d", id, got)
		}
		// Keys sort as the IDs do, and a parent's child keys sort together by name.
		if i > 0 {
			prev := ids[i-1]
			if bytes.Compare(inodeKey(prev), k) >= 0 {
				t.Errorf("inodeKey(%d) does not sort before inodeKey(%d)", prev, id)
			}
			if bytes.Compare(childKey(prev, "zzz"), childKey(id, "")) >= 0 {
				t.Errorf("children of %d do not sort before those of %d", prev, id)
			}
		}
		if !bytes.HasPrefix(childKey(id, "a/b"), k) || bytes.Compare(childKey(id, "a"), childKey(id, "b")) >= 0 {
			t.Errorf("childKey(%d, …) not ordered by name under the parent's key", id)
		}
	}
}
