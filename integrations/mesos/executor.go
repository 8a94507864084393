package mesos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
)

// Errors of the executor adapter.
var (
	// ErrInvalidExecutorConfig reports an ExecutorConfig that Validate rejects.
	ErrInvalidExecutorConfig = errors.New("mesos executor: invalid config")
	// ErrAgentDisconnected reports that the executor lost its agent and could not
	// subscribe again within the recovery timeout (or, without framework checkpointing,
	// at all): the task was stopped.
	ErrAgentDisconnected = errors.New("mesos executor: agent disconnected")
	// ErrTaskFailed reports that the task's run function failed; the agent was told
	// with TASK_FAILED.
	ErrTaskFailed = errors.New("mesos executor: task failed")
	// ErrBadTaskData reports TaskInfo data or labels the executor cannot read.
	ErrBadTaskData = errors.New("mesos executor: bad task data")
)

// ExecutorConfig configures RunExecutor. Start from DefaultExecutorConfig and set Agent.
type ExecutorConfig struct {
	// Agent is the environment the Mesos agent gives its executors (MESOS_AGENT_ENDPOINT,
	// MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, the shutdown grace period and, with
	// framework checkpointing, the recovery timeout and subscription backoff). cmd/sluice
	// reads it with mesos-go's config.FromEnv. Required.
	Agent config.Config
	// CallTimeout bounds each call to the agent other than the subscription stream
	// (status updates), and the wait for the subscription's response headers.
	CallTimeout time.Duration
	// KillGrace is how long a killed task may take to stop when neither the KILL event
	// nor the task carries a kill policy.
	KillGrace time.Duration
	// AckTimeout bounds the wait, once the task has ended, for the agent to acknowledge
	// the final status update before RunExecutor returns anyway.
	AckTimeout time.Duration
	// BackoffMin is the first wait between subscription attempts while disconnected; it
	// doubles up to Agent.SubscriptionBackoffMax (or 2 s when that is not set).
	BackoffMin time.Duration
	// HTTPClient talks to the agent; nil builds one whose idle connections RunExecutor
	// closes when it returns. Its Timeout must be zero: the subscription is a stream.
	HTTPClient *http.Client
	// Logger receives the adapter's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultExecutorConfig returns the defaults: calls bounded by 5 s, a 5 s kill grace, 10 s
// for the final acknowledgement and a 250 ms first subscription backoff.
func DefaultExecutorConfig() ExecutorConfig {
	return ExecutorConfig{
		CallTimeout: 5 * time.Second,
		KillGrace:   5 * time.Second,
		AckTimeout:  10 * time.Second,
		BackoffMin:  250 * time.Millisecond,
	}
}

// Validate reports the first problem of c, wrapping ErrInvalidExecutorConfig.
func (c ExecutorConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidExecutorConfig)
	}
	a := c.Agent
	switch {
	case a.AgentEndpoint == "":
		return bad("no agent endpoint (MESOS_AGENT_ENDPOINT)")
	case a.FrameworkID == "":
		return bad("no framework ID (MESOS_FRAMEWORK_ID)")
	case a.ExecutorID == "":
		return bad("no executor ID (MESOS_EXECUTOR_ID)")
	case a.ExecutorShutdownGracePeriod < 0:
		return bad("shutdown grace period %v < 0", a.ExecutorShutdownGracePeriod)
	case a.Checkpoint && a.RecoveryTimeout <= 0:
		return bad("checkpointing without a positive recovery timeout (MESOS_RECOVERY_TIMEOUT)")
	case c.CallTimeout <= 0:
		return bad("call timeout %v <= 0", c.CallTimeout)
	case c.KillGrace <= 0:
		return bad("kill grace %v <= 0", c.KillGrace)
	case c.AckTimeout <= 0:
		return bad("ack timeout %v <= 0", c.AckTimeout)
	case c.BackoffMin <= 0:
		return bad("backoff min %v <= 0", c.BackoffMin)
	case c.HTTPClient != nil && c.HTTPClient.Timeout != 0:
		return bad("HTTP client timeout %v would cut the subscription stream", c.HTTPClient.Timeout)
	}
	if _, _, err := net.SplitHostPort(a.AgentEndpoint); err != nil {
		return bad("agent endpoint %q: %v", a.AgentEndpoint, err)
	}
	return nil
}

// RunFunc runs the one task of the executor until ctx ends (the task was killed, the
// executor shut down, or the agent was lost for good) or the task ends on its own. It
// calls ready once the task serves, which sends TASK_RUNNING; calling it again does
// nothing. A nil return is TASK_FINISHED (TASK_KILLED when ctx had ended), an error
// TASK_FAILED with the error as message.
type RunFunc func(ctx context.Context, task TaskInfo, ready func()) error

// RunExecutor is a Mesos custom executor that runs one task with run, on the Mesos v1
// executor HTTP API. It subscribes to the agent, waits for LAUNCH, sends TASK_STARTING,
// TASK_RUNNING (once run calls ready) and a terminal update when run returns, and
// returns once the agent acknowledged that last update (or after AckTimeout).
//
// KILL of the task and SHUTDOWN cancel run's ctx; run has the kill policy's grace period
// (KillGrace by default; for SHUTDOWN, most of the agent's shutdown grace period) to
// return, after which TASK_KILLED is sent without waiting any longer and RunExecutor
// returns: the caller's process should then exit, ending what run left behind.
// Status updates the agent has not acknowledged are sent again with each new
// subscription. When the stream breaks, RunExecutor subscribes again with a growing
// backoff until the recovery timeout (framework checkpointing) and otherwise stops the
// task at once and returns ErrAgentDisconnected. When ctx ends, the task is stopped as for
// SHUTDOWN and its TASK_KILLED update sent if the agent can be reached.
//
// RunExecutor returns nil when the task finished or was killed, an error wrapping
// ErrTaskFailed when run failed, and ErrAgentDisconnected as above. A second LAUNCH (or a
// LAUNCH_GROUP) is answered with TASK_FAILED: this executor runs one task.
func RunExecutor(ctx context.Context, cfg ExecutorConfig, run RunFunc) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if run == nil {
		return fmt.Errorf("no run function: %w", ErrInvalidExecutorConfig)
	}
	x := newExecutorLoop(cfg, run)
	defer x.close()
	return x.loop(ctx)
}
