package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// localCluster is a running `sluice local`.
type localCluster struct {
	p *proc
	// dir is the working directory; dataDir its sluice-data folder.
	dir, dataDir string
	// master is the master's gRPC address, read from the banner; env points commands at it.
	master string
	env    []string
	// memDirs are the executors' MEM tier directories, read from the banner.
	memDirs []string
}

var (
	bannerMaster = regexp.MustCompile(`(?m)^  master\s+(\S+)`)
	bannerMem    = regexp.MustCompile(`(?m) MEM (\S+) \(`)
)

// startLocal starts `sluice <args>` (a `local` command line, as a user types it) in dir
// on free ports (--master-port, --web-port and --executor-port 0) and waits until its banner is printed and the master lists every executor as
// live.
func startLocal(t testing.TB, dir string, executors int, args ...string) *localCluster {
	t.Helper()
	args = append(slices.Clone(args), "--master-port", "0", "--web-port", "0", "--executor-port", "0",
		"--executors", fmt.Sprint(executors))
	lc := &localCluster{dir: dir, dataDir: filepath.Join(dir, "sluice-data")}
	lc.p = startProc(t, "local-"+fmt.Sprint(time.Now().UnixNano()), dir, sluiceEnv(), args...)
	lc.p.childrenIn = lc.dataDir
	lc.p.afterExit = append(lc.p.afterExit, func() {
		logs, _ := filepath.Glob(filepath.Join(lc.dataDir, "logs", "*.log"))
		if t.Failed() {
			for _, l := range logs {
				dumpFile(t, l)
			}
		}
		checkNoRace(t, logs...)
		lc.removeMemDirs()
	})
	eventually(t, waitLong, "sluice local prints its banner", func() error {
		if lc.p.exited() {
			t.Fatalf("sluice local exited: %v\nstderr:\n%s", lc.p.waitErr, lc.p.stderr())
		}
		if !strings.Contains(lc.p.stdout(), "Press Ctrl-C to stop.") {
			return fmt.Errorf("no banner yet; stdout so far:\n%s", lc.p.stdout())
		}
		return nil
	})
	out := lc.p.stdout()
	m := bannerMaster.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no master address in the banner:\n%s", out)
	}
	lc.master = m[1]
	lc.env = sluiceEnv(masterEnv(lc.master))
	for _, m := range bannerMem.FindAllStringSubmatch(out, -1) {
		lc.memDirs = append(lc.memDirs, m[1])
	}
	if len(lc.memDirs) != executors {
		t.Fatalf("want %d MEM directories in the banner, got %q:\n%s", executors, lc.memDirs, out)
	}
	lc.waitLive(t, executors, nil)
	return lc
}

// removeMemDirs removes the executors' MEM tier directories and their common parent
// (/dev/shm/sluice/local-<hash of the data directory>), which outlive the cluster.
func (lc *localCluster) removeMemDirs() {
	for _, d := range lc.memDirs {
		parent := filepath.Dir(d)
		if strings.HasPrefix(filepath.Base(parent), "local-") {
			os.RemoveAll(parent)
		} else {
			os.RemoveAll(d)
		}
	}
}

// sluice runs a command against the cluster in its working directory.
func (lc *localCluster) sluice(t testing.TB, args ...string) result {
	t.Helper()
	return run(t, lc.dir, lc.env, args...)
}

// mustSluice runs a command that must succeed and returns its standard output.
func (lc *localCluster) mustSluice(t testing.TB, args ...string) string {
	t.Helper()
	return mustRun(t, lc.dir, lc.env, args...)
}

// report returns `sluice report --json`, parsed.
func (lc *localCluster) report(t testing.TB) *sluicepb.GetReportResponse {
	t.Helper()
	out := lc.mustSluice(t, "report", "--json")
	var r sluicepb.GetReportResponse
	if err := protojson.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report --json: %v\n%s", err, out)
	}
	return &r
}

