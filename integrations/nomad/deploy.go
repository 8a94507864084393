package nomad

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Deploying Sluice on Nomad: Deploy registers the jobs of a Deployment and waits until
// they are healthy; Status, Scale and Teardown act on a deployment found by its prefix.
//
// Decisions:
//   - The masters are registered first and waited for, then the executors: the
//     executors' template reads the masters' service from Nomad's catalog, and an
//     empty catalog would give them no master.
//   - Deploy checks the nodes before it registers anything: executors on distinct
//     hosts need as many ready, eligible nodes with raw_exec as --executors, and three
//     masters need three. It then watches the evaluations: a placement that fails
//     (resources exhausted, constraints) ends the wait with Nomad's reasons, as does an
//     allocation that fails, instead of waiting for the deadline.
//   - Waits are bounded by ctx; a deadline reports what was still missing.
//   - Teardown stops the jobs (so that the executors' poststop task frees their MEM
//     tiers), waits for their allocations to end, then purges them, lineage batch jobs
//     ("<prefix>-job-<id>-<attempt>") included, and deletes the token variable.

// Errors of the deploy functions.
var (
	// ErrInvalidDeployment reports a Deployment that Validate rejects.
	ErrInvalidDeployment = errors.New("nomad: invalid deployment")
	// ErrPlacement reports allocations that Nomad cannot place (too few nodes,
	// resources exhausted, constraints unmet).
	ErrPlacement = errors.New("nomad: allocations cannot be placed")
	// ErrUnhealthy reports allocations that failed or did not become healthy in time.
	ErrUnhealthy = errors.New("nomad: allocations not healthy")
	// ErrNotDeployed reports a prefix with no Sluice job registered.
	ErrNotDeployed = errors.New("nomad: no Sluice deployment")
)

// pollInterval is how often the waits look at Nomad.
const pollInterval = 500 * time.Millisecond

// Deploy registers the jobs of d on Nomad through c and waits, bounded by ctx, until
// every allocation runs and passes its health checks. progress, when set, receives one
// line per change of what the wait sees. It fills in d's master nodes (three masters)
// and CPU frequency from the nodes. The jobs that Deploy registered stay registered
// when it fails after registering (Teardown removes them).
func Deploy(ctx context.Context, c *api.Client, d Deployment, progress func(string)) (Status, error) {
	say := progressFunc(progress)
	nodes, err := eligibleNodes(ctx, c, d.Datacenters)
	if err != nil {
		return Status{}, err
	}
	if err := checkNodes(d, nodes); err != nil {
		return Status{}, err
	}
	if mhz := lowestCPUMHz(nodes); mhz > 0 {
		d.CPUMHzPerCore = mhz
	}
	if d.Masters == 3 {
		d.MasterNodes, d.MasterAddrs = nil, nil
		for _, n := range nodes[:3] {
			d.MasterNodes = append(d.MasterNodes, n.ID)
			d.MasterAddrs = append(d.MasterAddrs, nodeAddr(n))
		}
	}
	if err := d.Validate(); err != nil {
		return Status{}, err
	}
	wo := (&api.WriteOptions{}).WithContext(ctx)
	if d.Framework.Token != "" {
		v := &api.Variable{Path: d.TokenVariablePath(), Namespace: d.Namespace, Items: api.VariableItems{tokenVarItem: d.Framework.Token}}
		if _, _, err := c.Variables().Update(v, wo); err != nil {
			return Status{}, fmt.Errorf("store the framework token in variable %s: %w", v.Path, err)
		}
	}
	for _, step := range []struct {
		job  *api.Job
		want int
	}{{d.MasterJob(), d.Masters}, {d.ExecutorJob(), d.Executors}} {
		id := *step.job.ID
		start := time.Now()
		resp, _, err := c.Jobs().Register(step.job, wo)
		if err != nil {
			return Status{}, fmt.Errorf("register job %s: %w", id, err)
		}
		say(fmt.Sprintf("registered job %s (evaluation %s)", id, allocShort(resp.EvalID)))
		if err := waitHealthy(ctx, c, id, step.want, start, say); err != nil {
			return Status{}, err
		}
	}
	return GetStatus(ctx, c, d.Prefix)
}

