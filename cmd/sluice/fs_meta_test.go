package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/client/clienttest"
)

func TestFS_ChmodChown(t *testing.T) {
	newCluster(t)
	seed(t)
	runCases(t, []cliCase{
		{name: "chmod", args: []string{"fs", "chmod", "600", "/hello"}},
		{name: "chmod result", args: []string{"fs", "ls", "/hello"}, match: `^-rw------- `},
		{name: "chmod recursive", args: []string{"fs", "chmod", "-R", "0750", "/dir"}},
		{name: "chmod recursive result", args: []string{"fs", "stat", "-f", "%A", "/dir", "/dir/sub/b"}, out: str("drwxr-x---\n-rwxr-x---\n")},
		{name: "chmod not recursive", args: []string{"fs", "chmod", "700", "/dir"}},
		{name: "chmod not recursive result", args: []string{"fs", "stat", "-f", "%a", "/dir", "/dir/a"}, out: str("700\n750\n")},
		{name: "chmod bad mode", args: []string{"fs", "chmod", "rwx", "/hello"}, code: 2, errHas: []string{`mode "rwx"`}},
		{name: "chmod sticky", args: []string{"fs", "chmod", "1777", "/hello"}, code: 2, errHas: []string{"sticky"}},
		{name: "chmod missing", args: []string{"fs", "chmod", "644", "/nope", "/hello"}, code: 1, errOut: str("chmod: /nope: No such file or directory\n")},
		{name: "chmod continued", args: []string{"fs", "stat", "-f", "%a", "/hello"}, out: str("644\n")},
		{name: "chmod one arg", args: []string{"fs", "chmod", "644"}, code: 2},
		{name: "chown", args: []string{"fs", "chown", "alice:staff", "/hello"}},
		{name: "chown result", args: []string{"fs", "ls", "/hello"}, match: `^-rw-r--r--\s+alice\s+staff\s`},
		{name: "chown owner", args: []string{"fs", "chown", "bob", "/hello"}},
		{name: "chown group", args: []string{"fs", "chown", ":wheel", "/hello"}},
		{name: "chown partial result", args: []string{"fs", "stat", "-f", "%u:%g", "/hello"}, out: str("bob:wheel\n")},
		{name: "chown recursive", args: []string{"fs", "chown", "-R", "carol:ops", "/dir"}},
		{name: "chown recursive result", args: []string{"fs", "stat", "-f", "%u:%g", "/dir/sub/b"}, out: str("carol:ops\n")},
		{name: "chown empty group", args: []string{"fs", "chown", "alice:", "/hello"}, code: 2},
		{name: "chown empty", args: []string{"fs", "chown", "", "/hello"}, code: 2},
		{name: "chown missing", args: []string{"fs", "chown", "alice", "/nope"}, code: 1, errOut: str("chown: /nope: No such file or directory\n")},
	})
}

