package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/integrations/nomad"
	"github.com/sluicedata/sluice/internal/nomadtest"
)

// The Nomad tests deploy Sluice on a real Nomad dev agent (internal/nomadtest: one
// node on 127.0.0.1) with `sluice framework nomad deploy`, the test's race-built binary
// running as the masters, the framework sidecar and the executors (raw_exec), and the
// lineage jobs running as Nomad batch jobs that the sidecar registers.

// nomadWait bounds a deploy, a teardown or the replacement of an allocation.
const nomadWait = 5 * time.Minute

// nomadPrefix is the job prefix of the test's deployment.
const nomadPrefix = "e2e"

// nomadCluster is one deployment on a dev agent.
type nomadCluster struct {
	agent  *nomadtest.Agent
	api    *api.Client
	dir    string
	master string // SLUICE_MASTER of the deployment
}

// sluiceLong runs the binary like run, bounded by nomadWait instead of commandTimeout.
func sluiceLong(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	return runWithin(t, nomadWait+time.Minute, dir, env, args...)
}

// deployArgs are the flags of a small deployment of one master and n executors on the
// agent, with the master's static ports picked free and its data under the test's
// directory. Checkpoints go at one byte a second (SLUICE_CHECKPOINT_BANDWIDTH for the
// master), so that lineage outputs stay in executor memory only.
func (nc *nomadCluster) deployArgs(t *testing.T, prefix string, executors int) []string {
	return []string{
		"framework", "nomad", "deploy",
		"--nomad-addr", nc.agent.Addr(),
		"--job-prefix", prefix,
		"--executors", strconv.Itoa(executors),
		"--binary", sluiceBin,
		"--data-dir", filepath.Join(nc.dir, prefix+"-data"),
		"--master-rpc-port", strconv.Itoa(freePort(t)),
		"--master-http-port", strconv.Itoa(freePort(t)),
		"--master-raft-port", strconv.Itoa(freePort(t)),
		"--master-cpu", "0.2", "--executor-cpu", "0.2",
		"--master-mem", "256MiB", "--executor-mem", "256MiB", "--mem-tier-size", "256MiB",
		"--env", "SLUICE_CHECKPOINT_BANDWIDTH=1",
		"--env", "SLUICE_RECOMPUTE_READ_WAIT=3m",
		"--wait", nomadWait.String(),
	}
}

