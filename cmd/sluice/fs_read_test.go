package main

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFS_CatHeadTail(t *testing.T) {
	newCluster(t)
	big := seed(t)
	runCases(t, []cliCase{
		{name: "cat", args: []string{"fs", "cat", "/hello"}, out: str("hello world\n")},
		{name: "cat several", args: []string{"fs", "cat", "/hello", "dir/a"}, out: str("hello world\naaa")},
		{name: "cat no cache", args: []string{"fs", "cat", "--read-type", "NO_CACHE", "/hello"}, out: str("hello world\n")},
		{name: "cat bad read type", args: []string{"fs", "cat", "--read-type", "SOMETIMES", "/hello"}, code: 2, errHas: []string{"--read-type"}},
		{name: "cat directory", args: []string{"fs", "cat", "/dir", "/hello"}, code: 1, out: str("hello world\n"),
			errOut: str("cat: /dir: Is a directory\n")},
		{name: "cat missing", args: []string{"fs", "cat", "/nope"}, code: 1, errOut: str("cat: /nope: No such file or directory\n")},
		{name: "cat no args", args: []string{"fs", "cat"}, code: 2, errHas: []string{"Usage: sluice fs cat"}},
		{name: "head", args: []string{"fs", "head", "-c", "5", "/hello"}, out: str("hello")},
		{name: "head default 1 KiB", args: []string{"fs", "head", "/big"}, out: str(string(big[:1024]))},
		{name: "head beyond end", args: []string{"fs", "head", "-c", "1MiB", "/hello"}, out: str("hello world\n")},
		{name: "head across blocks", args: []string{"fs", "head", "--bytes", "1048580", "/big"}, out: str(string(big[:1048580]))},
		{name: "head bad size", args: []string{"fs", "head", "-c", "lots", "/hello"}, code: 2, errHas: []string{`-c "lots"`}},
		{name: "head two paths", args: []string{"fs", "head", "/hello", "/big"}, code: 2},
		{name: "head missing", args: []string{"fs", "head", "/nope"}, code: 1, errOut: str("head: /nope: No such file or directory\n")},
		{name: "tail", args: []string{"fs", "tail", "-c", "6", "/hello"}, out: str("world\n")},
		{name: "tail default 1 KiB", args: []string{"fs", "tail", "/big"}, out: str(string(big[len(big)-1024:]))},
		{name: "tail longer than file", args: []string{"fs", "tail", "-c", "100", "/hello"}, out: str("hello world\n")},
		{name: "tail directory", args: []string{"fs", "tail", "/dir"}, code: 1, errOut: str("tail: /dir: Is a directory\n")},
	})
}

func TestFS_Checksum(t *testing.T) {
	newCluster(t)
	big := seed(t)
	crc := fmt.Sprintf("%08x", crc32.Checksum(big, crc32.MakeTable(crc32.Castagnoli)))
	sum := md5.Sum(big)
	runCases(t, []cliCase{
		{name: "crc32c", args: []string{"fs", "checksum", "/big"}, out: str("/big\tCRC32C\t" + crc + "\n")},
		{name: "crc32c read", args: []string{"fs", "checksum", "-a", "CRC32C", "--read-type", "NO_CACHE", "big"}, out: str("/big\tCRC32C\t" + crc + "\n")},
		{name: "md5", args: []string{"fs", "checksum", "--algorithm", "md5", "/big"}, out: str(fmt.Sprintf("/big\tMD5\t%x\n", sum))},
		{name: "bad algorithm", args: []string{"fs", "checksum", "-a", "sha1", "/big"}, code: 2, errHas: []string{"want crc32c or md5"}},
		{name: "directory", args: []string{"fs", "checksum", "/dir"}, code: 1, errOut: str("checksum: /dir: Is a directory\n")},
		{name: "md5 directory", args: []string{"fs", "checksum", "-a", "md5", "/dir"}, code: 1, errOut: str("checksum: /dir: Is a directory\n")},
		{name: "missing", args: []string{"fs", "checksum", "/nope", "/big"}, code: 1, outHas: []string{crc},
			errOut: str("checksum: /nope: No such file or directory\n")},
	})
}

// readTree returns the regular files under dir by slash path relative to it.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFS_Get(t *testing.T) {
	newCluster(t)
	big := seed(t)
	local := t.TempDir()
	at := func(name string) string { return filepath.Join(local, name) }
	runCases(t, []cliCase{
		{name: "file", args: []string{"fs", "get", "/big", at("big")}},
		{name: "alias into directory", args: []string{"fs", "copyToLocal", "/hello", local}},
		{name: "existing file", args: []string{"fs", "get", "/hello", at("big")}, code: 1,
			errOut: str("get: " + at("big") + ": File exists\n")},
		{name: "tree", args: []string{"fs", "get", "/dir", at("tree")}},
		{name: "tree into directory", args: []string{"fs", "get", "/dir", at("tree")}},
		{name: "several into directory", args: []string{"fs", "get", "/hello", "/dir/a", at("tree/sub")}},
		{name: "several into file", args: []string{"fs", "get", "/hello", "/dir/a", at("big")}, code: 1,
			errOut: str("get: " + at("big") + ": Not a directory\n")},
		{name: "stdout", args: []string{"fs", "get", "/hello", "-"}, out: str("hello world\n")},
		{name: "missing", args: []string{"fs", "get", "/nope", at("more")}, code: 1,
			errOut: str("get: /nope: No such file or directory\n")},
		{name: "one arg", args: []string{"fs", "get", "/hello"}, code: 2},
	})
	if b, err := os.ReadFile(at("big")); err != nil || !bytes.Equal(b, big) {
		t.Errorf("local big: %d bytes, err %v; want the %d bytes of /big", len(b), err, len(big))
	}
	want := map[string]string{
		"big": string(big), "hello": "hello world\n",
		"tree/a": "aaa", "tree/sub/b": "bbbbb",
		"tree/dir/a": "aaa", "tree/dir/sub/b": "bbbbb",
		"tree/sub/hello": "hello world\n", "tree/sub/a": "aaa",
	}
	if diff := cmp.Diff(want, readTree(t, local)); diff != "" {
		t.Errorf("local tree (-want +got):\n%s", diff)
	}
	// -f overwrites, and no temporary file is left behind.
	mustRun(t, "", "fs", "get", "-f", "/hello", at("big"))
	if diff := cmp.Diff("hello world\n", readTree(t, local)["big"]); diff != "" {
		t.Errorf("overwritten big (-want +got):\n%s", diff)
	}
	if got := len(readTree(t, local)); got != len(want) {
		t.Errorf("%d local files after get -f, want %d", got, len(want))
	}
}
