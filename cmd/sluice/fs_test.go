package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/client/clienttest"
)

// result is what one in-process run of the sluice command gave.
type result struct {
	code int
	out  string
	err  string
}

// runApp runs the sluice app in-process with args (without the program name) and stdin,
// and returns its exit status and outputs as main would produce them.
func runApp(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter, app.Reader = &out, &errOut, strings.NewReader(stdin)
	err := app.RunContext(t.Context(), append([]string{"sluice"}, args...))
	code := 0
	if err != nil {
		code = exitStatus(&errOut, err)
	}
	return result{code: code, out: out.String(), err: errOut.String()}
}

// mustRun runs the app and fails the test unless it exits 0.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := runApp(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("sluice %s: exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.err)
	}
	return r.out
}

// newCluster starts a fake cluster (one executor on this host, 1 MiB blocks) and points
// SLUICE_MASTER at it.
func newCluster(t *testing.T) *clienttest.Cluster {
	t.Helper()
	return newClusterWith(t, clienttest.Options{})
}

// newClusterWith is newCluster with options.
func newClusterWith(t *testing.T, opts clienttest.Options) *clienttest.Cluster {
	t.Helper()
	c := clienttest.New(t, opts)
	t.Setenv("SLUICE_MASTER", c.Address())
	// A sluice.yaml in the working directory must not leak into the tests.
	t.Setenv("SLUICE_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	if err := os.WriteFile(os.Getenv("SLUICE_CONFIG"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// testData returns n deterministic pseudo-random bytes.
func testData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// bigSize spans three 1 MiB blocks of the fake cluster and a bit.
const bigSize = 3<<20 + 17

// seed creates /hello ("hello world\n", MUST_CACHE), /big (bigSize bytes) and
// /dir/{a,sub/b} and returns the content of /big.
func seed(t *testing.T) []byte {
	t.Helper()
	big := testData(bigSize)
	local := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(local, big, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "hello world\n", "fs", "put", "--write-type", "MUST_CACHE", "-", "/hello")
	mustRun(t, "", "fs", "put", local, "/big")
	mustRun(t, "", "fs", "mkdir", "-p", "/dir/sub")
	mustRun(t, "aaa", "fs", "put", "-", "/dir/a")
	mustRun(t, "bbbbb", "fs", "put", "-", "/dir/sub/b")
	return big
}

// cliCase is one run of the command and what it must give. Cases of one table run in
// order against one cluster, so later cases may depend on earlier ones.
type cliCase struct {
	name  string
	args  []string
	stdin string
	code  int
	// out, when set, is the exact standard output; outHas are substrings of it and
	// outNot substrings it must not have.
	out    *string
	outHas []string
	outNot []string
	// errOut, when set, is the exact standard error; errHas are substrings of it. Without
	// either, standard error must be empty when the code is 0.
	errOut *string
	errHas []string
	// match, when set, is a regular expression standard output must match.
	match string
}

func str(s string) *string { return &s }

func runCases(t *testing.T, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runApp(t, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Fatalf("sluice %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), r.code, tc.code, r.out, r.err)
			}
			if tc.out != nil && r.out != *tc.out {
				t.Errorf("stdout = %q, want %q", r.out, *tc.out)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(r.out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.out)
				}
			}
			for _, s := range tc.outNot {
				if strings.Contains(r.out, s) {
					t.Errorf("stdout has %q:\n%s", s, r.out)
				}
			}
			if tc.match != "" && !regexp.MustCompile(tc.match).MatchString(r.out) {
				t.Errorf("stdout does not match %s:\n%s", tc.match, r.out)
			}
			if tc.errOut != nil && r.err != *tc.errOut {
				t.Errorf("stderr = %q, want %q", r.err, *tc.errOut)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(r.err, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.err)
				}
			}
			if tc.errOut == nil && len(tc.errHas) == 0 && tc.code == 0 && r.err != "" {
				t.Errorf("unexpected stderr:\n%s", r.err)
			}
		})
	}
}