// nomadEnv is the environment of the test's commands: no SLUICE_* and no NOMAD_*
// variable of the developer's, plus extra.
func nomadEnv(extra ...string) []string {
	var env []string
	for _, kv := range sluiceEnv() {
		if !strings.HasPrefix(kv, "NOMAD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

var deployedMaster = regexp.MustCompile(`(?m)^SLUICE_MASTER=(\S+)$`)

// TestNomad_Deploy deploys one master and one executor on the dev agent, writes and
// reads through it, runs examples/pipeline.sh on it (its jobs as Nomad batch jobs),
// stops the executor's allocation (Nomad replaces it; the outputs that lived only there
// are recomputed by new batch jobs and read back identical), and tears it all down.
// A deploy of two executors on the one node fails with a clear message.
func TestNomad_Deploy(t *testing.T) {
	needBinary(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("pipeline.sh needs bash")
	}
	agent := nomadtest.Start(t)
	nc := &nomadCluster{agent: agent, api: agent.API(t), dir: t.TempDir()}

	t.Run("bad flags and an unreachable agent", func(t *testing.T) {
		r := run(t, nc.dir, nomadEnv(), "framework", "nomad", "deploy", "--nomad-addr", agent.Addr(), "--masters", "2")
		if r.code != 2 || !strings.Contains(r.stderr, "masters 2: want 1 or 3") {
			t.Errorf("deploy --masters 2: want exit 2 naming the flag, got %v", r)
		}
		r = run(t, nc.dir, nomadEnv(), "framework", "nomad", "deploy", "--nomad-addr", agent.Addr(), "--mem-tier-size", "lots")
		if r.code != 2 || !strings.Contains(r.stderr, "--mem-tier-size") {
			t.Errorf("deploy --mem-tier-size lots: want exit 2 naming the flag, got %v", r)
		}
		unreachable := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		r = run(t, nc.dir, nomadEnv("NOMAD_ADDR="+unreachable), "framework", "nomad", "status")
		if r.code != 1 || !strings.Contains(r.stderr, "cannot reach Nomad at "+unreachable) {
			t.Errorf("status with NOMAD_ADDR of a closed port: want exit 1 naming the address, got %v", r)
		}
	})

	t.Run("more executors than nodes", func(t *testing.T) {
		r := sluiceLong(t, nc.dir, nomadEnv(), nc.deployArgs(t, "e2etwo", 2)...)
		if r.code != 1 {
			t.Fatalf("want exit 1, got %v", r)
		}
		for _, want := range []string{"2 executors", "distinct hosts", "need 2 nodes", "only 1 ready"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not say %q: %s", want, r.stderr)
			}
		}
		if ids := nomadJobs(t, nc.api, "e2etwo"); len(ids) != 0 {
			t.Errorf("jobs registered by a refused deploy: %v", ids)
		}
	})

	r := sluiceLong(t, nc.dir, nomadEnv(), nc.deployArgs(t, nomadPrefix, 1)...)
	t.Cleanup(func() { nc.teardownOnFailure(t) })
	if r.code != 0 {
		nc.dumpAllocs(t)
		t.Fatalf("deploy: %v", r)
	}
	m := deployedMaster.FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "web UI: http://") {
		t.Fatalf("deploy printed no master address or web UI:\n%s", r.stdout)
	}
	nc.master = m[1]
	t.Logf("deployed:\n%s", r.stdout)
	env := nomadEnv(masterEnv(nc.master))

	st := mustRun(t, nc.dir, env, "framework", "nomad", "status", "--nomad-addr", agent.Addr(), "--job-prefix", nomadPrefix)
	for _, want := range []string{"e2e-master", "e2e-executor", "running healthy"} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks %q:\n%s", want, st)
		}
	}

	// Checkpoints are held back first: the first file checkpointed takes the token.
	nc.holdCheckpoints(t, env)

	// Write and read through the deployed cluster.
	data := writeRandom(t, nc.dir, "hello.bin", 3<<20+17)
	mustRun(t, nc.dir, env, "fs", "put", "hello.bin", "/hello.bin")
	if got := mustRun(t, nc.dir, env, "fs", "cat", "/hello.bin"); got != string(data) {
		t.Fatalf("fs cat /hello.bin: %d bytes differ from the %d written", len(got), len(data))
	}

	// The three stages of the example pipeline, as Nomad batch jobs.
	kept := nc.runPipeline(t, env)
	batch := nomadJobs(t, nc.api, nomadPrefix)
	if n := countLineageJobs(batch); n < 3 {
		t.Fatalf("Nomad jobs %v: want at least the 3 lineage batch jobs", batch)
	}
	before := mustRun(t, nc.dir, env, "fs", "cat", "/pipeline/top")
	attemptsBefore := countLineageJobs(batch)

	// Stop the executor's allocation: Nomad replaces it; what lived only there is lost
	// and recomputed by new batch jobs.
	old := nc.executorAllocs(t)
	if len(old) != 1 {
		t.Fatalf("executor allocations %v, want 1", old)
	}
	for _, p := range []string{"/pipeline/text", "/pipeline/counts", "/pipeline/top"} {
		if st := strings.TrimSpace(mustRun(t, nc.dir, env, "fs", "stat", "-f", "%p", p)); st == "PERSISTED" {
			t.Fatalf("%s is PERSISTED before the loss; the test needs un-checkpointed outputs", p)
		}
	}
	if _, err := nc.api.Allocations().Stop(&api.Allocation{ID: old[0], Namespace: "default"}, nil); err != nil {
		t.Fatalf("stop allocation %s: %v", old[0], err)
	}
	eventually(t, nomadWait, "Nomad replaces the stopped executor allocation", func() error {
		now := nc.healthyExecutorAllocs(t)
		if len(now) != 1 || now[0] == old[0] {
			return fmt.Errorf("healthy executor allocations %v (stopped %s)", now, old[0])
		}
		return nil
	})
	// The read waits for the recompute. A recompute that ran before the replacement
	// executor registered fails ("no executor available") and the master gives up after
	// its attempts; the next read starts it again, as pipeline.sh's read loop does.
	var after result
	eventually(t, nomadWait, "read /pipeline/top after the loss", func() error {
		after = run(t, nc.dir, env, "fs", "cat", "/pipeline/top")
		if after.code != 0 {
			return fmt.Errorf("%s", strings.TrimSpace(after.stderr))
		}
		return nil
	})
	if after.stdout != before {
		t.Fatalf("/pipeline/top after the loss differs:\nbefore:\n%s\nafter:\n%s", before, after.stdout)
	}
	if n := countLineageJobs(nomadJobs(t, nc.api, nomadPrefix)); n <= attemptsBefore {
		t.Errorf("no new Nomad batch job recomputed the lost outputs (%d lineage jobs before the loss, %d after)", attemptsBefore, n)
	}
	jobs := mustRun(t, nc.dir, env, "job", "list")
	t.Logf("jobs after the recompute:\n%s", jobs)

	// Scale: two executors cannot be placed on the one node; zero, then one again, can.
	scale := func(n int) result {
		return sluiceLong(t, nc.dir, nomadEnv(), "framework", "nomad", "scale", "--nomad-addr", agent.Addr(),
			"--job-prefix", nomadPrefix, "--executors", strconv.Itoa(n), "--wait", nomadWait.String())
	}
	if r := scale(2); r.code != 1 || !strings.Contains(r.stderr, "need 2 nodes") {
		t.Errorf("scale --executors 2 on one node: want exit 1 saying it needs 2 nodes, got %v", r)
	}
	for _, n := range []int{0, 1} {
		if r := scale(n); r.code != 0 {
			t.Fatalf("scale --executors %d: %v", n, r)
		}
		if got := len(nc.healthyExecutorAllocs(t)); got != n {
			t.Errorf("after scale --executors %d: %d healthy executor allocations", n, got)
		}
	}

	// No race report in any log of the deployment's tasks (masters, sidecar,
	// executors, lineage jobs).
	// (Not the logs' .fifo files beside them: opening one blocks.)
	logs, _ := filepath.Glob(filepath.Join(agent.DataDir(), "alloc", "*", "alloc", "logs", "*.std*.[0-9]*"))
	if len(logs) == 0 {
		t.Errorf("no task log under %s", agent.DataDir())
	}
	checkNoRace(t, logs...)

	// Teardown leaves no Sluice job registered, and no MEM tier in /dev/shm: each
	// executor allocation's poststop task removed its own.
	execAllocs, _, err := nc.api.Jobs().Allocations(nomadPrefix+"-executor", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	td := sluiceLong(t, nc.dir, nomadEnv(), "framework", "nomad", "teardown", "--nomad-addr", agent.Addr(), "--job-prefix", nomadPrefix)
	if td.code != 0 {
		t.Fatalf("teardown: %v", td)
	}
	if ids := nomadJobs(t, nc.api, nomadPrefix); len(ids) != 0 {
		t.Errorf("jobs left after teardown: %v", ids)
	}
	for _, a := range execAllocs {
		if dir := filepath.Join("/dev/shm/sluice", nomadPrefix+"-"+a.ID); dirExists(dir) {
			t.Errorf("MEM tier %s of allocation %s (%s) left after teardown", dir, a.ID, a.ClientStatus)
			os.RemoveAll(dir)
		}
	}
	if r := run(t, nc.dir, nomadEnv(), "framework", "nomad", "status", "--nomad-addr", agent.Addr(), "--job-prefix", nomadPrefix); r.code != 1 ||
		!strings.Contains(r.stderr, "no Sluice deployment") {
		t.Errorf("status after teardown: %v", r)
	}
	os.RemoveAll(kept)

	t.Run("binary from an artifact", func(t *testing.T) {
		// Nomad fetches the binary (go-getter) from a server of the test's own on
		// 127.0.0.1 into each task's local/ folder.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/dl/sluice" {
				http.NotFound(w, r)
				return
			}
			http.ServeFile(w, r, sluiceBin)
		}))
		defer srv.Close()
		args := nc.deployArgs(t, "e2eart", 0)
		i := slices.Index(args, "--binary")
		args[i], args[i+1] = "--artifact", srv.URL+"/dl/sluice"
		r := sluiceLong(t, nc.dir, nomadEnv(), args...)
		if r.code != 0 {
			t.Fatalf("deploy --artifact: %v", r)
		}
		if !strings.Contains(r.stdout, "running healthy") {
			t.Errorf("deploy --artifact shows no healthy master:\n%s", r.stdout)
		}
		td := sluiceLong(t, nc.dir, nomadEnv(), "framework", "nomad", "teardown", "--nomad-addr", agent.Addr(), "--job-prefix", "e2eart")
		if td.code != 0 {
			t.Fatalf("teardown: %v", td)
		}
		if ids := nomadJobs(t, nc.api, "e2eart"); len(ids) != 0 {
			t.Errorf("jobs left after teardown: %v", ids)
		}
	})
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// holdCheckpoints makes the deployment's checkpoint throttle (one byte a second) owe
// more than the test lasts: the first file checkpointed takes the bucket's one token,
// and a 64 KiB file leaves it 64 Ki seconds in debt (see the lineage tests).
func (nc *nomadCluster) holdCheckpoints(t *testing.T, env []string) {
	t.Helper()
	writeRandom(t, nc.dir, "checkpoint-debt.bin", 64<<10)
	mustRun(t, nc.dir, env, "fs", "put", "-t", "ASYNC_THROUGH", "checkpoint-debt.bin", "/checkpoint-debt")
	eventually(t, waitLong, "the checkpoint of /checkpoint-debt", func() error {
		if st := strings.TrimSpace(mustRun(t, nc.dir, env, "fs", "stat", "-f", "%p", "/checkpoint-debt")); st != "PERSISTED" {
			return fmt.Errorf("persistence %s", st)
		}
		return nil
	})
}