// waitLive waits until the report lists n live executors, none with a PID in gone.
func (lc *localCluster) waitLive(t testing.TB, n int, gone []int32) *sluicepb.GetReportResponse {
	t.Helper()
	var r *sluicepb.GetReportResponse
	eventually(t, waitLong, fmt.Sprintf("%d live executors", n), func() error {
		r = lc.report(t)
		live := liveExecutors(r)
		if len(live) != n {
			return fmt.Errorf("%d live executors: %v", len(live), live)
		}
		for _, e := range live {
			if slices.Contains(gone, e.GetPid()) {
				return fmt.Errorf("executor %d still has pid %d", e.GetId(), e.GetPid())
			}
		}
		return nil
	})
	return r
}

func liveExecutors(r *sluicepb.GetReportResponse) []*sluicepb.ExecutorInfo {
	var live []*sluicepb.ExecutorInfo
	for _, e := range r.GetExecutors() {
		if e.GetState() == sluicepb.ExecutorState_EXECUTOR_STATE_LIVE {
			live = append(live, e)
		}
	}
	return live
}

// interrupt sends SIGINT (Ctrl-C) and checks that the cluster stops cleanly: exit 0,
// "stopped" printed, and no executor left running in its data directory.
func (lc *localCluster) interrupt(t testing.TB) {
	t.Helper()
	if err := lc.p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := lc.p.wait(t, waitLong); code != 0 {
		t.Fatalf("sluice local exited %d after Ctrl-C; stderr:\n%s", code, lc.p.stderr())
	}
	if out := lc.p.stdout(); !strings.HasSuffix(out, "stopped\n") {
		t.Errorf("sluice local did not print \"stopped\" last:\n%s", out)
	}
	if !waitNoProcs(lc.dataDir, 10*time.Second) {
		t.Fatalf("sluice processes still run in %s after sluice local stopped: %v", lc.dataDir, sluiceProcs(lc.dataDir))
	}
}

// writeRandom writes n random bytes to dir/name and returns them.
func writeRandom(t testing.TB, dir, name string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

var locationExecutor = regexp.MustCompile(`(?m)^  executor (\d+) `)

// holders returns the IDs of the executors that `sluice fs location` shows for path.
func (lc *localCluster) holders(t testing.TB, path string) []string {
	t.Helper()
	out := lc.mustSluice(t, "fs", "location", path)
	var ids []string
	for _, m := range locationExecutor.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(ids, m[1]) {
			ids = append(ids, m[1])
		}
	}
	return ids
}

func TestLocal_StartsQuickly(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := t.TempDir()
	lc := startLocal(t, dir, 2, "local")
	lc.mustSluice(t, "fs", "ls", "/")
	if r := lc.report(t); !r.GetMaster().GetIsLeader() {
		t.Errorf("the master does not lead: %v", r.GetMaster())
	}
	lc.interrupt(t)
}