func TestFS_PinTTL(t *testing.T) {
	newCluster(t)
	seed(t)
	runCases(t, []cliCase{
		{name: "pin", args: []string{"fs", "pin", "/hello"}},
		{name: "pinned", args: []string{"fs", "stat", "/hello"}, outHas: []string{"Pinned:         true\n"}},
		{name: "unpin", args: []string{"fs", "unpin", "/hello"}},
		{name: "unpinned", args: []string{"fs", "stat", "/hello"}, outHas: []string{"Pinned:         false\n"}},
		{name: "pin recursive", args: []string{"fs", "pin", "-R", "/dir"}},
		{name: "pinned recursive", args: []string{"fs", "stat", "/dir/sub/b"}, outHas: []string{"Pinned:         true\n"}},
		{name: "unpin recursive", args: []string{"fs", "unpin", "-R", "/dir"}},
		{name: "unpinned recursive", args: []string{"fs", "stat", "/dir/sub/b"}, outHas: []string{"Pinned:         false\n"}},
		{name: "pin missing", args: []string{"fs", "pin", "/nope"}, code: 1, errOut: str("pin: /nope: No such file or directory\n")},
		{name: "unpin missing", args: []string{"fs", "unpin", "/nope"}, code: 1, errOut: str("unpin: /nope: No such file or directory\n")},
		{name: "set ttl", args: []string{"fs", "setTtl", "/hello", "1d"}},
		{name: "ttl", args: []string{"fs", "stat", "/hello"}, outHas: []string{"TTL:            24h0m0s\n", "TTL action:     DELETE\n"}},
		{name: "set ttl free", args: []string{"fs", "setTtl", "--action", "free", "/hello", "90000"}},
		{name: "ttl free", args: []string{"fs", "stat", "/hello"}, outHas: []string{"TTL:            1m30s\n", "TTL action:     FREE\n"}},
		{name: "set ttl recursive", args: []string{"fs", "setTtl", "-R", "/dir", "2h"}},
		{name: "ttl recursive", args: []string{"fs", "stat", "/dir/a"}, outHas: []string{"TTL:            2h0m0s\n"}},
		{name: "bad ttl", args: []string{"fs", "setTtl", "/hello", "soon"}, code: 2, errHas: []string{`ttl "soon"`}},
		{name: "negative ttl", args: []string{"fs", "setTtl", "/hello", "-5s"}, code: 2},
		{name: "bad action", args: []string{"fs", "setTtl", "--action", "explode", "/hello", "1h"}, code: 2, errHas: []string{"delete or free"}},
		{name: "ttl missing", args: []string{"fs", "setTtl", "/nope", "1h"}, code: 1, errOut: str("setTtl: /nope: No such file or directory\n")},
		{name: "ttl one arg", args: []string{"fs", "setTtl", "/hello"}, code: 2},
		{name: "unset ttl", args: []string{"fs", "unsetTtl", "/hello"}},
		{name: "ttl gone", args: []string{"fs", "stat", "/hello"}, outHas: []string{"TTL:            none\n"}},
		{name: "unset ttl recursive", args: []string{"fs", "unsetTtl", "-R", "/dir"}},
		{name: "ttl gone recursive", args: []string{"fs", "stat", "/dir/a"}, outHas: []string{"TTL:            none\n"}},
		{name: "unset ttl missing", args: []string{"fs", "unsetTtl", "/nope"}, code: 1, errOut: str("unsetTtl: /nope: No such file or directory\n")},
	})
}

func TestFS_PersistFreeLoad(t *testing.T) {
	c := newCluster(t)
	seed(t)
	runCases(t, []cliCase{
		{name: "free not persisted", args: []string{"fs", "free", "/hello"}, code: 1, errOut: str("free: /hello: File is not persisted\n")},
		{name: "persist", args: []string{"fs", "persist", "/hello"}, out: str("persisted /hello\n")},
		{name: "persisted", args: []string{"fs", "stat", "-f", "%p", "/hello"}, out: str("PERSISTED\n")},
		{name: "persist again", args: []string{"fs", "persist", "/hello"}, out: str("/hello: 1 file(s) already persisted\n")},
		{name: "persist directory async", args: []string{"fs", "persist", "--async", "/dir"},
			out: str("scheduled /dir/a\nscheduled /dir/sub/b\n")},
		{name: "persist with timeout", args: []string{"fs", "persist", "--timeout", "1m", "/dir/a"}, out: str("/dir/a: 1 file(s) already persisted\n")},
		{name: "persist negative timeout", args: []string{"fs", "persist", "--timeout", "-1s", "/dir/a"}, code: 2},
		{name: "persist missing", args: []string{"fs", "persist", "/nope"}, code: 1, errOut: str("persist: /nope: No such file or directory\n")},
		{name: "free", args: []string{"fs", "free", "/hello"}, out: str("/hello: freed 1 file(s), 1 block(s)\n")},
		{name: "freed", args: []string{"fs", "stat", "-f", "%p %m", "/hello"}, out: str("PERSISTED 0\n")},
		{name: "freed still readable", args: []string{"fs", "cat", "--read-type", "NO_CACHE", "/hello"}, out: str("hello world\n")},
		{name: "free missing", args: []string{"fs", "free", "/nope"}, code: 1, errOut: str("free: /nope: No such file or directory\n")},
		{name: "pin before free", args: []string{"fs", "pin", "/dir/a"}},
		{name: "free skips pinned", args: []string{"fs", "free", "/dir"}, out: str("/dir: freed 1 file(s), 1 block(s)\n")},
		// Whether the file freed before counts again is the master's business; its blocks do not.
		{name: "free forced", args: []string{"fs", "free", "-f", "/dir"}, match: `^/dir: freed [12] file\(s\), 1 block\(s\)\n$`},
		{name: "load", args: []string{"fs", "load", "/hello"}, out: str("/hello: 1 file(s), 1 block(s) loaded (12 bytes), 0 already cached\n")},
		{name: "loaded", args: []string{"fs", "stat", "-f", "%m", "/hello"}, out: str("100\n")},
		{name: "load again", args: []string{"fs", "load", "/hello"}, out: str("/hello: 1 file(s), 0 block(s) loaded (0 bytes), 1 already cached\n")},
		{name: "load tree", args: []string{"fs", "load", "--concurrency", "2", "/dir"}, out: str("/dir: 2 file(s), 2 block(s) loaded (8 bytes), 0 already cached\n")},
		{name: "load bad concurrency", args: []string{"fs", "load", "--concurrency", "0", "/dir"}, code: 2},
		{name: "load missing", args: []string{"fs", "load", "/nope"}, code: 1, errOut: str("load: /nope: No such file or directory\n")},
	})
	// A file that is neither cached nor persisted cannot be loaded.
	c.LoseExecutor(c.Executors()[0])
	c.AddExecutor(clienttest.ExecutorOptions{})
	runCases(t, []cliCase{
		{name: "load lost", args: []string{"fs", "load", "/big"}, code: 1, errHas: []string{"load: /big: "}},
	})
}

