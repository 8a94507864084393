package nomad

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
)

func TestJobFor(t *testing.T) {
	spec := jobSpec{id: "sluice-job-wc-1", driver: DriverRawExec, datacenters: []string{"*"}, mhzPerCore: 2000, killTimeout: 3 * time.Second}
	for _, tc := range []struct {
		name  string
		spec  jobSpec
		task  scheduler.Task
		check func(t *testing.T, j *api.Job)
	}{
		{
			name: "batch job with resources, env, meta and ports",
			spec: spec,
			task: scheduler.Task{
				Name: "wc", Kind: scheduler.KindJob, Command: []string{"/bin/wc", "-l"},
				Env:       map[string]string{"A": "1", scheduler.EnvTaskID: "overridden"},
				Resources: scheduler.Resources{CPU: 1.5, MemMB: 256, DiskMB: 500, Ports: []string{"rpc", "web-ui"}},
				Labels:    map[string]string{"sluice.job": "42"},
				Priority:  10,
			},
			check: func(t *testing.T, j *api.Job) {
				g := j.TaskGroups[0]
				task := g.Tasks[0]
				if *j.Type != api.JobTypeBatch || *j.ID != "sluice-job-wc-1" || *j.Priority != 60 {
					t.Errorf("type %s id %s priority %d", *j.Type, *j.ID, *j.Priority)
				}
				if *task.Resources.CPU != 3000 || *task.Resources.MemoryMB != 256 || *g.EphemeralDisk.SizeMB != 500 {
					t.Errorf("resources cpu %d mem %d disk %d", *task.Resources.CPU, *task.Resources.MemoryMB, *g.EphemeralDisk.SizeMB)
				}
				wantEnv := map[string]string{
					"A": "1", scheduler.EnvTaskID: "sluice-job-wc-1",
					"SLUICE_PORT_RPC": "${NOMAD_PORT_rpc}", "SLUICE_PORT_WEB_UI": "${NOMAD_PORT_web_ui}",
				}
				if diff := cmp.Diff(wantEnv, task.Env); diff != "" {
					t.Errorf("env (-want +got):\n%s", diff)
				}
				wantPorts := []api.Port{{Label: "rpc"}, {Label: "web_ui"}}
				if diff := cmp.Diff(wantPorts, g.Networks[0].DynamicPorts); diff != "" {
					t.Errorf("ports (-want +got):\n%s", diff)
				}
				wantMeta := map[string]string{"sluice.job": "42", MetaTaskKind: "job", MetaTaskName: "wc"}
				if diff := cmp.Diff(wantMeta, j.Meta); diff != "" {
					t.Errorf("meta (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(map[string]any{"command": "/bin/wc", "args": []string{"-l"}}, task.Config); diff != "" {
					t.Errorf("config (-want +got):\n%s", diff)
				}
				if *g.RestartPolicy.Attempts != 0 || *g.ReschedulePolicy.Attempts != 0 || *g.ReschedulePolicy.Unlimited {
					t.Errorf("restarts %d reschedules %d unlimited %v, want none", *g.RestartPolicy.Attempts, *g.ReschedulePolicy.Attempts, *g.ReschedulePolicy.Unlimited)
				}
				if *task.KillTimeout != 3*time.Second || task.Driver != DriverRawExec {
					t.Errorf("kill timeout %v driver %s", *task.KillTimeout, task.Driver)
				}
			},
		},
		{
			name: "executor is a service job; zero resources keep Nomad's defaults",
			spec: spec,
			task: scheduler.Task{Name: "executor-0", Kind: scheduler.KindExecutor, Command: []string{"sluice", "executor"}},
			check: func(t *testing.T, j *api.Job) {
				g := j.TaskGroups[0]
				if *j.Type != api.JobTypeService || g.Tasks[0].Resources.CPU != nil || g.Tasks[0].Resources.MemoryMB != nil || g.EphemeralDisk != nil || g.Networks != nil {
					t.Errorf("type %s resources %+v disk %v networks %v", *j.Type, g.Tasks[0].Resources, g.EphemeralDisk, g.Networks)
				}
				if *g.RestartPolicy.Attempts != 0 || *g.RestartPolicy.Mode != api.RestartPolicyModeFail {
					t.Errorf("service restart policy %+v, want no restart", g.RestartPolicy)
				}
			},
		},
		{
			name: "working directory through a shell; affinities best first",
			spec: spec,
			task: scheduler.Task{Name: "d", Kind: scheduler.KindJob, Command: []string{"run", "x y"}, Dir: "/data/in",
				PreferNodes: []string{"n1", "", "n2", "n3", "n4", "n5", "n6", "n7"}},
			check: func(t *testing.T, j *api.Job) {
				task := j.TaskGroups[0].Tasks[0]
				want := map[string]any{"command": "/bin/sh", "args": []string{"-c", `cd -- "$0" && exec "$@"`, "/data/in", "run", "x y"}}
				if diff := cmp.Diff(want, task.Config); diff != "" {
					t.Errorf("config (-want +got):\n%s", diff)
				}
				aff := j.TaskGroups[0].Affinities
				if len(aff) != 7 {
					t.Fatalf("%d affinities, want 7", len(aff))
				}
				for i, a := range aff {
					if a.LTarget != "${node.unique.id}" || a.Operand != "=" {
						t.Errorf("affinity %d: %+v", i, a)
					}
				}
				if aff[0].RTarget != "n1" || *aff[0].Weight != 100 || aff[1].RTarget != "n2" || *aff[1].Weight != 90 || *aff[6].Weight != 50 {
					t.Errorf("affinities %v %v %v, want n1/100 first, n2/90 next, 50 at least", aff[0], aff[1], aff[6])
				}
			},
		},
		{
			name: "region, namespace, tiny resources raised to Nomad's minimums",
			spec: jobSpec{id: "x", driver: DriverExec, datacenters: []string{"dc1"}, region: "eu", namespace: "ns", mhzPerCore: 0},
			task: scheduler.Task{Kind: scheduler.KindMaster, Command: []string{"m"}, Resources: scheduler.Resources{CPU: 0.0001, MemMB: 1, DiskMB: 1}, Priority: -100},
			check: func(t *testing.T, j *api.Job) {
				task := j.TaskGroups[0].Tasks[0]
				if *j.Region != "eu" || *j.Namespace != "ns" || j.Datacenters[0] != "dc1" || *j.Priority != 1 {
					t.Errorf("region %s namespace %s dcs %v priority %d", *j.Region, *j.Namespace, j.Datacenters, *j.Priority)
				}
				if *task.Resources.CPU != minCPUMHz || *task.Resources.MemoryMB != minMemoryMB || *j.TaskGroups[0].EphemeralDisk.SizeMB != minDiskMB {
					t.Errorf("resources %d MHz %d MiB %d MiB disk", *task.Resources.CPU, *task.Resources.MemoryMB, *j.TaskGroups[0].EphemeralDisk.SizeMB)
				}
				if *task.KillTimeout != defaultKillTimeout || task.Driver != DriverExec {
					t.Errorf("kill timeout %v driver %s", *task.KillTimeout, task.Driver)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.task.Clone()
			j := jobFor(tc.spec, tc.task)
			if len(j.TaskGroups) != 1 || len(j.TaskGroups[0].Tasks) != 1 {
				t.Fatalf("job has %d groups, want 1 group of 1 task", len(j.TaskGroups))
			}
			tc.check(t, j)
			if diff := cmp.Diff(before, tc.task); diff != "" {
				t.Errorf("jobFor changed the task (-before +after):\n%s", diff)
			}
		})
	}
}

func TestJobID(t *testing.T) {
	random := regexp.MustCompile(`^sluice-executor-executor_0-[0-9a-f]{8}$`)
	a := jobID("sluice", scheduler.Task{Name: "executor/0", Kind: scheduler.KindExecutor}, false)
	b := jobID("sluice", scheduler.Task{Name: "executor/0", Kind: scheduler.KindExecutor}, false)
	if !random.MatchString(a) || a == b {
		t.Errorf("IDs %q and %q: want distinct, matching %v", a, b, random)
	}
	labelled := scheduler.Task{Name: "wc", Kind: scheduler.KindJob, Labels: map[string]string{labelJobID: "7f", labelJobAttempt: "2"}}
	if got := jobID("sluice", labelled, false); got != "sluice-job-7f-2" {
		t.Errorf("labelled job ID %q, want sluice-job-7f-2", got)
	}
	if got := jobID("sluice", labelled, true); !strings.HasPrefix(got, "sluice-job-7f-2-") || len(got) != len("sluice-job-7f-2-")+8 {
		t.Errorf("unique labelled job ID %q", got)
	}
	if got := jobID("p", scheduler.Task{Kind: scheduler.KindJob}, false); !strings.HasPrefix(got, "p-job-job-") {
		t.Errorf("nameless job ID %q, want the kind as name", got)
	}
	long := jobID("p", scheduler.Task{Name: strings.Repeat("x", 300), Kind: scheduler.KindJob}, false)
	if len(long) > 128 {
		t.Errorf("job ID of %d bytes, Nomad allows 128", len(long))
	}
}
