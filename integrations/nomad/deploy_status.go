package nomad

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// Status is what Nomad knows of a deployment: its jobs, their live allocations and the
// addresses of the masters and executors.
type Status struct {
	// Prefix is the deployment's job prefix.
	Prefix string
	// Jobs are the registered jobs of the deployment, by ID.
	Jobs []JobStatus
	// Masters and Executors are the live allocations of the master and executor jobs.
	Masters   []Member
	Executors []Member
}

// JobStatus is one Nomad job of a deployment.
type JobStatus struct {
	ID     string
	Type   string
	Status string
	// Running counts its running allocations.
	Running int
}

// Member is one allocation of a master or an executor.
type Member struct {
	// AllocID is the allocation ID (the executor's task ID in Sluice).
	AllocID string
	// Node is the node's name; ClientStatus Nomad's status of the allocation
	// (pending, running…); Healthy whether its checks passed.
	Node         string
	ClientStatus string
	Healthy      bool
	// RPC and HTTP are the host:port addresses of its gRPC and HTTP ports.
	RPC  string
	HTTP string
}

// MasterAddrs returns the gRPC addresses of the running masters, comma-separated as
// SLUICE_MASTER wants them.
func (s Status) MasterAddrs() string {
	var a []string
	for _, m := range s.Masters {
		if m.ClientStatus == api.AllocClientStatusRunning && m.RPC != "" {
			a = append(a, m.RPC)
		}
	}
	return strings.Join(a, ",")
}

// WebUI returns the URL of the first running master's web UI, or "".
func (s Status) WebUI() string {
	for _, m := range s.Masters {
		if m.ClientStatus == api.AllocClientStatusRunning && m.HTTP != "" {
			return "http://" + m.HTTP + "/"
		}
	}
	return ""
}

// Print writes the status for people: the jobs, then one line per master and executor,
// then the master addresses and the web UI.
func (s Status) Print(w io.Writer) error {
	var b strings.Builder
	for _, j := range s.Jobs {
		fmt.Fprintf(&b, "job %-28s %-8s %-8s %d running\n", j.ID, j.Type, j.Status, j.Running)
	}
	for _, g := range []struct {
		role string
		ms   []Member
	}{{"master", s.Masters}, {"executor", s.Executors}} {
		for _, m := range g.ms {
			health := "unhealthy"
			if m.Healthy {
				health = "healthy"
			}
			fmt.Fprintf(&b, "%-8s %s node %s %s %s rpc %s http %s\n", g.role, allocShort(m.AllocID), m.Node,
				m.ClientStatus, health, dashIfEmpty(m.RPC), dashIfEmpty(m.HTTP))
		}
	}
	if a := s.MasterAddrs(); a != "" {
		fmt.Fprintf(&b, "SLUICE_MASTER=%s\n", a)
	}
	if u := s.WebUI(); u != "" {
		fmt.Fprintf(&b, "web UI: %s\n", u)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// GetStatus reads the deployment prefix from Nomad. A prefix without any registered
// job is ErrNotDeployed.
func GetStatus(ctx context.Context, c *api.Client, prefix string) (Status, error) {
	ids, err := deploymentJobs(ctx, c, prefix)
	if err != nil {
		return Status{}, err
	}
	if len(ids) == 0 {
		return Status{}, fmt.Errorf("prefix %q: %w", prefix, ErrNotDeployed)
	}
	st := Status{Prefix: prefix}
	d := Deployment{Prefix: prefix}
	q := func() *api.QueryOptions { return (&api.QueryOptions{}).WithContext(ctx) }
	for _, id := range ids {
		job, _, err := c.Jobs().Info(id, q())
		if err != nil {
			if isNomad404(err) {
				continue // purged meanwhile
			}
			return Status{}, fmt.Errorf("read job %s: %w", id, err)
		}
		js := JobStatus{ID: id, Type: derefOr(job.Type), Status: derefOr(job.Status)}
		allocs, _, err := c.Jobs().Allocations(id, false, q())
		if err != nil {
			return Status{}, fmt.Errorf("read allocations of %s: %w", id, err)
		}
		for _, a := range allocs {
			if a.ClientStatus == api.AllocClientStatusRunning {
				js.Running++
			}
			if (id != d.MasterJobID() && id != d.ExecutorJobID()) || a.DesiredStatus != api.AllocDesiredStatusRun || allocTerminal(a.ClientStatus) {
				continue
			}
			m, err := member(ctx, c, a)
			if err != nil {
				return Status{}, err
			}
			if id == d.MasterJobID() {
				st.Masters = append(st.Masters, m)
			} else {
				st.Executors = append(st.Executors, m)
			}
		}
		st.Jobs = append(st.Jobs, js)
	}
	for _, ms := range [][]Member{st.Masters, st.Executors} {
		slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Node+a.AllocID, b.Node+b.AllocID) })
	}
	return st, nil
}

// member reads one allocation's addresses.
func member(ctx context.Context, c *api.Client, stub *api.AllocationListStub) (Member, error) {
	m := Member{AllocID: stub.ID, Node: stub.NodeName, ClientStatus: stub.ClientStatus}
	if ds := stub.DeploymentStatus; ds != nil && ds.Healthy != nil {
		m.Healthy = *ds.Healthy
	}
	a, _, err := c.Allocations().Info(stub.ID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		if isNomad404(err) {
			return m, nil
		}
		return m, fmt.Errorf("read allocation %s: %w", stub.ID, err)
	}
	if a.AllocatedResources == nil {
		return m, nil
	}
	for _, p := range a.AllocatedResources.Shared.Ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.Value))
		switch p.Label {
		case portRPC:
			m.RPC = addr
		case portHTTP:
			m.HTTP = addr
		}
	}
	return m, nil
}

func derefOr[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
