package state

import (
	"errors"
	"io/fs"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestView_Expired(t *testing.T) {
	f := newFixture(t)
	ttl := func(p string, created, ttl int64) {
		e := f.createFileEntry(p)
		e.TimeMs, e.TtlMs = created, ttl
		f.must(EntryCreateFile, e)
	}
	ttl("/a", 100, 50)  // expires at 150
	ttl("/b", 100, 10)  // 110
	ttl("/c", 200, 0)   // never
	ttl("/d", 120, 100) // 220
	f.mkdir("/dir")
	f.must(EntrySetAttribute, &sluicepb.SetAttributeEntry{Path: "/dir", TtlMs: proto.Int64(1)}) // dir created at f.now
	dirExpiry := f.get("/dir").CreationTimeMs + 1
	tests := []struct {
		now  int64
		want []string
	}{
		{0, nil},
		{109, nil},
		{110, []string{"/b"}},
		{150, []string{"/b", "/a"}},
		{219, []string{"/b", "/a"}},
		{10_000_000, []string{"/b", "/a", "/d", "/dir"}},
	}
	if dirExpiry <= 220 {
		t.Fatalf("fixture time %d too early", dirExpiry)
	}
	for _, tt := range tests {
		var got []string
		for in := range f.s.View().Expired(tt.now) {
			got = append(got, in.Path)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Expired(%d) = %v, want %v", tt.now, got, tt.want)
		}
	}
	// Stopping early works.
	for range f.s.View().Expired(1 << 40) {
		break
	}
}

func TestView_ListWalk(t *testing.T) {
	f := newTree(t)
	v := f.s.View()
	list, err := v.List("/a")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := paths(list), []string{"/a/f", "/a/g", "/a/sub"}; !slices.Equal(got, want) {
		t.Errorf("List(/a) = %v, want %v", got, want)
	}
	if list, err := v.List("/a/f"); err != nil || len(list) != 1 || list[0].Path != "/a/f" {
		t.Errorf("List(file) = %v, %v", list, err)
	}
	if _, err := v.List("/nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("List(missing) = %v", err)
	}
	if _, err := v.Get("/a/f/x"); !errors.Is(err, ErrNotDirectory) {
		t.Errorf("Get(under a file) = %v", err)
	}
	var walked []string
	err = v.Walk("/", func(in Inode) error {
		walked = append(walked, in.Path)
		if in.Path == "/a/sub" || in.Path == "/ro" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/a", "/a/f", "/a/g", "/a/sub", "/e", "/m", "/m/y", "/ro"}
	if !slices.Equal(walked, want) {
		t.Errorf("Walk = %v, want %v", walked, want)
	}
	n := 0
	if err := v.Walk("/", func(Inode) error { n++; return fs.SkipAll }); err != nil || n != 1 {
		t.Errorf("SkipAll: %d calls, %v", n, err)
	}
	stop := errors.New("stop")
	if err := v.Walk("/a", func(Inode) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Walk error = %v", err)
	}
	if c := v.Counts(); c != (Counts{Files: 5, Directories: 6, Mounts: 3}) {
		t.Errorf("Counts() = %+v", c)
	}
}

func TestView_FileOfBlock(t *testing.T) {
	f := newTree(t)
	file := f.get("/a/f") // 100 bytes, 2 blocks
	tests := []struct {
		block uint64
		want  error
	}{
		{sluicepb.NewBlockID(file.ID, 0), nil},
		{sluicepb.NewBlockID(file.ID, 1), nil},
		{sluicepb.NewBlockID(file.ID, 2), ErrNotFound},
		{sluicepb.NewBlockID(f.get("/a/g").ID, 0), ErrNotFound}, // incomplete: no blocks yet
		{sluicepb.NewBlockID(f.get("/a").ID, 0), ErrNotFound},
		{sluicepb.NewBlockID(MaxID, 0), ErrNotFound},
	}
	for _, tt := range tests {
		got, err := f.s.View().FileOfBlock(tt.block)
		if !errors.Is(err, tt.want) || (err == nil && got.ID != file.ID) {
			t.Errorf("FileOfBlock(%d) = %d, %v; want %v", tt.block, got.ID, err, tt.want)
		}
	}
}

// TestState_ConcurrentReads queries while applying (run with -race): a View never
// changes under a reader.
func TestState_ConcurrentReads(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				v := f.s.View()
				before := v.Counts()
				n := 0
				_ = v.Walk("/", func(Inode) error { n++; return nil })
				if n != before.Files+before.Directories || v.Counts() != before {
					t.Errorf("view changed while read: walked %d, counts %+v", n, before)
					return
				}
			}
		})
	}
	for i := range 300 {
		in := f.file("/d/"+string(rune('a'+i%26))+"/f"+string(rune('0'+i/26)), int64(i))
		if i%3 == 0 {
			f.must(EntryDelete, &sluicepb.DeleteEntry{Path: in.Path})
		}
	}
	close(done)
	wg.Wait()
}

func TestView_Loaded(t *testing.T) {
	f := newFixture(t)
	f.file("/a/b/f", 0)
	f.mount("/m", "file:///m", false)
	before := f.s.View()
	f.must(EntryLoadMetadata, &sluicepb.LoadMetadataEntry{TimeMs: f.now, LoadedDirs: []string{"/"}})
	v := f.s.View()
	tests := []struct {
		view   *View
		p      string
		target bool
		want   bool
	}{
		{before, "/a/b/f", false, false}, // "/" (a mount point) was not loaded yet
		{v, "/", false, true},
		{v, "/", true, true},
		{v, "/a/b/f", false, true},
		{v, "/a/b/f", true, true}, // a file target has nothing to list
		{v, "/a/b", true, true},   // created directories are loaded
		{v, "/m", false, true},
		{v, "/m", true, false}, // the mount point was never listed
		{v, "/m/x", false, false},
		{v, "/a/missing", false, false},
		{v, "/a/b/f/g", false, false}, // below a file
		{v, "/a//b", false, false},    // not clean
		{v, "a/b", false, false},
		{v, "", false, false},
	}
	for _, tt := range tests {
		if got := tt.view.Loaded(tt.p, tt.target); got != tt.want {
			t.Errorf("Loaded(%q, %v) = %v, want %v", tt.p, tt.target, got, tt.want)
		}
	}
}
