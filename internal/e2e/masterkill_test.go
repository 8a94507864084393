package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/client"
)

// The master kill test: `sluice master` alone (metadata operations need no executor)
// is killed with SIGKILL at random moments while four clients create, rename and
// delete in subtrees of their own, and restarted on the same journal. Each client keeps
// a model of its subtree made of the operations the master acknowledged. An operation
// whose answer did not arrive is in doubt: once the master answers again, the client
// looks at the namespace and takes whichever outcome it finds, provided it is whole (a
// rename leaves exactly one of its source and destination; a create leaves no file or
// a complete one, or an incomplete one that the client then deletes). At the end the
// master is killed and restarted once more, and every subtree must equal its model.

const (
	killWorkers = 4
	// seedEnv repeats a run: it holds the seed that a failed run logged.
	seedEnv = "SLUICE_E2E_SEED"
)

// masterRunner starts and kills `sluice master` processes on fixed ports and one
// journal, so that each restart is the same master.
type masterRunner struct {
	t    *testing.T
	dir  string
	addr string
	args []string
	n    int
	cur  *proc
}

func (m *masterRunner) start() {
	m.n++
	m.cur = startProc(m.t, "master-"+strconv.Itoa(m.n), m.dir, sluiceEnv(), m.args...)
}

// killAndRestart kills the running master with SIGKILL, waits for its end and starts
// the next one.
func (m *masterRunner) killAndRestart() {
	m.t.Helper()
	m.cur.kill()
	if st := m.cur.cmd.ProcessState; st.ExitCode() != -1 {
		m.t.Fatalf("master %d ended by itself before SIGKILL (exit %d):\n%s", m.n, st.ExitCode(), m.cur.stderr())
	}
	m.start()
}

// client connects a new client to the master, waiting until it leads.
func (m *masterRunner) client(ctx context.Context) *client.Client {
	m.t.Helper()
	cfg := sdkConfig(m.addr)
	cfg.RPCTimeout = 20 * time.Second
	cfg.RetryBackoff = 50 * time.Millisecond
	var cl *client.Client
	eventually(m.t, waitLong, "the master answers", func() error {
		if m.cur.exited() {
			m.t.Fatalf("master %d exited: %v\n%s", m.n, m.cur.waitErr, m.cur.stderr())
		}
		c, err := client.New(ctx, cfg)
		if err != nil {
			return err
		}
		if _, err := c.Stat(ctx, "/"); err != nil { // a leader is elected
			c.Close()
			return err
		}
		cl = c
		return nil
	})
	m.t.Cleanup(func() { cl.Close() })
	return cl
}

func TestMaster_KillNineKeepsAcknowledgedOps(t *testing.T) {
	needBinary(t)
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(seedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (%s=%d repeats the choices of this run)", seed, seedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	m := &masterRunner{t: t, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	m.args = []string{"master", "--rpc-addr", m.addr, "--http-addr", "",
		"--raft-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--journal-dir", filepath.Join(dir, "journal"),
		"--root-ufs", fileURL(filepath.Join(dir, "ufs")),
		"--log-level", "warn"}
	m.start()

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	var acked atomic.Int64
	var stop atomic.Bool
	workers := make([]*kill9Worker, killWorkers)
	for i := range workers {
		w := &kill9Worker{
			t: t, cl: m.client(ctx), root: fmt.Sprintf("/w%d", i),
			rng: rand.New(rand.NewPCG(seed, uint64(i+1))), model: map[string]bool{}, acked: &acked,
		}
		if _, err := w.cl.Mkdir(ctx, w.root, client.MkdirOptions{}); err != nil {
			t.Fatal(err)
		}
		workers[i] = w
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(ctx, &stop) })
	}

	// Kill the master after a random number of acknowledged operations, 3 to 5 times,
	// so that each kill falls in the middle of some client's operation.
	waitAcked := func(n int64) {
		eventually(t, waitLong, fmt.Sprintf("%d acknowledged operations", n), func() error {
			if t.Failed() {
				t.FailNow() // a worker failed and stopped
			}
			if got := acked.Load(); got < n {
				return fmt.Errorf("%d acknowledged", got)
			}
			return nil
		})
	}
	kills := 3 + rng.IntN(3)
	for k := range kills {
		target := acked.Load() + 15 + rng.Int64N(60)
		waitAcked(target)
		t.Logf("kill %d of %d after %d acknowledged operations", k+1, kills, acked.Load())
		m.killAndRestart()
	}
	waitAcked(acked.Load() + 20)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	// One more kill, so that what is checked is what the journal brings back.
	m.killAndRestart()
	cl := m.client(ctx)
	var doubts, leftovers int
	for _, w := range workers {
		doubts += w.doubts
		leftovers += w.incomplete
		infos, err := cl.List(ctx, w.root, client.ListOptions{Recursive: true})
		if err != nil {
			t.Fatalf("list %s: %v", w.root, err)
		}
		got := map[string]bool{}
		for _, fi := range infos {
			got[fi.Path] = fi.IsDir
			if !fi.IsDir && !fi.Complete {
				t.Errorf("%s is INCOMPLETE", fi.Path)
			}
		}
		if diff := cmp.Diff(w.model, got); diff != "" {
			t.Errorf("%s after the restarts differs from its acknowledged operations (-want +got):\n%s", w.root, diff)
		}
	}
	t.Logf("%d kills, %d operations acknowledged, %d in doubt (%d left an incomplete file)", kills+1, acked.Load(), doubts, leftovers)
}

// kill9Worker creates, renames and deletes under root, and keeps the model of root's
// subtree: path → is a directory.
type kill9Worker struct {
	t     *testing.T
	cl    *client.Client
	root  string
	rng   *rand.Rand
	model map[string]bool
	next  int
	acked *atomic.Int64
	// doubts counts the operations in doubt; incomplete those that left an INCOMPLETE
	// file behind.
	doubts, incomplete int
}