func TestFS_Ls(t *testing.T) {
	newCluster(t)
	seed(t)
	runCases(t, []cliCase{
		{name: "root", args: []string{"fs", "ls", "/"}, outHas: []string{" /hello\n", " /big\n", " /dir\n", "DIR"},
			outNot: []string{"/dir/a"}},
		{name: "default root", args: []string{"fs", "ls"}, outHas: []string{" /hello\n"}},
		{name: "columns", args: []string{"fs", "ls", "/hello"},
			match: `^-rw-r--r--\s+\S+\s+\S*\s+12\s+NOT_PERSISTED\s+100%\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+/hello\n$`},
		{name: "directory column", args: []string{"fs", "ls", "-d", "/dir"}, match: `^drwxr-xr-x\s.*\sDIR\s.*\s/dir\n$`},
		{name: "recursive", args: []string{"fs", "ls", "-R", "/dir"}, outHas: []string{" /dir/a\n", " /dir/sub\n", " /dir/sub/b\n"}},
		{name: "human", args: []string{"fs", "ls", "-h", "/big"}, outHas: []string{"3.0MiB"}},
		{name: "short flags combined", args: []string{"fs", "ls", "-Rh", "/dir"}, outHas: []string{" /dir/sub/b\n"}},
		{name: "relative", args: []string{"fs", "ls", "dir/a"}, outHas: []string{" /dir/a\n"}},
		{name: "sluice uri", args: []string{"fs", "ls", "sluice://localhost:19998/dir/a"}, outHas: []string{" /dir/a\n"}},
		{name: "missing", args: []string{"fs", "ls", "/nope"}, code: 1, out: str(""),
			errOut: str("ls: /nope: No such file or directory\n")},
		{name: "missing then present", args: []string{"fs", "ls", "/nope", "/hello"}, code: 1,
			outHas: []string{" /hello\n"}, errOut: str("ls: /nope: No such file or directory\n")},
		{name: "flag after path", args: []string{"fs", "ls", "/", "-R"}, code: 2, errHas: []string{"ls: flag -R after the arguments"}},
		{name: "help after path", args: []string{"fs", "ls", "/", "--help"}, code: 2},
		{name: "dash path", args: []string{"fs", "ls", "--", "-x"}, code: 1, errOut: str("ls: -x: No such file or directory\n")},
		{name: "bad flag", args: []string{"fs", "ls", "-Z", "/"}, code: 2, errHas: []string{"ls: flag provided but not defined", "Usage: sluice fs ls"}},
	})
}

func TestFS_StatLocation(t *testing.T) {
	c := newCluster(t)
	seed(t)
	runCases(t, []cliCase{
		{name: "every field", args: []string{"fs", "stat", "/big"}, outHas: []string{
			"Path:           /big\n", "Type:           file\n", "Length:         3145745\n",
			"Block size:     1048576\n", "Blocks:         4\n", "Block IDs:      [", "State:          COMPLETE\n",
			"Persistence:    TO_BE_PERSISTED\n", "UFS path:       mem:///root/big\n", "Mode:           -rw-r--r-- (0644)\n",
			"Pinned:         false\n", "TTL:            none\n", "In memory:      100%\n", "Content CRC32C:",
		}},
		{name: "directory", args: []string{"fs", "stat", "/dir"}, outHas: []string{"Type:           directory\n"}},
		{name: "several", args: []string{"fs", "stat", "/dir", "/hello"}, outHas: []string{"Content CRC32C: -\n\nPath:           /hello\n"}},
		{name: "format", args: []string{"fs", "stat", "-f", `%n %b %F %a %A %p %o %N`, "/hello"},
			out: str("hello 12 regular file 644 -rw-r--r-- NOT_PERSISTED 1048576 /hello\n")},
		{name: "format escapes", args: []string{"fs", "stat", "-f", `%F\t%%\n`, "/dir", "/hello"},
			out: str("directory\t%\n\nregular file\t%\n\n")},
		{name: "format time", args: []string{"fs", "stat", "-f", "%y|%Y", "/hello"}, match: `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\|\d+\n$`},
		{name: "bad format", args: []string{"fs", "stat", "-f", "%Q", "/hello"}, code: 2, errHas: []string{"unknown directive %Q"}},
		{name: "missing", args: []string{"fs", "stat", "/nope", "/hello"}, code: 1, outHas: []string{"Path:           /hello"},
			errOut: str("stat: /nope: No such file or directory\n")},
		{name: "no args", args: []string{"fs", "stat"}, code: 2, errHas: []string{"stat: expects at least 1 argument(s), got 0"}},
		{name: "location", args: []string{"fs", "location", "/big"}, outHas: []string{
			"/big: 4 blocks, 3145745 bytes, TO_BE_PERSISTED\n", "block 0: id ", "block 3: id ", " offset 3145728 length 17",
			"  executor 1 " + c.Executors()[0].Address() + " host ", " tier MEM\n",
		}},
		{name: "location of directory", args: []string{"fs", "location", "/dir"}, code: 1, errOut: str("location: /dir: Is a directory\n")},
	})
	// A MUST_CACHE file whose only executor is lost is LOST, and says so.
	c.LoseExecutor(c.Executors()[0])
	runCases(t, []cliCase{
		{name: "lost", args: []string{"fs", "stat", "-f", "%p", "/hello"}, out: str("LOST\n")},
		{name: "lost in ls", args: []string{"fs", "ls", "/hello"}, outHas: []string{" LOST "}},
		{name: "lost blocks", args: []string{"fs", "location", "/hello"}, outHas: []string{"LOST\n", "not cached\n"}},
		{name: "lost cat", args: []string{"fs", "cat", "/hello"}, code: 1, errHas: []string{"cat: /hello: "}},
	})
}

