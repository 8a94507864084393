package client

import (
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client/clienttest"
)

func paths(fis []FileInfo) []string {
	out := make([]string, len(fis))
	for i, fi := range fis {
		out[i] = fi.Path
	}
	return out
}

func TestClient_Namespace(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()

	d, err := cl.Mkdir(ctx, "/a/b/c", MkdirOptions{Recursive: true, Mode: 0o750})
	if err != nil || !d.IsDir || d.Mode != 0o750 || d.Owner != "tester" {
		t.Fatalf("Mkdir recursive = %+v, %v", d, err)
	}
	if _, err := cl.Mkdir(ctx, "/x/y", MkdirOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Mkdir without parent = %v, want ErrNotFound", err)
	}
	if _, err := cl.Mkdir(ctx, "/a", MkdirOptions{}); !errors.Is(err, ErrAlreadyExists) || !errors.Is(err, fs.ErrExist) {
		t.Errorf("Mkdir of an existing dir = %v, want ErrAlreadyExists", err)
	}
	if _, err := cl.Mkdir(ctx, "/a", MkdirOptions{AllowExists: true}); err != nil {
		t.Errorf("Mkdir AllowExists = %v", err)
	}
	writeFile(t, cl, "/a/f1", []byte("one"), CreateOptions{})
	writeFile(t, cl, "/a/b/f2", []byte("two"), CreateOptions{})

	list, err := cl.List(ctx, "/a", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/a/b", "/a/f1"}, paths(list)); diff != "" {
		t.Errorf("List /a (-want +got):\n%s", diff)
	}
	list, err = cl.List(ctx, "/a", ListOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/a/b", "/a/b/c", "/a/b/f2", "/a/f1"}, paths(list)); diff != "" {
		t.Errorf("List -R /a (-want +got):\n%s", diff)
	}
	if list, err := cl.List(ctx, "/a/f1", ListOptions{}); err != nil || len(list) != 1 || list[0].Length != 3 {
		t.Errorf("List of a file = %+v, %v", list, err)
	}

	st, err := cl.Stat(ctx, "/a/f1")
	if err != nil || st.IsDir || st.Length != 3 || !st.Complete || st.Owner != "tester" {
		t.Errorf("Stat = %+v, %v", st, err)
	}
	if _, err := cl.Stat(ctx, "/nope"); !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat missing = %v", err)
	}

	if fi, err := cl.Rename(ctx, "/a/f1", "/a/b/f1"); err != nil || fi.Path != "/a/b/f1" {
		t.Errorf("Rename = %+v, %v", fi, err)
	}
	if _, err := cl.Rename(ctx, "/a/b/f1", "/a/b/f2"); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("Rename onto an existing file = %v", err)
	}
	if _, err := cl.Rename(ctx, "/missing", "/z"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rename of a missing path = %v", err)
	}

	if _, err := cl.Delete(ctx, "/a", DeleteOptions{}); !errors.Is(err, ErrDirectoryNotEmpty) {
		t.Errorf("Delete non-empty = %v, want ErrDirectoryNotEmpty", err)
	}
	n, err := cl.Delete(ctx, "/a", DeleteOptions{Recursive: true})
	if err != nil || n != 5 {
		t.Errorf("Delete recursive = %d, %v; want 5 inodes", n, err)
	}
	if _, err := cl.Stat(ctx, "/a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after delete = %v", err)
	}
	if _, err := cl.Delete(ctx, "/", DeleteOptions{Recursive: true}); !errors.Is(err, ErrIsMountPoint) {
		t.Errorf("Delete / = %v, want ErrIsMountPoint", err)
	}
}

func TestClient_Create(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	fi := writeFile(t, cl, "/deep/down/f", []byte("x"), CreateOptions{
		Recursive: true, Pinned: true, TTL: time.Hour, TTLAction: sluicepb.TtlAction_TTL_ACTION_FREE,
		Mode: 0o600, BlockSize: 4096, Group: "staff",
	})
	want := FileInfo{Path: "/deep/down/f", Pinned: true, TTL: time.Hour, TTLAction: sluicepb.TtlAction_TTL_ACTION_FREE,
		Mode: 0o600, BlockSize: 4096, Owner: "tester", Group: "staff", Length: 1, Complete: true}
	got := FileInfo{Path: fi.Path, Pinned: fi.Pinned, TTL: fi.TTL, TTLAction: fi.TTLAction, Mode: fi.Mode,
		BlockSize: fi.BlockSize, Owner: fi.Owner, Group: fi.Group, Length: fi.Length, Complete: fi.Complete}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("created file (-want +got):\n%s", diff)
	}
	if _, err := cl.Create(ctx, "/deep/down/f", CreateOptions{}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("Create over a file = %v", err)
	}
	writeFile(t, cl, "/deep/down/f", []byte("xyz"), CreateOptions{Overwrite: true})
	if st, _ := cl.Stat(ctx, "/deep/down/f"); st.Length != 3 {
		t.Errorf("overwritten length = %d", st.Length)
	}
	if _, err := cl.Create(ctx, "/no/parent", CreateOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Create without parent = %v", err)
	}
	if _, err := cl.Create(ctx, "/deep/down/f/g", CreateOptions{}); !errors.Is(err, ErrNotADirectory) {
		t.Errorf("Create below a file = %v", err)
	}
	if _, err := cl.Create(ctx, "/x", CreateOptions{BlockSize: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative block size = %v", err)
	}
}

