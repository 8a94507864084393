package state

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

// opCase is one entry applied to newTree.
type opCase struct {
	name  string
	setup func(f *fixture)
	entry func(f *fixture) (EntryType, proto.Message)
	want  error // nil: the entry must succeed
	check func(t *testing.T, f *fixture, r Result)
}

// dumped is everything a View holds, for comparisons.
type dumped struct {
	Inodes []Inode
	Mounts []Mount
	NextID uint64
	Counts Counts
}

func dump(t testing.TB, v *View) dumped {
	t.Helper()
	d := dumped{Mounts: v.Mounts(), NextID: v.NextID(), Counts: v.Counts()}
	if err := v.Walk("/", func(in Inode) error { d.Inodes = append(d.Inodes, in); return nil }); err != nil {
		t.Fatal(err)
	}
	return d
}

func runCases(t *testing.T, cases []opCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTree(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			before := dump(t, f.s.View())
			typ, msg := tc.entry(f)
			r := f.apply(typ, msg)
			if !errors.Is(r.Err, tc.want) || (tc.want == nil) != (r.Err == nil) {
				t.Fatalf("apply %v: err = %v, want %v", typ, r.Err, tc.want)
			}
			if r.Index != f.index || f.s.View().AppliedIndex() != f.index {
				t.Errorf("index: result %d, view %d, want %d", r.Index, f.s.View().AppliedIndex(), f.index)
			}
			if r.Err != nil {
				if diff := cmp.Diff(before, dump(t, f.s.View())); diff != "" {
					t.Errorf("failed entry changed the state (-before +after):\n%s", diff)
				}
				return
			}
			if tc.check != nil {
				tc.check(t, f, r)
			}
			checkInvariants(t, f.s.View())
		})
	}
}

// checkInvariants checks the indexes of a View against its inodes.
func checkInvariants(t testing.TB, v *View) {
	t.Helper()
	var files, dirs int
	ttl := map[uint64]bool{}
	err := v.Walk("/", func(in Inode) error {
		if in.Directory {
			dirs++
		} else {
			files++
		}
		byID, err := v.GetByID(in.ID)
		if err != nil || byID.Path != in.Path {
			t.Errorf("GetByID(%d) = %q, %v; want %q", in.ID, byID.Path, err, in.Path)
		}
		if in.ID >= v.NextID() && in.ID != RootID {
			t.Errorf("inode %d at or above next ID %d", in.ID, v.NextID())
		}
		if _, ok := in.ExpiryMs(); ok {
			ttl[in.ID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Counts(); c.Files != files || c.Directories != dirs {
		t.Errorf("Counts() = %+v, walk found %d files and %d directories", c, files, dirs)
	}
	for in := range v.Expired(math.MaxInt64) {
		if !ttl[in.ID] {
			t.Errorf("Expired lists %d (%s), which has no TTL", in.ID, in.Path)
		}
		delete(ttl, in.ID)
	}
	if len(ttl) != 0 {
		t.Errorf("inodes with a TTL missing from Expired: %v", ttl)
	}
	n := 0
	for _, s := range []PersistenceState{NotPersisted, ToBePersisted, Persisted, Lost} {
		for in := range v.FilesByPersistence(s) {
			n++
			if in.PersistenceState != s || in.Directory {
				t.Errorf("FilesByPersistence(%v) yields %s in %v", s, in.Path, in.PersistenceState)
			}
		}
	}
	if n != files {
		t.Errorf("FilesByPersistence yields %d files, want %d", n, files)
	}
}
