package state

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestState_Mount(t *testing.T) {
	mount := func(p, uri string, ro bool) func(*fixture) (EntryType, proto.Message) {
		return func(f *fixture) (EntryType, proto.Message) {
			return EntryMount, &sluicepb.MountEntry{Path: p, UfsUri: uri, ReadOnly: ro, Ids: f.reserve(p),
				Options: map[string]string{"k": "v"}, TimeMs: f.now}
		}
	}
	unmount := func(p string) func(*fixture) (EntryType, proto.Message) {
		return entry(EntryUnmount, &sluicepb.UnmountEntry{Path: p})
	}
	runCases(t, []opCase{
		{name: "new directory", entry: mount("/s3", "s3://bucket/prefix", false), check: func(t *testing.T, f *fixture, r Result) {
			in := f.get("/s3")
			if !in.MountPoint || in.PersistenceState != Persisted || in.ChildrenLoaded || in.UFSPath != "/" {
				t.Errorf("mount point %+v", in)
			}
			if m := f.s.View().Mounts(); len(m) != 4 || m[3].Path != "/s3" || m[3].ID != in.ID || m[3].Options["k"] != "v" {
				t.Errorf("mounts %+v", m)
			}
		}},
		{name: "empty directory", entry: mount("/e", "s3://b", false), check: func(t *testing.T, f *fixture, r Result) {
			if in := f.get("/e"); !in.MountPoint || in.ID != r.Inode.ID {
				t.Errorf("mount point %+v", in)
			}
		}},
		{name: "nested", entry: mount("/m/inner", "s3://b", false)},
		{name: "sibling URI", entry: mount("/x", "file:///rox", false)},
		{name: "mount point", entry: mount("/m", "s3://b", false), want: ErrMountConflict},
		{name: "root again", entry: mount("/", "s3://b", false), want: ErrMountConflict},
		{name: "same URI", entry: mount("/x", "file:///m/", false), want: ErrMountConflict},
		{name: "URI inside another", entry: mount("/x", "file:///m/sub", false), want: ErrMountConflict},
		{name: "URI around another", entry: mount("/x", "file:///", false), want: ErrMountConflict},
		{name: "non-empty directory", entry: mount("/a", "s3://b", false), want: ErrDirectoryNotEmpty},
		{name: "file", entry: mount("/a/f", "s3://b", false), want: ErrExists},
		{name: "missing parent", entry: mount("/nope/x", "s3://b", false), want: ErrNotFound},
		{name: "under read-only", entry: mount("/ro/inner", "s3://b", false), want: ErrReadOnly},
		{name: "no scheme", entry: mount("/x", "bucket/x", false), want: ErrInvalidArgument},
		{name: "bad path", entry: mount("x", "s3://b", false), want: ErrInvalidPath},
		{name: "unmount", entry: unmount("/m"), check: func(t *testing.T, f *fixture, r Result) {
			if f.exists("/m") || f.exists("/m/y") || len(r.Removed) != 2 || len(f.s.View().Mounts()) != 2 {
				t.Errorf("removed %v, mounts %v", paths(r.Removed), f.s.View().Mounts())
			}
		}},
		{name: "unmount root", entry: unmount("/"), want: ErrInvalidArgument},
		{name: "unmount a directory", entry: unmount("/a"), want: ErrInvalidArgument},
		{name: "unmount missing", entry: unmount("/nope"), want: ErrNotFound},
		{name: "unmount with a mount below", setup: func(f *fixture) { f.mount("/m/inner", "s3://b", false) },
			entry: unmount("/m"), want: ErrMountConflict},
	})
}

func TestState_MountBeforeRoot(t *testing.T) {
	s := New()
	data, err := Encode(EntryMount, &sluicepb.MountEntry{Path: "/x", UfsUri: "s3://b", Ids: &sluicepb.JournalIdRange{First: FirstID, Count: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Apply(1, data); !errors.Is(r.Err, ErrMountConflict) {
		t.Errorf("mount before / = %v, want ErrMountConflict", r.Err)
	}
	if s.View().HasRootMount() {
		t.Error("HasRootMount before the root mount")
	}
	if _, err := s.View().Resolve("/x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve without mounts = %v, want ErrNotFound", err)
	}
	f := newFixture(t)
	if !f.s.View().HasRootMount() {
		t.Error("no root mount")
	}
	if root := f.get("/"); root.Owner != "root" || !root.MountPoint || root.PersistenceState != Persisted {
		t.Errorf("root %+v", root)
	}
}

func TestView_Resolve(t *testing.T) {
	f := newTree(t)
	f.mount("/m/inner", "s3://bucket/pre", false)
	tests := []struct {
		path string
		want Resolution
	}{
		{"/", Resolution{MountPoint: "/", MountID: RootID, UFSURI: "file:///ufs", UFSPath: "/"}},
		{"/a/f", Resolution{MountPoint: "/", MountID: RootID, UFSURI: "file:///ufs", UFSPath: "/a/f"}},
		{"/not/yet/there", Resolution{MountPoint: "/", MountID: RootID, UFSURI: "file:///ufs", UFSPath: "/not/yet/there"}},
		{"/m", Resolution{MountPoint: "/m", UFSURI: "file:///m", UFSPath: "/"}},
		{"/m/y", Resolution{MountPoint: "/m", UFSURI: "file:///m", UFSPath: "/y"}},
		{"/mx", Resolution{MountPoint: "/", MountID: RootID, UFSURI: "file:///ufs", UFSPath: "/mx"}},
		{"/m/inner/a/b", Resolution{MountPoint: "/m/inner", UFSURI: "s3://bucket/pre", UFSPath: "/a/b"}},
		{"/ro/x/", Resolution{MountPoint: "/ro", UFSURI: "file:///ro", UFSPath: "/x", ReadOnly: true}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := f.s.View().Resolve(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.MountID == 0 {
				tt.want.MountID = f.get(tt.want.MountPoint).ID
			}
			if diff := cmp.Diff(tt.want, got, cmpOptsEmptyMap); diff != "" {
				t.Errorf("Resolve(%s) (-want +got):\n%s", tt.path, diff)
			}
		})
	}
	if _, err := f.s.View().Resolve("rel"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Resolve(rel) = %v", err)
	}
}

// cmpOptsEmptyMap treats nil and empty maps alike.
var cmpOptsEmptyMap = cmp.FilterValues(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 },
	cmp.Ignore())