// Scale sets the executor group's count to n and waits, bounded by ctx, until n
// executors run and are healthy (fewer nodes than n fails before anything changes).
func Scale(ctx context.Context, c *api.Client, prefix string, n int, progress func(string)) (Status, error) {
	if n < 0 {
		return Status{}, fmt.Errorf("executors %d < 0: %w", n, ErrInvalidDeployment)
	}
	d := Deployment{Prefix: prefix, Executors: n}
	job, _, err := c.Jobs().Info(d.ExecutorJobID(), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		if isNomad404(err) {
			return Status{}, fmt.Errorf("job %s: %w", d.ExecutorJobID(), ErrNotDeployed)
		}
		return Status{}, fmt.Errorf("read job %s: %w", d.ExecutorJobID(), err)
	}
	d.Datacenters = job.Datacenters
	nodes, err := eligibleNodes(ctx, c, d.Datacenters)
	if err != nil {
		return Status{}, err
	}
	if err := checkExecutorNodes(n, nodes, d.Datacenters); err != nil {
		return Status{}, err
	}
	start := time.Now()
	resp, _, err := c.Jobs().Scale(d.ExecutorJobID(), groupExecutor, &n, "sluice framework nomad scale", false, nil,
		(&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return Status{}, fmt.Errorf("scale job %s to %d: %w", d.ExecutorJobID(), n, err)
	}
	progressFunc(progress)(fmt.Sprintf("scaling %s to %d (evaluation %s)", d.ExecutorJobID(), n, allocShort(resp.EvalID)))
	if err := waitHealthy(ctx, c, d.ExecutorJobID(), n, start, progressFunc(progress)); err != nil {
		return Status{}, err
	}
	return GetStatus(ctx, c, prefix)
}

// Teardown stops and purges every job of the deployment prefix (masters, executors and
// lineage batch jobs) and deletes its token variable, bounded by ctx. It returns the
// IDs of the jobs it removed; none is ErrNotDeployed.
func Teardown(ctx context.Context, c *api.Client, prefix string, progress func(string)) ([]string, error) {
	say := progressFunc(progress)
	ids, err := deploymentJobs(ctx, c, prefix)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("prefix %q: %w", prefix, ErrNotDeployed)
	}
	wo := (&api.WriteOptions{}).WithContext(ctx)
	// Executors and lineage jobs first: the masters are their way out.
	slices.SortStableFunc(ids, func(a, b string) int { return lastIf(a == prefix+"-master", b == prefix+"-master") })
	for _, id := range ids {
		if _, _, err := c.Jobs().Deregister(id, false, wo); err != nil && !isNomad404(err) {
			return nil, fmt.Errorf("stop job %s: %w", id, err)
		}
		say("stopping job " + id)
	}
	for _, id := range ids {
		if err := waitStopped(ctx, c, id); err != nil {
			return nil, err
		}
		if _, _, err := c.Jobs().Deregister(id, true, wo); err != nil && !isNomad404(err) {
			return nil, fmt.Errorf("purge job %s: %w", id, err)
		}
		say("purged job " + id)
	}
	d := Deployment{Prefix: prefix}
	if _, err := c.Variables().Delete(d.TokenVariablePath(), wo); err != nil && !isNomad404(err) {
		return ids, fmt.Errorf("delete variable %s: %w", d.TokenVariablePath(), err)
	}
	return ids, nil
}

