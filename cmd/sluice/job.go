package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// `sluice job`: submit lineage-tracked jobs and follow them. The subcommands share the fs
// shell's conventions (fs.go): failures as "<cmd>: <job>: <reason>" on standard error,
// exit 1 when anything failed, 2 for usage errors.

// groupCommand is a command group (job, lineage, checkpoint) built like `sluice fs`: the
// client flags at group level, and an unknown subcommand is a usage error.
func groupCommand(name, usage, description string, subs []*cli.Command) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		Description: description,
		Flags:       clientFlags(),
		Subcommands: subs,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				fmt.Fprintf(c.App.ErrWriter, "%s: unknown command %q\n", name, c.Args().First())
				printUsage(c.App.ErrWriter, c.Command)
				return cli.Exit("", exitUsage)
			}
			return cli.ShowSubcommandHelp(c)
		},
		OnUsageError: onUsageError,
	}
}

func jobCommand() *cli.Command {
	subs := []*cli.Command{jobSubmitCommand()}
	for _, spec := range jobSpecs() {
		subs = append(subs, fsLeaf(spec))
	}
	return groupCommand("job", "submit lineage-tracked jobs and follow them",
		"A job is a command with the Sluice paths it reads (--input) and the files it writes\n"+
			"(--output). The master records its lineage, creates the outputs as placeholders and\n"+
			"runs the command through the framework scheduler with SLUICE_MASTER, SLUICE_JOB_ID,\n"+
			"SLUICE_INPUTS and SLUICE_OUTPUTS (one path per line) in its environment. Lost outputs\n"+
			"that were not checkpointed yet are rebuilt by running the job again.", subs)
}

// pathList is a repeatable flag value: each use adds one path, commas included.
type pathList []string

func (p *pathList) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty path")
	}
	*p = append(*p, absPath(v))
	return nil
}

func (p *pathList) String() string { return strings.Join(*p, ",") }

// envList is a repeatable KEY=VALUE flag value.
type envList map[string]string

func (e envList) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", v)
	}
	e[k] = val
	return nil
}

func (e envList) String() string { return "" }

// parseMemMB reads --mem: a plain number is MiB, a size with a unit ("2GiB") is rounded up
// to whole MiB.
func parseMemMB(s string) (int64, error) {
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q: negative: %w", s, errBadSize)
		}
		return n, nil
	}
	b, err := parseSize(s)
	if err != nil {
		return 0, err
	}
	return (b + 1<<20 - 1) >> 20, nil
}

// jobSubmitCommand is `sluice job submit`. It is built apart from the fsSpec leaves
// because everything after "--" is the job's command, flags included.
func jobSubmitCommand() *cli.Command {
	return &cli.Command{
		Name:      "submit",
		Usage:     "submit a lineage-tracked job and print its ID",
		ArgsUsage: "[--name N] [--input PATH]... --output PATH... [--priority P] [--cpu C --mem M] -- COMMAND [ARGS...]",
		Description: "Inputs must exist (or be outputs of recorded jobs); outputs must not exist. The job\n" +
			"must write each output (MUST_CACHE, bound to the job: client.Job.CreateOutput) and exit 0.\n" +
			"A relative COMMAND path (./prog) that exists here is made absolute; a bare name is looked\n" +
			"up in PATH where the job runs. Only the job ID is printed, for scripts:\n" +
			"id=$(sluice job submit … -- prog).",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "human `NAME` of the job"},
			&cli.GenericFlag{Name: "input", Value: &pathList{}, Usage: "Sluice `PATH` (file or directory) the job reads; repeat for more"},
			&cli.GenericFlag{Name: "output", Value: &pathList{}, Usage: "Sluice file `PATH` the job writes; repeat for more (at least one)"},
			&cli.IntFlag{Name: "priority", Usage: "launch and checkpoint `PRIORITY`, higher first"},
			&cli.Float64Flag{Name: "cpu", Usage: "`CORES` to reserve (0: the backend's default)"},
			&cli.StringFlag{Name: "mem", Usage: "memory to reserve: MiB, or a `SIZE` such as 2GiB (0: the backend's default)"},
			&cli.GenericFlag{Name: "env", Value: envList{}, Usage: "`KEY=VALUE` added to the job's environment; repeat for more"},
			&cli.StringFlag{Name: "workdir", Usage: "working `DIR` of the job on its node"},
		}, clientFlags()...),
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Action:          runJobSubmit,
	}
}

