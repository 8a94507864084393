package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/client"
)

// wantFailure checks that a command failed with exit 1, printed nothing on standard
// output, and said why on standard error: a message starting with prefix and
// containing every one of words.
func wantFailure(t testing.TB, r result, prefix string, words ...string) {
	t.Helper()
	ok := r.code == 1 && r.stdout == "" && strings.HasPrefix(r.stderr, prefix)
	for _, w := range words {
		ok = ok && strings.Contains(r.stderr, w)
	}
	if !ok {
		t.Errorf("want exit 1 and an error %q… naming %q, got %v", prefix, words, r)
	}
}

// wantMissing checks that `sluice fs test -e` finds no p.
func (lc *localCluster) wantMissing(t *testing.T, p string) {
	t.Helper()
	if r := lc.sluice(t, "fs", "test", "-e", p); r.code != 1 {
		t.Errorf("%s exists after a failed command: %v", p, r)
	}
}

// TestLocal_BadInput feeds `sluice fs` input it must refuse: each gets a clear error
// and exit 1, and nothing is lost or left half-done.
func TestLocal_BadInput(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := t.TempDir()
	lc := startLocal(t, dir, 2, "local")
	original := writeRandom(t, dir, "original.bin", 70<<10)
	writeRandom(t, dir, "other.bin", 10<<10)
	lc.mustSluice(t, "fs", "put", "original.bin", "/f")
	ufsRoot := filepath.Join(lc.dataDir, "ufs")

	t.Run("invalid paths", func(t *testing.T) {
		long := "/" + strings.Repeat("x", 256)
		wantFailure(t, lc.sluice(t, "fs", "mkdir", "-p", long+"/y"), "mkdir: "+long, "longer than 255 bytes")
		lc.wantMissing(t, long)
		wantFailure(t, lc.sluice(t, "fs", "mkdir", "/bad\xffname"), "mkdir: /bad", "UTF-8")
		wantFailure(t, lc.sluice(t, "fs", "put", "other.bin", "/"+strings.Repeat("d/", 2100)+"f"), "put: ", "longer than 4096")

		// A NUL byte cannot pass through a command line; the SDK carries it to the master.
		cl := sdkClient(t, lc.master)
		if _, err := cl.Mkdir(t.Context(), "/a\x00b", client.MkdirOptions{}); !errors.Is(err, client.ErrInvalidPath) || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("mkdir of a path with a NUL byte: %v, want ErrInvalidPath naming the NUL byte", err)
		}
		if _, err := cl.Mkdir(t.Context(), "/a/../b", client.MkdirOptions{}); !errors.Is(err, client.ErrInvalidPath) {
			t.Errorf("mkdir /a/../b through the SDK: %v, want ErrInvalidPath", err)
		}

		// Relative paths are relative to "/", and ".." cannot climb out of it: a THROUGH
		// write to ../escape.bin lands in the root UFS, not beside it.
		lc.mustSluice(t, "fs", "put", "-t", "THROUGH", "other.bin", "../escape.bin")
		if !fileExists(filepath.Join(ufsRoot, "escape.bin")) || fileExists(filepath.Join(lc.dataDir, "escape.bin")) {
			t.Errorf("put ../escape.bin did not land at the root of the UFS %s", ufsRoot)
		}
	})

	t.Run("put onto a complete file", func(t *testing.T) {
		wantFailure(t, lc.sluice(t, "fs", "put", "other.bin", "/f"), "put: /f: File exists")
		if got := lc.mustSluice(t, "fs", "cat", "/f"); !bytes.Equal([]byte(got), original) {
			t.Errorf("/f changed after a refused put: %d bytes, want the original %d", len(got), len(original))
		}
	})

	t.Run("read an incomplete file", func(t *testing.T) {
		cl := sdkClient(t, lc.master)
		w, err := cl.Create(t.Context(), "/incomplete", client.CreateOptions{WriteType: client.WriteMustCache})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		if _, err := w.Write(original[:4096]); err != nil {
			t.Fatal(err)
		}
		wantFailure(t, lc.sluice(t, "fs", "cat", "/incomplete"), "cat: /incomplete: File is incomplete")
		if st := lc.mustSluice(t, "fs", "stat", "-f", "%b", "/incomplete"); st != "0\n" {
			t.Errorf("length of the incomplete file: %q", st)
		}
	})

	t.Run("unknown mount scheme", func(t *testing.T) {
		wantFailure(t, lc.sluice(t, "fs", "mount", "/x", "foo://bar"), "mount: /x: ", `"foo"`, "unknown scheme")
		lc.wantMissing(t, "/x")
	})

	t.Run("mount over a mount", func(t *testing.T) {
		for _, d := range []string{"other", "third"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "other", "kept.txt"), []byte("kept\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		other, third := fileURL(filepath.Join(dir, "other")), fileURL(filepath.Join(dir, "third"))
		if out := lc.mustSluice(t, "fs", "mount", "/m", other); out != fmt.Sprintf("mounted %s at /m\n", other) {
			t.Errorf("fs mount printed %q", out)
		}
		wantFailure(t, lc.sluice(t, "fs", "mount", "/m", third), "mount: /m: ", "already a mount point")
		wantFailure(t, lc.sluice(t, "fs", "mount", "/", third), "mount: /: ", "mount")
		wantFailure(t, lc.sluice(t, "fs", "mount", "/f", third), "mount: /f: ")
		if got := lc.mustSluice(t, "fs", "cat", "/m/kept.txt"); got != "kept\n" {
			t.Errorf("the first mount no longer serves its file: %q", got)
		}
		mounts := lc.mustSluice(t, "fs", "mount")
		if strings.Contains(mounts, third) || !strings.Contains(mounts, other) {
			t.Errorf("mount table after refused mounts:\n%s", mounts)
		}
		if got := lc.mustSluice(t, "fs", "cat", "/f"); !bytes.Equal([]byte(got), original) {
			t.Errorf("/f changed after a refused mount over it")
		}
	})

	if r := lc.report(t); r.GetLiveExecutors() != 2 || r.GetPersistence().GetLost() != 0 {
		t.Errorf("after the bad input: %d live executors, %d lost files", r.GetLiveExecutors(), r.GetPersistence().GetLost())
	}
	lc.interrupt(t)
}

