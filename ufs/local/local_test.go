package local

import (
	"testing"

	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/ufstest"
)

// newTestFS returns an FS with opts over a new temporary directory, closed at cleanup.
func newTestFS(t testing.TB, opts Options) *FS {
	t.Helper()
	fsys, err := New(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := fsys.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return fsys
}

func TestFS_Conformance(t *testing.T) {
	ufstest.Run(t, func(t testing.TB) ufs.FS { return newTestFS(t, DefaultOptions()) })
}

func TestFS_ConformanceNoSync(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs once, with Sync")
	}
	ufstest.Run(t, func(t testing.TB) ufs.FS { return newTestFS(t, Options{}) })
}