func runJobSubmit(c *cli.Context) error {
	const name = "submit"
	spec := &sluicepb.JobSpec{
		Name:       c.String("name"),
		Command:    c.Args().Slice(),
		Inputs:     *c.Generic("input").(*pathList),
		Outputs:    *c.Generic("output").(*pathList),
		Priority:   int32(c.Int("priority")),
		Cpu:        c.Float64("cpu"),
		Env:        c.Generic("env").(envList),
		WorkingDir: c.String("workdir"),
	}
	switch {
	case len(spec.Command) == 0:
		return usageExit(c, name, "no command: give it after --")
	case len(spec.Outputs) == 0:
		return usageExit(c, name, "at least one --output is required")
	case spec.Cpu < 0:
		return usageExit(c, name, "--cpu must not be negative")
	}
	spec.Command[0] = absCommand(spec.Command[0])
	if m := c.String("mem"); m != "" {
		mb, err := parseMemMB(m)
		if err != nil {
			return usageExit(c, name, "--mem: "+err.Error())
		}
		spec.MemMb = mb
	}
	s := &shell{ctx: c.Context, c: c, name: name, out: c.App.Writer, errOut: c.App.ErrWriter}
	cl, err := newClient(c.Context, c)
	if err != nil {
		s.fail("", err)
		return cli.Exit("", exitFailure)
	}
	defer cl.Close()
	id, err := cl.SubmitJob(c.Context, spec)
	if err != nil {
		s.fail("", err)
		return cli.Exit("", exitFailure)
	}
	s.printf("%s\n", id)
	if s.failed {
		return cli.Exit("", exitFailure)
	}
	return nil
}

// absCommand makes a relative command path such as ./wordcount absolute when it names a
// file here, since the job runs in another working directory (on this machine in local
// mode). Bare names are looked up in PATH where the job runs and stay as they are.
func absCommand(cmd string) string {
	if !strings.Contains(cmd, "/") || filepath.IsAbs(cmd) {
		return cmd
	}
	abs, err := filepath.Abs(cmd)
	if err != nil {
		return cmd
	}
	if _, err := os.Stat(abs); err != nil {
		return cmd
	}
	return abs
}

func jobSpecs() []fsSpec {
	jsonFlag := func() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON (JobInfo messages)"} }
	return []fsSpec{
		{
			name:      "list",
			aliases:   []string{"ls"},
			usage:     "list jobs, newest first",
			argsUsage: "[--state STATE] [--limit N]",
			flags: []cli.Flag{
				&cli.StringFlag{Name: "state", Usage: "only jobs in `STATE` (pending, running, completed, failed, killed)"},
				&cli.IntFlag{Name: "limit", Usage: "at most `N` jobs (0: all)"},
				jsonFlag(),
			},
			maxArgs: 0,
			run:     runJobList,
		},
		{
			name:      "status",
			usage:     "print jobs' state, times, outputs and exit code (with the log's tail if FAILED)",
			argsUsage: "[--json] ID...",
			flags:     []cli.Flag{jsonFlag()},
			minArgs:   1, maxArgs: -1,
			run: runJobStatus,
		},
		{
			name:      "logs",
			usage:     "print the output (stdout and stderr) of a job's latest run",
			argsUsage: "ID",
			description: "Reads the log file the backend keeps when it is on this host, and otherwise prints\n" +
				"the last lines the master knows.",
			minArgs: 1, maxArgs: 1,
			run: runJobLogs,
		},
		{
			name:      "wait",
			usage:     "wait until jobs end; exit 1 unless every one COMPLETED",
			argsUsage: "[--timeout D] ID...",
			description: "Polls the master and prints \"job ID: STATE\" as each job ends (COMPLETED, FAILED or\n" +
				"KILLED). Exits 0 when every job completed, 1 otherwise or when --timeout passes first.",
			flags: []cli.Flag{
				&cli.DurationFlag{Name: "timeout", Usage: "give up after `D` (0: wait as long as it takes)"},
			},
			minArgs: 1, maxArgs: -1,
			run: runJobWait,
		},
		{
			name:      "kill",
			usage:     "kill pending or running jobs",
			argsUsage: "ID...",
			minArgs:   1, maxArgs: -1,
			run: runJobKill,
		},
	}
}

