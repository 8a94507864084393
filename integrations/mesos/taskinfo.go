package mesos

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/sluicedata/sluice/scheduler"
)

// How a task becomes a Mesos TaskInfo (the contract with the executor adapter is in
// executor_task.go):
//   - masters and jobs are command tasks: CommandInfo with shell=false, value the program
//     and arguments the whole argv, the environment in CommandInfo.environment;
//   - executors are custom executors, one per task: an ExecutorInfo (executor ID = task
//     ID) whose command is ExecutorSpec.Wrapper followed by the task's argv, with the
//     environment in CommandInfo.environment, and a TaskInfo carrying the task's
//     resources, TaskData (the environment again) in data and the port names in the
//     label sluice.ports;
//   - Task.Dir becomes `/bin/sh -c 'cd "$0" && exec "$@"' DIR ARGV...`: Mesos has no
//     working directory for commands (they start in the sandbox);
//   - Task.Labels become TaskInfo labels; the environment holds Task.Env,
//     SLUICE_PORT_<NAME> for each port and SLUICE_TASK_ID (which Task.Env cannot
//     override).

// newTaskID returns a fresh Mesos task ID for a task named name: the name restricted
// to letters, digits, '-', '_' and '.', a dot and 12 random hex digits, so that IDs
// stay unique across scheduler restarts under the same framework ID.
func newTaskID(name string) scheduler.TaskID {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails on Linux
	return scheduler.TaskID(b.String() + "." + hex.EncodeToString(rnd[:]))
}

// taskName is the task's name, or its kind when it has none.
func taskName(t scheduler.Task) string {
	if t.Name != "" {
		return t.Name
	}
	return string(t.Kind)
}

// taskEnv is the environment of task id with its ports: Task.Env, SLUICE_PORT_<NAME>
// and SLUICE_TASK_ID.
func taskEnv(id scheduler.TaskID, t scheduler.Task, ports []uint64) map[string]string {
	env := maps.Clone(t.Env)
	if env == nil {
		env = make(map[string]string)
	}
	for i, name := range t.Resources.Ports {
		if i < len(ports) {
			env[PortEnv(name)] = strconv.FormatUint(ports[i], 10)
		}
	}
	env[scheduler.EnvTaskID] = string(id)
	return env
}

// commandInfo runs argv in dir (when set) with env, without a shell.
func commandInfo(argv []string, dir string, env map[string]string) *mesosv1.CommandInfo {
	if dir != "" {
		argv = append([]string{"/bin/sh", "-c", `cd "$0" && exec "$@"`, dir}, argv...)
	}
	shell := false
	value := argv[0]
	vars := make([]mesosv1.Environment_Variable, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v := env[k]
		vars = append(vars, mesosv1.Environment_Variable{Name: k, Value: &v})
	}
	return &mesosv1.CommandInfo{
		Shell:       &shell,
		Value:       &value,
		Arguments:   slices.Clone(argv),
		Environment: &mesosv1.Environment{Variables: vars},
	}
}

// labelsOf returns the task's labels, plus the port names label when it has ports.
func labelsOf(t scheduler.Task) *mesosv1.Labels {
	labels := maps.Clone(t.Labels)
	if len(t.Resources.Ports) > 0 {
		if labels == nil {
			labels = make(map[string]string, 1)
		}
		labels[LabelPortNames] = strings.Join(t.Resources.Ports, ",")
	}
	if len(labels) == 0 {
		return nil
	}
	out := &mesosv1.Labels{}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		out.Labels = append(out.Labels, mesosv1.Label{Key: k, Value: &v})
	}
	return out
}

// buildTaskInfo returns the TaskInfo that launches p on agent, under framework
// frameworkID; wrapper is ExecutorSpec.Wrapper.
func buildTaskInfo(frameworkID, agent string, p placement, wrapper []string) (mesosv1.TaskInfo, error) {
	t, id := p.task.task, p.task.id
	env := taskEnv(id, t, p.ports)
	ti := mesosv1.TaskInfo{
		Name:      taskName(t),
		TaskID:    mesosv1.TaskID{Value: string(id)},
		AgentID:   mesosv1.AgentID{Value: agent},
		Resources: slices.Clone(p.taskRes),
		Labels:    labelsOf(t),
	}
	if t.Kind != scheduler.KindExecutor {
		ti.Command = commandInfo(t.Command, t.Dir, env)
		return ti, nil
	}
	data, err := EncodeTaskData(TaskData{Env: env})
	if err != nil {
		return mesosv1.TaskInfo{}, err
	}
	ti.Data = data
	name := ti.Name
	ti.Executor = &mesosv1.ExecutorInfo{
		Type:        mesosv1.ExecutorInfo_CUSTOM,
		ExecutorID:  mesosv1.ExecutorID{Value: string(id)},
		FrameworkID: &mesosv1.FrameworkID{Value: frameworkID},
		Name:        &name,
		Command:     commandInfo(append(slices.Clone(wrapper), t.Command...), t.Dir, env),
		Resources:   slices.Clone(p.execRes),
	}
	return ti, nil
}
