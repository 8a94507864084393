package journal

import (
	"bufio"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// The crash test re-runs this test binary as a child master that applies entries and
// prints "ack N" after Apply returns for entry N; the parent SIGKILLs it at a random
// moment, reopens the journal and checks that every acknowledged entry is there and
// that nothing is half-applied: the state is the model after the acknowledged steps,
// or after one more (the step in flight when the child died).
const (
	crashDirEnv = "SLUICE_JOURNAL_CRASH_DIR"
	crashRunEnv = "SLUICE_JOURNAL_CRASH_RUN"
)

// crashStep returns step i of run r: creates, renames and deletes under /r<run>.
func crashStep(run, i int) (state.EntryType, proto.Message) {
	p := func(name string, k int) string { return fmt.Sprintf("/r%d/%s%d", run, name, k) }
	switch {
	case i%4 != 3:
		return state.EntryCreateFile, &sluicepb.CreateFileEntry{Path: p("f", i), Recursive: true, BlockSize: 1 << 20}
	case (i/4)%2 == 0:
		return state.EntryRename, &sluicepb.RenameEntry{Src: p("f", i-3), Dst: p("g", i-3)}
	default:
		return state.EntryDelete, &sluicepb.DeleteEntry{Path: p("f", i-2)}
	}
}

// crashModel returns the files of run r after its first n steps.
func crashModel(run, n int) []string {
	files := map[string]bool{}
	for i := range n {
		switch typ, msg := crashStep(run, i); typ {
		case state.EntryCreateFile:
			files[msg.(*sluicepb.CreateFileEntry).GetPath()] = true
		case state.EntryRename:
			e := msg.(*sluicepb.RenameEntry)
			delete(files, e.GetSrc())
			files[e.GetDst()] = true
		case state.EntryDelete:
			delete(files, msg.(*sluicepb.DeleteEntry).GetPath())
		}
	}
	return slices.Sorted(maps.Keys(files))
}

func filesUnder(t testing.TB, st *state.State, dir string) []string {
	var out []string
	err := st.View().Walk(dir, func(in state.Inode) error {
		if !in.Directory {
			out = append(out, in.Path)
		}
		return nil
	})
	if err != nil && len(out) > 0 {
		t.Fatal(err)
	}
	return out
}

// crashChild is the child master: it never returns, the parent kills it.
func crashChild(t *testing.T, dir string, run int) {
	_, trans := raft.NewInmemTransport("node")
	cfg := fastConfig(t, dir, trans)
	cfg.Logger = nil
	st := state.New()
	j, err := Open(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, j, st)
	for i := 0; ; i++ {
		typ, msg := crashStep(run, i)
		if e, ok := msg.(*sluicepb.CreateFileEntry); ok {
			e.Ids = c.createEntry(e.GetPath()).GetIds()
		}
		if _, err := c.apply(typ, msg); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", i); err != nil {
			t.Fatal(err)
		}
	}
}

func TestJournal_KillNine(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		run, _ := strconv.Atoi(os.Getenv(crashRunEnv))
		crashChild(t, dir, run)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	recovered := map[int][]string{} // files of each finished run, as first recovered
	for run := range 3 {
		killAfter := 5 + rng.IntN(60)
		acked := runAndKill(t, dir, run, killAfter)
		t.Logf("run %d: killed after %d acknowledged steps", run, acked)

		_, trans := raft.NewInmemTransport("node")
		st := state.New()
		j, err := Open(fastConfig(t, dir, trans), st)
		if err != nil {
			t.Fatal(err)
		}
		becomeLeader(t, j)
		for r := range run + 1 {
			got := filesUnder(t, st, fmt.Sprintf("/r%d", r))
			want, inFlight := crashModel(r, acked), crashModel(r, acked+1)
			if r < run {
				// Earlier runs' files stay as they were first recovered.
				if !slices.Equal(got, recovered[r]) {
					t.Fatalf("run %d changed across restarts: %v, was %v", r, got, recovered[r])
				}
				continue
			}
			recovered[r] = got
			if !slices.Equal(got, want) && !slices.Equal(got, inFlight) {
				t.Fatalf("run %d after %d acknowledged steps: files %v\nwant %v\n  or %v", r, acked, got, want, inFlight)
			}
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runAndKill starts a child master on dir, SIGKILLs it once it has acknowledged
// killAfter steps, and returns how many steps it acknowledged in all.
func runAndKill(t *testing.T, dir string, run, killAfter int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournal_KillNine$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRunEnv+"="+strconv.Itoa(run))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A child that stops acknowledging is killed too, and the test fails below.
	watchdog := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()
	acked, killed := 0, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(n)
		if err != nil || i != acked {
			t.Fatalf("child printed %q after %d acks", sc.Text(), acked)
		}
		acked++
		if acked == killAfter && !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acks (%v): %s", acked, cmd.ProcessState, stderr.String())
	}
	return acked
}
