package mesos

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
)

// How a framework tells `sluice executor` what to run (the scheduler side builds the
// TaskInfo, the executor adapter reads it with taskInfo):
//   - TaskInfo.data holds TaskData as JSON: the task's environment. Mesos refuses a task
//     that has both an executor and a command, so the environment of an executor's task
//     cannot travel in TaskInfo.command.
//   - The label LabelPortNames ("rpc,http") names the task's port resources in order
//     (ranges expanded from low to high); each becomes SLUICE_PORT_<NAME> in the
//     environment unless TaskData already sets it.
//   - SLUICE_TASK_ID is always the Mesos TaskID.

// LabelPortNames is the TaskInfo label that names the task's ports, comma-separated, in
// the order of its port resources.
const LabelPortNames = "sluice.ports"

// maxTaskData bounds the TaskInfo data the executor decodes.
const maxTaskData = 1 << 20

// TaskData is the JSON document a Sluice framework puts in TaskInfo.data.
type TaskData struct {
	// Env is added to the task's environment (SLUICE_MASTER, SLUICE_MEM_SIZE, …).
	Env map[string]string `json:"env,omitempty"`
}

// EncodeTaskData returns d as TaskInfo data.
func EncodeTaskData(d TaskData) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode task data: %w", err)
	}
	return b, nil
}

// DecodeTaskData parses TaskInfo data written by EncodeTaskData. Empty data is an empty
// TaskData. Errors wrap ErrBadTaskData.
func DecodeTaskData(b []byte) (TaskData, error) {
	var d TaskData
	if len(b) == 0 {
		return d, nil
	}
	if len(b) > maxTaskData {
		return d, fmt.Errorf("%d bytes, more than %d: %w", len(b), maxTaskData, ErrBadTaskData)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return TaskData{}, fmt.Errorf("%v: %w", err, ErrBadTaskData)
	}
	for k := range d.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return TaskData{}, fmt.Errorf("environment name %q: %w", k, ErrBadTaskData)
		}
	}
	return d, nil
}

// TaskInfo is what the executor adapter tells its run function about the task.
type TaskInfo struct {
	// ID is the Mesos TaskID value; Name the task's name.
	ID, Name string
	// AgentID is the agent's ID; Host its host name (from the SUBSCRIBED event), which the
	// task advertises to its clients.
	AgentID, Host string
	// Env is the task's environment: TaskData.Env, SLUICE_PORT_<NAME> for named ports,
	// and SLUICE_TASK_ID.
	Env map[string]string
	// Ports maps each name of LabelPortNames to its port.
	Ports map[string]int
	// Labels are the task's labels.
	Labels map[string]string
}

// envTaskID is the variable every Sluice task receives its ID in (scheduler.EnvTaskID).
const envTaskID = "SLUICE_TASK_ID"

// PortEnv returns the environment variable of a named port: SLUICE_PORT_<NAME>, the name
// upper-cased with '-' and '.' as '_' (the scheduler.Resources.Ports convention).
func PortEnv(name string) string {
	return "SLUICE_PORT_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
}

// taskInfo converts a launched task. Errors wrap ErrBadTaskData.
func taskInfo(t mesosv1.TaskInfo, host string) (TaskInfo, error) {
	ti := TaskInfo{
		ID:      t.TaskID.Value,
		Name:    t.Name,
		AgentID: t.AgentID.Value,
		Host:    host,
		Env:     make(map[string]string),
		Ports:   make(map[string]int),
		Labels:  make(map[string]string),
	}
	if t.Labels != nil {
		for _, l := range t.Labels.Labels {
			ti.Labels[l.Key] = l.GetValue()
		}
	}
	d, err := DecodeTaskData(t.Data)
	if err != nil {
		return TaskInfo{}, fmt.Errorf("task %s data: %w", ti.ID, err)
	}
	maps.Copy(ti.Env, d.Env)
	if names := ti.Labels[LabelPortNames]; names != "" {
		ports := portsOf(t.Resources)
		for i, name := range strings.Split(names, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				return TaskInfo{}, fmt.Errorf("task %s: empty name in label %s=%q: %w", ti.ID, LabelPortNames, names, ErrBadTaskData)
			}
			if i >= len(ports) {
				return TaskInfo{}, fmt.Errorf("task %s: port %q has no port resource (%d given): %w", ti.ID, name, len(ports), ErrBadTaskData)
			}
			ti.Ports[name] = ports[i]
			if _, set := ti.Env[PortEnv(name)]; !set {
				ti.Env[PortEnv(name)] = strconv.Itoa(ports[i])
			}
		}
	}
	ti.Env[envTaskID] = ti.ID
	return ti, nil
}

// portsOf lists the ports of the "ports" resources, ranges expanded in order. A range
// wider than 64 ports is cut: a task names a few ports, never thousands.
func portsOf(rs []mesosv1.Resource) []int {
	var out []int
	for _, r := range rs {
		if r.Name != "ports" || r.Ranges == nil {
			continue
		}
		for _, rg := range r.Ranges.Range {
			for p := rg.Begin; p <= rg.End && p <= 65535 && p-rg.Begin < 64; p++ {
				out = append(out, int(p))
			}
		}
	}
	return out
}
