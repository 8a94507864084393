package mesostest

import (
	"fmt"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// acceptLocked applies ACCEPT: the offers are consumed, LAUNCH and LAUNCH_GROUP operations
// start tasks within the offered resources, and unused resources return to the agent filtered
// for the call's refuse_seconds. Invalid offers drop the launches with TASK_LOST (TASK_DROPPED
// for partition-aware frameworks) and REASON_INVALID_OFFERS; invalid tasks get TASK_ERROR with
// REASON_TASK_INVALID. Such master-generated updates carry no uuid.
func (m *Master) acceptLocked(fw *framework, acc *scheduler.Call_Accept) {
	defer m.allocateSoon()
	var offers []*offer
	invalid := ""
	for _, id := range acc.OfferIDs {
		o := m.offers[id.Value]
		switch {
		case o == nil || o.fw != fw:
			invalid = fmt.Sprintf("Offer %s is no longer valid", id.Value)
		case len(offers) > 0 && o.agent != offers[0].agent:
			invalid = "Aggregated offers must belong to one single agent"
		default:
			offers = append(offers, o)
		}
	}
	if len(acc.OfferIDs) == 0 {
		invalid = "No offers specified"
	}
	for _, o := range offers {
		delete(m.offers, o.id)
	}
	if invalid != "" {
		dropped := mesos.TASK_LOST
		if fw.partitionAware() {
			dropped = mesos.TASK_DROPPED
		}
		for _, op := range acc.Operations {
			for _, ti := range operationTasks(op) {
				m.masterUpdateLocked(fw, ti.TaskID.Value, ti.AgentID.Value, dropped, mesos.REASON_INVALID_OFFERS, invalid)
			}
		}
		return
	}
	a, role := offers[0].agent, offers[0].role
	avail := pool{}
	for _, o := range offers {
		avail = avail.add(o.res)
	}
	for _, op := range acc.Operations {
		switch op.Type {
		case mesos.Offer_Operation_LAUNCH:
			if op.Launch == nil {
				continue
			}
			for _, ti := range op.Launch.TaskInfos {
				avail = m.launchLocked(fw, a, role, avail, nil, []mesos.TaskInfo{ti})
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			if op.LaunchGroup == nil {
				continue
			}
			ei := op.LaunchGroup.Executor
			avail = m.launchLocked(fw, a, role, avail, &ei, op.LaunchGroup.TaskGroup.Tasks)
		default:
			// Reservations, volumes and disks are not modelled; the operation is dropped and
			// its resources stay with the rest of the offer.
			m.log.Warn("operation not supported, dropped", "framework_id", fw.id, "type", op.Type.String())
		}
	}
	m.addFilterLocked(fw, a, role, avail, acc.Filters, time.Now())
}

// operationTasks lists the tasks of a launch operation.
func operationTasks(op mesos.Offer_Operation) []mesos.TaskInfo {
	switch {
	case op.Type == mesos.Offer_Operation_LAUNCH && op.Launch != nil:
		return op.Launch.TaskInfos
	case op.Type == mesos.Offer_Operation_LAUNCH_GROUP && op.LaunchGroup != nil:
		return op.LaunchGroup.TaskGroup.Tasks
	}
	return nil
}

// launchLocked validates and starts one LAUNCH task (group == nil) or one LAUNCH_GROUP, taking
// resources from avail; it returns what is left of avail.
func (m *Master) launchLocked(fw *framework, a *agent, role string, avail pool, group *mesos.ExecutorInfo, tis []mesos.TaskInfo) pool {
	fail := func(reason mesos.TaskStatus_Reason, msg string) pool {
		for _, ti := range tis {
			m.masterUpdateLocked(fw, ti.TaskID.Value, a.id, mesos.TASK_ERROR, reason, msg)
		}
		return avail
	}
	reason := mesos.REASON_TASK_INVALID
	if group != nil {
		reason = mesos.REASON_TASK_GROUP_INVALID
	}
	need := pool{}
	seen := map[string]bool{}
	var ei *mesos.ExecutorInfo
	if group != nil {
		ei = group
		if ei.Type == mesos.ExecutorInfo_UNKNOWN {
			return fail(reason, "Executor of a task group must be of type DEFAULT or CUSTOM")
		}
		if len(tis) == 0 {
			return fail(reason, "Task group is empty")
		}
	}
	for i := range tis {
		ti := &tis[i]
		if msg := validateTask(fw, a, ti, group != nil, seen); msg != "" {
			return fail(reason, msg)
		}
		seen[ti.TaskID.Value] = true
		if group == nil && ti.Executor != nil {
			ei = ti.Executor
		}
		res, err := fromResources(ti.Resources, allocationRoleFor(fw, role))
		if err != nil {
			return fail(reason, fmt.Sprintf("Task %s has invalid resources: %v", ti.TaskID.Value, err))
		}
		need = need.add(res)
	}
	var e *executor
	newExec := false
	if ei != nil {
		if ei.ExecutorID.Value == "" {
			return fail(reason, "ExecutorInfo has an empty executor_id")
		}
		if ei.FrameworkID != nil && ei.FrameworkID.Value != fw.id {
			return fail(reason, "ExecutorInfo has an invalid framework_id")
		}
		if group == nil && ei.Type == mesos.ExecutorInfo_DEFAULT {
			return fail(reason, "The DEFAULT executor can only run task groups (LAUNCH_GROUP)")
		}
		if ei.Type != mesos.ExecutorInfo_DEFAULT && (ei.Command == nil || ei.Command.GetValue() == "") {
			return fail(reason, "ExecutorInfo must have a command with a value")
		}
		e = a.executors[execKey(fw.id, ei.ExecutorID.Value)]
		if e != nil && e.builtin() != (ei.Type == mesos.ExecutorInfo_DEFAULT) {
			return fail(reason, "ExecutorInfo is not compatible with the running executor's ExecutorInfo")
		}
		if e == nil {
			res, err := fromResources(ei.Resources, allocationRoleFor(fw, role))
			if err != nil {
				return fail(reason, fmt.Sprintf("Executor %s has invalid resources: %v", ei.ExecutorID.Value, err))
			}
			need = need.add(res)
			newExec = true
		}
	}
	if !avail.contains(need) {
		return fail(reason, fmt.Sprintf("Task uses more resources %v than available %v",
			need.toResources(resourceFormat{}), avail.toResources(resourceFormat{})))
	}
	avail = avail.sub(need)
	if newExec {
		res, _ := fromResources(ei.Resources, "")
		e = m.newExecutorLocked(fw, a, *ei, res)
	}
	var tasks []*task
	for _, ti := range tis {
		res, _ := fromResources(ti.Resources, "")
		t := &task{id: ti.TaskID.Value, info: ti, fw: fw, agent: a, exec: e, res: res, state: mesos.TASK_STAGING}
		t.info.AgentID = mesos.AgentID{Value: a.id}
		t.latest = mesos.TaskStatus{TaskID: ti.TaskID, State: mesos.TASK_STAGING.Enum(),
			AgentID: &mesos.AgentID{Value: a.id}, Source: mesos.SOURCE_MASTER.Enum()}
		if e != nil {
			t.latest.ExecutorID = &mesos.ExecutorID{Value: e.id}
		}
		fw.tasks[t.id] = t
		a.tasks[execKey(fw.id, t.id)] = t
		tasks = append(tasks, t)
	}
	switch {
	case e == nil:
		m.startCommandTaskLocked(tasks[0])
	default:
		for _, t := range tasks {
			e.tasks[t.id] = t
		}
		m.deliverLocked(e, queuedLaunch{tasks: tasks, group: group != nil})
	}
	return avail
}

// allocationRoleFor returns the role task resources must be allocated to, for MULTI_ROLE
// frameworks; others have the allocation injected, as Mesos does for them.
func allocationRoleFor(fw *framework, role string) string {
	if fw.hasCapability(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		return role
	}
	return ""
}

// validateTask returns why ti cannot launch on a, or "".
func validateTask(fw *framework, a *agent, ti *mesos.TaskInfo, inGroup bool, seen map[string]bool) string {
	id := ti.TaskID.Value
	switch {
	case id == "":
		return "Task has an empty task_id"
	case fw.tasks[id] != nil || seen[id]:
		return fmt.Sprintf("Task has duplicate ID: %s", id)
	case ti.AgentID.Value != a.id:
		return fmt.Sprintf("Task uses invalid agent: %s", ti.AgentID.Value)
	case inGroup && ti.Executor != nil:
		return "Task in a task group must not set 'executor'"
	case inGroup && ti.Command == nil:
		return "Task in a task group must set 'command'"
	case !inGroup && (ti.Command == nil) == (ti.Executor == nil):
		return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
	case ti.Command != nil && ti.Command.GetValue() == "":
		return "CommandInfo must have a 'value'"
	}
	return ""
}
