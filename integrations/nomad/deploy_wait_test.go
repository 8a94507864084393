package nomad

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/nomad/api"
)

func TestSummarize(t *testing.T) {
	start := time.Unix(1000, 0)
	before, after := start.Add(-time.Second).UnixNano(), start.Add(time.Second).UnixNano()
	healthy := &api.AllocDeploymentStatus{Healthy: new(true)}
	alloc := func(desired, client string, created int64, ds *api.AllocDeploymentStatus) *api.AllocationListStub {
		return &api.AllocationListStub{ID: "0123456789", NodeName: "n1", DesiredStatus: desired, ClientStatus: client,
			CreateTime: created, DeploymentStatus: ds}
	}
	tests := []struct {
		name   string
		allocs []*api.AllocationListStub
		want   progressCount
		failed bool
	}{
		{"none", nil, progressCount{}, false},
		{"pending", []*api.AllocationListStub{alloc("run", "pending", after, nil)}, progressCount{live: 1}, false},
		{"running, not healthy yet", []*api.AllocationListStub{alloc("run", "running", after, nil)}, progressCount{live: 1, running: 1}, false},
		{"healthy", []*api.AllocationListStub{alloc("run", "running", after, healthy)}, progressCount{live: 1, running: 1, healthy: 1}, false},
		{"stopping", []*api.AllocationListStub{alloc("stop", "running", before, healthy), alloc("run", "running", after, healthy)},
			progressCount{live: 1, running: 1, healthy: 1, stopping: 1}, false},
		{"stopped", []*api.AllocationListStub{alloc("stop", "complete", before, healthy)}, progressCount{}, false},
		{"failed before the wait", []*api.AllocationListStub{alloc("run", "failed", before, nil)}, progressCount{}, false},
		{"failed during the wait", []*api.AllocationListStub{alloc("run", "failed", after, nil)}, progressCount{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(tt.allocs, start)
			if (got.failed != "") != tt.failed {
				t.Fatalf("failed %q, want failed %v", got.failed, tt.failed)
			}
			got.failed, got.failedAlloc, got.lastEvent = "", nil, ""
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(progressCount{})); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlacementFailure(t *testing.T) {
	start := time.Unix(1000, 0)
	failed := &api.Evaluation{
		ModifyTime: start.Add(time.Second).UnixNano(),
		FailedTGAllocs: map[string]*api.AllocationMetric{"executor": {
			NodesEvaluated:     2,
			ConstraintFiltered: map[string]int{"distinct_hosts": 1},
			DimensionExhausted: map[string]int{"memory": 1},
		}},
		QueuedAllocations: map[string]int{"executor": 1},
	}
	old := *failed
	old.ModifyTime = start.Add(-time.Second).UnixNano()
	ok := &api.Evaluation{ModifyTime: start.Add(time.Second).UnixNano()}

	if err := placementFailure("j", []*api.Evaluation{ok, &old}, start); err != nil {
		t.Errorf("evaluations before the wait or without failures: %v", err)
	}
	err := placementFailure("j", []*api.Evaluation{ok, failed}, start)
	if !errors.Is(err, ErrPlacement) {
		t.Fatalf("failed placement: %v, want ErrPlacement", err)
	}
	want := `job j: group "executor": 1 allocation(s) unplaced, 2 node(s) evaluated, constraint distinct_hosts filtered 1 node(s), memory exhausted on 1 node(s)`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
}

func TestTaskEvents(t *testing.T) {
	ev := func(typ, msg string) *api.TaskEvent { return &api.TaskEvent{Type: typ, DisplayMessage: msg} }
	states := map[string]*api.TaskState{
		"master": {Failed: false, Events: []*api.TaskEvent{ev("Started", "Task started by client"), ev("Killed", "Task successfully killed")}},
		"framework": {Failed: true, Events: []*api.TaskEvent{
			ev("Terminated", "Exit Code: 3"), ev("Not Restarting", "Exceeded allowed attempts"), ev("Killing", "Sent interrupt"),
		}},
	}
	if got, want := taskEvents(states), "task framework: Terminated Exit Code: 3"; got != want {
		t.Errorf("taskEvents = %q, want %q", got, want)
	}
	states["framework"].Failed = false
	if got, want := taskEvents(states), "task framework: Terminated Exit Code: 3; task master: Killed Task successfully killed"; got != want {
		t.Errorf("taskEvents without a failed task = %q, want %q", got, want)
	}
}

func TestInDatacenters(t *testing.T) {
	tests := []struct {
		dc       string
		patterns []string
		want     bool
	}{
		{"dc1", nil, true},
		{"dc1", []string{"dc1"}, true},
		{"dc1", []string{"dc2", "dc*"}, true},
		{"eu-west", []string{"us-*"}, false},
		{"dc1", []string{"dc2"}, false},
	}
	for _, tt := range tests {
		if got := inDatacenters(tt.dc, tt.patterns); got != tt.want {
			t.Errorf("inDatacenters(%s, %v) = %v, want %v", tt.dc, tt.patterns, got, tt.want)
		}
	}
}

func TestTierSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1024MiB", 256 << 20: "256MiB", 1<<20 + 1: "1048577"} {
		if got := tierSize(n); got != want {
			t.Errorf("tierSize(%d) = %s, want %s", n, got, want)
		}
	}
}