func TestFS_DuCountTest(t *testing.T) {
	newCluster(t)
	seed(t)
	runCases(t, []cliCase{
		{name: "du children", args: []string{"fs", "du", "/dir"}, match: `^3\s+3\s+\(100%\)\s+/dir/a\n5\s+5\s+\(100%\)\s+/dir/sub\n$`},
		{name: "du summary", args: []string{"fs", "du", "-s", "/dir"}, match: `^8\s+8\s+\(100%\)\s+/dir\n$`},
		{name: "du human", args: []string{"fs", "du", "-s", "-h", "/big"}, outHas: []string{"3.0MiB", "/big"}},
		{name: "du file", args: []string{"fs", "du", "/hello"}, match: `^12\s+12\s+\(100%\)\s+/hello\n$`},
		{name: "du missing", args: []string{"fs", "du", "/nope"}, code: 1, errOut: str("du: /nope: No such file or directory\n")},
		{name: "count", args: []string{"fs", "count", "/dir"}, match: `^\s+2\s+2\s+8 /dir\n$`},
		{name: "count root human", args: []string{"fs", "count", "-h", "/"}, match: `^\s+3\s+4\s+3.0MiB /\n$`},
		{name: "count missing", args: []string{"fs", "count", "/nope"}, code: 1, errOut: str("count: /nope: No such file or directory\n")},
		{name: "test exists", args: []string{"fs", "test", "-e", "/hello"}, out: str("")},
		{name: "test missing", args: []string{"fs", "test", "-e", "/nope"}, code: 1, out: str(""), errOut: str("")},
		{name: "test dir", args: []string{"fs", "test", "-d", "/dir"}},
		{name: "test dir on file", args: []string{"fs", "test", "-d", "/hello"}, code: 1, errOut: str("")},
		{name: "test file", args: []string{"fs", "test", "-f", "/hello"}},
		{name: "test file on dir", args: []string{"fs", "test", "-f", "/dir"}, code: 1, errOut: str("")},
		{name: "test nonempty", args: []string{"fs", "test", "-s", "/hello"}},
		{name: "test zero on nonempty", args: []string{"fs", "test", "-z", "/hello"}, code: 1, errOut: str("")},
		{name: "test no flag", args: []string{"fs", "test", "/hello"}, code: 2, errHas: []string{"exactly one of"}},
		{name: "test two flags", args: []string{"fs", "test", "-e", "-d", "/hello"}, code: 2},
		{name: "test two paths", args: []string{"fs", "test", "-e", "/a", "/b"}, code: 2},
	})
}

func TestFS_HelpAndUsage(t *testing.T) {
	newCluster(t)
	for _, sub := range fsCommand().Subcommands {
		t.Run(sub.Name, func(t *testing.T) {
			if sub.Usage == "" || sub.ArgsUsage == "" {
				t.Errorf("fs %s: Usage %q, ArgsUsage %q: both must say something", sub.Name, sub.Usage, sub.ArgsUsage)
			}
			r := runApp(t, "", "fs", sub.Name, "--help")
			if r.code != 0 || !strings.Contains(r.out, "sluice fs "+sub.Name) || !strings.Contains(r.out, "--master") {
				t.Errorf("fs %s --help: exit %d, stdout:\n%s", sub.Name, r.code, r.out)
			}
		})
	}
	runCases(t, []cliCase{
		{name: "group help", args: []string{"fs", "--help"}, outHas: []string{"copyFromLocal", "setTtl", "checksum"}},
		{name: "group alone", args: []string{"fs"}, outHas: []string{"COMMANDS:"}},
		{name: "unknown command", args: []string{"fs", "bogus"}, code: 2, errHas: []string{`fs: unknown command "bogus"`, "Usage: sluice fs"}},
		{name: "report help", args: []string{"report", "--help"}, outHas: []string{"--include-lost", "--master"}},
	})
}

