package nomad

import (
	"context"
	"fmt"

	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/scheduler"
)

// LogTail returns the last n bytes of the task's stdout followed by the last n bytes
// of its stderr, read through the Nomad API from the node that runs or ran its
// allocation (its log files live there, in the allocation directory). A task not yet
// placed has no logs (""); an unknown ID is scheduler.ErrUnknownTask.
func (b *Backend) LogTail(ctx context.Context, id scheduler.TaskID, n int64) (string, error) {
	allocID, err := b.AllocID(id)
	if err != nil || allocID == "" {
		return "", err
	}
	alloc, _, err := b.api.Allocations().Info(allocID, b.queryOpts(ctx))
	if err != nil {
		return "", fmt.Errorf("logs of %s: read allocation %s: %w", id, allocID, err)
	}
	var out []byte
	for _, stream := range []string{"stdout", "stderr"} {
		data, err := b.readLog(ctx, alloc, stream, n)
		if err != nil {
			return "", fmt.Errorf("logs of %s: %s: %w", id, stream, err)
		}
		out = append(out, data...)
	}
	return string(out), nil
}

// readLog reads the last n bytes of one log stream of the allocation's task.
func (b *Backend) readLog(ctx context.Context, alloc *api.Allocation, stream string, n int64) ([]byte, error) {
	cancel := make(chan struct{})
	defer close(cancel)
	frames, errs := b.api.AllocFS().Logs(alloc, false, taskTaskName, stream, api.OriginEnd, n, cancel, b.queryOpts(ctx))
	var data []byte
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				if len(data) > int(n) {
					data = data[len(data)-int(n):]
				}
				return data, nil
			}
			data = append(data, f.Data...)
		case err := <-errs:
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
