package mesos

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/sluicedata/sluice/scheduler"
)

// placeOne places t alone on a big offer of agent a.
func placeOne(t *testing.T, task scheduler.Task, id scheduler.TaskID) placement {
	t.Helper()
	res := match(matchInput{
		offers:  []mesosv1.Offer{big("a")},
		pending: []*pendingTask{{id: id, task: task}},
		role:    "*", executor: ExecutorSpec{CPU: 0.1, MemMB: 32},
	})
	if len(res.placements) != 1 {
		t.Fatalf("task %+v not placed", task)
	}
	return res.placements[0]
}

func envOf(c *mesosv1.CommandInfo) map[string]string {
	env := make(map[string]string)
	for _, v := range c.GetEnvironment().GetVariables() {
		env[v.Name] = v.GetValue()
	}
	return env
}

func TestBuildTaskInfo_Command(t *testing.T) {
	task := scheduler.Task{
		Name: "word count", Kind: scheduler.KindJob, Command: []string{"/bin/job", "--in", "a b"},
		Env:       map[string]string{"X": "1", scheduler.EnvTaskID: "overridden"},
		Resources: scheduler.Resources{CPU: 1, MemMB: 64, Ports: []string{"http"}},
		Labels:    map[string]string{"k": "v"},
	}
	ti, err := buildTaskInfo("fw", "a", placeOne(t, task, "wc.1"), []string{"/never/used"})
	if err != nil {
		t.Fatal(err)
	}
	if ti.Executor != nil || ti.Command == nil {
		t.Fatalf("a job must be a command task: %+v", ti)
	}
	c := ti.Command
	if c.GetShell() || c.GetValue() != "/bin/job" {
		t.Errorf("command shell=%v value=%q, want no shell and /bin/job", c.GetShell(), c.GetValue())
	}
	if diff := cmp.Diff(task.Command, c.Arguments); diff != "" {
		t.Errorf("arguments (-want +got):\n%s", diff)
	}
	wantEnv := map[string]string{"X": "1", scheduler.EnvTaskID: "wc.1", "SLUICE_PORT_HTTP": "31000"}
	if diff := cmp.Diff(wantEnv, envOf(c)); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	labels := make(map[string]string)
	for _, l := range ti.Labels.GetLabels() {
		labels[l.Key] = l.GetValue()
	}
	if diff := cmp.Diff(map[string]string{"k": "v", LabelPortNames: "http"}, labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if ti.TaskID.Value != "wc.1" || ti.AgentID.Value != "a" || ti.Name != "word count" {
		t.Errorf("ids: %+v", ti)
	}
}

func TestBuildTaskInfo_Dir(t *testing.T) {
	task := scheduler.Task{Kind: scheduler.KindMaster, Command: []string{"sluice", "master"}, Dir: "/var/lib/it's"}
	ti, err := buildTaskInfo("fw", "a", placeOne(t, task, "m.1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/bin/sh", "-c", `cd "$0" && exec "$@"`, "/var/lib/it's", "sluice", "master"}
	if diff := cmp.Diff(want, ti.Command.Arguments); diff != "" || ti.Command.GetValue() != "/bin/sh" {
		t.Errorf("argv with a dir (-want +got):\n%s", diff)
	}
	if ti.Name != "master" {
		t.Errorf("a task without a name is named %q, want its kind", ti.Name)
	}
}

// TestBuildTaskInfo_Executor checks the executor's TaskInfo against the executor
// adapter's reading of it (taskInfo), the contract between the two sides.
func TestBuildTaskInfo_Executor(t *testing.T) {
	task := scheduler.Task{
		Name: "executor-0", Kind: scheduler.KindExecutor, Command: []string{"sluice", "executor", "--master", "m:1"},
		Env:       map[string]string{"SLUICE_MEM_SIZE": "1GiB"},
		Resources: scheduler.Resources{CPU: 2, MemMB: 2048, Ports: []string{"rpc", "http"}},
		Labels:    map[string]string{scheduler.LabelSlot: "executor-0"},
	}
	p := placeOne(t, task, "executor-0.1")
	ti, err := buildTaskInfo("fw-1", "a", p, []string{"/usr/bin/wrap", "--"})
	if err != nil {
		t.Fatal(err)
	}
	ex := ti.Executor
	if ex == nil || ti.Command != nil {
		t.Fatalf("an executor must be an ExecutorInfo without a command task: %+v", ti)
	}
	if ex.ExecutorID.Value != "executor-0.1" || ex.GetFrameworkID().GetValue() != "fw-1" || ex.Type != mesosv1.ExecutorInfo_CUSTOM {
		t.Errorf("executor info: %+v", ex)
	}
	wantArgv := []string{"/usr/bin/wrap", "--", "sluice", "executor", "--master", "m:1"}
	if diff := cmp.Diff(wantArgv, ex.Command.Arguments); diff != "" || ex.Command.GetValue() != "/usr/bin/wrap" || ex.Command.GetShell() {
		t.Errorf("executor argv (-want +got):\n%s", diff)
	}
	wantEnv := map[string]string{
		"SLUICE_MEM_SIZE": "1GiB", scheduler.EnvTaskID: "executor-0.1",
		"SLUICE_PORT_RPC": "31000", "SLUICE_PORT_HTTP": "31001",
	}
	if diff := cmp.Diff(wantEnv, envOf(ex.Command)); diff != "" {
		t.Errorf("executor environment (-want +got):\n%s", diff)
	}
	if got := took(ex.Resources); got != "cpus:0.1(*) mem:32(*)" {
		t.Errorf("executor resources %s", got)
	}
	// What the executor adapter reads from the TaskInfo.
	got, err := taskInfo(ti, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantEnv, got.Env); diff != "" {
		t.Errorf("environment the adapter reads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"rpc": 31000, "http": 31001}, got.Ports); diff != "" {
		t.Errorf("ports the adapter reads (-want +got):\n%s", diff)
	}
	if got.Labels[scheduler.LabelSlot] != "executor-0" {
		t.Errorf("labels the adapter reads: %v", got.Labels)
	}
}

func TestNewTaskID(t *testing.T) {
	a, b := newTaskID("executor 0/x"), newTaskID("executor 0/x")
	if a == b {
		t.Errorf("two IDs alike: %s", a)
	}
	if !regexp.MustCompile(`^executor_0_x\.[0-9a-f]{12}$`).MatchString(string(a)) {
		t.Errorf("ID %q", a)
	}
}
