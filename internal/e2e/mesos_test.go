package e2e

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/integrations/mesos/mesostest"
)

// The Mesos tests run `sluice framework mesos run` (the test's sluice binary) against
// the in-process stand-in Mesos master and agents (integrations/mesos/mesostest), which
// launch the master and the executors (`sluice executor` under the Mesos executor API)
// and the lineage jobs as real processes on this machine.

// mesosCluster is a stand-in Mesos and the Sluice framework running on it.
type mesosCluster struct {
	dir    string
	mesos  *mesostest.Master
	fwPort int
	fw     *proc
	// runs counts the framework processes started (their outputs are fw-<n>.*).
	runs   int
	master string
	env    []string
	// teardown adds --teardown-on-exit to the framework's flags.
	teardown bool
	// extra are more flags of the framework (later ones win).
	extra []string
}

// startMesos starts the stand-in with agents agents (mesosAgent).
func startMesos(t *testing.T, dir string, agents int) *mesostest.Master {
	t.Helper()
	var cfgs []mesostest.AgentConfig
	for i := range agents {
		cfgs = append(cfgs, mesosAgent(i))
	}
	return startMesosAgents(t, dir, cfgs)
}

// startMesosAgents starts the stand-in with the given agents.
func startMesosAgents(t *testing.T, dir string, agents []mesostest.AgentConfig) *mesostest.Master {
	t.Helper()
	cfg := mesostest.DefaultConfig()
	cfg.WorkDir = filepath.Join(dir, "mesos")
	cfg.AllocationInterval = 200 * time.Millisecond
	cfg.HeartbeatInterval = 2 * time.Second
	cfg.StatusUpdateRetryInterval = time.Second
	cfg.StatusUpdateRetryMax = 5 * time.Second
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	cfg.Agents = agents
	m, err := mesostest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// mesosAgent is the configuration of stand-in agent i: enough for the master or an
// executor plus a few jobs, the test's environment without SLUICE_* variables.
func mesosAgent(i int) mesostest.AgentConfig {
	// The agents have this machine's host name, as a real agent here would: executors
	// advertise it, and `sluice report` shows the PIDs of executors on this host.
	host, _ := os.Hostname()
	return mesostest.AgentConfig{
		ID:       "agent-" + strconv.Itoa(i),
		Hostname: host,
		// Ports below the kernel's ephemeral range (32768 and up), a range per agent.
		Resources: &mesostest.Resources{CPUs: 4, MemMB: 4096, DiskMB: 10240,
			Ports: []mesostest.PortRange{{Begin: 21000 + uint64(i)*1000, End: 21999 + uint64(i)*1000}}},
		Environment: sluiceEnv(),
	}
}

// frameworkArgs are the arguments of `sluice framework mesos run` in the tests.
func (mc *mesosCluster) frameworkArgs() []string {
	args := []string{"framework", "mesos", "run",
		"--mesos-master", mc.mesos.Addr(),
		"--executors", "3",
		"--rpc-addr", "127.0.0.1:" + strconv.Itoa(mc.fwPort),
		"--framework-id-file", filepath.Join(mc.dir, "framework-id"),
		"--failover-timeout", "10m",
		"--task-bind-host", "127.0.0.1",
		"--root-ufs", fileURL(filepath.Join(mc.dir, "ufs")),
		"--master-journal-dir", filepath.Join(mc.dir, "journal"),
		"--executor-cpu", "0.5", "--executor-mem", "256MiB", "--mem-tier-size", "256MiB",
		"--master-cpu", "0.5", "--master-mem", "512MiB",
		// Checkpoints are held back (one byte a second), so that outputs live only in
		// executor memory; lost executors are noticed at once (EXECUTOR_LOST) or after 3 s.
		"--master-arg=--checkpoint-bandwidth", "--master-arg=1",
		"--master-arg=--heartbeat-timeout", "--master-arg=3s",
	}
	if mc.teardown {
		args = append(args, "--teardown-on-exit")
	}
	return append(args, mc.extra...)
}

// startFramework starts the framework scheduler and waits until it printed the
// master's address and n executors running.
func (mc *mesosCluster) startFramework(t *testing.T) {
	t.Helper()
	mc.runs++
	mc.fw = startProc(t, "fw-"+strconv.Itoa(mc.runs), mc.dir, sluiceEnv(), mc.frameworkArgs()...)
	eventually(t, waitLong, "framework prints the master address", func() error {
		if mc.fw.exited() {
			t.Fatalf("framework exited:\n%s\n%s", mc.fw.stdout(), mc.fw.stderr())
		}
		if !mc.findMaster("") {
			return fmt.Errorf("no master line yet:\n%s", mc.fw.stdout())
		}
		return nil
	})
}

// findMaster sets the master's address from the framework's last "master ADDR (task
// ID)" line, if there is one and its task is not notTask; it reports whether it did.
func (mc *mesosCluster) findMaster(notTask string) bool {
	all := regexp.MustCompile(`(?m)^master (\S+) \(task (\S+)\)$`).FindAllStringSubmatch(mc.fw.stdout(), -1)
	if len(all) == 0 || all[len(all)-1][2] == notTask {
		return false
	}
	mc.master = all[len(all)-1][1]
	mc.env = sluiceEnv(masterEnv(mc.master))
	return true
}

// frameworkID is the framework ID the framework printed.
func (mc *mesosCluster) frameworkID(t *testing.T) string {
	t.Helper()
	var id string
	eventually(t, waitLong, "framework subscribed", func() error {
		m := regexp.MustCompile(`(?m)^framework (\S+) subscribed$`).FindStringSubmatch(mc.fw.stdout())
		if m == nil {
			return fmt.Errorf("not subscribed yet:\n%s", mc.fw.stdout())
		}
		id = m[1]
		return nil
	})
	return id
}

// activeTasks returns the stand-in's live tasks of the framework, executors (custom
// executor tasks) and others apart.
func (mc *mesosCluster) activeTasks() (executors, others []mesostest.TaskState) {
	for _, ts := range mc.mesos.Tasks() {
		if !ts.Active || ts.State != mesosv1.TASK_RUNNING {
			continue
		}
		if strings.HasPrefix(ts.ID, "executor-") {
			executors = append(executors, ts)
		} else {
			others = append(others, ts)
		}
	}
	return executors, others
}

// waitExecutors waits until the master lists n live executors, each a running Mesos
// executor task, none of them in gone (task IDs), on n distinct agents.
func (mc *mesosCluster) waitExecutors(t *testing.T, n int, gone []string) map[string]*sluicepb.ExecutorInfo {
	t.Helper()
	var live map[string]*sluicepb.ExecutorInfo
	eventually(t, waitLong, fmt.Sprintf("%d live executors", n), func() error {
		cl, err := client.New(t.Context(), sdkConfig(mc.master))
		if err != nil {
			return err
		}
		defer cl.Close()
		l, err := cl.Executors(t.Context(), false)
		if err != nil {
			return err
		}
		live = make(map[string]*sluicepb.ExecutorInfo)
		for _, e := range l {
			if e.GetState() == sluicepb.ExecutorState_EXECUTOR_STATE_LIVE {
				live[e.GetTaskId()] = e
			}
		}
		execs, _ := mc.activeTasks()
		agents := make(map[string]bool)
		for _, ts := range execs {
			agents[ts.AgentID] = true
			if live[ts.ID] == nil {
				return fmt.Errorf("mesos executor task %s is not a live Sluice executor (live: %v)", ts.ID, keys(live))
			}
		}
		switch {
		case len(live) != n || len(execs) != n:
			return fmt.Errorf("%d live executors, %d running executor tasks", len(live), len(execs))
		case len(agents) != n:
			return fmt.Errorf("executors on %d agents", len(agents))
		}
		for _, g := range gone {
			if live[g] != nil {
				return fmt.Errorf("executor task %s still live", g)
			}
		}
		return nil
	})
	return live
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// masterLog is the running master's log (its task's stderr), "" while none runs.
func (mc *mesosCluster) masterLog() string {
	_, others := mc.activeTasks()
	for _, ts := range others {
		if strings.HasPrefix(ts.ID, "master-") {
			return readFile(filepath.Join(ts.Sandbox, "stderr"))
		}
	}
	return ""
}

// resubscribedLine is what the master logs when it follows the events of a restarted
// framework service (a new epoch) again.
const resubscribedLine = "framework scheduler events missed"

// waitLossReported waits until the running master's log says the framework service
// reported executor task id lost (EXECUTOR_LOST), rather than its heartbeats timing out.
func (mc *mesosCluster) waitLossReported(t *testing.T, id string) {
	t.Helper()
	eventually(t, waitLong, "master hears of the loss of "+id, func() error {
		for _, line := range strings.Split(mc.masterLog(), "\n") {
			if strings.Contains(line, "executor loss reported") && strings.Contains(line, "task_id="+id) {
				return nil
			}
		}
		return fmt.Errorf("no loss report for %s in the master's log", id)
	})
}

// cleanup removes the MEM tiers the framework's executors left in /dev/shm (the
// SIGKILLed ones do not remove theirs) and checks the sandboxes' logs for race reports.
func (mc *mesosCluster) cleanup(t *testing.T, frameworkID string) {
	if frameworkID != "" {
		dirs, _ := filepath.Glob(filepath.Join("/dev/shm/sluice", "mesos-"+frameworkID+"-*"))
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
	var logs []string
	filepath.WalkDir(filepath.Join(mc.dir, "mesos"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (d.Name() == "stderr" || d.Name() == "stdout") {
			logs = append(logs, p)
		}
		return nil
	})
	checkNoRace(t, logs...)
	if t.Failed() {
		for _, l := range logs {
			if strings.Contains(l, "master-") || strings.Contains(l, "executor-") {
				dumpFile(t, l)
			}
		}
	}
}

// TestMesos_Framework runs Sluice as a Mesos framework on the stand-in with three agents
// (a fourth is added later): the framework brings up a master and three executors;
// examples/pipeline.sh runs its jobs as Mesos tasks and SIGKILLs the executor holding
// the final output (TASK_FAILED: the executor is relaunched from a new offer and the
// lost outputs are recomputed as Mesos tasks, identical); a restarted framework
// scheduler re-subscribes with the same framework ID and takes the running master and
// executors back without launching others; an agent removed from Mesos is reported lost
// and its executor replaced on the free agent.
func TestMesos_Framework(t *testing.T) {
	needBinary(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("pipeline.sh needs bash")
	}
	t.Parallel()
	dir := t.TempDir()
	mc := &mesosCluster{dir: dir, mesos: startMesos(t, dir, 3), fwPort: freePort(t)}
	mc.startFramework(t)
	fwID := mc.frameworkID(t)
	t.Cleanup(func() { mc.cleanup(t, fwID) })
	before := mc.waitExecutors(t, 3, nil)
	web := regexp.MustCompile(`(?m)^web UI (http://\S+)$`).FindStringSubmatch(mc.fw.stdout())
	if web == nil {
		t.Errorf("framework printed no web UI address:\n%s", mc.fw.stdout())
	} else if resp, err := http.Get(web[1] + "/healthz"); err != nil {
		t.Errorf("master web UI: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s/healthz: %s", web[1], resp.Status)
		}
	}
	t.Logf("framework %s: master %s, executors %v", fwID, mc.master, keys(before))

	// The pipeline: three jobs as Mesos command tasks, the executor holding the final
	// output SIGKILLed (the stand-in agent reports TASK_FAILED), the outputs recomputed
	// by new Mesos tasks. --keep keeps the job programs (in dir) for the recomputes that
	// later losses need.
	pipe := exec.CommandContext(t.Context(), "bash", filepath.Join("..", "..", "examples", "pipeline.sh"),
		"--size", "1", "--top", "5", "--prefix", "/pipeline", "--keep")
	pipe.Env = append(mc.env, "SLUICE_BIN="+sluiceBin, "TIMEOUT=120", "TMPDIR="+dir)
	out, err := pipe.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("pipeline.sh: %v\n%s\nframework:\n%s", err, text, mc.fw.stdout())
	}
	for _, want := range []string{"identical: ", "(topn)"} {
		if !strings.Contains(text, want) {
			t.Errorf("pipeline.sh output lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`job \d+ topn: COMPLETED, 2 attempt\(s\)`).MatchString(text) {
		t.Errorf("pipeline.sh does not show topn completed after a second attempt:\n%s", text)
	}
	var jobTasks int
	for _, ts := range mc.mesos.Tasks() {
		if !strings.HasPrefix(ts.ID, "executor-") && !strings.HasPrefix(ts.ID, "master-") {
			jobTasks++
		}
	}
	if jobTasks < 4 {
		t.Errorf("%d job tasks ran on Mesos, want the 3 jobs and at least one recompute", jobTasks)
	}
	if !regexp.MustCompile(`(?m)^executor task executor-\S+ failed: `).MatchString(mc.fw.stdout()) {
		t.Errorf("framework did not report the killed executor as failed:\n%s", mc.fw.stdout())
	}
	afterKill := mc.waitExecutors(t, 3, nil)
	for id := range before {
		if afterKill[id] == nil {
			mc.waitLossReported(t, id)
		}
	}
	if slices.Equal(keys(afterKill), keys(before)) {
		t.Errorf("executors %v unchanged after the kill", keys(before))
	}
	top := mustRun(t, dir, mc.env, "fs", "cat", "/pipeline/top")

	// A restarted framework scheduler takes its tasks back.
	if err := mc.fw.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := mc.fw.wait(t, waitLong); code != 0 {
		t.Fatalf("framework exited %d after Ctrl-C:\n%s", code, mc.fw.stderr())
	}
	if !strings.Contains(mc.fw.stdout(), "leaving the tasks running for failover") {
		t.Errorf("framework did not say it leaves its tasks:\n%s", mc.fw.stdout())
	}
	_, othersBefore := mc.activeTasks()
	oldMaster := mc.master
	resubscribed := strings.Count(mc.masterLog(), resubscribedLine)
	mc.startFramework(t)
	if id := mc.frameworkID(t); id != fwID {
		t.Fatalf("restarted framework subscribed as %s, want %s", id, fwID)
	}
	if mc.master != oldMaster {
		t.Errorf("master %s after the restart, want %s (the same task)", mc.master, oldMaster)
	}
	adopted := mc.waitExecutors(t, 3, nil)
	if !slices.Equal(keys(adopted), keys(afterKill)) {
		t.Errorf("executors after the restart %v, want the same tasks %v", keys(adopted), keys(afterKill))
	}
	if _, others := mc.activeTasks(); len(others) != len(othersBefore) {
		t.Errorf("running non-executor tasks %d after the restart, %d before (a second master?)", len(others), len(othersBefore))
	}
	if got := mustRun(t, dir, mc.env, "fs", "cat", "/pipeline/top"); got != top {
		t.Errorf("/pipeline/top after the framework restart differs")
	}

	// The master follows the restarted framework service's events (it reads on from the
	// oldest event the new service remembers, so no loss report is missed).
	eventually(t, waitLong, "master follows the restarted framework's events", func() error {
		if strings.Count(mc.masterLog(), resubscribedLine) <= resubscribed {
			return fmt.Errorf("master log has no new %q line", resubscribedLine)
		}
		return nil
	})

	// An agent removed from Mesos: its executor is reported lost and replaced on a new
	// agent.
	if _, err := mc.mesos.AddAgent(mesosAgent(3)); err != nil {
		t.Fatal(err)
	}
	execs, others := mc.activeTasks()
	masterAgent := ""
	for _, ts := range others {
		if strings.HasPrefix(ts.ID, "master-") {
			masterAgent = ts.AgentID
		}
	}
	var victim mesostest.TaskState
	for _, ts := range execs {
		if ts.AgentID != masterAgent {
			victim = ts
		}
	}
	if victim.ID == "" {
		t.Fatalf("no executor off the master's agent %s: %v", masterAgent, execs)
	}
	if err := mc.mesos.RemoveAgent(victim.AgentID); err != nil {
		t.Fatal(err)
	}
	replaced := mc.waitExecutors(t, 3, []string{victim.ID})
	mc.waitLossReported(t, victim.ID)
	t.Logf("agent %s removed: executor %s replaced, executors now %v", victim.AgentID, victim.ID, keys(replaced))
	eventually(t, waitLong, "framework reports the lost executor", func() error {
		if !strings.Contains(mc.fw.stdout(), "executor task "+victim.ID+" lost") {
			return fmt.Errorf("no loss line for %s:\n%s", victim.ID, mc.fw.stdout())
		}
		return nil
	})
	if got := mustRun(t, dir, mc.env, "fs", "cat", "/pipeline/top"); got != top {
		t.Errorf("/pipeline/top after the agent loss differs")
	}

	// The master found the restarted framework service: a job runs as a Mesos task.
	job := strings.TrimSpace(mustRun(t, dir, mc.env, "job", "submit", "--name", "after-restart", "--output", "/after-restart",
		"--", buildLineageJob(t), "--size", "4096", "--seed", "7"))
	mustRun(t, dir, mc.env, "job", "wait", "--timeout", "100s", job)
	if !slices.ContainsFunc(mc.mesos.Tasks(), func(ts mesostest.TaskState) bool { return strings.HasPrefix(ts.ID, "after-restart.") }) {
		t.Errorf("job %s did not run as a Mesos task", job)
	}
	jobOut := mustRun(t, dir, mc.env, "fs", "cat", "/after-restart")

	// The master dies: it is relaunched from a new offer with its journal, and the
	// cluster serves again (the executors are relaunched if its address changed; the
	// job's output is then recomputed).
	_, others = mc.activeTasks()
	var oldMasterTask string
	for _, ts := range others {
		if strings.HasPrefix(ts.ID, "master-") {
			oldMasterTask = ts.ID
		}
	}
	if err := mc.mesos.KillTaskProcess(oldMasterTask); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "a new master task runs", func() error {
		if !mc.findMaster(oldMasterTask) {
			return fmt.Errorf("no new master line:\n%s", mc.fw.stdout())
		}
		return nil
	})
	t.Logf("master relaunched at %s (executors relaunched for a new address: %v)", mc.master,
		strings.Contains(mc.fw.stdout(), "master moved from"))
	if !strings.Contains(mc.fw.stdout(), "master task "+oldMasterTask+" failed") {
		t.Errorf("framework did not report the master's failure:\n%s", mc.fw.stdout())
	}
	mc.waitExecutors(t, 3, nil)
	if got := run(t, dir, mc.env, "fs", "cat", "/after-restart"); got.code != 0 || got.stdout != jobOut {
		t.Errorf("/after-restart after the master's relaunch: %v", got)
	}

	// --teardown-on-exit: a framework that took the tasks back stops them all on Ctrl-C
	// and forgets its framework ID.
	if err := mc.fw.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	mc.fw.wait(t, waitLong)
	mc.teardown = true
	mc.startFramework(t)
	mc.waitExecutors(t, 3, nil)
	if err := mc.fw.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := mc.fw.wait(t, waitLong); code != 0 {
		t.Fatalf("framework exited %d after Ctrl-C with --teardown-on-exit:\n%s", code, mc.fw.stderr())
	}
	if out := mc.fw.stdout(); !strings.HasSuffix(out, "torn down\n") {
		t.Errorf("framework did not print \"torn down\" last:\n%s", out)
	}
	eventually(t, waitLong, "every task of the framework ended", func() error {
		for _, ts := range mc.mesos.Tasks() {
			if ts.FrameworkID == fwID && ts.Active && ts.State == mesosv1.TASK_RUNNING {
				return fmt.Errorf("task %s still %s", ts.ID, ts.State)
			}
		}
		return nil
	})
	if fileExists(filepath.Join(dir, "framework-id")) {
		t.Errorf("the framework ID file is still there after the teardown")
	}
}