// sdkClient connects a client of the Go SDK to the master at addr; the test closes it.
func sdkClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	cl, err := client.New(t.Context(), sdkConfig(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// sdkConfig is the client configuration of the tests: one master, no logs.
func sdkConfig(addr string) client.Config {
	cfg := client.DefaultConfig()
	cfg.Masters = []string{addr}
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

func fileURL(abs string) string { return (&url.URL{Scheme: "file", Path: abs}).String() }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestExecutor_UnknownBlocksRemoved starts `sluice executor` on a MEM directory that
// holds a block of another cluster: the master tells it to remove the block, the block
// file goes, and both keep serving.
func TestExecutor_UnknownBlocksRemoved(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := t.TempDir()
	memDir := filepath.Join(dir, "mem")
	startMaster := func(name string) (*proc, []string) {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		p := startProc(t, name, dir, sluiceEnv(), "master", "--rpc-addr", addr, "--http-addr", "",
			"--raft-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--journal-dir", filepath.Join(dir, name, "journal"),
			"--root-ufs", fileURL(filepath.Join(dir, name, "ufs")), "--heartbeat-interval", "200ms")
		env := sluiceEnv(masterEnv(addr))
		eventually(t, waitLong, name+" leads", func() error {
			if p.exited() {
				t.Fatalf("%s exited: %s", name, p.stderr())
			}
			if r := run(t, dir, env, "fs", "ls", "/"); r.code != 0 {
				return fmt.Errorf("%v", r)
			}
			return nil
		})
		return p, env
	}
	startExecutor := func(name string, env []string) *proc {
		return startProc(t, name, dir, env, "executor", "--rpc-addr", "127.0.0.1:0", "--http-addr", "",
			"--mem-dir", memDir, "--mem-size", "256MiB")
	}
	blockFiles := func() []string {
		files, _ := filepath.Glob(filepath.Join(memDir, "*.blk"))
		return files
	}
	waitExecutors := func(env []string, blocks int64) {
		eventually(t, waitLong, fmt.Sprintf("one live executor with %d blocks", blocks), func() error {
			out := mustRun(t, dir, env, "report")
			if !strings.Contains(out, "Executors:       1 live") {
				return fmt.Errorf("report:\n%s", out)
			}
			if want := fmt.Sprintf("Cached blocks:   %d\n", blocks); !strings.Contains(out, want) {
				return fmt.Errorf("report:\n%s", out)
			}
			return nil
		})
	}

	// Cluster A writes a MUST_CACHE file into the executor's MEM directory, then stops
	// cleanly: the block file stays.
	masterA, envA := startMaster("cluster-a")
	exA := startExecutor("executor-a", envA)
	waitExecutors(envA, 0)
	writeRandom(t, dir, "data.bin", 50<<10)
	mustRun(t, dir, envA, "fs", "put", "-t", "MUST_CACHE", "data.bin", "/data.bin")
	if n := len(blockFiles()); n != 1 {
		t.Fatalf("%d block files in %s after the write, want 1", n, memDir)
	}
	for _, p := range []*proc{exA, masterA} {
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, waitLong); code != 0 {
			t.Fatalf("%s exited %d after SIGINT:\n%s", p.name, code, p.stderr())
		}
	}
	if n := len(blockFiles()); n != 1 {
		t.Fatalf("%d block files in %s after a clean stop, want 1", n, memDir)
	}

	// Cluster B knows nothing of that block: the executor must drop it and go on.
	_, envB := startMaster("cluster-b")
	exB := startExecutor("executor-b", envB)
	eventually(t, waitLong, "the unknown block file is removed", func() error {
		if exB.exited() {
			t.Fatalf("the executor exited: %s", exB.stderr())
		}
		if files := blockFiles(); len(files) != 0 {
			return fmt.Errorf("block files left: %v", files)
		}
		return nil
	})
	waitExecutors(envB, 0)
	if out := mustRun(t, dir, envB, "fs", "ls", "/"); out != "" {
		t.Errorf("cluster B lists files of cluster A:\n%s", out)
	}
	mustRun(t, dir, envB, "fs", "put", "-t", "MUST_CACHE", "data.bin", "/b.bin")
	if n := len(blockFiles()); n != 1 {
		t.Errorf("%d block files after a write to cluster B, want 1", n)
	}
	for _, p := range []*proc{exB} {
		if strings.Contains(p.stderr(), "panic") {
			t.Errorf("%s panicked:\n%s", p.name, p.stderr())
		}
	}
}
