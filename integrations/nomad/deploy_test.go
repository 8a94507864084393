package nomad

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/internal/nomadtest"
)

// The deploy tests run on the shared one-node dev agent. Deployments that succeed need
// the sluice binary and are tested end to end (internal/e2e); here the failures: too
// few nodes, allocations that cannot be placed, allocations that fail, and the teardown
// after them.

// deployClient connects to the shared agent.
func deployClient(t *testing.T) (*nomadtest.Agent, *api.Client) {
	t.Helper()
	agent := nomadtest.Shared(t)
	cfg := DefaultConfig()
	cfg.Address = agent.Addr()
	c, err := NewAPIClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return agent, c
}

// deployTestDeployment is a deployment of the test's own prefix on the agent.
func deployTestDeployment(agent *nomadtest.Agent, prefix string) Deployment {
	d := DefaultDeployment()
	d.Prefix = prefix
	d.Binary = "/bin/false"
	d.DataDir = "/nonexistent/sluice-deploy-test"
	d.Framework.Address = agent.Addr()
	d.MasterCPU, d.ExecutorCPU = 0.05, 0.05
	d.MasterMemMB, d.ExecutorMemMB, d.MemTierSize = 32, 32, 1<<20
	// Static ports in the range the agent never hands out; nothing binds them here.
	d.MasterRPCPort, d.MasterHTTPPort, d.MasterRaftPort = 19091, 19092, 19093
	return d
}

// registered lists the jobs of prefix.
func registered(t *testing.T, c *api.Client, prefix string) []string {
	t.Helper()
	ids, err := deploymentJobs(t.Context(), c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestDeploy_MoreExecutorsThanNodes(t *testing.T) {
	agent, c := deployClient(t)
	d := deployTestDeployment(agent, "dtnodes")
	d.Executors = 2
	var lines []string
	_, err := Deploy(t.Context(), c, d, func(s string) { lines = append(lines, s) })
	if !errors.Is(err, ErrPlacement) {
		t.Fatalf("Deploy with 2 executors on one node: %v, want ErrPlacement", err)
	}
	for _, want := range []string{"2 executors", "distinct hosts", "only 1 ready"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if ids := registered(t, c, d.Prefix); len(ids) != 0 {
		t.Errorf("jobs registered after the refusal: %v", ids)
	}
	if len(lines) != 0 {
		t.Errorf("progress before the refusal: %q", lines)
	}
}

func TestDeploy_ThreeMastersOnOneNode(t *testing.T) {
	agent, c := deployClient(t)
	d := deployTestDeployment(agent, "dtthree")
	d.Masters = 3
	_, err := Deploy(t.Context(), c, d, nil)
	if !errors.Is(err, ErrPlacement) || !strings.Contains(err.Error(), "3 masters need 3 nodes") {
		t.Fatalf("Deploy of 3 masters on one node: %v, want ErrPlacement saying it needs 3 nodes", err)
	}
	if ids := registered(t, c, d.Prefix); len(ids) != 0 {
		t.Errorf("jobs registered after the refusal: %v", ids)
	}
}

func TestDeploy_Unplaceable(t *testing.T) {
	agent, c := deployClient(t)
	d := deployTestDeployment(agent, "dtmem")
	d.MasterMemMB = 64 << 20 // 64 TiB: no node has it
	t.Cleanup(func() { teardownQuietly(c, d.Prefix) })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := Deploy(ctx, c, d, func(s string) { t.Log(s) })
	if !errors.Is(err, ErrPlacement) {
		t.Fatalf("Deploy of a master bigger than the node: %v, want ErrPlacement", err)
	}
	if !strings.Contains(err.Error(), "memory exhausted") || !strings.Contains(err.Error(), `group "master"`) {
		t.Errorf("error %q does not name the group and the exhausted memory", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Deploy waited for its deadline instead of reporting the placement")
	}
}

func TestDeploy_FailingTaskThenTeardown(t *testing.T) {
	agent, c := deployClient(t)
	d := deployTestDeployment(agent, "dtfail")
	d.Framework.Token = "test-token" // ACLs are off: stored and read back, not checked
	t.Cleanup(func() { teardownQuietly(c, d.Prefix) })
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	_, err := Deploy(ctx, c, d, func(s string) { t.Log(s) })
	if !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("Deploy of /bin/false: %v, want ErrUnhealthy", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Deploy waited for its deadline instead of reporting the failed allocation: %v", err)
	}
	if !strings.Contains(err.Error(), "dtfail-master") || !strings.Contains(err.Error(), "Exit Code: 1") {
		t.Errorf("error %q does not name the job and the exit code", err)
	}
	v, _, err := c.Variables().Read(d.TokenVariablePath(), nil)
	if err != nil || v.Items[tokenVarItem] != "test-token" {
		t.Fatalf("token variable: %+v, %v", v, err)
	}

	st, err := GetStatus(t.Context(), c, d.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Jobs) != 1 || st.Jobs[0].ID != "dtfail-master" {
		t.Errorf("status jobs %+v, want dtfail-master", st.Jobs)
	}

	ids, err := Teardown(ctx, c, d.Prefix, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != "dtfail-master" {
		t.Errorf("Teardown removed %v", ids)
	}
	if left := registered(t, c, d.Prefix); len(left) != 0 {
		t.Errorf("jobs left after teardown: %v", left)
	}
	if _, _, err := c.Variables().Read(d.TokenVariablePath(), nil); !errors.Is(err, api.ErrVariablePathNotFound) {
		t.Errorf("token variable after teardown: %v, want not found", err)
	}
	if _, err := Teardown(ctx, c, d.Prefix, nil); !errors.Is(err, ErrNotDeployed) {
		t.Errorf("second Teardown: %v, want ErrNotDeployed", err)
	}
	if _, err := GetStatus(ctx, c, d.Prefix); !errors.Is(err, ErrNotDeployed) {
		t.Errorf("status after teardown: %v, want ErrNotDeployed", err)
	}
}

func TestScale_NotDeployedAndTooMany(t *testing.T) {
	_, c := deployClient(t)
	if _, err := Scale(t.Context(), c, "dtnone", 1, nil); !errors.Is(err, ErrNotDeployed) {
		t.Errorf("Scale of a missing deployment: %v, want ErrNotDeployed", err)
	}
	if _, err := Scale(t.Context(), c, "dtnone", -1, nil); !errors.Is(err, ErrInvalidDeployment) {
		t.Errorf("Scale to -1: %v, want ErrInvalidDeployment", err)
	}
}

// teardownQuietly removes what a failed test left.
func teardownQuietly(c *api.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = Teardown(ctx, c, prefix, nil)
}