func TestFS_Mount(t *testing.T) {
	c := newCluster(t)
	c.PutUFS("mem:///other/data.txt", []byte("from the UFS"))
	runCases(t, []cliCase{
		{name: "mount", args: []string{"fs", "mount", "/other", "mem:///other"}, out: str("mounted mem:///other at /other\n")},
		{name: "read through mount", args: []string{"fs", "cat", "/other/data.txt"}, out: str("from the UFS")},
		{name: "mount options", args: []string{"fs", "mount", "--readonly", "--shared", "--option", "s3.region=x", "--option", "k=v=w", "s3data", "s3://bucket/prefix"},
			out: str("mounted s3://bucket/prefix at /s3data\n")},
		{name: "table", args: []string{"fs", "mount"}, match: `(?s)^mem:///root\s+on\s+/\s+\(mem, id=1\)\n` +
			`mem:///other\s+on\s+/other\s+\(mem, id=\d+\)\n` + `s3://bucket/prefix\s+on\s+/s3data\s+\(s3, id=\d+, readonly, shared\)\n$`},
		{name: "write to readonly", args: []string{"fs", "put", "-", "/s3data/x"}, stdin: "x", code: 1, errHas: []string{"put: /s3data/x: Read-only mount"}},
		{name: "unknown scheme", args: []string{"fs", "mount", "/z", "zz://x"}, code: 1, errHas: []string{"mount: /z: "}},
		{name: "conflict", args: []string{"fs", "mount", "/o2", "mem:///other/sub"}, code: 1, errHas: []string{"mount: /o2: "}},
		{name: "exists", args: []string{"fs", "mount", "/other", "mem:///third"}, code: 1, errOut: str("mount: /other: File exists\n")},
		{name: "bad option", args: []string{"fs", "mount", "--option", "novalue", "/y", "mem:///y"}, code: 2, errHas: []string{"key=value"}},
		{name: "duplicate option", args: []string{"fs", "mount", "-o", "a=1", "-o", "a=2", "/y", "mem:///y"}, code: 2},
		{name: "one arg", args: []string{"fs", "mount", "/y"}, code: 2, errHas: []string{"PATH and URI"}},
	})
	// The options reach the master as given.
	cl, err := client.New(t.Context(), client.Config{Masters: []string{c.Address()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mounts, err := cl.MountTable(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	for _, m := range mounts {
		if m.GetPath() == "/s3data" {
			got = m.GetOptions()
		}
	}
	if diff := cmp.Diff(map[string]string{"s3.region": "x", "k": "v=w"}, got); diff != "" {
		t.Errorf("options of /s3data (-want +got):\n%s", diff)
	}
	runCases(t, []cliCase{
		{name: "rm mount point", args: []string{"fs", "rm", "-R", "/other"}, code: 1, errOut: str("rm: /other: Is a mount point\n")},
		{name: "unmount", args: []string{"fs", "unmount", "/other", "/s3data"}},
		{name: "unmounted", args: []string{"fs", "mount"}, outNot: []string{"/other", "/s3data"}},
		{name: "unmount plain", args: []string{"fs", "umount", "/nope"}, code: 1, errOut: str("unmount: /nope: Not a mount point\n")},
		{name: "unmount no args", args: []string{"fs", "unmount"}, code: 2},
	})
}