// jobFail reports a failure about job id: an unknown job is "No such job".
func jobFail(s *shell, id string, err error) {
	if errors.Is(err, client.ErrNotFound) {
		s.failf(id, "No such job")
		return
	}
	s.fail(id, err)
}

// jobStateName is a job state for people: "COMPLETED".
func jobStateName(st sluicepb.JobState) string {
	return strings.TrimPrefix(st.String(), "JOB_STATE_")
}

// parseJobState reads --state.
func parseJobState(v string) (sluicepb.JobState, error) {
	if v == "" {
		return sluicepb.JobState_JOB_STATE_UNSPECIFIED, nil
	}
	st, ok := sluicepb.JobState_value["JOB_STATE_"+strings.ToUpper(strings.TrimSpace(v))]
	if !ok || st == 0 {
		return 0, usagef("--state %q: want pending, running, completed, failed or killed", v)
	}
	return sluicepb.JobState(st), nil
}

// jobStateText is the state column: "RUNNING (recompute)" while a recompute runs.
func jobStateText(j *sluicepb.JobInfo) string {
	st := jobStateName(j.GetState())
	if j.GetRecomputing() {
		st += " (recompute)"
	}
	return st
}

// durationText renders milliseconds for people: "850ms", "1.5s", "2m3s"; 0 is "-".
func durationText(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	d := time.Duration(ms) * time.Millisecond
	if d >= time.Minute {
		d = d.Round(time.Second)
	}
	return d.String()
}

// printJSON writes m as indented JSON.
func printJSON(s *shell, m proto.Message) {
	b, err := protojson.MarshalOptions{Multiline: true}.Marshal(m)
	if err != nil {
		s.fail("", err)
		return
	}
	s.printf("%s\n", b)
}

func runJobList(s *shell, _ []string) error {
	st, err := parseJobState(s.c.String("state"))
	if err != nil {
		return err
	}
	if s.c.Int("limit") < 0 {
		return usagef("--limit must not be negative")
	}
	jobs, err := s.cl.ListJobs(s.ctx, client.ListJobsOptions{State: st, Limit: s.c.Int("limit")})
	if err != nil {
		return err
	}
	if s.c.Bool("json") {
		printJSON(s, &sluicepb.ListJobsResponse{Jobs: jobs})
		return nil
	}
	rows := [][]string{{"ID", "NAME", "STATE", "ATTEMPTS", "SUBMITTED", "RUN TIME", "OUTPUTS"}}
	for _, j := range jobs {
		rows = append(rows, []string{
			j.GetJobId(), orDash(j.GetSpec().GetName()), jobStateText(j), fmt.Sprint(j.GetAttempts()),
			msText(j.GetSubmitTimeMs()), durationText(j.GetRunTimeMs()), strings.Join(j.GetSpec().GetOutputs(), ","),
		})
	}
	if err := writeTable(s.out, rows, 0, 3); err != nil {
		s.fail("", &outputError{err})
	}
	return nil
}

func orDash(v string) string {
	if v == "" {
		return "-"
	}
	return v
}

func runJobStatus(s *shell, args []string) error {
	for _, id := range args {
		j, err := s.cl.GetJob(s.ctx, id)
		if err != nil {
			jobFail(s, id, err)
			continue
		}
		if s.c.Bool("json") {
			printJSON(s, j)
			continue
		}
		s.printf("%s", jobStatusText(j, outputRows(s, j)))
	}
	return nil
}

// outputRows describes each output of j: its size and persistence state.
func outputRows(s *shell, j *sluicepb.JobInfo) []string {
	var out []string
	for _, p := range j.GetSpec().GetOutputs() {
		fi, err := s.cl.Stat(s.ctx, p)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s (%s)", p, reason(err)))
		case !fi.Complete:
			out = append(out, p+" (INCOMPLETE)")
		default:
			out = append(out, fmt.Sprintf("%s (%s, %s)", p, formatSize(fi.Length), fi.PersistenceName()))
		}
	}
	return out
}

