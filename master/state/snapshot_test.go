package state

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// randomOps applies n random entries (many of them fail, as they would in a master) and
// returns them, so they can be replayed elsewhere.
func randomOps(f *fixture, rng *rand.Rand, n int) {
	f.t.Helper()
	names := []string{"a", "b", "c", "d"}
	randPath := func() string {
		p := ""
		for range 1 + rng.IntN(3) {
			p += "/" + names[rng.IntN(len(names))]
		}
		return p
	}
	existing := func() Inode {
		var all []Inode
		_ = f.s.View().Walk("/", func(in Inode) error { all = append(all, in); return nil })
		return all[rng.IntN(len(all))]
	}
	for range n {
		var typ EntryType
		var msg proto.Message
		switch rng.IntN(11) {
		case 0, 1:
			e := f.createFileEntry(randPath())
			e.TtlMs, e.Pinned = int64(rng.IntN(3))*100, rng.IntN(2) == 0
			typ, msg = EntryCreateFile, e
		case 2:
			typ, msg = EntryCompleteFile, &sluicepb.CompleteFileEntry{Id: existing().ID, Length: int64(rng.IntN(300)), TimeMs: f.now}
		case 3:
			typ, msg = EntryCreateDirectory, f.mkdirEntry(randPath())
		case 4:
			typ, msg = EntryDelete, &sluicepb.DeleteEntry{Path: existing().Path, Recursive: rng.IntN(2) == 0, TimeMs: f.now}
		case 5:
			typ, msg = EntryRename, &sluicepb.RenameEntry{Src: existing().Path, Dst: randPath(), TimeMs: f.now}
		case 6:
			typ, msg = EntrySetAttribute, &sluicepb.SetAttributeEntry{Path: existing().Path, TtlMs: proto.Int64(int64(rng.IntN(2)) * 50),
				Owner: proto.String(names[rng.IntN(4)]), Recursive: rng.IntN(2) == 0, TimeMs: f.now}
		case 7:
			in := existing()
			typ, msg = EntrySetPersistenceState, &sluicepb.SetPersistenceStateEntry{Id: in.ID,
				State: sluicepb.JournalPersistenceState(rng.IntN(4)), UfsPath: in.Path, TimeMs: f.now}
		case 8:
			p := randPath()
			typ, msg = EntryMount, &sluicepb.MountEntry{Path: p, UfsUri: "s3://bucket" + p, ReadOnly: rng.IntN(2) == 0,
				Ids: f.reserve(p), Options: map[string]string{"n": p, "a": "1", "z": "2", "k": "3"}, TimeMs: f.now}
		case 9:
			typ, msg = EntryUnmount, &sluicepb.UnmountEntry{Path: existing().Path}
		case 10:
			r, _ := f.ids.Reserve(2)
			dir := existing().Path
			typ, msg = EntryLoadMetadata, &sluicepb.LoadMetadataEntry{TimeMs: f.now, LoadedDirs: []string{dir}, Inodes: []*sluicepb.LoadedInode{
				{Id: r.First, Path: joinPath(dir, "u"), Directory: true},
				{Id: r.First + 1, Path: joinPath(dir, "u/v"), Length: int64(rng.IntN(200)), BlockSize: blockSize},
			}}
		}
		f.apply(typ, msg)
	}
}

func snapshotBytes(t testing.TB, v *View) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := v.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestState_SnapshotRoundTrip(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			f := newFixture(t)
			randomOps(f, rng, 400)
			v := f.s.View()
			if v.Counts().Files == 0 {
				t.Fatal("random operations created no file")
			}
			snap := snapshotBytes(t, v)
			restored := New()
			if err := restored.Restore(bytes.NewReader(snap)); err != nil {
				t.Fatal(err)
			}
			rv := restored.View()
			if diff := cmp.Diff(dump(t, v), dump(t, rv)); diff != "" {
				t.Fatalf("restored state differs (-want +got):\n%s", diff)
			}
			if rv.AppliedIndex() != v.AppliedIndex() {
				t.Errorf("applied index %d, want %d", rv.AppliedIndex(), v.AppliedIndex())
			}
			checkInvariants(t, rv)
			if !bytes.Equal(snap, snapshotBytes(t, rv)) {
				t.Error("snapshot of the restored state differs")
			}
			// Both go on alike: the indexes were rebuilt, not just the tree.
			g := &fixture{t: t, s: restored, ids: NewIDAllocator(rv.NextID()), now: f.now, index: f.index}
			f.ids = NewIDAllocator(v.NextID())
			randomOps(f, rand.New(rand.NewPCG(seed, 2)), 100)
			randomOps(g, rand.New(rand.NewPCG(seed, 2)), 100)
			if diff := cmp.Diff(dump(t, f.s.View()), dump(t, g.s.View())); diff != "" {
				t.Fatalf("states diverge after restore (-original +restored):\n%s", diff)
			}
		})
	}
}

