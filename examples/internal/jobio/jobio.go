// Package jobio is the plumbing the example job programs share: flags and environment,
// connecting as a lineage job, reading every input file and writing an output.
//
// A program run by `sluice job submit` learns its masters, job ID, inputs and outputs
// from SLUICE_MASTER, SLUICE_JOB_ID, SLUICE_INPUTS and SLUICE_OUTPUTS (client.JobEnv).
// Run by hand, it takes them from --master, --input and --output instead, and writes its
// outputs as plain MUST_CACHE files.
package jobio

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluicedata/sluice/client"
)

// Options are the command-line settings every example program accepts.
type Options struct {
	// Master is the comma-separated master addresses; empty means SLUICE_MASTER, then the
	// client's default.
	Master string
	// Inputs and Outputs replace the job environment's paths when set.
	Inputs, Outputs pathList
}

// pathList is a repeatable path flag.
type pathList []string

func (p *pathList) String() string { return strings.Join(*p, ",") }

func (p *pathList) Set(v string) error {
	*p = append(*p, v)
	return nil
}

// Register adds --master, --input and --output to fs.
func Register(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.Master, "master", "", "comma-separated master addresses (default: $SLUICE_MASTER, then 127.0.0.1:19998)")
	fs.Var(&o.Inputs, "input", "Sluice input `path` (repeatable; default: $SLUICE_INPUTS)")
	fs.Var(&o.Outputs, "output", "Sluice output `path` (repeatable; default: $SLUICE_OUTPUTS)")
	return o
}

// Environment merges env (from client.JobEnv) with the options: flags win over the
// environment's paths and masters; the job ID always comes from env.
func (o *Options) Environment(env client.JobEnvironment) client.JobEnvironment {
	if o.Master != "" {
		env.Masters = nil
		for _, m := range strings.Split(o.Master, ",") {
			if m = strings.TrimSpace(m); m != "" {
				env.Masters = append(env.Masters, m)
			}
		}
	}
	if len(o.Inputs) > 0 {
		env.Inputs = append([]string(nil), o.Inputs...)
	}
	if len(o.Outputs) > 0 {
		env.Outputs = append([]string(nil), o.Outputs...)
	}
	return env
}

// Connect connects as the job env describes, logging client warnings to standard error.
func Connect(ctx context.Context, env client.JobEnvironment) (*client.Job, error) {
	cfg := client.DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return client.NewJob(ctx, cfg, env)
}

// ReadInputs calls fn with the bytes of every file the paths name, in order; a directory
// stands for every file below it, sorted by path.
func ReadInputs(ctx context.Context, c *client.Client, paths []string, fn func(path string, r io.Reader) error) error {
	for _, p := range paths {
		fi, err := c.Stat(ctx, p)
		if err != nil {
			return err
		}
		files := []string{p}
		if fi.IsDir {
			list, err := c.List(ctx, p, client.ListOptions{Recursive: true})
			if err != nil {
				return err
			}
			files = files[:0]
			for _, f := range list {
				if !f.IsDir {
					files = append(files, f.Path)
				}
			}
		}
		for _, f := range files {
			if err := readOne(ctx, c, f, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func readOne(ctx context.Context, c *client.Client, p string, fn func(string, io.Reader) error) error {
	r, err := c.Open(ctx, p, client.OpenOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	if err := fn(p, bufio.NewReaderSize(r, 1<<20)); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// WriteOutput writes the job output p through fn (buffered) and completes it; any failure
// aborts the file, so the master sees the job fail instead of a truncated output.
func WriteOutput(ctx context.Context, j *client.Job, p string, fn func(w io.Writer) error) error {
	w, err := j.CreateOutput(ctx, p)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := fn(bw); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", p, err), w.Abort())
	}
	if err := bw.Flush(); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", p, err), w.Abort())
	}
	return w.Close()
}

// Main runs a program's body with an interruptible context: flags are parsed from args,
// the job environment merged, the cluster connected, and the body's error printed as
// "<name>: <error>" with exit status 1. Usage errors exit 2.
func Main(name string, args []string, setup func(fs *flag.FlagSet), body func(ctx context.Context, j *client.Job) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	opts := Register(fs)
	if setup != nil {
		setup(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q\n", name, fs.Args())
		return 2
	}
	// An interrupt or SIGTERM (a killed job) cancels the work and aborts the outputs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, _ := client.JobEnv()
	j, err := Connect(ctx, opts.Environment(env))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	defer j.Close()
	if err := body(ctx, j); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// OneOutput returns the job's only output, or an error naming how many it has.
func OneOutput(env client.JobEnvironment) (string, error) {
	if len(env.Outputs) != 1 {
		return "", fmt.Errorf("want exactly one output (--output or SLUICE_OUTPUTS), have %d", len(env.Outputs))
	}
	return env.Outputs[0], nil
}
