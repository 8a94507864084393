package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client/clienttest"
)

// writeLocal creates the local files of tree (slash paths relative to dir; a name ending in
// "/" is an empty directory).
func writeLocal(t *testing.T, dir string, tree map[string]string) {
	t.Helper()
	for name, content := range tree {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFS_Put(t *testing.T) {
	c := newCluster(t)
	local := t.TempDir()
	writeLocal(t, local, map[string]string{
		"one": "1", "two": "22", "tree/x": "xx", "tree/deep/y": "yyy", "tree/empty/": "",
	})
	big := testData(bigSize)
	writeLocal(t, local, map[string]string{"big": string(big)})
	at := func(name string) string { return filepath.Join(local, name) }
	runCases(t, []cliCase{
		{name: "file", args: []string{"fs", "put", at("one"), "/one"}},
		{name: "content", args: []string{"fs", "cat", "/one"}, out: str("1")},
		{name: "default write type", args: []string{"fs", "stat", "-f", "%p", "/one"}, out: str("TO_BE_PERSISTED\n")},
		{name: "exists", args: []string{"fs", "put", at("two"), "/one"}, code: 1, errOut: str("put: /one: File exists\n")},
		{name: "force", args: []string{"fs", "put", "-f", at("two"), "/one"}},
		{name: "forced content", args: []string{"fs", "cat", "/one"}, out: str("22")},
		{name: "stdin", args: []string{"fs", "put", "-", "/in/stdin"}, stdin: "from stdin"},
		{name: "stdin content", args: []string{"fs", "cat", "in/stdin"}, out: str("from stdin")},
		{name: "stdin into directory", args: []string{"fs", "put", "-", "/in"}, code: 1, errHas: []string{"put: /in: Is a directory"}},
		{name: "tree", args: []string{"fs", "copyFromLocal", at("tree"), "/tree"}},
		{name: "tree listing", args: []string{"fs", "ls", "-R", "/tree"},
			outHas: []string{" /tree/x\n", " /tree/deep\n", " /tree/deep/y\n", " /tree/empty\n"}},
		{name: "tree content", args: []string{"fs", "cat", "/tree/deep/y"}, out: str("yyy")},
		{name: "into directory", args: []string{"fs", "put", at("one"), at("two"), "/in"}},
		{name: "into directory content", args: []string{"fs", "cat", "/in/one", "/in/two"}, out: str("122")},
		{name: "tree into directory", args: []string{"fs", "put", at("tree"), "/in"}},
		{name: "tree into directory content", args: []string{"fs", "cat", "/in/tree/x"}, out: str("xx")},
		{name: "several into file", args: []string{"fs", "put", at("one"), at("two"), "/one"}, code: 1,
			errOut: str("put: /one: Not a directory\n")},
		{name: "several into missing", args: []string{"fs", "put", at("one"), at("two"), "/missing"}, code: 1,
			errOut: str("put: /missing: No such file or directory\n")},
		{name: "missing local", args: []string{"fs", "put", at("nope"), at("one"), "/in"}, code: 1,
			errHas: []string{"put: " + at("nope") + ": No such file or directory"}},
		{name: "must cache", args: []string{"fs", "put", "--write-type", "must_cache", at("one"), "/mc"}},
		{name: "must cache state", args: []string{"fs", "stat", "-f", "%p %m", "/mc"}, out: str("NOT_PERSISTED 100\n")},
		{name: "cache through", args: []string{"fs", "put", "-t", "CACHE_THROUGH", at("one"), "/ct"}},
		{name: "cache through state", args: []string{"fs", "stat", "-f", "%p %m", "/ct"}, out: str("PERSISTED 100\n")},
		{name: "through", args: []string{"fs", "put", "--write-type", "THROUGH", at("two"), "/th"}},
		{name: "through state", args: []string{"fs", "stat", "-f", "%p %m", "/th"}, out: str("PERSISTED 0\n")},
		{name: "through content", args: []string{"fs", "cat", "/th"}, out: str("22")},
		{name: "async through", args: []string{"fs", "put", "--write-type", "ASYNC_THROUGH", at("two"), "/at"}},
		{name: "bad write type", args: []string{"fs", "put", "--write-type", "SOMETIMES", at("one"), "/bad"}, code: 2,
			errHas: []string{"--write-type", "MUST_CACHE"}},
		{name: "block size", args: []string{"fs", "put", "--block-size", "512KiB", at("big"), "/big"}},
		{name: "block size stat", args: []string{"fs", "stat", "-f", "%o %b", "/big"}, out: str("524288 3145745\n")},
		{name: "block count", args: []string{"fs", "stat", "/big"}, outHas: []string{"Blocks:         7\n"}},
		{name: "bad block size", args: []string{"fs", "put", "--block-size", "0", at("one"), "/bad"}, code: 2},
		{name: "one arg", args: []string{"fs", "put", at("one")}, code: 2, errHas: []string{"expects at least 2"}},
	})
	if got, ok := c.UFS("mem:///root/ct"); !ok || string(got) != "1" {
		t.Errorf("UFS copy of /ct = %q, %v; want \"1\"", got, ok)
	}
	// The big file reads back whole.
	if out := mustRun(t, "", "fs", "cat", "/big"); out != string(big) {
		t.Errorf("cat /big: %d bytes differ from the %d put", len(out), len(big))
	}
}

func TestFS_MkdirTouch(t *testing.T) {
	newCluster(t)
	runCases(t, []cliCase{
		{name: "mkdir", args: []string{"fs", "mkdir", "/a"}},
		{name: "mkdir exists", args: []string{"fs", "mkdir", "/a"}, code: 1, errOut: str("mkdir: /a: File exists\n")},
		{name: "mkdir missing parent", args: []string{"fs", "mkdir", "/x/y"}, code: 1, errOut: str("mkdir: /x/y: No such file or directory\n")},
		{name: "mkdir -p", args: []string{"fs", "mkdir", "-p", "/x/y", "/a"}},
		{name: "mkdir -p made", args: []string{"fs", "test", "-d", "/x/y"}},
		{name: "mkdir mode", args: []string{"fs", "mkdir", "-m", "700", "rel"}},
		{name: "mkdir mode stat", args: []string{"fs", "stat", "-f", "%A %a", "/rel"}, out: str("drwx------ 700\n")},
		{name: "mkdir bad mode", args: []string{"fs", "mkdir", "-m", "9", "/b"}, code: 2, errHas: []string{"octal"}},
		{name: "mkdir continues", args: []string{"fs", "mkdir", "/x/y", "/c"}, code: 1, errOut: str("mkdir: /x/y: File exists\n")},
		{name: "mkdir continued", args: []string{"fs", "test", "-d", "/c"}},
		{name: "touch", args: []string{"fs", "touch", "/a/empty"}},
		{name: "touch made empty", args: []string{"fs", "test", "-z", "/a/empty"}},
		{name: "touch again", args: []string{"fs", "touchz", "/a/empty"}},
		{name: "touch directory", args: []string{"fs", "touch", "/a"}, code: 1, errOut: str("touch: /a: Is a directory\n")},
		{name: "touch must cache", args: []string{"fs", "touch", "-t", "MUST_CACHE", "/mc"}},
		{name: "touch bad type", args: []string{"fs", "touch", "-t", "X", "/mc2"}, code: 2},
		{name: "touch missing parent", args: []string{"fs", "touch", "/nope/f"}, code: 1,
			errOut: str("touch: /nope/f: No such file or directory\n")},
		{name: "put content", args: []string{"fs", "put", "-", "/full"}, stdin: "x"},
		{name: "touch nonempty", args: []string{"fs", "touch", "/full"}, code: 1, errOut: str("touch: /full: Not a zero-length file\n")},
	})
}

func TestFS_MvRm(t *testing.T) {
	newCluster(t)
	seed(t)
	runCases(t, []cliCase{
		{name: "rename", args: []string{"fs", "mv", "/hello", "/hello2"}},
		{name: "renamed", args: []string{"fs", "cat", "/hello2"}, out: str("hello world\n")},
		{name: "old gone", args: []string{"fs", "test", "-e", "/hello"}, code: 1},
		{name: "into directory", args: []string{"fs", "mv", "/hello2", "big", "/dir"}},
		{name: "moved", args: []string{"fs", "ls", "/dir"}, outHas: []string{" /dir/hello2\n", " /dir/big\n"}},
		{name: "missing", args: []string{"fs", "mv", "/nope", "/dir"}, code: 1, errOut: str("mv: /nope: No such file or directory\n")},
		{name: "target exists", args: []string{"fs", "mv", "/dir/a", "/dir/big"}, code: 1, errOut: str("mv: /dir/a: File exists\n")},
		{name: "several into file", args: []string{"fs", "mv", "/dir/a", "/dir/big", "/dir/hello2"}, code: 1,
			errOut: str("mv: /dir/hello2: Not a directory\n")},
		{name: "root", args: []string{"fs", "mv", "/", "/dir"}, code: 1, errHas: []string{"mv: /: Cannot move the root"}},
		{name: "below itself", args: []string{"fs", "mv", "/dir", "/dir/sub"}, code: 1, errHas: []string{"mv: /dir: "}},
		{name: "rm directory", args: []string{"fs", "rm", "/dir"}, code: 1, errOut: str("rm: /dir: Is a directory\n")},
		{name: "rm file", args: []string{"fs", "rm", "/dir/a"}},
		{name: "rm file gone", args: []string{"fs", "test", "-e", "/dir/a"}, code: 1},
		{name: "rm missing", args: []string{"fs", "rm", "/nope", "/dir/big"}, code: 1, errOut: str("rm: /nope: No such file or directory\n")},
		{name: "rm continued", args: []string{"fs", "test", "-e", "/dir/big"}, code: 1},
		{name: "rm -f missing", args: []string{"fs", "rm", "-f", "/nope"}, errOut: str("")},
		{name: "rm root", args: []string{"fs", "rm", "-R", "/"}, code: 1, errHas: []string{"rm: /: Cannot delete the root"}},
		{name: "rm -R", args: []string{"fs", "rm", "-R", "/dir"}},
		{name: "rm -R gone", args: []string{"fs", "ls", "/"}, out: str("")},
		{name: "rm no args", args: []string{"fs", "rm"}, code: 2},
	})
}

func TestFS_Cp(t *testing.T) {
	newCluster(t)
	big := seed(t)
	runCases(t, []cliCase{
		{name: "file", args: []string{"fs", "cp", "/big", "/big2"}},
		{name: "file content", args: []string{"fs", "cat", "/big2"}, out: str(string(big))},
		{name: "exists", args: []string{"fs", "cp", "/hello", "/big2"}, code: 1, errOut: str("cp: /big2: File exists\n")},
		{name: "force", args: []string{"fs", "cp", "-f", "/hello", "/big2"}},
		{name: "forced content", args: []string{"fs", "cat", "/big2"}, out: str("hello world\n")},
		{name: "directory without -R", args: []string{"fs", "cp", "/dir", "/dir2"}, code: 1, errOut: str("cp: /dir: Is a directory\n")},
		{name: "directory", args: []string{"fs", "cp", "-R", "/dir", "/dir2"}},
		{name: "directory listing", args: []string{"fs", "ls", "-R", "/dir2"}, outHas: []string{" /dir2/a\n", " /dir2/sub/b\n"}},
		{name: "directory content", args: []string{"fs", "cat", "/dir2/sub/b"}, out: str("bbbbb")},
		{name: "into directory", args: []string{"fs", "cp", "-R", "/hello", "/dir", "/dir2"}},
		{name: "into directory listing", args: []string{"fs", "ls", "-R", "/dir2"}, outHas: []string{" /dir2/hello\n", " /dir2/dir/sub/b\n"}},
		{name: "into itself", args: []string{"fs", "cp", "-R", "/dir", "/dir/sub"}, code: 1, errHas: []string{"cp: /dir: Cannot copy"}},
		{name: "missing", args: []string{"fs", "cp", "/nope", "/x"}, code: 1, errOut: str("cp: /nope: No such file or directory\n")},
		{name: "write type", args: []string{"fs", "cp", "--write-type", "MUST_CACHE", "/hello", "/mc"}},
		{name: "write type state", args: []string{"fs", "stat", "-f", "%p", "/mc"}, out: str("NOT_PERSISTED\n")},
	})
}

// cancellingReader cancels a context once it has given n bytes, as Ctrl-C during a copy.
type cancellingReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
		// Give more bytes: the writer must notice the context, not the end of input.
		return copy(p, "more"), nil
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestFS_PutInterrupted(t *testing.T) {
	newCluster(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	app.Reader = &cancellingReader{n: 3 << 20, cancel: cancel}
	err := app.RunContext(ctx, []string{"sluice", "fs", "put", "-", "/interrupted"})
	if err == nil || exitStatus(&errOut, err) != 1 || !strings.Contains(errOut.String(), "put: /interrupted: Interrupted") {
		t.Fatalf("interrupted put: error %v, stderr %q; want exit 1 and Interrupted", err, errOut.String())
	}
	// The aborted file is gone.
	if r := runApp(t, "", "fs", "test", "-e", "/interrupted"); r.code != 1 {
		t.Errorf("the interrupted file exists (test -e: exit %d, %s)", r.code, r.err)
	}
}

func TestFS_ServerError(t *testing.T) {
	c := newCluster(t)
	c.InjectError("CreateDirectory", clienttest.Status(codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED, "journal on fire"))
	c.InjectError("Delete", clienttest.Status(codes.PermissionDenied, sluicepb.ErrorReason_ERROR_REASON_PERMISSION_DENIED, "not yours"))
	mustRun(t, "x", "fs", "put", "-", "/x")
	runCases(t, []cliCase{
		{name: "server message", args: []string{"fs", "mkdir", "/a", "/b"}, code: 1, errOut: str("mkdir: /a: journal on fire\n")},
		{name: "after the failure", args: []string{"fs", "test", "-d", "/b"}},
		{name: "permission", args: []string{"fs", "rm", "/x"}, code: 1, errOut: str("rm: /x: Permission denied\n")},
	})
}
