package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// Groups of figures, in the order Run measures them.
const (
	GroupRead     = "read"
	GroupWrite    = "write"
	GroupParallel = "parallel"
	GroupMetadata = "metadata"
	GroupLineage  = "lineage"
)

// AllGroups lists every group in the order Run measures them.
var AllGroups = []string{GroupRead, GroupWrite, GroupParallel, GroupMetadata, GroupLineage}

// ErrInvalidConfig is wrapped by Config.Validate's errors.
var ErrInvalidConfig = errors.New("bench: invalid configuration")

// S3Target is a MinIO (or S3) endpoint with a bucket the benchmark may fill and empty.
type S3Target struct {
	Endpoint, AccessKey, SecretKey, Region, Bucket string
}

// Lineage is what the lineage figures need from the cluster's operator.
type Lineage interface {
	// WriteJobCommand returns the command of a lineage job that runs RunWriteJob with
	// size and seed: it writes Payload(size, seed) to its first output and its write
	// time to its second.
	WriteJobCommand(size int64, seed uint64, tookFile string) []string
	// KillExecutor ends the executor's process at once, as a lost node (the scheduler
	// reports the loss to the master and starts a replacement with empty storage).
	KillExecutor(ctx context.Context, e *sluicepb.ExecutorInfo) error
}

// Progress is what Run reports before each measurement.
type Progress struct {
	Group, Figure string
	// Run counts from 1 to Runs; 0 is the group's setup.
	Run, Runs int
}

// Config configures Run.
type Config struct {
	// Size is the bytes of each data-path file (the parallel rows split it among the
	// clients). At least 1 MiB.
	Size int64
	// Runs is how many times each figure is measured (at least 1).
	Runs int
	// Clients is the number of concurrent clients of the parallel and metadata rows.
	Clients int
	// ListEntries is the size of the listed directory (the 10,000).
	ListEntries int
	// MetaOps scales the metadata rows: per run, the lone client creates MetaOps/8 files
	// and the Clients together MetaOps; getStatus runs MetaOps and 8×MetaOps times; the
	// listings are MetaOps/512 and MetaOps/1024 per client (at least one).
	MetaOps int
	// Groups are the groups to run, in any order; empty means AllGroups.
	Groups []string
	// NewClient returns a new client of the cluster; with shortCircuit false it never
	// reads or writes block files directly. Run closes the clients it made.
	NewClient func(ctx context.Context, shortCircuit bool) (*client.Client, error)
	// Dir is the Sluice directory holding every file of the run; Run deletes it at the
	// end. It must not exist.
	Dir string
	// Scratch is a local directory on the disk for the reference files and the local UFS
	// mounted at Dir/ufs (the cluster's executors must reach it: same host). Run leaves
	// it empty.
	Scratch string
	// MemScratch is a directory on the file system of the executors' MEM tier, for the
	// pread references. Run leaves it empty.
	MemScratch string
	// S3 is the object store of the S3 rows; nil skips them with S3Skip as the reason.
	S3     *S3Target
	S3Skip string
	// Lineage runs the lineage rows; nil skips them with LineageSkip as the reason.
	Lineage     Lineage
	LineageSkip string
	// OnProgress, when set, is called before each measurement (from Run's goroutine).
	OnProgress func(Progress)
	// Logger receives debug logs (nil: none).
	Logger *slog.Logger
}