func TestLocal_ExecutorKill(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := t.TempDir()
	lc := startLocal(t, dir, 2, "local")
	data := writeRandom(t, dir, "data.bin", 300<<10)
	lc.mustSluice(t, "fs", "put", "--write-type", "CACHE_THROUGH", "data.bin", "/persisted.bin")
	lc.mustSluice(t, "fs", "put", "--write-type", "MUST_CACHE", "data.bin", "/cached.bin")

	holders := lc.holders(t, "/cached.bin")
	if len(holders) == 0 {
		t.Fatal("fs location shows no executor for the MUST_CACHE file")
	}
	before := lc.report(t)
	var victim int32
	var others []string
	for _, e := range liveExecutors(before) {
		if fmt.Sprint(e.GetId()) == holders[0] {
			victim = e.GetPid()
		} else {
			others = append(others, fmt.Sprint(e.GetId()))
		}
	}
	if victim <= 0 {
		t.Fatalf("report has no PID for executor %s: %v", holders[0], before.GetExecutors())
	}
	if slices.ContainsFunc(holders, func(h string) bool { return slices.Contains(others, h) }) {
		t.Logf("the MUST_CACHE file has blocks on several executors %v; killing %s", holders, holders[0])
	}
	t.Logf("killing executor %s (pid %d), which holds /cached.bin", holders[0], victim)
	if err := syscall.Kill(int(victim), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	// The executor is relaunched (two live executors, none with the old PID) with empty
	// storage; the MUST_CACHE file is LOST.
	after := lc.waitLive(t, 2, []int32{victim})
	eventually(t, waitLong, "the MUST_CACHE file is reported LOST", func() error {
		after = lc.report(t)
		for _, f := range after.GetLostFiles() {
			if f.GetPath() == "/cached.bin" {
				return nil
			}
		}
		return fmt.Errorf("lost files: %v", after.GetLostFiles())
	})
	for _, e := range liveExecutors(after) {
		if slices.Contains(others, fmt.Sprint(e.GetId())) {
			continue
		}
		if e.GetBlockCount() != 0 || e.GetUsedBytes() != 0 {
			t.Errorf("relaunched executor %d (pid %d) holds %d blocks, %d bytes; want empty storage",
				e.GetId(), e.GetPid(), e.GetBlockCount(), e.GetUsedBytes())
		}
	}
	if got := after.GetLostFiles(); len(got) != 1 {
		t.Errorf("want only /cached.bin lost, got %v", got)
	}

	text := lc.mustSluice(t, "report")
	for _, want := range []string{"Executors:       2 live", "Lost files: 1\n  /cached.bin ("} {
		if !strings.Contains(text, want) {
			t.Errorf("sluice report lacks %q:\n%s", want, text)
		}
	}
	if st := lc.mustSluice(t, "fs", "stat", "/cached.bin"); !regexp.MustCompile(`(?m)^Persistence:\s+LOST$`).MatchString(st) {
		t.Errorf("fs stat of the lost file does not say LOST:\n%s", st)
	}
	wantFailure(t, lc.sluice(t, "fs", "cat", "/cached.bin"), "cat: /cached.bin: File is lost")

	// The persisted file reads back whole, from the UFS or a surviving copy.
	if got := lc.mustSluice(t, "fs", "cat", "/persisted.bin"); !bytes.Equal([]byte(got), data) {
		t.Errorf("the persisted file reads back %d bytes that differ from the %d written", len(got), len(data))
	}
	if st := lc.mustSluice(t, "fs", "stat", "-f", "%p %b", "/persisted.bin"); st != fmt.Sprintf("PERSISTED %d\n", len(data)) {
		t.Errorf("fs stat -f '%%p %%b' /persisted.bin = %q", st)
	}
	lc.interrupt(t)
}

func TestLocal_RestartKeepsData(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := t.TempDir()
	lc := startLocal(t, dir, 2, "local")
	cached := writeRandom(t, dir, "cached.bin", 200<<10)
	persisted := writeRandom(t, dir, "persisted.bin", 100<<10)
	lc.mustSluice(t, "fs", "mkdir", "-p", "/keep/deep")
	lc.mustSluice(t, "fs", "put", "-t", "MUST_CACHE", "cached.bin", "/keep/cached.bin")
	lc.mustSluice(t, "fs", "put", "-t", "CACHE_THROUGH", "persisted.bin", "/keep/deep/persisted.bin")
	lc.mustSluice(t, "fs", "mv", "/keep/cached.bin", "/keep/renamed.bin")
	wantLs := lc.mustSluice(t, "fs", "ls", "-R", "/keep")
	lc.interrupt(t)

	lc = startLocal(t, dir, 2, "local")
	if got := lc.mustSluice(t, "fs", "ls", "-R", "/keep"); got != wantLs {
		t.Errorf("fs ls -R /keep after the restart:\n%s\nbefore:\n%s", got, wantLs)
	}
	if st := lc.mustSluice(t, "fs", "stat", "-f", "%p %m", "/keep/renamed.bin"); st != "NOT_PERSISTED 100\n" {
		t.Errorf("the MUST_CACHE file after the restart: fs stat -f '%%p %%m' = %q, want it cached and not persisted", st)
	}
	if len(lc.holders(t, "/keep/renamed.bin")) == 0 {
		t.Error("fs location shows no executor holding the MUST_CACHE file after the restart")
	}
	if got := lc.mustSluice(t, "fs", "cat", "/keep/renamed.bin"); !bytes.Equal([]byte(got), cached) {
		t.Errorf("the MUST_CACHE file reads back %d bytes that differ from the %d written", len(got), len(cached))
	}
	if got := lc.mustSluice(t, "fs", "cat", "/keep/deep/persisted.bin"); !bytes.Equal([]byte(got), persisted) {
		t.Errorf("the persisted file reads back %d bytes that differ from the %d written", len(got), len(persisted))
	}
	if r := lc.report(t); len(r.GetLostFiles()) != 0 || r.GetPersistence().GetLost() != 0 {
		t.Errorf("files lost over a clean restart: %v", r.GetLostFiles())
	}
	lc.interrupt(t)
}

// TestLocal_KillNineLeavesNoOrphans kills `sluice local` itself with SIGKILL: its
// executors must not outlive it, and a new start in the same folder finds the journal
// and the blocks the executors kept in memory.
func TestLocal_KillNineLeavesNoOrphans(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := t.TempDir()
	lc := startLocal(t, dir, 2, "local")
	data := writeRandom(t, dir, "data.bin", 100<<10)
	lc.mustSluice(t, "fs", "put", "-t", "MUST_CACHE", "data.bin", "/cached.bin")
	lc.mustSluice(t, "fs", "mkdir", "/acknowledged")
	if err := lc.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	lc.p.wait(t, waitLong)
	if !waitNoProcs(lc.dataDir, 10*time.Second) {
		t.Fatalf("executors outlived the killed sluice local: %v", sluiceProcs(lc.dataDir))
	}

	lc = startLocal(t, dir, 2, "local")
	if r := lc.sluice(t, "fs", "test", "-d", "/acknowledged"); r.code != 0 {
		t.Errorf("/acknowledged is gone after the crash: %v", r)
	}
	if got := lc.mustSluice(t, "fs", "cat", "/cached.bin"); !bytes.Equal([]byte(got), data) {
		t.Errorf("the MUST_CACHE file reads back %d bytes that differ from the %d written", len(got), len(data))
	}
	lc.interrupt(t)
}

// BenchmarkLocalStartup measures the time from the exec of `sluice local` (no flags
// but free ports, in a new directory) to the first `sluice fs ls /` that succeeds; the
// target is under 2 seconds.
func BenchmarkLocalStartup(b *testing.B) {
	needBinary(b)
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		master := fmt.Sprintf("127.0.0.1:%d", freePort(b))
		env := sluiceEnv(masterEnv(master))
		_, port, _ := strings.Cut(master, ":")
		b.StartTimer()
		p := startProc(b, "local", dir, sluiceEnv(), "local", "--master-port", port, "--web-port", "0", "--executor-port", "0")
		eventually(b, waitLong, "fs ls / succeeds", func() error {
			if p.exited() {
				b.Fatalf("sluice local exited: %s", p.stderr())
			}
			if r := run(b, dir, env, "fs", "ls", "/"); r.code != 0 {
				return fmt.Errorf("%v", r)
			}
			return nil
		})
		b.StopTimer()
		lc := &localCluster{p: p, dir: dir, dataDir: filepath.Join(dir, "sluice-data")}
		p.childrenIn = lc.dataDir
		eventually(b, waitLong, "the banner", func() error {
			if !strings.Contains(p.stdout(), "Press Ctrl-C to stop.") {
				return fmt.Errorf("no banner yet")
			}
			return nil
		})
		for _, m := range bannerMem.FindAllStringSubmatch(p.stdout(), -1) {
			lc.memDirs = append(lc.memDirs, m[1])
		}
		lc.interrupt(b)
		lc.removeMemDirs()
		b.StartTimer()
	}
}