// runPipeline runs examples/pipeline.sh on the deployment with --keep (its job
// programs must stay for the recomputes) and returns its kept folder.
func (nc *nomadCluster) runPipeline(t *testing.T, env []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), nomadWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "examples", "pipeline.sh"),
		"--size", "1", "--top", "5", "--prefix", "/pipeline", "--keep")
	cmd.Env = append(env, "SLUICE_BIN="+sluiceBin, "TIMEOUT=240", "TMPDIR="+nc.dir)
	out, err := cmd.CombinedOutput()
	text := string(out)
	kept := regexp.MustCompile(`(?m)^kept (\S+)$`).FindStringSubmatch(text)
	if err != nil || kept == nil {
		nc.dumpAllocs(t)
		t.Fatalf("pipeline.sh: %v\n%s", err, text)
	}
	if !strings.Contains(text, "identical: ") {
		t.Errorf("pipeline.sh output lacks \"identical: \":\n%s", text)
	}
	t.Logf("pipeline.sh:\n%s", text)
	return kept[1]
}

// nomadJobs lists the registered jobs of the deployment prefix.
func nomadJobs(t *testing.T, c *api.Client, prefix string) []string {
	t.Helper()
	stubs, _, err := c.Jobs().List(&api.QueryOptions{Prefix: prefix + "-"})
	if err != nil {
		t.Fatalf("list Nomad jobs: %v", err)
	}
	var ids []string
	for _, s := range stubs {
		if nomad.IsDeploymentJob(prefix, s.ID) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// countLineageJobs counts the lineage batch jobs ("<prefix>-job-<id>-<attempt>").
func countLineageJobs(ids []string) int {
	n := 0
	for _, id := range ids {
		if strings.Contains(id, "-job-") {
			n++
		}
	}
	return n
}

// executorAllocs returns the IDs of the executor job's allocations that should run.
func (nc *nomadCluster) executorAllocs(t *testing.T) []string {
	return nc.allocs(t, false)
}

// healthyExecutorAllocs returns the running, healthy executor allocations.
func (nc *nomadCluster) healthyExecutorAllocs(t *testing.T) []string {
	return nc.allocs(t, true)
}

func (nc *nomadCluster) allocs(t *testing.T, healthy bool) []string {
	t.Helper()
	stubs, _, err := nc.api.Jobs().Allocations(nomadPrefix+"-executor", false, nil)
	if err != nil {
		t.Fatalf("executor allocations: %v", err)
	}
	var ids []string
	for _, a := range stubs {
		if a.DesiredStatus != api.AllocDesiredStatusRun || a.ClientStatus != api.AllocClientStatusRunning {
			continue
		}
		ok := a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil && *a.DeploymentStatus.Healthy
		if !healthy || ok {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// dumpAllocs logs the task events and the end of the logs of every allocation of the
// deployment, to explain a failure.
func (nc *nomadCluster) dumpAllocs(t *testing.T) {
	t.Helper()
	for _, job := range nomadJobs(t, nc.api, nomadPrefix) {
		stubs, _, err := nc.api.Jobs().Allocations(job, true, nil)
		if err != nil {
			continue
		}
		for _, a := range stubs {
			t.Logf("allocation %s of %s: %s/%s", a.ID, job, a.DesiredStatus, a.ClientStatus)
			for task, ts := range a.TaskStates {
				for _, e := range ts.Events {
					t.Logf("  %s: %s %s", task, e.Type, e.DisplayMessage)
				}
				for _, stream := range []string{"stdout", "stderr"} {
					p := filepath.Join(nc.agent.DataDir(), "alloc", a.ID, "alloc", "logs", task+"."+stream+".0")
					dumpFile(t, p)
					checkNoRace(t, p)
				}
			}
		}
	}
}

// teardownOnFailure removes the deployment if the test failed before its teardown, so
// that the agent stops without Sluice tasks.
func (nc *nomadCluster) teardownOnFailure(t *testing.T) {
	if !t.Failed() || len(nomadJobs(t, nc.api, nomadPrefix)) == 0 {
		return
	}
	nc.dumpAllocs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := nomad.Teardown(ctx, nc.api, nomadPrefix, nil); err != nil {
		t.Logf("teardown after the failure: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join("/dev/shm/sluice", nomadPrefix+"-*"))
	for _, dir := range left {
		os.RemoveAll(dir)
	}
}
