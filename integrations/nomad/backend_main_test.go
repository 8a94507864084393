package nomad

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/internal/nomadtest"
)

// TestMain is the package's only TestMain: the tests share one Nomad dev agent
// (nomadtest.Shared), stopped here after they ran, then no goroutine may be left.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := nomadtest.StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
