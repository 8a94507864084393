package mesostest

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
)

// framework is the master's record of one framework. All fields are guarded by Master.mu.
type framework struct {
	id        string
	info      mesos.FrameworkInfo
	principal string
	roles     []string
	// sub is the connected scheduler stream; nil while disconnected.
	sub *schedSub
	// failoverDeadline is when a disconnected framework is removed.
	failoverDeadline time.Time
	removed          bool
	suppressed       map[string]bool
	filters          []*offerFilter
	tasks            map[string]*task
	completed        []*task
}

func (f *framework) hasCapability(c mesos.FrameworkInfo_Capability_Type) bool {
	for _, x := range f.info.Capabilities {
		if x.Type == c {
			return true
		}
	}
	return false
}

func (f *framework) partitionAware() bool {
	return f.hasCapability(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
}

// format is how resources are rendered to this framework for an offer to role.
func (f *framework) format(role string) resourceFormat {
	rf := resourceFormat{refinement: f.hasCapability(mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT)}
	if f.hasCapability(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		rf.allocationRole = role
	}
	return rf
}

// schedSub is one scheduler event stream.
type schedSub struct {
	streamID string
	codec    encoding.Codec
	q        *eventQueue
}

// offerFilter refuses offers of resources contained in refused, from one agent to one
// framework role, until expires (Mesos' RefusedOfferFilter).
type offerFilter struct {
	agentID string
	role    string
	refused pool
	expires time.Time
}

// offer is an outstanding offer.
type offer struct {
	id    string
	fw    *framework
	agent *agent
	role  string
	res   pool
	made  time.Time
}

// agent is one stand-in agent: its resources, executors and executor API server.
// Fields other than the immutable ones set at creation are guarded by Master.mu.
type agent struct {
	id       string
	cfg      AgentConfig
	total    pool
	ln       net.Listener
	srv      *http.Server
	endpoint string // 127.0.0.1:port of the executor API
	removed  bool
	// executors maps "<framework>/<executor>" to live custom executors.
	executors map[string]*executor
	// tasks maps "<framework>/<task>" to tasks that still hold resources or await acks.
	tasks map[string]*task
}

func execKey(fwID, execID string) string { return fwID + "/" + execID }

// executor is a custom executor process on an agent.
type executor struct {
	id          string
	fw          *framework
	agent       *agent
	info        mesos.ExecutorInfo
	res         pool
	containerID string
	sandbox     string
	proc        *process
	sub         *execSub
	// queued are tasks (and task groups) accepted but not yet delivered to the executor.
	queued     []queuedLaunch
	tasks      map[string]*task
	startedAt  time.Time
	subscribed bool
	// disconnectedAt is when a checkpointing executor's stream ended; zero while connected.
	disconnectedAt time.Time
	// shutdownDeadline, when set, is when an executor sent SHUTDOWN is killed.
	shutdownDeadline time.Time
	// exiting marks a default executor whose tasks all ended; it ends once they are
	// acknowledged.
	exiting    bool
	terminated bool
}

// queuedLaunch is a LAUNCH (one task) or LAUNCH_GROUP (several) waiting for the executor.
type queuedLaunch struct {
	tasks []*task
	group bool
}

// execSub is one executor event stream.
type execSub struct {
	codec encoding.Codec
	q     *eventQueue
}

// task is the master's and agent's record of one task. Guarded by Master.mu.
type task struct {
	id    string
	info  mesos.TaskInfo
	fw    *framework
	agent *agent
	// exec is the custom executor running the task; nil for a command task.
	exec *executor
	res  pool
	// released is set once the task's resources went back to the agent.
	released bool
	state    mesos.TaskState
	latest   mesos.TaskStatus
	// pending are reliable (uuid-carrying) updates not yet acknowledged; the head is in flight.
	pending    []mesos.TaskStatus
	nextRetry  time.Time
	retryDelay time.Duration
	// proc is a command task's process once started.
	proc      *process
	sandbox   string
	killing   bool
	killGrace time.Duration
	// delivered is set once a custom executor received the task in LAUNCH or LAUNCH_GROUP.
	delivered bool
	// killPending is a KILL to deliver when the executor re-subscribes.
	killPending bool
	// executorExit is the wait status of a command task's process, reported in a FAILURE
	// event once its terminal update is acknowledged.
	executorExit *int32
}

func (t *task) commandTask() bool { return t.exec == nil }

// process is a real child process run in its own process group.
type process struct {
	cmd    *exec.Cmd
	pid    int
	exited bool
	status syscall.WaitStatus
	// killTimer escalates SIGTERM to SIGKILL.
	killTimer *time.Timer
}

// signal sends sig to the process group; errors (the group is gone) are ignored.
func (p *process) signal(sig syscall.Signal) {
	if p == nil || p.exited {
		return
	}
	_ = syscall.Kill(-p.pid, sig)
}

func terminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_LOST,
		mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// newUUID returns 16 random bytes (a version 4 UUID) and its canonical text form.
func newUUID() ([]byte, string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b, fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
