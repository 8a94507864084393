package nomad

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
)

// The names inside every Nomad job the Backend registers for a scheduler.Task: one
// group and one task, so that a job has one allocation and the task ID (the job ID)
// names it.
const (
	taskGroupName = "task"
	taskTaskName  = "task"
)

// Labels the framework server sets on job launches (scheduler/framework LabelJobID and
// LabelJobAttempt); with both, the Nomad job ID is "<prefix>-job-<job>-<attempt>".
const (
	labelJobID      = "sluice.job"
	labelJobAttempt = "sluice.job_attempt"
)

// Meta keys the Backend adds to every job, beside the task's labels.
const (
	// MetaTaskKind is the scheduler.Kind of the task ("job", "executor", "master").
	MetaTaskKind = "sluice.task_kind"
	// MetaTaskName is the task's name.
	MetaTaskName = "sluice.task_name"
)

// Nomad's floors for a task's resources, and the CPU speed assumed for a core when the
// nodes do not report one.
const (
	minCPUMHz          = 1
	minMemoryMB        = 10
	minDiskMB          = 10
	defaultMHzPerCore  = 1000
	defaultKillTimeout = 5 * time.Second
	// maxIDPart bounds the sanitized name inside a job ID (Nomad allows 128 bytes).
	maxIDPart = 48
)

// jobSpec is what jobFor needs besides the task: the job's ID and the cluster facts.
type jobSpec struct {
	id          string
	driver      string
	datacenters []string
	region      string
	namespace   string
	// mhzPerCore converts Resources.CPU to Nomad's MHz.
	mhzPerCore  int
	killTimeout time.Duration
}

// jobFor builds the Nomad job that runs t: a batch job for scheduler.KindJob, a service
// job for masters and executors. Both have one group of one task, no restarts and no
// reschedules (the Scheduler and the master decide on reruns), the task's labels as
// meta, an affinity per preferred node and a dynamic port per named port.
func jobFor(s jobSpec, t scheduler.Task) *api.Job {
	jobType := api.JobTypeService
	if t.Kind == scheduler.KindJob {
		jobType = api.JobTypeBatch
	}
	meta := maps.Clone(t.Labels)
	if meta == nil {
		meta = make(map[string]string, 2)
	}
	meta[MetaTaskKind] = string(t.Kind)
	meta[MetaTaskName] = t.Name

	env := make(map[string]string, len(t.Env)+len(t.Resources.Ports)+1)
	maps.Copy(env, t.Env)
	var ports []api.Port
	for _, name := range t.Resources.Ports {
		label := portLabel(name)
		ports = append(ports, api.Port{Label: label})
		env[portEnv(name)] = "${NOMAD_PORT_" + label + "}"
	}
	env[scheduler.EnvTaskID] = s.id

	command, args := t.Command[0], slices.Clone(t.Command[1:])
	if t.Dir != "" {
		// Nomad v1.6's raw_exec and exec have no working-directory option: a shell
		// changes directory, then replaces itself with the command.
		args = append([]string{"-c", `cd -- "$0" && exec "$@"`, t.Dir, command}, args...)
		command = "/bin/sh"
	}
	killTimeout := s.killTimeout
	if killTimeout <= 0 {
		killTimeout = defaultKillTimeout
	}
	task := &api.Task{
		Name:   taskTaskName,
		Driver: s.driver,
		Config: map[string]any{
			"command": command,
			"args":    args,
		},
		Env:         env,
		Resources:   resourcesFor(t.Resources, s.mhzPerCore),
		KillTimeout: &killTimeout,
		KillSignal:  "SIGTERM",
		Meta:        meta,
		LogConfig:   &api.LogConfig{MaxFiles: ptr(2), MaxFileSizeMB: ptr(10)},
	}
	group := &api.TaskGroup{
		Name:  ptr(taskGroupName),
		Count: ptr(1),
		Tasks: []*api.Task{task},
		RestartPolicy: &api.RestartPolicy{
			Attempts: ptr(0),
			Mode:     ptr(api.RestartPolicyModeFail),
		},
		ReschedulePolicy: &api.ReschedulePolicy{
			Attempts:  ptr(0),
			Unlimited: ptr(false),
		},
		Affinities: affinitiesFor(t.PreferNodes),
	}
	if len(ports) > 0 {
		group.Networks = []*api.NetworkResource{{DynamicPorts: ports}}
	}
	if t.Resources.DiskMB > 0 {
		group.EphemeralDisk = &api.EphemeralDisk{SizeMB: ptr(int(max(t.Resources.DiskMB, minDiskMB)))}
	}
	job := &api.Job{
		ID:          ptr(s.id),
		Name:        ptr(s.id),
		Type:        ptr(jobType),
		Priority:    ptr(nomadPriority(t.Priority)),
		Datacenters: slices.Clone(s.datacenters),
		Meta:        meta,
		TaskGroups:  []*api.TaskGroup{group},
	}
	if s.region != "" {
		job.Region = ptr(s.region)
	}
	if s.namespace != "" {
		job.Namespace = ptr(s.namespace)
	}
	return job
}