func TestState_RestoreRejectsCorrupt(t *testing.T) {
	f := newTree(t)
	snap := snapshotBytes(t, f.s.View())
	records := func() []*sluicepb.SnapshotRecord {
		var out []*sluicepb.SnapshotRecord
		r := bytes.NewReader(snap)
		for r.Len() > 0 {
			rec := new(sluicepb.SnapshotRecord)
			if err := protodelim.UnmarshalFrom(r, rec); err != nil {
				t.Fatal(err)
			}
			out = append(out, rec)
		}
		return out
	}
	write := func(recs []*sluicepb.SnapshotRecord) []byte {
		var buf bytes.Buffer
		for _, r := range recs {
			if _, err := protodelim.MarshalTo(&buf, r); err != nil {
				t.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	edit := func(fn func([]*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord) []byte {
		return write(fn(records()))
	}
	tests := map[string][]byte{
		"empty":     nil,
		"truncated": snap[:len(snap)/2],
		"trailing":  append(append([]byte(nil), snap...), 0),
		"no header": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord { return r[1:] }),
		"version": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			r[0].GetHeader().Version = 9
			return r
		}),
		"no footer": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord { return r[:len(r)-1] }),
		"child before parent": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			r[2], r[len(r)-2] = r[len(r)-2], r[2]
			return r
		}),
		"inode twice": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			return append(r[:3], r[2:]...)
		}),
		"ID above next": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			r[0].GetHeader().NextId = 3
			return r
		}),
		"unknown record": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			return append(r[:2], append([]*sluicepb.SnapshotRecord{{}}, r[2:]...)...)
		}),
		"mount twice": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			r[len(r)-1].GetFooter().MountCount++
			return append(r[:len(r)-1], r[len(r)-2], r[len(r)-1])
		}),
		"bad count": edit(func(r []*sluicepb.SnapshotRecord) []*sluicepb.SnapshotRecord {
			r[len(r)-1].GetFooter().InodeCount++
			return r
		}),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			s := newTree(t)
			before := dump(t, s.s.View())
			if err := s.s.Restore(bytes.NewReader(b)); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("Restore = %v, want ErrCorruptSnapshot", err)
			}
			if diff := cmp.Diff(before, dump(t, s.s.View())); diff != "" {
				t.Errorf("failed Restore changed the state:\n%s", diff)
			}
		})
	}
}

func TestIDAllocator(t *testing.T) {
	a := NewIDAllocator(0)
	r, err := a.Reserve(3)
	if err != nil || r.First != FirstID || r.Count != 3 {
		t.Fatalf("Reserve(3) = %v, %v", r, err)
	}
	if r, _ := a.ReserveForPath("/a/b"); r.First != FirstID+3 || r.Count != 2 {
		t.Errorf("ReserveForPath = %v", r)
	}
	if r, _ := a.ReserveForPath("/"); r.Count != 1 {
		t.Errorf("ReserveForPath(/) = %v", r)
	}
	for _, n := range []int{0, -1, 1<<20 + 1} {
		if _, err := a.Reserve(n); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Reserve(%d) = %v", n, err)
		}
	}
	end := NewIDAllocator(MaxID)
	if _, err := end.Reserve(1); err != nil {
		t.Errorf("last ID: %v", err)
	}
	if _, err := end.Reserve(1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("past the last ID: %v", err)
	}
}

func FuzzReadSnapshot(f *testing.F) {
	f.Add(snapshotBytes(f, newTree(f).s.View()))
	f.Add(snapshotBytes(f, New().View()))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ReadSnapshot(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("ReadSnapshot error %v does not wrap ErrCorruptSnapshot", err)
			}
			return
		}
		// What was accepted is a consistent state that writes out and reads back alike.
		checkInvariants(t, v)
		again, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, v)))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if diff := cmp.Diff(dump(t, v), dump(t, again)); diff != "" {
			t.Fatalf("re-read differs:\n%s", diff)
		}
	})
}