func TestClient_Attributes(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	writeFile(t, cl, "/d/f", []byte("x"), CreateOptions{Recursive: true})
	tests := []struct {
		name  string
		do    func() (FileInfo, error)
		check func(FileInfo) bool
	}{
		{"pin", func() (FileInfo, error) { return cl.Pin(ctx, "/d/f", false) }, func(fi FileInfo) bool { return fi.Pinned }},
		{"unpin", func() (FileInfo, error) { return cl.Unpin(ctx, "/d/f", false) }, func(fi FileInfo) bool { return !fi.Pinned }},
		{"ttl", func() (FileInfo, error) {
			return cl.SetTTL(ctx, "/d/f", 90*time.Second, sluicepb.TtlAction_TTL_ACTION_FREE, false)
		}, func(fi FileInfo) bool {
			return fi.TTL == 90*time.Second && fi.TTLAction == sluicepb.TtlAction_TTL_ACTION_FREE
		}},
		{"unset ttl", func() (FileInfo, error) { return cl.UnsetTTL(ctx, "/d/f", false) }, func(fi FileInfo) bool { return fi.TTL == 0 }},
		{"chmod", func() (FileInfo, error) { return cl.Chmod(ctx, "/d/f", 0o604, false) }, func(fi FileInfo) bool { return fi.Mode == 0o604 }},
		{"chown", func() (FileInfo, error) { return cl.Chown(ctx, "/d/f", "alice", "", false) }, func(fi FileInfo) bool { return fi.Owner == "alice" }},
		{"chgrp", func() (FileInfo, error) { return cl.Chown(ctx, "/d/f", "", "ops", false) }, func(fi FileInfo) bool { return fi.Owner == "alice" && fi.Group == "ops" }},
		{"recursive pin", func() (FileInfo, error) {
			if _, err := cl.Pin(ctx, "/d", true); err != nil {
				return FileInfo{}, err
			}
			return cl.Stat(ctx, "/d/f")
		}, func(fi FileInfo) bool { return fi.Pinned }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := tt.do()
			if err != nil || !tt.check(fi) {
				t.Fatalf("got %+v, %v", fi, err)
			}
		})
	}
	if _, err := cl.Chown(ctx, "/d/f", "", "", false); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Chown with nothing = %v", err)
	}
	if _, err := cl.SetTTL(ctx, "/d/f", -time.Second, 0, false); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative TTL = %v", err)
	}
	if _, err := cl.Pin(ctx, "/missing", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Pin missing = %v", err)
	}
}

func TestClient_Mounts(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	c.PutUFS("s3://bucket/data/x.csv", []byte("1,2,3\n"))
	c.PutUFS("s3://bucket/data/sub/y.csv", []byte("4\n"))
	m, err := cl.Mount(ctx, "/s3", "s3://bucket/data", MountOptions{ReadOnly: true, Options: map[string]string{"region": "r1"}})
	if err != nil || m.GetPath() != "/s3" || !m.GetReadOnly() || m.GetUfsType() != "s3" {
		t.Fatalf("Mount = %v, %v", m, err)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"mount over an existing path", second(cl.Mount(ctx, "/s3", "mem:///other", MountOptions{})), ErrAlreadyExists},
		{"overlapping UFS", second(cl.Mount(ctx, "/s3b", "s3://bucket/data/sub", MountOptions{})), ErrMountConflict},
		{"unknown scheme", second(cl.Mount(ctx, "/g", "gopher://x", MountOptions{})), ErrUnknownScheme},
		{"write under read-only", second(cl.Create(ctx, "/s3/new", CreateOptions{})), ErrReadOnly},
		{"unmount a plain dir", cl.Unmount(ctx, "/"), ErrNotAMountPoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("got %v, want %v", tt.err, tt.want)
			}
		})
	}
	list, err := cl.List(ctx, "/s3", ListOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/s3/sub", "/s3/sub/y.csv", "/s3/x.csv"}, paths(list)); diff != "" {
		t.Errorf("List of the mount (-want +got):\n%s", diff)
	}
	if got := readFile(t, cl, "/s3/x.csv", OpenOptions{}); string(got) != "1,2,3\n" {
		t.Errorf("read through the mount = %q", got)
	}
	table, err := cl.MountTable(ctx, true)
	if err != nil || len(table) != 2 || table[0].GetPath() != "/" || table[1].GetOptions()["region"] != "r1" {
		t.Errorf("MountTable = %v, %v", table, err)
	}
	if table, _ := cl.MountTable(ctx, false); table[1].GetOptions() != nil {
		t.Errorf("options returned without include_options")
	}
	if err := cl.Unmount(ctx, "/s3"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Stat(ctx, "/s3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after unmount = %v", err)
	}
	if _, ok := c.UFS("s3://bucket/data/x.csv"); !ok {
		t.Error("unmount touched the UFS")
	}
}

