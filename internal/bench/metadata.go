package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicedata/sluice/client"
)

// The metadata rows: their figure names carry the client count.
const (
	RefStub = "stub master (canned answers, same clients)"
	// maxStatFiles bounds how many files each client stats in turn (MetaOps/8).
	maxStatFiles = 64
	// issueClients is the client count the issue's metadata targets are stated for.
	issueClients = 16
)

// Targets of the issue for 16 clients on 2 cores.
var (
	targetCreates   = &Target{Value: 5000}
	targetGetStatus = &Target{Value: 30000}
)

// MetaOp is one metadata operation of client i, its j-th.
type MetaOp func(ctx context.Context, cl *client.Client, i, j int) error

// metaFigure is one metadata row: an operation and how many each client runs per run.
type metaFigure struct {
	name      string
	perClient func(clients int) int
	op        func(run int) MetaOp
	target    *Target
}

// metadataGroup measures create+complete of empty files, getStatus and the listing of
// a cfg.ListEntries-entry directory with 1 and with cfg.Clients separate clients (each its
// own connection and goroutine), beside the same calls from as many clients to a stub
// master that replays the real master's answers at once.
func (r *runner) metadataGroup(ctx context.Context) error {
	r.progress(GroupMetadata, "setup: creating files", 0)
	clients, err := r.parallelClients(ctx)
	if err != nil {
		return err
	}
	statFiles := min(maxStatFiles, max(1, r.cfg.MetaOps/8))
	dir := r.path("meta")
	clientDir := func(i int) string { return fmt.Sprintf("%s/c%02d", dir, i) }
	statPath := func(i, j int) string { return fmt.Sprintf("%s/s%03d", clientDir(i), j%statFiles) }
	listDir := dir + "/list"
	create := func(path string) func(ctx context.Context, cl *client.Client) error {
		return func(ctx context.Context, cl *client.Client) error {
			_, err := WriteFile(ctx, cl, path, client.WriteMustCache, nil)
			return err
		}
	}
	_, err = RunOps(ctx, clients, statFiles, func(ctx context.Context, cl *client.Client, i, j int) error {
		return create(statPath(i, j))(ctx, cl)
	})
	if err != nil {
		return err
	}
	r.progress(GroupMetadata, fmt.Sprintf("setup: a directory of %d entries", r.cfg.ListEntries), 0)
	if _, err := r.sc.Mkdir(ctx, listDir, client.MkdirOptions{Recursive: true}); err != nil {
		return err
	}
	per := (r.cfg.ListEntries + len(clients) - 1) / len(clients)
	_, err = RunOps(ctx, clients, per, func(ctx context.Context, cl *client.Client, i, j int) error {
		if k := i*per + j; k < r.cfg.ListEntries {
			return create(fmt.Sprintf("%s/f%06d", listDir, k))(ctx, cl)
		}
		return nil
	})
	if err != nil {
		return err
	}
	info, err := r.sc.MasterInfo(ctx)
	if err != nil {
		return err
	}
	answers, err := CaptureAnswers(ctx, info.GetRpcAddress(), dir+"/stub-sample", listDir)
	if err != nil {
		return err
	}
	stub, err := StartStub(answers)
	if err != nil {
		return err
	}
	r.defer_(stub.Stop)
	var stubClients []*client.Client
	for range clients {
		cfg := r.sc.Config()
		cfg.Masters = []string{stub.Addr}
		cl, err := client.New(ctx, cfg)
		if err != nil {
			return fmt.Errorf("connect to the stub master: %w", err)
		}
		r.defer_(cl.Close)
		stubClients = append(stubClients, cl)
	}
	n := len(clients)
	figures := []metaFigure{
		{"create+complete (empty files)", perClient(max(1, r.cfg.MetaOps/8), r.cfg.MetaOps), func(run int) MetaOp {
			return func(ctx context.Context, cl *client.Client, i, j int) error {
				return create(fmt.Sprintf("%s/r%d-%04d", clientDir(i), run, j))(ctx, cl)
			}
		}, targetCreates},
		{"getStatus", perClient(r.cfg.MetaOps, 8*r.cfg.MetaOps), func(int) MetaOp {
			return func(ctx context.Context, cl *client.Client, i, j int) error {
				_, err := cl.Stat(ctx, statPath(i, j))
				return err
			}
		}, targetGetStatus},
		{fmt.Sprintf("list a %d-entry directory", r.cfg.ListEntries), perClient(max(1, r.cfg.MetaOps/512), max(1, r.cfg.MetaOps/1024)*n), func(int) MetaOp {
			return func(ctx context.Context, cl *client.Client, i, j int) error {
				got, err := cl.List(ctx, listDir, client.ListOptions{})
				if err == nil && len(got) != r.cfg.ListEntries {
					err = fmt.Errorf("list %s: %d entries, want %d", listDir, len(got), r.cfg.ListEntries)
				}
				return err
			}
		}, nil},
	}
	counts := []int{1}
	if n > 1 {
		counts = append(counts, n)
	}
	for run := 1; run <= r.cfg.Runs; run++ {
		for _, f := range figures {
			for _, c := range counts {
				name := fmt.Sprintf("%s, %d client", f.name, c)
				if c > 1 {
					name += "s"
				}
				r.progress(GroupMetadata, name, run)
				ops := f.perClient(c)
				op := f.op(run*10 + c)
				m, s, err := pairedRun(run, func() (time.Duration, error) {
					return RunOps(ctx, clients[:c], ops, op)
				}, func() (time.Duration, error) {
					d, err := RunOps(ctx, stubClients[:c], ops, op)
					if err != nil {
						err = fmt.Errorf("stub master: %w", err)
					}
					return d, err
				})
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				var target *Target
				if c == issueClients {
					target = f.target
				}
				rate := func(d time.Duration) float64 { return float64(ops*c) / d.Seconds() }
				r.add(GroupMetadata, name, UnitOpsPerS, RefStub, target, rate(m), rate(s))
			}
		}
	}
	_, err = r.sc.Delete(ctx, dir, client.DeleteOptions{Recursive: true})
	return err
}

// RunOps runs op perClient times on every client at once, one goroutine per client, and
// returns the wall time from the start of the first to the end of the last.
func RunOps(ctx context.Context, clients []*client.Client, perClient int, op MetaOp) (time.Duration, error) {
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	start := time.Now()
	for i, cl := range clients {
		wg.Go(func() {
			for j := range perClient {
				if err := op(ctx, cl, i, j); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// perClient returns how many operations each of c clients runs per run: one for a lone
// client, else total spread over the clients (at least one each).
func perClient(one, total int) func(c int) int {
	return func(c int) int {
		if c == 1 {
			return one
		}
		return max(1, total/c)
	}
}
