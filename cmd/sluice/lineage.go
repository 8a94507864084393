package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/lineage"
)

// `sluice lineage`: the recorded jobs as a graph — list them, show a file's ancestors and
// descendants (text tree or Graphviz), forget records.

func lineageCommand() *cli.Command {
	var subs []*cli.Command
	for _, spec := range lineageSpecs() {
		subs = append(subs, fsLeaf(spec))
	}
	return groupCommand("lineage", "inspect and forget the lineage of job outputs",
		"Lineage records how each job output was made (command, inputs, outputs) so that a lost\n"+
			"output that was not checkpointed can be rebuilt. Records whose outputs and descendants\n"+
			"are all checkpointed are collected by the master.", subs)
}

func lineageSpecs() []fsSpec {
	return []fsSpec{
		{
			name:      "list",
			aliases:   []string{"ls"},
			usage:     "list the recorded jobs with what they read and write",
			argsUsage: "",
			maxArgs:   0,
			run:       runLineageList,
		},
		{
			name:      "show",
			usage:     "show the job that produced a file with its ancestors and descendants",
			argsUsage: "[--dot] [--depth N] PATH | --job ID",
			description: "Prints a tree: the producing job, the jobs it depends on and the jobs reading the file.\n" +
				"--dot prints the same graph for Graphviz: sluice lineage show --dot /out | dot -Tsvg > l.svg",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "dot", Usage: "print Graphviz instead of a text tree"},
				&cli.IntFlag{Name: "depth", Usage: "walk at most `N` levels each way (0: all)"},
				&cli.StringFlag{Name: "job", Usage: "show job `ID` instead of a file"},
			},
			maxArgs: 1,
			run:     runLineageShow,
		},
		{
			name:      "delete",
			aliases:   []string{"rm"},
			usage:     "forget a job's lineage record (its output files stay, unprotected)",
			argsUsage: "[--cascade] ID",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "cascade", Usage: "also forget every job depending on it"},
			},
			minArgs: 1, maxArgs: 1,
			run: runLineageDelete,
		},
	}
}

func runLineageList(s *shell, _ []string) error {
	jobs, err := s.cl.ListJobs(s.ctx, client.ListJobsOptions{})
	if err != nil {
		return err
	}
	rows := [][]string{{"ID", "NAME", "STATE", "PARENTS", "INPUTS", "OUTPUTS"}}
	// Oldest first: the order of the graph.
	for i := len(jobs) - 1; i >= 0; i-- {
		j := jobs[i]
		rows = append(rows, []string{
			j.GetJobId(), orDash(j.GetSpec().GetName()), jobStateText(j),
			orDash(strings.Join(j.GetParentJobIds(), ",")),
			orDash(strings.Join(j.GetSpec().GetInputs(), ",")), strings.Join(j.GetSpec().GetOutputs(), ","),
		})
	}
	if err := writeTable(s.out, rows, 0); err != nil {
		s.fail("", &outputError{err})
	}
	return nil
}

func runLineageShow(s *shell, args []string) error {
	id := s.c.String("job")
	depth := s.c.Int("depth")
	switch {
	case (id == "") == (len(args) == 0):
		return usagef("give a PATH or --job ID")
	case depth < 0:
		return usagef("--depth must not be negative")
	}
	var (
		resp *sluicepb.GetLineageResponse
		err  error
		what string
	)
	if id != "" {
		what = id
		resp, err = s.cl.GetJobLineage(s.ctx, id, depth)
	} else {
		what = args[0]
		resp, err = s.cl.GetLineage(s.ctx, absPath(args[0]), depth)
	}
	if err != nil {
		if errors.Is(err, client.ErrNotFound) {
			if id != "" {
				s.failf(what, "No such job")
			} else {
				s.failf(what, "No lineage (no recorded job produced it)")
			}
			return nil
		}
		s.fail(what, err)
		return nil
	}
	view, err := lineageView(resp, absPath(what), id != "")
	if err != nil {
		s.fail(what, err)
		return nil
	}
	out := view.Text()
	if s.c.Bool("dot") {
		out = view.Dot()
	}
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	s.printf("%s", out)
	return nil
}

// lineageView rebuilds a small graph from the jobs of a GetLineage answer and returns the
// view of the file p (or, with byJob, of the job in focus), rendered locally.
func lineageView(resp *sluicepb.GetLineageResponse, p string, byJob bool) (lineage.View, error) {
	g := lineage.New()
	all := append(append(append([]*sluicepb.JobInfo(nil), resp.GetAncestors()...), resp.GetJob()), resp.GetDescendants()...)
	for _, info := range all {
		j, err := lineageJob(info)
		if err != nil {
			return lineage.View{}, err
		}
		if err := g.Add(j); err != nil {
			return lineage.View{}, fmt.Errorf("master's lineage of job %s: %w", info.GetJobId(), err)
		}
	}
	if byJob {
		id, _ := strconv.ParseUint(resp.GetJob().GetJobId(), 10, 64)
		v, _ := g.ShowJob(id, 0)
		return v, nil
	}
	return g.ShowPath(p, 0), nil
}

// lineageJob converts a wire job to a lineage.Job.
func lineageJob(info *sluicepb.JobInfo) (lineage.Job, error) {
	id, err := strconv.ParseUint(info.GetJobId(), 10, 64)
	if err != nil || id == 0 {
		return lineage.Job{}, fmt.Errorf("master sent job ID %q, not a positive number", info.GetJobId())
	}
	spec := info.GetSpec()
	return lineage.Job{
		ID:         id,
		Name:       spec.GetName(),
		Command:    spec.GetCommand(),
		Inputs:     spec.GetInputs(),
		Outputs:    spec.GetOutputs(),
		Priority:   int(spec.GetPriority()),
		CPU:        spec.GetCpu(),
		MemMB:      spec.GetMemMb(),
		SubmitTime: time.UnixMilli(info.GetSubmitTimeMs()),
		RunTime:    time.Duration(info.GetRunTimeMs()) * time.Millisecond,
		State:      lineageState(info.GetState()),
	}, nil
}

// lineageState maps the wire's job state to the graph's.
func lineageState(s sluicepb.JobState) lineage.State {
	switch s {
	case sluicepb.JobState_JOB_STATE_RUNNING:
		return lineage.StateRunning
	case sluicepb.JobState_JOB_STATE_COMPLETED:
		return lineage.StateCompleted
	case sluicepb.JobState_JOB_STATE_FAILED:
		return lineage.StateFailed
	case sluicepb.JobState_JOB_STATE_KILLED:
		return lineage.StateKilled
	}
	return lineage.StatePending
}

func runLineageDelete(s *shell, args []string) error {
	id := args[0]
	gone, err := s.cl.DeleteLineage(s.ctx, id, s.c.Bool("cascade"))
	switch {
	case errors.Is(err, client.ErrLineageHasDependents):
		s.failf(id, "Other jobs read its outputs (use --cascade to forget them too)")
	case err != nil:
		jobFail(s, id, err)
	default:
		for _, g := range gone {
			s.printf("deleted lineage of job %s\n", g)
		}
	}
	return nil
}