// deploymentJobs lists the IDs of the registered jobs of prefix: "<prefix>-master",
// "<prefix>-executor" and "<prefix>-job-<id>-<attempt>".
func deploymentJobs(ctx context.Context, c *api.Client, prefix string) ([]string, error) {
	stubs, _, err := c.Jobs().List((&api.QueryOptions{Prefix: prefix + "-"}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	var ids []string
	for _, s := range stubs {
		if IsDeploymentJob(prefix, s.ID) {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// IsDeploymentJob reports whether a job ID belongs to the deployment prefix: its master
// or executor job, or a lineage batch job "<prefix>-job-<id>-<attempt>".
func IsDeploymentJob(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	if !ok {
		return false
	}
	if rest == "master" || rest == "executor" {
		return true
	}
	rest, ok = strings.CutPrefix(rest, "job-")
	if !ok {
		return false
	}
	job, attempt, ok := strings.Cut(rest, "-")
	return ok && allDigits(job) && allDigits(attempt)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// maxNodeDetails bounds the nodes whose details (attributes: CPU frequency, address)
// Deploy reads, so that a large cluster costs a bounded number of requests.
const maxNodeDetails = 32

// eligibleNodes lists the ready, eligible, undrained nodes of the datacenters (glob
// patterns; empty is all) whose raw_exec driver is healthy, in ID order. The first
// maxNodeDetails have all their details; the others only ID, name, datacenter and
// address.
func eligibleNodes(ctx context.Context, c *api.Client, dcs []string) ([]*api.Node, error) {
	stubs, _, err := c.Nodes().List((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list Nomad nodes: %w", err)
	}
	stubs = slices.DeleteFunc(stubs, func(s *api.NodeListStub) bool {
		d := s.Drivers[DriverRawExec]
		return s.Status != "ready" || s.SchedulingEligibility != "eligible" || s.Drain ||
			!inDatacenters(s.Datacenter, dcs) || d == nil || !d.Detected || !d.Healthy
	})
	slices.SortFunc(stubs, func(a, b *api.NodeListStub) int { return strings.Compare(a.ID, b.ID) })
	out := make([]*api.Node, 0, len(stubs))
	for i, s := range stubs {
		if i >= maxNodeDetails {
			out = append(out, &api.Node{ID: s.ID, Name: s.Name, Datacenter: s.Datacenter,
				Attributes: map[string]string{"unique.network.ip-address": s.Address}})
			continue
		}
		n, _, err := c.Nodes().Info(s.ID, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read Nomad node %s: %w", s.ID, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// inDatacenters matches dc against glob patterns as Nomad does; no patterns match all.
func inDatacenters(dc string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, dc); ok {
			return true
		}
	}
	return false
}

// checkNodes fails when the nodes cannot hold the masters or the executors.
func checkNodes(d Deployment, nodes []*api.Node) error {
	if len(nodes) < d.Masters {
		return fmt.Errorf("%d masters need %d nodes (each on its own node, static ports), but %s: %w",
			d.Masters, d.Masters, nodesFound(len(nodes), d.Datacenters), ErrPlacement)
	}
	return checkExecutorNodes(d.Executors, nodes, d.Datacenters)
}

func checkExecutorNodes(n int, nodes []*api.Node, dcs []string) error {
	if n > len(nodes) {
		return fmt.Errorf("%d executors run on distinct hosts (one per node) and need %d nodes, but %s; "+
			"lower --executors or add nodes: %w", n, n, nodesFound(len(nodes), dcs), ErrPlacement)
	}
	return nil
}

func nodesFound(n int, dcs []string) string {
	where := "in the cluster"
	if len(dcs) > 0 {
		where = "in datacenters " + strings.Join(dcs, ",")
	}
	return fmt.Sprintf("only %d ready, eligible node(s) with the raw_exec driver are %s", n, where)
}

// lowestCPUMHz is the lowest CPU frequency of the nodes in MHz, 0 when none reports it.
func lowestCPUMHz(nodes []*api.Node) int {
	low := 0
	for _, n := range nodes {
		f, err := strconv.Atoi(n.Attributes["cpu.frequency"])
		if err == nil && f > 0 && (low == 0 || f < low) {
			low = f
		}
	}
	return low
}

// nodeAddr is the address a node's tasks get for their ports.
func nodeAddr(n *api.Node) string {
	if a := n.Attributes["unique.network.ip-address"]; a != "" {
		return a
	}
	return n.HTTPAddr[:max(0, strings.LastIndexByte(n.HTTPAddr, ':'))]
}

// waitHealthy polls job id until want allocations run and are healthy, failing at once
// on a placement failure or a failed allocation created since start.
func waitHealthy(ctx context.Context, c *api.Client, id string, want int, start time.Time, say func(string)) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	last := ""
	// Placements that fail while allocations of the job are still stopping may only be
	// waiting for them (distinct hosts, ports, resources): Nomad retries them once the
	// allocations are gone. Only evaluations processed after the last poll that saw a
	// stopping allocation count.
	since := start
	for {
		q := (&api.QueryOptions{}).WithContext(ctx)
		allocs, _, err := c.Jobs().Allocations(id, false, q)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("read allocations of %s: %w", id, err)
		}
		p := summarize(allocs, start)
		if p.stopping > 0 {
			since = time.Now()
		}
		if p.failed != "" {
			err := fmt.Errorf("job %s: %s: %w", id, p.failed, ErrUnhealthy)
			if tail := stderrTail(ctx, c, p.failedAlloc); tail != "" {
				err = fmt.Errorf("%w\n%s", err, tail)
			}
			return err
		}
		evals, _, err := c.Jobs().Evaluations(id, q)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("read evaluations of %s: %w", id, err)
		}
		if err := placementFailure(id, evals, since); err != nil && p.stopping == 0 {
			return err
		}
		line := fmt.Sprintf("%s: %d/%d running, %d healthy", id, p.running, want, p.healthy)
		if p.stopping > 0 {
			line += fmt.Sprintf(", %d stopping", p.stopping)
		}
		if line != last {
			say(line)
			last = line
		}
		if p.live == want && p.running == want && p.healthy == want && p.stopping == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("job %s not healthy in time (%s)", id, line)
			if p.lastEvent != "" {
				msg += "; last task event: " + p.lastEvent
			}
			return fmt.Errorf("%s: %w: %w", msg, ErrUnhealthy, ctx.Err())
		case <-t.C:
		}
	}
}

// progressCount is what waitHealthy sees of a job's allocations.
type progressCount struct {
	live, running, healthy int
	// stopping counts the allocations Nomad is stopping that have not ended yet.
	stopping int
	// failed describes an allocation that failed since the wait started; failedAlloc
	// is that allocation.
	failed      string
	failedAlloc *api.AllocationListStub
	// lastEvent is the latest task event of a live allocation, for timeouts.
	lastEvent string
}

// summarize counts the allocations that should run (desired "run", not allocTerminal).
func summarize(allocs []*api.AllocationListStub, start time.Time) progressCount {
	var p progressCount
	var lastTime int64
	for _, a := range allocs {
		if a.ClientStatus == api.AllocClientStatusFailed && a.CreateTime >= start.UnixNano() {
			p.failed = fmt.Sprintf("allocation %s on node %s failed: %s", allocShort(a.ID), a.NodeName, taskEvents(a.TaskStates))
			p.failedAlloc = a
			return p
		}
		if allocTerminal(a.ClientStatus) {
			continue
		}
		if a.DesiredStatus != api.AllocDesiredStatusRun {
			p.stopping++
			continue
		}
		p.live++
		if a.ClientStatus == api.AllocClientStatusRunning {
			p.running++
		}
		if a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil && *a.DeploymentStatus.Healthy {
			p.healthy++
		}
		for task, ts := range a.TaskStates {
			for _, e := range ts.Events {
				if e.Time > lastTime {
					lastTime = e.Time
					p.lastEvent = fmt.Sprintf("%s %s: %s %s", allocShort(a.ID), task, e.Type, taskEventText(e))
				}
			}
		}
	}
	return p
}

// taskEvents describes why an allocation's tasks failed: for each failed task (or
// each task, when none is marked failed) its last telling event.
func taskEvents(states map[string]*api.TaskState) string {
	var parts []string
	for _, name := range failedTasks(states) {
		if e := tellingEvent(states[name].Events); e != nil {
			parts = append(parts, fmt.Sprintf("task %s: %s %s", name, e.Type, taskEventText(e)))
		}
	}
	if len(parts) == 0 {
		return "no task event"
	}
	return strings.Join(parts, "; ")
}

// failedTasks names the failed tasks of an allocation in order, or all of them when
// none is marked failed.
func failedTasks(states map[string]*api.TaskState) []string {
	var failed, all []string
	for _, name := range slices.Sorted(keysOf(states)) {
		if ts := states[name]; ts != nil {
			all = append(all, name)
			if ts.Failed {
				failed = append(failed, name)
			}
		}
	}
	if len(failed) > 0 {
		return failed
	}
	return all
}

// tellingEvent is the last event that says why a task ended (a termination, a driver
// or setup failure…), else the last event.
func tellingEvent(events []*api.TaskEvent) *api.TaskEvent {
	for i := len(events) - 1; i >= 0; i-- {
		switch events[i].Type {
		case api.TaskTerminated, api.TaskDriverFailure, api.TaskSetupFailure, api.TaskFailedValidation,
			api.TaskArtifactDownloadFailed, "Template":
			return events[i]
		}
	}
	if len(events) == 0 {
		return nil
	}
	return events[len(events)-1]
}

// stderrTail returns the end of the standard error of an allocation's failed tasks, to
// show why a process exited; "" when Nomad cannot give it.
func stderrTail(ctx context.Context, c *api.Client, stub *api.AllocationListStub) string {
	a, _, err := c.Allocations().Info(stub.ID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return ""
	}
	var out []string
	for _, task := range failedTasks(stub.TaskStates) {
		r, err := c.AllocFS().Cat(a, "alloc/logs/"+task+".stderr.0", (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
		r.Close()
		text := strings.TrimSpace(string(b))
		if text == "" {
			continue
		}
		lines := slices.Compact(strings.Split(text, "\n"))
		out = append(out, fmt.Sprintf("last lines of %s's stderr:\n  %s", task, strings.Join(lines[max(0, len(lines)-5):], "\n  ")))
	}
	return strings.Join(out, "\n")
}

func taskEventText(e *api.TaskEvent) string {
	for _, s := range []string{e.DisplayMessage, e.Message, e.DriverError, e.SetupError} {
		if s != "" {
			return s
		}
	}
	return ""
}

func allocTerminal(clientStatus string) bool {
	switch clientStatus {
	case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
		return true
	}
	return false
}

// placementFailure turns the failed placements of evaluations processed since start
// into an error naming Nomad's reasons.
func placementFailure(id string, evals []*api.Evaluation, start time.Time) error {
	for _, e := range evals {
		if e.ModifyTime < start.UnixNano() || len(e.FailedTGAllocs) == 0 {
			continue
		}
		var parts []string
		for _, tg := range slices.Sorted(keysOf(e.FailedTGAllocs)) {
			parts = append(parts, fmt.Sprintf("group %q: %s", tg, describeMetric(e.FailedTGAllocs[tg], e.QueuedAllocations[tg])))
		}
		return fmt.Errorf("job %s: %s: %w", id, strings.Join(parts, "; "), ErrPlacement)
	}
	return nil
}

// describeMetric renders why Nomad could not place allocations.
func describeMetric(m *api.AllocationMetric, queued int) string {
	if m == nil {
		return "placement failed"
	}
	var why []string
	if queued > 0 {
		why = append(why, fmt.Sprintf("%d allocation(s) unplaced", queued))
	}
	why = append(why, fmt.Sprintf("%d node(s) evaluated", m.NodesEvaluated))
	for _, k := range slices.Sorted(keysOf(m.ConstraintFiltered)) {
		why = append(why, fmt.Sprintf("constraint %s filtered %d node(s)", k, m.ConstraintFiltered[k]))
	}
	for _, k := range slices.Sorted(keysOf(m.ClassFiltered)) {
		why = append(why, fmt.Sprintf("class %s filtered %d node(s)", k, m.ClassFiltered[k]))
	}
	for _, k := range slices.Sorted(keysOf(m.DimensionExhausted)) {
		why = append(why, fmt.Sprintf("%s exhausted on %d node(s)", k, m.DimensionExhausted[k]))
	}
	if m.NodesExhausted > 0 && len(m.DimensionExhausted) == 0 {
		why = append(why, fmt.Sprintf("resources exhausted on %d node(s)", m.NodesExhausted))
	}
	return strings.Join(why, ", ")
}

// waitStopped polls until no allocation of job id is still running or starting.
func waitStopped(ctx context.Context, c *api.Client, id string) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		allocs, _, err := c.Jobs().Allocations(id, false, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil && !isNomad404(err) && ctx.Err() == nil {
			return fmt.Errorf("read allocations of %s: %w", id, err)
		}
		live := 0
		for _, a := range allocs {
			if !allocTerminal(a.ClientStatus) {
				live++
			}
		}
		if err == nil && live == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s: %d allocation(s) still running: %w", id, live, ctx.Err())
		case <-t.C:
		}
	}
}

// isNomad404 reports a 404 answer of the Nomad API.
func isNomad404(err error) bool {
	var re api.UnexpectedResponseError
	return errors.As(err, &re) && re.StatusCode() == 404
}

// progressFunc returns progress, or a function that drops lines when it is nil.
func progressFunc(progress func(string)) func(string) {
	if progress == nil {
		return func(string) {}
	}
	return progress
}

// allocShort is the first eight characters of a Nomad UUID, as the nomad CLI shows them.
func allocShort(id string) string { return id[:min(8, len(id))] }

func lastIf(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func keysOf[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