// jobStatusText renders one job for `job status`; outputs are its output lines.
func jobStatusText(j *sluicepb.JobInfo, outputs []string) string {
	var b strings.Builder
	field := func(k, v string) { fmt.Fprintf(&b, "%-11s %s\n", k+":", v) }
	spec := j.GetSpec()
	field("Job", j.GetJobId())
	field("Name", orDash(spec.GetName()))
	field("State", jobStateText(j))
	field("Command", strings.Join(spec.GetCommand(), " "))
	field("Inputs", orDash(strings.Join(spec.GetInputs(), ", ")))
	for i, o := range outputs {
		if i == 0 {
			field("Outputs", o)
		} else {
			field("", o)
		}
	}
	if spec.GetPriority() != 0 {
		field("Priority", fmt.Sprint(spec.GetPriority()))
	}
	field("Submitted", msText(j.GetSubmitTimeMs()))
	field("Started", msText(j.GetStartTimeMs()))
	field("Ended", msText(j.GetEndTimeMs()))
	field("Run time", durationText(j.GetRunTimeMs()))
	field("Attempts", fmt.Sprint(j.GetAttempts()))
	if j.GetEndTimeMs() != 0 {
		field("Exit code", fmt.Sprint(j.GetExitCode()))
	}
	if j.GetHost() != "" || j.GetTaskId() != "" {
		field("Host", fmt.Sprintf("%s (task %s)", orDash(j.GetHost()), orDash(j.GetTaskId())))
	}
	if len(j.GetParentJobIds()) > 0 {
		field("Parents", strings.Join(j.GetParentJobIds(), ", "))
	}
	if len(j.GetChildJobIds()) > 0 {
		field("Children", strings.Join(j.GetChildJobIds(), ", "))
	}
	if j.GetMessage() != "" {
		field("Message", j.GetMessage())
	}
	if j.GetLogPath() != "" {
		field("Log", j.GetLogPath())
	}
	if j.GetState() == sluicepb.JobState_JOB_STATE_FAILED && j.GetLogTail() != "" {
		b.WriteString("Log tail:\n")
		for _, l := range strings.Split(strings.TrimRight(j.GetLogTail(), "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteByte('\n')
	return b.String()
}

func runJobLogs(s *shell, args []string) error {
	id := args[0]
	j, err := s.cl.GetJob(s.ctx, id)
	if err != nil {
		jobFail(s, id, err)
		return nil
	}
	if p := j.GetLogPath(); p != "" {
		if f, err := os.Open(p); err == nil {
			defer f.Close()
			if _, err := io.Copy(s.out, f); err != nil {
				s.fail(id, err)
			}
			return nil
		}
	}
	if t := j.GetLogTail(); t != "" {
		if !strings.HasSuffix(t, "\n") {
			t += "\n"
		}
		s.printf("%s", t)
		return nil
	}
	if j.GetLogPath() != "" {
		s.failf(id, "log %s is on host %s, not readable here, and the master has no tail of it", j.GetLogPath(), orDash(j.GetHost()))
		return nil
	}
	s.failf(id, "No log kept for this job")
	return nil
}

// jobWaitInterval is how often `job wait` asks the master.
var jobWaitInterval = 200 * time.Millisecond

func runJobWait(s *shell, args []string) error {
	if s.c.Duration("timeout") < 0 {
		return usagef("--timeout must not be negative")
	}
	ctx := s.ctx
	if d := s.c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	ticker := time.NewTicker(jobWaitInterval)
	defer ticker.Stop()
	pending := append([]string(nil), args...)
	for len(pending) > 0 {
		var still []string
		for _, id := range pending {
			j, err := s.cl.GetJob(ctx, id)
			switch {
			case ctx.Err() != nil && s.ctx.Err() == nil:
				still = append(still, id) // the timeout passed: reported below
			case err != nil:
				jobFail(s, id, err)
			case !client.JobEnded(j.GetState()):
				still = append(still, id)
			case j.GetState() == sluicepb.JobState_JOB_STATE_COMPLETED:
				s.printf("job %s: %s\n", id, jobStateName(j.GetState()))
			default:
				s.printf("job %s: %s\n", id, jobStateName(j.GetState()))
				s.failf(id, "%s: %s (see sluice job status %s)", jobStateName(j.GetState()), orDash(j.GetMessage()), id)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			if s.ctx.Err() != nil {
				return s.ctx.Err()
			}
			for _, id := range pending {
				s.failf(id, "still running after %v", s.c.Duration("timeout"))
			}
			return nil
		case <-ticker.C:
		}
	}
	return nil
}

func runJobKill(s *shell, args []string) error {
	for _, id := range args {
		j, err := s.cl.KillJob(s.ctx, id)
		if err != nil {
			jobFail(s, id, err)
			continue
		}
		s.printf("job %s: %s\n", id, jobStateName(j.GetState()))
	}
	return nil
}
