package examples

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPipeline runs pipeline.sh end to end: it builds sluice and the example programs,
// starts its own `sluice local` on free ports in a temporary folder, runs the three jobs,
// kills the executor holding the final output before it is checkpointed, and checks that
// the output read again is identical. The script exits non-zero on any failure; the test
// also checks that the final job was rerun. -short skips it (it builds binaries).
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: pipeline.sh builds binaries and starts sluice local")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("pipeline.sh needs bash")
	}
	cmd := exec.CommandContext(t.Context(), "bash", "pipeline.sh", "--start", "--size", "2", "--top", "5")
	cmd.Env = append(os.Environ(), "TIMEOUT=120", "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pipeline.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"identical:", "(topn)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pipeline.sh output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(string(out), "rerun: ") || strings.Contains(string(out), "rerun: none") {
		t.Errorf("pipeline.sh reran no job:\n%s", out)
	}
}