func (w *kill9Worker) run(ctx context.Context, stop *atomic.Bool) {
	for !stop.Load() && ctx.Err() == nil && !w.t.Failed() {
		if err := w.step(ctx); err != nil {
			w.t.Errorf("%s: %v", w.root, err)
			return
		}
	}
}

// newPath returns a path that was never used, in root or in one of its directories.
func (w *kill9Worker) newPath(prefix string, avoid string) string {
	w.next++
	parent := w.root
	var dirs []string
	for _, p := range slices.Sorted(maps.Keys(w.model)) {
		if w.model[p] && (avoid == "" || (p != avoid && !strings.HasPrefix(p, avoid+"/"))) {
			dirs = append(dirs, p)
		}
	}
	if len(dirs) > 0 && w.rng.IntN(2) == 0 {
		parent = dirs[w.rng.IntN(len(dirs))]
	}
	return path.Join(parent, prefix+strconv.Itoa(w.next))
}

// step runs one random operation and brings the model up to date; it returns an error
// when the namespace shows a state that no outcome of the operation explains.
func (w *kill9Worker) step(ctx context.Context) error {
	entries := slices.Sorted(maps.Keys(w.model))
	r := w.rng.IntN(100)
	switch {
	case len(entries) == 0 || r < 35:
		p := w.newPath("f", "")
		f, err := w.cl.Create(ctx, p, client.CreateOptions{WriteType: client.WriteMustCache})
		if err == nil {
			err = f.Close()
		}
		if err == nil {
			w.model[p] = false
			w.acked.Add(1)
			return nil
		}
		return w.settleCreate(ctx, p, err)
	case r < 45:
		p := w.newPath("d", "")
		if _, err := w.cl.Mkdir(ctx, p, client.MkdirOptions{}); err != nil {
			w.doubts++
			fi, ok, serr := w.stat(ctx, p)
			switch {
			case serr != nil:
				return serr
			case ok && !fi.IsDir:
				return fmt.Errorf("mkdir %s in doubt (%v) left a file", p, err)
			case ok:
				w.model[p] = true
			}
			return nil
		}
		w.model[p] = true
		w.acked.Add(1)
		return nil
	case r < 72:
		src := entries[w.rng.IntN(len(entries))]
		prefix := "f"
		if w.model[src] {
			prefix = "d"
		}
		dst := w.newPath(prefix, src)
		if _, err := w.cl.Rename(ctx, src, dst); err != nil {
			w.doubts++
			_, srcOK, err1 := w.stat(ctx, src)
			_, dstOK, err2 := w.stat(ctx, dst)
			switch {
			case err1 != nil || err2 != nil:
				return errors.Join(err1, err2)
			case srcOK == dstOK:
				return fmt.Errorf("rename %s → %s in doubt (%v) is half-applied: source exists %v, destination exists %v", src, dst, err, srcOK, dstOK)
			case dstOK:
				w.move(src, dst)
			}
			return nil
		}
		w.move(src, dst)
		w.acked.Add(1)
		return nil
	default:
		p := entries[w.rng.IntN(len(entries))]
		if _, err := w.cl.Delete(ctx, p, client.DeleteOptions{Recursive: true}); err != nil {
			w.doubts++
			_, ok, serr := w.stat(ctx, p)
			if serr != nil {
				return serr
			}
			if !ok {
				w.remove(p)
			}
			return nil
		}
		w.remove(p)
		w.acked.Add(1)
		return nil
	}
}

// settleCreate finds what a create in doubt left: nothing, a complete file (kept), or
// an incomplete file (deleted, as the writer's own abort would have done).
func (w *kill9Worker) settleCreate(ctx context.Context, p string, cause error) error {
	w.doubts++
	for {
		fi, ok, err := w.stat(ctx, p)
		switch {
		case err != nil:
			return err
		case !ok:
			return nil
		case fi.IsDir:
			return fmt.Errorf("create %s in doubt (%v) left a directory", p, cause)
		case fi.Complete:
			w.model[p] = false
			return nil
		}
		w.incomplete++
		if _, err := w.cl.Delete(ctx, p, client.DeleteOptions{}); err != nil && ctx.Err() != nil {
			return err
		}
	}
}

// stat asks the master about p until it answers, and reports whether p exists.
func (w *kill9Worker) stat(ctx context.Context, p string) (client.FileInfo, bool, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		fi, err := w.cl.Stat(ctx, p)
		switch {
		case err == nil:
			return fi, true, nil
		case errors.Is(err, client.ErrNotFound):
			return fi, false, nil
		case !errors.Is(err, client.ErrUnavailable) && !errors.Is(err, client.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded):
			return fi, false, fmt.Errorf("stat %s: %w", p, err)
		}
		select {
		case <-ctx.Done():
			return fi, false, fmt.Errorf("stat %s: master did not come back: %w", p, err)
		case <-tick.C:
		}
	}
}

// move renames src, and its subtree, to dst in the model.
func (w *kill9Worker) move(src, dst string) {
	for _, p := range slices.Collect(maps.Keys(w.model)) {
		if p == src || strings.HasPrefix(p, src+"/") {
			w.model[dst+strings.TrimPrefix(p, src)] = w.model[p]
			delete(w.model, p)
		}
	}
}

// remove deletes p and its subtree from the model.
func (w *kill9Worker) remove(p string) {
	for _, q := range slices.Collect(maps.Keys(w.model)) {
		if q == p || strings.HasPrefix(q, p+"/") {
			delete(w.model, q)
		}
	}
}
