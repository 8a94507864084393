package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicedata/sluice/master"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
)

// schedJobLauncher runs the master's lineage jobs on the framework scheduler of this
// process (`sluice local`): it adapts *scheduler.Scheduler to master.JobLauncher. Jobs
// are KindJob tasks, never relaunched by the scheduler. Job events carry the node as
// host and, once a job ended, the path and the tail of the log file the backend wrote
// (the local backend writes one per task).
type schedJobLauncher struct {
	sched *scheduler.Scheduler
}

var _ master.JobLauncher = (*schedJobLauncher)(nil)

// LaunchJob launches one run of a job as a KindJob task, labelled as the
// FrameworkScheduler server labels its jobs, on the nodes of the preferred hosts when
// possible (framework.PreferNodes; a backend that cannot list its nodes gets no hint).
func (l *schedJobLauncher) LaunchJob(ctx context.Context, jl master.JobLaunch) (string, error) {
	t := scheduler.Task{
		Name:      jl.Name,
		Kind:      scheduler.KindJob,
		Command:   jl.Command,
		Env:       jl.Env,
		Dir:       jl.WorkingDir,
		Resources: scheduler.Resources{CPU: jl.CPU, MemMB: jl.MemMB},
		Priority:  jl.Priority,
		Labels: map[string]string{
			framework.LabelJobID:      strconv.FormatUint(jl.JobID, 10),
			framework.LabelJobAttempt: strconv.Itoa(int(jl.Attempt)),
		},
	}
	if len(jl.PreferHosts) > 0 {
		if nodes, err := l.sched.Nodes(ctx); err == nil {
			t.PreferNodes = framework.PreferNodes(nodes, jl.PreferHosts)
		}
	}
	id, err := l.sched.LaunchJob(ctx, t)
	return string(id), launcherErr(err)
}

// KillJob kills a job task.
func (l *schedJobLauncher) KillJob(ctx context.Context, taskID string) error {
	return launcherErr(l.sched.KillJob(ctx, scheduler.TaskID(taskID)))
}

// JobEvents converts the scheduler's job events until ctx ends or the scheduler stops.
// The converting goroutine ends then and closes the channel.
func (l *schedJobLauncher) JobEvents(ctx context.Context) (<-chan master.JobEvent, error) {
	in := l.sched.Subscribe(ctx)
	out := make(chan master.JobEvent)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Kind != scheduler.KindJob {
				continue
			}
			je := master.JobEvent{TaskID: string(ev.TaskID), State: taskState(ev.State), ExitCode: ev.ExitCode,
				Message: ev.Message, Host: ev.Node, Time: ev.Time}
			if ev.State.Terminal() {
				l.addLog(ctx, &je)
			}
			select {
			case out <- je:
			case <-ctx.Done():
				// Drain so that the scheduler's queue for this subscriber ends too.
				for range in {
				}
				return
			}
		}
	}()
	return out, nil
}

// JobStatus returns what the scheduler knows of a job task.
func (l *schedJobLauncher) JobStatus(ctx context.Context, taskID string) (master.JobEvent, error) {
	st, err := l.sched.JobStatus(scheduler.TaskID(taskID))
	if err != nil {
		return master.JobEvent{}, launcherErr(err)
	}
	je := master.JobEvent{TaskID: taskID, State: taskState(st.State), ExitCode: st.ExitCode, Message: st.Message,
		Host: st.Node, Time: st.Ended}
	l.addLog(ctx, &je)
	return je, nil
}

// addLog adds the log path of a task and, when it has ended, the tail of its log.
func (l *schedJobLauncher) addLog(ctx context.Context, je *master.JobEvent) {
	ts, err := l.sched.TaskStatus(ctx, scheduler.TaskID(je.TaskID))
	if err != nil || ts.LogPath == "" {
		return
	}
	je.LogPath = ts.LogPath
	if je.State.Terminal() {
		je.LogTail, _ = framework.LogTail(ts.LogPath, framework.LogTailBytes)
	}
}

func taskState(s scheduler.State) master.JobTaskState {
	switch s {
	case scheduler.StateRunning:
		return master.TaskRunning
	case scheduler.StateFinished:
		return master.TaskFinished
	case scheduler.StateFailed:
		return master.TaskFailed
	case scheduler.StateKilled:
		return master.TaskKilled
	case scheduler.StateLost:
		return master.TaskLost
	}
	return master.TaskPending
}

// launcherErr maps the scheduler's unknown task to the master's.
func launcherErr(err error) error {
	if errors.Is(err, scheduler.ErrUnknownTask) {
		return fmt.Errorf("%w: %w", master.ErrUnknownTask, err)
	}
	return err
}