func second[T any](_ T, err error) error { return err }

func TestClient_PersistFreeLocations(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	data := payload(2*testBlockSize+1, 5)
	writeFile(t, cl, "/p/f", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize, Recursive: true})

	if _, err := cl.Free(ctx, "/p/f", FreeOptions{}); !errors.Is(err, ErrNotPersisted) {
		t.Errorf("Free of a MUST_CACHE file = %v, want ErrNotPersisted", err)
	}
	loc, err := cl.BlockLocations(ctx, "/p/f")
	if err != nil || len(loc.GetBlocks()) != 3 || len(loc.GetBlocks()[2].GetLocations()) != 1 || loc.GetBlocks()[0].GetUfs() != nil {
		t.Fatalf("BlockLocations before persist = %v, %v", loc, err)
	}
	if b := loc.GetBlocks()[2]; b.GetOffset() != 2*testBlockSize || b.GetBlock().GetLength() != 1 {
		t.Errorf("last block = %v", b)
	}
	resp, err := cl.Persist(ctx, "/p", PersistOptions{Recursive: true, Wait: true})
	if err != nil || len(resp.GetScheduledPaths()) != 1 {
		t.Fatalf("Persist = %v, %v", resp, err)
	}
	if resp, _ := cl.Persist(ctx, "/p/f", PersistOptions{}); resp.GetAlreadyPersisted() != 1 {
		t.Errorf("second Persist = %v", resp)
	}
	fr, err := cl.Free(ctx, "/p", FreeOptions{Recursive: true})
	if err != nil || fr.GetFreedFiles() != 1 || fr.GetFreedBlocks() != 3 {
		t.Fatalf("Free = %v, %v", fr, err)
	}
	loc, err = cl.BlockLocations(ctx, "/p/f")
	if err != nil || len(loc.GetBlocks()[0].GetLocations()) != 0 || loc.GetBlocks()[0].GetUfs() == nil {
		t.Fatalf("BlockLocations after free = %v, %v", loc, err)
	}
	if st, _ := cl.Stat(ctx, "/p/f"); st.InMemoryPercent != 0 || st.Persistence != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
		t.Errorf("Stat after free = %+v", st)
	}
	// The freed file still reads, from the UFS.
	if got := readFile(t, cl, "/p/f", OpenOptions{ReadType: ReadNoCache}); string(got) != string(data) {
		t.Error("freed file read back wrong")
	}
}

func TestClient_ClusterInfo(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{}, {Host: "other"}}})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	writeFile(t, cl, "/f", payload(10, 1), CreateOptions{WriteType: WriteMustCache})
	execs, err := cl.Executors(ctx, false)
	if err != nil || len(execs) != 2 || execs[1].GetHost() != "other" {
		t.Fatalf("Executors = %v, %v", execs, err)
	}
	rep, err := cl.Report(ctx, ReportOptions{})
	if err != nil || rep.GetLiveExecutors() != 2 || rep.GetFileCount() != 1 || rep.GetPersistence().GetNotPersisted() != 1 {
		t.Fatalf("Report = %v, %v", rep, err)
	}
	c.LoseExecutor(c.Executors()[0])
	c.LoseExecutor(c.Executors()[1])
	rep, err = cl.Report(ctx, ReportOptions{IncludeLostExecutors: true})
	if err != nil || rep.GetLostExecutors() != 2 || len(rep.GetLostFiles()) != 1 || rep.GetLostFiles()[0].GetPath() != "/f" {
		t.Fatalf("Report after losing the executors = %v, %v", rep, err)
	}
	info, err := cl.MasterInfo(ctx)
	if err != nil || !info.GetIsLeader() || info.GetLeaderAddress() != c.Address() {
		t.Errorf("MasterInfo = %v, %v", info, err)
	}
}
