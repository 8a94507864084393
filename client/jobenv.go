package client

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
)

// The environment of a lineage job. The master has the framework scheduler launch a job's
// command with these variables set (api/job.proto, SubmitJob), in exactly this format.
const (
	// EnvMaster holds the masters' gRPC addresses (host:port), comma-separated.
	EnvMaster = "SLUICE_MASTER"
	// EnvJobID holds the job's ID (JobInfo.job_id).
	EnvJobID = "SLUICE_JOB_ID"
	// EnvInputs holds the job's input paths in submission order, separated by
	// JobPathSeparator; empty when the job has no inputs.
	EnvInputs = "SLUICE_INPUTS"
	// EnvOutputs holds the job's output paths in submission order, separated by
	// JobPathSeparator.
	EnvOutputs = "SLUICE_OUTPUTS"
	// JobPathSeparator separates the paths of EnvInputs and EnvOutputs: one path per line,
	// without a trailing newline. Sluice paths may hold commas and spaces, never a newline.
	JobPathSeparator = "\n"
)

// JobEnvironment is what a running lineage job learns from its environment.
type JobEnvironment struct {
	// Masters are the masters' addresses (EnvMaster).
	Masters []string
	// JobID is the job's ID (EnvJobID); empty when the program does not run as a job.
	JobID string
	// Inputs and Outputs are the job's paths (EnvInputs, EnvOutputs), in order.
	Inputs, Outputs []string
}

// JobEnv reads the job environment of this process and reports whether it runs as a
// lineage job (EnvJobID is set and not empty). It is the package's one reader of the
// process environment, a helper for job programs; libraries use ParseJobEnv.
func JobEnv() (JobEnvironment, bool) {
	return ParseJobEnv(os.Getenv)
}

// ParseJobEnv reads a job environment through getenv (os.Getenv, or a map lookup in
// tests) and reports whether EnvJobID is set. Addresses and paths are trimmed of
// surrounding white space; empty elements are dropped.
func ParseJobEnv(getenv func(string) string) (JobEnvironment, bool) {
	env := JobEnvironment{
		Masters: splitNonEmpty(getenv(EnvMaster), ","),
		JobID:   strings.TrimSpace(getenv(EnvJobID)),
		Inputs:  splitNonEmpty(getenv(EnvInputs), JobPathSeparator),
		Outputs: splitNonEmpty(getenv(EnvOutputs), JobPathSeparator),
	}
	return env, env.JobID != ""
}

// Environ returns the variables that describe env, as the master sets them: the inverse
// of ParseJobEnv.
func (env JobEnvironment) Environ() map[string]string {
	return map[string]string{
		EnvMaster:  strings.Join(env.Masters, ","),
		EnvJobID:   env.JobID,
		EnvInputs:  strings.Join(env.Inputs, JobPathSeparator),
		EnvOutputs: strings.Join(env.Outputs, JobPathSeparator),
	}
}

func splitNonEmpty(s, sep string) []string {
	var out []string
	for _, e := range strings.Split(s, sep) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Job is a Client for a program that runs as a lineage job (or stands in for one): the
// file API, plus CreateOutput for the job's outputs. Like Client it is safe for
// concurrent use; Close closes the client.
type Job struct {
	*Client
	// Env is the job's environment.
	Env JobEnvironment
}

// NewJob connects to the cluster for a job program: cfg with its Masters replaced by
// env.Masters when those are set (see New for the errors). With an empty env.JobID the
// program runs stand-alone: its outputs are ordinary MUST_CACHE files.
func NewJob(ctx context.Context, cfg Config, env JobEnvironment) (*Job, error) {
	if len(env.Masters) > 0 {
		cfg.Masters = slices.Clone(env.Masters)
	}
	c, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Job{Client: c, Env: env}, nil
}

// CreateOutput creates the job output path for writing: a MUST_CACHE file bound to the
// job, which takes over the INCOMPLETE placeholder that SubmitJob made (CreateFile with
// the job ID). Lineage protects the bytes until they are checkpointed. A path that is not
// one of Env.Outputs fails with ErrInvalidArgument when Env lists outputs. Without a job
// ID the file is an ordinary MUST_CACHE file, with missing parents created.
//
// As with Create, ctx governs the whole write; a failed write keeps the placeholder
// INCOMPLETE, so the master sees the job fail rather than lose its output.
func (j *Job) CreateOutput(ctx context.Context, path string) (*FileWriter, error) {
	if len(j.Env.Outputs) > 0 && !slices.Contains(j.Env.Outputs, path) {
		return nil, fmt.Errorf("create output %s: not an output of job %s (%s): %w",
			path, j.Env.JobID, strings.Join(j.Env.Outputs, ", "), ErrInvalidArgument)
	}
	return j.Create(ctx, path, CreateOptions{
		WriteType: WriteMustCache,
		JobID:     j.Env.JobID,
		Recursive: j.Env.JobID == "",
	})
}
