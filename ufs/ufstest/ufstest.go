package ufstest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"testing"

	"github.com/sluicedata/sluice/ufs"
)

// Run runs the conformance suite as subtests of t. newFS is called once per subtest
// and must return a fresh, empty FS; it may register cleanups on the t it is given.
// The subtests run one after another, each on its own FS, so a failure names the
// behaviour at fault and leaves nothing behind for the next.
//
// Where the ufs contract names an error, the suite asks for it: fs.ErrNotExist for
// missing paths, fs.ErrExist for a Rename onto an existing path, ufs.ErrNotEmpty,
// ufs.ErrIsDir and ufs.ErrNotDir (also for a file used as a parent, in Create, Mkdir
// and Rename), ufs.ErrAborted after Abort, context.Canceled for a cancelled context.
// Where the contract leaves a choice (Mkdir over a file: ErrNotDir or ErrExist; a
// Close that loses a race to another writer: nil or ErrExist), either passes.
func Run(t *testing.T, newFS func(t testing.TB) ufs.FS) {
	tests := []struct {
		name string
		fn   func(t *testing.T, fsys ufs.FS)
	}{
		{"CreateRead", testCreateRead},
		{"OpenRange", testOpenRange},
		{"Stat", testStat},
		{"List", testList},
		{"Mkdir", testMkdir},
		{"FileAsParent", testFileAsParent},
		{"Rename", testRename},
		{"Delete", testDelete},
		{"BadPaths", testBadPaths},
		{"Abort", testAbort},
		{"ContextCancel", testContextCancel},
		{"AtomicCreate", testAtomicCreate},
		{"AtomicReplace", testAtomicReplace},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentSameFile", testConcurrentSameFile},
		{"LargeFile", testLargeFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newFS(t))
		})
	}
}

// writeFile creates name with data or fails the test.
func writeFile(t testing.TB, fsys ufs.FS, name string, data []byte) {
	t.Helper()
	w, err := fsys.Create(t.Context(), name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		t.Fatalf("Write(%q): %v", name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(%q): %v", name, err)
	}
}

// readRange returns the bytes of Open(name, off, length) read to io.EOF, or the error
// of Open or of a Read.
func readRange(t testing.TB, fsys ufs.FS, name string, off, length int64) ([]byte, error) {
	t.Helper()
	r, err := fsys.Open(t.Context(), name, off, length)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// mustRead returns the whole content of name or fails the test.
func mustRead(t testing.TB, fsys ufs.FS, name string) []byte {
	t.Helper()
	data, err := readRange(t, fsys, name, 0, -1)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return data
}

// wantContent fails the test unless name holds exactly want.
func wantContent(t testing.TB, fsys ufs.FS, name string, want []byte) {
	t.Helper()
	if got := mustRead(t, fsys, name); !bytes.Equal(got, want) {
		t.Errorf("content of %q: got %d bytes %q, want %d bytes %q", name, len(got), abbrev(got), len(want), abbrev(want))
	}
}

// wantNotExist fails the test unless Stat of name reports fs.ErrNotExist.
func wantNotExist(t testing.TB, fsys ufs.FS, name string) {
	t.Helper()
	fi, err := fsys.Stat(t.Context(), name)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(%q) = %+v, %v; want an error wrapping fs.ErrNotExist", name, fi, err)
	}
}

// wantErr fails the test unless err wraps one of targets; what names the call.
func wantErr(t testing.TB, what string, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	t.Errorf("%s: got error %v, want one wrapping %v", what, err, targets)
}

// abbrev shortens data for an error message.
func abbrev(data []byte) []byte {
	if len(data) > 32 {
		return data[:32]
	}
	return data
}
