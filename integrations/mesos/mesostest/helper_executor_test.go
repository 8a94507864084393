package mesostest

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

// Task data understood by the helper executor.
const (
	// helperFinish makes the executor report TASK_RUNNING then TASK_FINISHED.
	helperFinish = "finish"
	// helperExit makes the executor exit with status 3 after TASK_RUNNING.
	helperExit = "exit"
)

// runHelperExecutor is a custom executor built on mesos-go's executor calls and
// config.FromEnv, as a real one is: it subscribes to the agent, answers LAUNCH with
// TASK_RUNNING (and TASK_FINISHED or an exit, per the task's data), LAUNCH_GROUP likewise,
// KILL with TASK_KILLED, and exits on SHUTDOWN. It records the environment it got in
// executor.env and each ACKNOWLEDGED event in acks, in its sandbox. It returns the process exit status.
func runHelperExecutor() int {
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 2
	}
	env := ""
	for _, kv := range os.Environ() {
		env += kv + "\n"
	}
	if err := os.WriteFile(filepath.Join(cfg.Sandbox, "executor.env"), []byte(env), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "write env:", err)
		return 2
	}
	codec := codecs.ByMediaType[codecs.MediaTypeJSON]
	if os.Getenv("HELPER_CODEC") == "protobuf" {
		codec = codecs.ByMediaType[codecs.MediaTypeProtobuf]
	}
	endpoint := url.URL{Scheme: "http", Host: cfg.AgentEndpoint, Path: "/api/v1/executor"}
	cli := httpcli.New(httpcli.Endpoint(endpoint.String()), httpcli.Codec(codec))
	opts := mexec.CallOptions{calls.Framework(cfg.FrameworkID), calls.Executor(cfg.ExecutorID)}
	sender := calls.SenderWith(httpexec.NewSender(cli.Send), opts...)
	subscriber := calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...)
	ctx := context.Background()
	resp, err := subscriber.Send(ctx, calls.NonStreaming(calls.Subscribe(nil, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "subscribe:", err)
		return 2
	}
	defer resp.Close()
	var execID mesos.ExecutorID
	update := func(id mesos.TaskID, state mesos.TaskState) error {
		uuid := make([]byte, 16)
		_, _ = rand.Read(uuid)
		st := mesos.TaskStatus{TaskID: id, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(),
			ExecutorID: &execID, UUID: uuid}
		return calls.SendNoData(ctx, sender, calls.NonStreaming(calls.Update(st)))
	}
	run := func(ti mesos.TaskInfo) (int, bool) {
		if err := update(ti.TaskID, mesos.TASK_RUNNING); err != nil {
			fmt.Fprintln(os.Stderr, "update:", err)
			return 2, true
		}
		switch string(ti.Data) {
		case helperFinish:
			if err := update(ti.TaskID, mesos.TASK_FINISHED); err != nil {
				fmt.Fprintln(os.Stderr, "update:", err)
				return 2, true
			}
		case helperExit:
			return 3, true
		}
		return 0, false
	}
	for {
		var e mexec.Event
		if err := resp.Decode(&e); err != nil {
			if err == io.EOF {
				return 0
			}
			fmt.Fprintln(os.Stderr, "decode:", err)
			return 2
		}
		switch e.Type {
		case mexec.Event_SUBSCRIBED:
			execID = e.Subscribed.ExecutorInfo.ExecutorID
		case mexec.Event_LAUNCH:
			if code, stop := run(e.Launch.Task); stop {
				return code
			}
		case mexec.Event_LAUNCH_GROUP:
			for _, ti := range e.LaunchGroup.TaskGroup.Tasks {
				if code, stop := run(ti); stop {
					return code
				}
			}
		case mexec.Event_ACKNOWLEDGED:
			f, err := os.OpenFile(filepath.Join(cfg.Sandbox, "acks"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err == nil {
				fmt.Fprintf(f, "%s %x\n", e.Acknowledged.TaskID.Value, e.Acknowledged.UUID)
				err = f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "record ack:", err)
				return 2
			}
		case mexec.Event_KILL:
			if err := update(e.Kill.TaskID, mesos.TASK_KILLED); err != nil {
				fmt.Fprintln(os.Stderr, "update:", err)
				return 2
			}
		case mexec.Event_SHUTDOWN:
			return 0
		case mexec.Event_ERROR:
			return 2
		}
	}
}