// Validate checks cfg.
func (c Config) Validate() error {
	var errs []error
	if c.Size < 1<<20 {
		errs = append(errs, fmt.Errorf("size %d below 1 MiB", c.Size))
	}
	if c.Runs < 1 {
		errs = append(errs, fmt.Errorf("runs %d below 1", c.Runs))
	}
	if c.Clients < 1 {
		errs = append(errs, fmt.Errorf("clients %d below 1", c.Clients))
	}
	if c.MetaOps < 1 {
		errs = append(errs, fmt.Errorf("metadata operations %d below 1", c.MetaOps))
	}
	if c.ListEntries < 1 {
		errs = append(errs, fmt.Errorf("list entries %d below 1", c.ListEntries))
	}
	for _, g := range c.Groups {
		if !slices.Contains(AllGroups, g) {
			errs = append(errs, fmt.Errorf("unknown group %q (groups: %s)", g, strings.Join(AllGroups, ", ")))
		}
	}
	if c.NewClient == nil {
		errs = append(errs, errors.New("no NewClient"))
	}
	if !strings.HasPrefix(c.Dir, "/") || c.Dir == "/" {
		errs = append(errs, fmt.Errorf("dir %q is not an absolute Sluice path below /", c.Dir))
	}
	if c.Scratch == "" || c.MemScratch == "" {
		errs = append(errs, errors.New("scratch and mem scratch directories are required"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", errors.Join(errs...), ErrInvalidConfig)
}

// runner holds the state of one Run.
type runner struct {
	cfg     Config
	log     *slog.Logger
	rows    []*Row
	notes   []string
	sc      *client.Client // short-circuit client
	remote  *client.Client // gRPC-only client
	clients []*client.Client
	// closers are the cleanup steps (unmounts, removals, stops), run last first before
	// cfg.Dir is deleted; clientClosers close the clients after that.
	closers, clientClosers []func() error
	// ufsMounted and minio record the mounts made (mounts.go).
	ufsMounted bool
	minio      *minio.Client
}

// Run measures the groups of cfg, each figure cfg.Runs times beside its reference, and
// returns the report. Figures that cannot be measured here (no MinIO, no lineage) are
// rows with Skipped set. When ctx ends Run stops at once, removes what it wrote (with a
// context of its own) and returns ctx's error with the rows measured so far. Any other
// failure also ends the run: its error and the partial report are returned.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{Started: time.Now()}
	err := r.run(ctx)
	err = errors.Join(err, r.cleanup())
	rep.Took = time.Since(rep.Started)
	for _, row := range r.rows {
		rep.Rows = append(rep.Rows, *row)
	}
	rep.Notes = r.notes
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, err
}

func (r *runner) run(ctx context.Context) error {
	var err error
	if r.sc, err = r.newClient(ctx, true); err != nil {
		return err
	}
	if r.remote, err = r.newClient(ctx, false); err != nil {
		return err
	}
	if _, err := r.sc.Stat(ctx, r.cfg.Dir); err == nil {
		return fmt.Errorf("%s exists already: choose another directory: %w", r.cfg.Dir, ErrInvalidConfig)
	}
	if _, err := r.sc.Mkdir(ctx, r.cfg.Dir, client.MkdirOptions{Recursive: true}); err != nil {
		return fmt.Errorf("create %s: %w", r.cfg.Dir, err)
	}
	groups := r.cfg.Groups
	if len(groups) == 0 {
		groups = AllGroups
	}
	steps := map[string]func(context.Context) error{
		GroupRead: r.readGroup, GroupWrite: r.writeGroup, GroupParallel: r.parallelGroup,
		GroupMetadata: r.metadataGroup, GroupLineage: r.lineageGroup,
	}
	for _, g := range AllGroups {
		if !slices.Contains(groups, g) {
			continue
		}
		if err := steps[g](ctx); err != nil {
			return fmt.Errorf("%s: %w", g, err)
		}
	}
	return nil
}

// newClient makes a client that cleanup closes.
func (r *runner) newClient(ctx context.Context, shortCircuit bool) (*client.Client, error) {
	cl, err := r.cfg.NewClient(ctx, shortCircuit)
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster: %w", err)
	}
	r.clientClosers = append(r.clientClosers, cl.Close)
	return cl, nil
}

// parallelClients returns cfg.Clients short-circuit clients, made on first use.
func (r *runner) parallelClients(ctx context.Context) ([]*client.Client, error) {
	for len(r.clients) < r.cfg.Clients {
		cl, err := r.newClient(ctx, true)
		if err != nil {
			return nil, err
		}
		r.clients = append(r.clients, cl)
	}
	return r.clients, nil
}

// defer_ registers a cleanup step, run last registered first.
func (r *runner) defer_(f func() error) { r.closers = append(r.closers, f) }

// cleanup runs the registered steps (unmounts, removals, stops), then deletes cfg.Dir
// with a context of its own, so that it also runs after an interrupt, then closes the
// clients.
func (r *runner) cleanup() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	if r.sc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if _, err := r.sc.Delete(ctx, r.cfg.Dir, client.DeleteOptions{Recursive: true}); err != nil && !errors.Is(err, client.ErrNotFound) {
			errs = append(errs, fmt.Errorf("delete %s: %w", r.cfg.Dir, err))
		}
		cancel()
	}
	for _, c := range r.clientClosers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// progress reports the next measurement.
func (r *runner) progress(group, figure string, run int) {
	if r.cfg.OnProgress != nil {
		r.cfg.OnProgress(Progress{Group: group, Figure: figure, Run: run, Runs: r.cfg.Runs})
	}
}

// row returns the row of the figure and reference, adding it on first use.
func (r *runner) row(group, figure, unit, reference string, target *Target) *Row {
	for _, row := range r.rows {
		if row.Group == group && row.Figure == figure && row.Reference == reference {
			return row
		}
	}
	row := &Row{Group: group, Figure: figure, Unit: unit, Reference: reference, Target: target}
	r.rows = append(r.rows, row)
	return row
}

// add records one run of a row: the measured value and the reference's (ref < 0: none).
func (r *runner) add(group, figure, unit, reference string, target *Target, measured, ref float64) {
	row := r.row(group, figure, unit, reference, target)
	row.Measured = append(row.Measured, measured)
	if ref >= 0 {
		row.Ref = append(row.Ref, ref)
	}
}

// skip records a row that is not measured, and why.
func (r *runner) skip(group, figure, unit, reference string, target *Target, why string) {
	r.row(group, figure, unit, reference, target).Skipped = why
}

// note adds a remark to the report once.
func (r *runner) note(s string) {
	if !slices.Contains(r.notes, s) {
		r.notes = append(r.notes, s)
	}
}

// path returns the Sluice path of name under cfg.Dir.
func (r *runner) path(name string) string { return r.cfg.Dir + "/" + name }

// waitUsedAtMost polls the executor list until the executors' used bytes drop to at
// most limit (block removals travel with heartbeats), up to a minute.
func (r *runner) waitUsedAtMost(ctx context.Context, limit int64) error {
	return Poll(ctx, time.Minute, 10*time.Millisecond, func() (bool, error) {
		used, err := r.usedBytes(ctx)
		return used <= limit, err
	})
}

// usedBytes returns the bytes the live executors hold.
func (r *runner) usedBytes(ctx context.Context) (int64, error) {
	infos, err := r.sc.Executors(ctx, false)
	if err != nil {
		return 0, fmt.Errorf("list executors: %w", err)
	}
	var used int64
	for _, in := range infos {
		used += in.GetUsedBytes()
	}
	return used, nil
}

// Poll calls f every interval until it reports done or fails, and fails itself when
// timeout passes first.
func Poll(ctx context.Context, timeout, interval time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done after %v: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// bytesReader returns a reader of data.
func bytesReader(data []byte) io.Reader { return bytes.NewReader(data) }
