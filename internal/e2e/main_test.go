package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// sluiceBin is the path of the sluice binary that TestMain built; empty under -short.
var sluiceBin string

// TestMain builds the sluice binary once for every test of the package, runs them and
// removes the binary. Under -short nothing is built: every test skips.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	bin, err := buildSluice(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	sluiceBin = bin
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildSluice builds cmd/sluice into dir, with -race when the tests run with it.
func buildSluice(dir string) (string, error) {
	bin := filepath.Join(dir, "sluice")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sluicedata/sluice/cmd/sluice")
	// go test puts the go command of its own toolchain first in PATH.
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return bin, nil
}

// needBinary skips the test under -short, where no binary was built.
func needBinary(tb testing.TB) {
	tb.Helper()
	if testing.Short() || sluiceBin == "" {
		tb.Skip("e2e: builds and runs the sluice binary; skipped with -short")
	}
}