func TestFS_MasterFlag(t *testing.T) {
	c := newCluster(t)
	mustRun(t, "x", "fs", "put", "-", "/x")
	// The flag wins over SLUICE_MASTER, at the subcommand or at the group.
	t.Setenv("SLUICE_MASTER", "127.0.0.1:1")
	runCases(t, []cliCase{
		{name: "subcommand flag", args: []string{"fs", "ls", "--master", c.Address(), "/"}, outHas: []string{" /x\n"}},
		{name: "group flag", args: []string{"fs", "--master", c.Address(), "ls", "/"}, outHas: []string{" /x\n"}},
		{name: "several masters", args: []string{"fs", "ls", "--master", strings.Join(c.MasterAddresses(), ",") + ",", "/"}, outHas: []string{" /x\n"}},
		{name: "bad address", args: []string{"fs", "ls", "--master", "nonsense", "/"}, code: 1, errHas: []string{"ls: ", "nonsense"}},
		{name: "empty", args: []string{"fs", "ls", "--master", ",", "/"}, code: 1, errHas: []string{"no master address"}},
	})
	// sluice.yaml names the master when neither flag nor environment does, per command or
	// for all; the environment wins over it.
	for _, yaml := range []string{"master: " + c.Address(), "fs:\n  ls:\n    master: " + c.Address()} {
		if err := os.WriteFile(os.Getenv("SLUICE_CONFIG"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SLUICE_MASTER", "")
		os.Unsetenv("SLUICE_MASTER") // t.Setenv restores it at the end.
		if out := mustRun(t, "", "fs", "ls", "/"); !strings.Contains(out, " /x\n") {
			t.Errorf("with %q in sluice.yaml: ls / = %q", yaml, out)
		}
		t.Setenv("SLUICE_MASTER", "nonsense")
		if r := runApp(t, "", "fs", "ls", "/"); r.code != 1 || !strings.Contains(r.err, "nonsense") {
			t.Errorf("SLUICE_MASTER does not win over %q in sluice.yaml: exit %d, %s", yaml, r.code, r.err)
		}
	}
}

// failingWriter fails every write, as a closed pipe does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestFS_OutputFailure(t *testing.T) {
	newCluster(t)
	seed(t)
	for _, args := range [][]string{
		{"fs", "cat", "/big", "/hello"},
		{"fs", "ls", "/", "/dir"},
		{"fs", "get", "/dir", "/hello", "-"},
		{"fs", "du", "/", "/dir"},
	} {
		app := newApp()
		var errOut bytes.Buffer
		app.Writer, app.ErrWriter = failingWriter{}, &errOut
		err := app.RunContext(t.Context(), append([]string{"sluice"}, args...))
		if err == nil || exitStatus(&errOut, err) != 1 {
			t.Errorf("%v to a broken pipe: error %v, want exit 1", args, err)
		}
		if got := errOut.String(); strings.Count(got, "write output: broken pipe") != 1 {
			t.Errorf("%v to a broken pipe: stderr %q, want one report", args, got)
		}
	}
}

// lostByJob stands for the client's FILE_LOST error naming a job: a literal client.Error
// has no sentinel of its own, so the wrapper supplies client.ErrFileLost.
type lostByJob struct{ ce *client.Error }

func (e lostByJob) Error() string   { return e.ce.Message }
func (e lostByJob) Unwrap() []error { return []error{e.ce, client.ErrFileLost} }

func TestReason(t *testing.T) {
	_, statErr := os.Stat(filepath.Join(t.TempDir(), "nope"))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("stat /x: %w", client.ErrNotFound), "No such file or directory"},
		{statErr, "No such file or directory"},
		{fmt.Errorf("create: %w", client.ErrAlreadyExists), "File exists"},
		{client.ErrIsADirectory, "Is a directory"},
		{client.ErrNotADirectory, "Not a directory"},
		{client.ErrDirectoryNotEmpty, "Directory is not empty"},
		{client.ErrPermission, "Permission denied"},
		{client.ErrReadOnly, "Read-only mount"},
		{client.ErrFileLost, "File is lost"},
		{lostByJob{&client.Error{JobID: "3", Path: "/f", Message: "/f: recompute by job 3 failed: exit status 3"}},
			"File is lost (its job 3 did not recompute it): recompute by job 3 failed: exit status 3"},
		{lostByJob{&client.Error{JobID: "3", Path: "/f"}},
			"File is lost (its job 3 did not recompute it)"},
		{client.ErrNotPersisted, "File is not persisted"},
		{context.Canceled, "Interrupted"},
		{fmt.Errorf("persist: %w", client.ErrTimeout), "Timed out"},
		{&client.Error{Message: "the server's own words"}, "the server's own words"},
		{&client.Error{Message: "open /dev/shm/x.blk: gone", BlockID: 42}, "block 42: open /dev/shm/x.blk: gone"},
		{errors.New("something else"), "something else"},
	} {
		if got := reason(tc.err); got != tc.want {
			t.Errorf("reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