// resourcesFor converts r to Nomad's units: CPU cores to MHz at mhzPerCore, memory in
// MiB; zero values keep Nomad's defaults (100 MHz, 300 MiB), others are raised to
// Nomad's minimums.
func resourcesFor(r scheduler.Resources, mhzPerCore int) *api.Resources {
	if mhzPerCore <= 0 {
		mhzPerCore = defaultMHzPerCore
	}
	res := &api.Resources{}
	if r.CPU > 0 {
		res.CPU = ptr(max(int(math.Ceil(r.CPU*float64(mhzPerCore))), minCPUMHz))
	}
	if r.MemMB > 0 {
		res.MemoryMB = ptr(int(max(r.MemMB, minMemoryMB)))
	}
	return res
}

// affinitiesFor prefers the nodes in order: weight 100 for the best, 10 less for each
// next one, never under 50.
func affinitiesFor(nodes []string) []*api.Affinity {
	var out []*api.Affinity
	for _, n := range nodes {
		if n == "" {
			continue
		}
		out = append(out, &api.Affinity{
			LTarget: "${node.unique.id}",
			Operand: "=",
			RTarget: n,
			Weight:  ptr(int8(max(100-10*len(out), 50))),
		})
	}
	return out
}

// nomadPriority maps a task priority (0 = normal, higher first) to Nomad's 1-100, 50
// being Nomad's default.
func nomadPriority(p int) int {
	return min(max(50+p, 1), 100)
}

// portLabel is the Nomad port label of a task port name: letters, digits and '_'.
func portLabel(name string) string {
	return sanitize(name, '_', false)
}

// portEnv is the variable that carries port name to the task: SLUICE_PORT_<NAME>.
func portEnv(name string) string {
	return "SLUICE_PORT_" + strings.ToUpper(portLabel(name))
}

// jobID returns the Nomad job ID of a task: "<prefix>-job-<job>-<attempt>" for a job
// launch labelled by the framework server, "<prefix>-<kind>-<name>-<random>" otherwise.
// unique forces the random suffix, for a second launch of the same labelled attempt.
func jobID(prefix string, t scheduler.Task, unique bool) string {
	kind := string(t.Kind)
	if job, attempt := t.Labels[labelJobID], t.Labels[labelJobAttempt]; t.Kind == scheduler.KindJob && job != "" && attempt != "" {
		id := prefix + "-job-" + idPart(job) + "-" + idPart(attempt)
		if !unique {
			return id
		}
		return id + "-" + randomSuffix()
	}
	name := t.Name
	if name == "" {
		name = kind
	}
	return prefix + "-" + kind + "-" + idPart(name) + "-" + randomSuffix()
}

// idPart is s sanitized for a job ID and shortened.
func idPart(s string) string {
	s = sanitize(s, '_', true)
	if len(s) > maxIDPart {
		s = s[:maxIDPart]
	}
	return s
}

// sanitize keeps ASCII letters, digits and '_' (and '-' when dash), replacing anything
// else by repl.
func sanitize(s string, repl rune, dash bool) string {
	if s == "" {
		return string(repl)
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		case r == '-' && dash:
			return r
		}
		return repl
	}, s)
}

// randomSuffix is 8 random hex digits: job IDs stay unique across Backend values and
// restarts of the framework process.
func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func ptr[T any](v T) *T { return &v }
