package client

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client/clienttest"
)

func jobSpec(name string, inputs, outputs []string) *sluicepb.JobSpec {
	return &sluicepb.JobSpec{Name: name, Command: []string{"/bin/true"}, Inputs: inputs, Outputs: outputs}
}

func jobIDsOf(jobs []*sluicepb.JobInfo) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.GetJobId()
	}
	return out
}

func TestClient_JobLifecycle(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	writeFile(t, cl, "/in/text", []byte("a b a"), CreateOptions{Recursive: true})

	id, err := cl.SubmitJob(ctx, jobSpec("wc", []string{"/in/text"}, []string{"/out/counts"}))
	if err != nil {
		t.Fatalf("SubmitJob: %v", err)
	}
	fi, err := cl.Stat(ctx, "/out/counts")
	if err != nil || fi.Complete || fi.JobID != id {
		t.Fatalf("placeholder = %+v, %v; want INCOMPLETE of job %s", fi, err, id)
	}

	// The job program claims its placeholder and writes it.
	job := &Job{Client: cl, Env: JobEnvironment{JobID: id, Outputs: []string{"/out/counts"}}}
	if _, err := job.CreateOutput(ctx, "/out/other"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("CreateOutput of a path that is not an output = %v, want ErrInvalidArgument", err)
	}
	w, err := job.CreateOutput(ctx, "/out/counts")
	if err != nil {
		t.Fatalf("CreateOutput: %v", err)
	}
	if _, err := io.WriteString(w, "a\t2\nb\t1\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := c.FileStatus("/out/counts")
	if st.GetState() != sluicepb.FileState_FILE_STATE_COMPLETE || st.GetPersistenceState() != sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED {
		t.Errorf("output after CreateOutput = %v/%v, want COMPLETE and NOT_PERSISTED (MUST_CACHE)", st.GetState(), st.GetPersistenceState())
	}
	c.FinishJob(id, 0, "")

	info, err := cl.GetJob(ctx, id)
	if err != nil || info.GetState() != sluicepb.JobState_JOB_STATE_COMPLETED || info.GetSpec().GetName() != "wc" {
		t.Fatalf("GetJob = %v, %v; want COMPLETED wc", info, err)
	}
	if _, err := cl.GetJob(ctx, "999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetJob of an unknown job = %v, want ErrNotFound", err)
	}
	// A killed job that had ended keeps its state.
	if info, err := cl.KillJob(ctx, id); err != nil || info.GetState() != sluicepb.JobState_JOB_STATE_COMPLETED {
		t.Errorf("KillJob of a completed job = %v, %v", info, err)
	}
	id2, err := cl.SubmitJob(ctx, jobSpec("top", []string{"/out/counts"}, []string{"/out/top"}))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := cl.KillJob(ctx, id2); err != nil || info.GetState() != sluicepb.JobState_JOB_STATE_KILLED {
		t.Errorf("KillJob of a running job = %v, %v", info, err)
	}

	all, err := cl.ListJobs(ctx, ListJobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{id2, id}, jobIDsOf(all)); diff != "" {
		t.Errorf("ListJobs, newest first (-want +got):\n%s", diff)
	}
	done, err := cl.ListJobs(ctx, ListJobsOptions{State: sluicepb.JobState_JOB_STATE_COMPLETED, Limit: 5})
	if err != nil || len(done) != 1 || done[0].GetJobId() != id {
		t.Errorf("ListJobs COMPLETED = %v, %v", done, err)
	}
	if _, err := cl.ListJobs(ctx, ListJobsOptions{Limit: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ListJobs with a negative limit = %v", err)
	}
}

func TestClient_SubmitJobRefusals(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	writeFile(t, cl, "/exists", []byte("x"), CreateOptions{})
	tests := []struct {
		name string
		spec *sluicepb.JobSpec
		want error
	}{
		{"missing input", jobSpec("j", []string{"/nope"}, []string{"/o1"}), ErrNotFound},
		{"existing output", jobSpec("j", nil, []string{"/exists"}), ErrAlreadyExists},
		{"no output", jobSpec("j", nil, nil), ErrInvalidArgument},
		{"no command", &sluicepb.JobSpec{Outputs: []string{"/o2"}}, ErrInvalidArgument},
		{"relative path", jobSpec("j", nil, []string{"o3"}), ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if id, err := cl.SubmitJob(ctx, tt.spec); !errors.Is(err, tt.want) {
				t.Errorf("SubmitJob = %q, %v; want %v", id, err, tt.want)
			}
		})
	}
}

func TestClient_Lineage(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	gen, err := cl.SubmitJob(ctx, jobSpec("gen", nil, []string{"/p/text"}))
	if err != nil {
		t.Fatal(err)
	}
	wc, err := cl.SubmitJob(ctx, jobSpec("wc", []string{"/p/text"}, []string{"/p/counts"}))
	if err != nil {
		t.Fatal(err)
	}
	top, err := cl.SubmitJob(ctx, jobSpec("top", []string{"/p"}, []string{"/q/top"}))
	if err != nil {
		t.Fatal(err)
	}

	l, err := cl.GetLineage(ctx, "/p/counts", 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.GetJob().GetJobId() != wc || !cmp.Equal(jobIDsOf(l.GetAncestors()), []string{gen}) || !cmp.Equal(jobIDsOf(l.GetDescendants()), []string{top}) {
		t.Errorf("GetLineage(/p/counts) = job %s, ancestors %v, descendants %v", l.GetJob().GetJobId(), jobIDsOf(l.GetAncestors()), jobIDsOf(l.GetDescendants()))
	}
	if l, err := cl.GetJobLineage(ctx, top, 1); err != nil || !cmp.Equal(jobIDsOf(l.GetAncestors()), []string{gen, wc}) {
		t.Errorf("GetJobLineage(top, 1) = %v, %v", l, err)
	}
	if _, err := cl.GetLineage(ctx, "/nothing", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetLineage of a path without lineage = %v, want ErrNotFound", err)
	}
	if _, err := cl.GetLineage(ctx, "/p/text", -1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("GetLineage with a negative depth = %v", err)
	}

	if _, err := cl.DeleteLineage(ctx, gen, false); !errors.Is(err, ErrLineageHasDependents) {
		t.Errorf("DeleteLineage without cascade = %v, want ErrLineageHasDependents", err)
	}
	gone, err := cl.DeleteLineage(ctx, wc, true)
	if err != nil || !cmp.Equal(gone, []string{wc, top}) {
		t.Errorf("DeleteLineage cascade = %v, %v; want [%s %s]", gone, err, wc, top)
	}
	if _, err := cl.GetJob(ctx, top); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetJob of a forgotten job = %v", err)
	}
}

func TestClient_CheckpointStatus(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx := t.Context()
	writeFile(t, cl, "/plain", []byte("persisted"), CreateOptions{WriteType: WriteCacheThrough})
	id, err := cl.SubmitJob(ctx, jobSpec("gen", nil, []string{"/out"}))
	if err != nil {
		t.Fatal(err)
	}
	job := &Job{Client: cl, Env: JobEnvironment{JobID: id}}
	w, err := job.CreateOutput(ctx, "/out")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.UpdateJob(id, func(j *sluicepb.JobInfo) { j.StartTimeMs -= 1500 })
	c.FinishJob(id, 0, "")

	st, err := cl.GetCheckpointStatus(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetFiles()) != 1 || st.GetFiles()[0].GetPath() != "/out" || st.GetFiles()[0].GetJobId() != id {
		t.Errorf("files = %v, want /out of job %s", st.GetFiles(), id)
	}
	tot := st.GetTotals()
	if tot.GetBytesWaiting() != 1000 || tot.GetFilesWaiting() != 1 || tot.GetPersistedFiles() != 1 {
		t.Errorf("totals = %v", tot)
	}
	if len(st.GetExposure()) != 1 || st.GetExposure()[0].GetJobId() != id || st.GetExposureRunTimeMs() < 1500 {
		t.Errorf("exposure = %v, run time %d ms", st.GetExposure(), st.GetExposureRunTimeMs())
	}
	if _, err := cl.GetCheckpointStatus(ctx, "/missing", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of a missing path = %v", err)
	}
}

// TestClient_JobFollowsLeader checks that job calls use the leader-following call path.
func TestClient_JobFollowsLeader(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Masters: 2})
	cl := newClient(t, c, nil)
	c.SetLeader(1)
	c.InjectError("ListJobs", clienttest.Status(codes.Unavailable, sluicepb.ErrorReason_ERROR_REASON_UNAVAILABLE, "restarting"))
	if _, err := cl.ListJobs(t.Context(), ListJobsOptions{}); err != nil {
		t.Fatalf("ListJobs after a leader change = %v", err)
	}
	if n := c.Calls("ListJobs"); n < 2 {
		t.Errorf("ListJobs calls = %d, want a retry", n)
	}
}

func TestParseJobEnv(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		want   JobEnvironment
		wantOK bool
	}{
		{"empty", nil, JobEnvironment{}, false},
		{"full", map[string]string{
			EnvMaster: "a:1, b:2,", EnvJobID: "7", EnvInputs: "/in/a,b\n/in/c d", EnvOutputs: "/out\n",
		}, JobEnvironment{Masters: []string{"a:1", "b:2"}, JobID: "7", Inputs: []string{"/in/a,b", "/in/c d"}, Outputs: []string{"/out"}}, true},
		{"no inputs", map[string]string{EnvJobID: " 3 ", EnvOutputs: "/o1\n\n/o2"},
			JobEnvironment{JobID: "3", Outputs: []string{"/o1", "/o2"}}, true},
		{"paths without a job", map[string]string{EnvOutputs: "/o"}, JobEnvironment{Outputs: []string{"/o"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseJobEnv(func(k string) string { return tt.env[k] })
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseJobEnv (-want +got):\n%s", diff)
			}
			// Environ is the inverse for what ParseJobEnv keeps.
			back, _ := ParseJobEnv(func(k string) string { return got.Environ()[k] })
			if diff := cmp.Diff(got, back); diff != "" {
				t.Errorf("ParseJobEnv(Environ()) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobEnv(t *testing.T) {
	t.Setenv(EnvJobID, "12")
	t.Setenv(EnvOutputs, "/x\n/y")
	env, ok := JobEnv()
	if !ok || env.JobID != "12" || !cmp.Equal(env.Outputs, []string{"/x", "/y"}) {
		t.Errorf("JobEnv = %+v, %v", env, ok)
	}
}

func TestNewJob_MastersFromEnv(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cfg := DefaultConfig()
	cfg.Masters = []string{"127.0.0.1:1"} // unreachable: the environment's masters win
	cfg.DialTimeout = time.Second
	j, err := NewJob(t.Context(), cfg, JobEnvironment{Masters: []string{c.Address()}})
	if err != nil {
		t.Fatalf("NewJob: %v", err)
	}
	defer j.Close()
	// Without a job ID an output is a plain MUST_CACHE file with its parents created.
	w, err := j.CreateOutput(t.Context(), "/standalone/out")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, ok := c.FileStatus("/standalone/out"); !ok || st.GetJobId() != "" || st.GetState() != sluicepb.FileState_FILE_STATE_COMPLETE {
		t.Errorf("stand-alone output = %v", st)
	}
}

func TestJobEnded(t *testing.T) {
	for s, want := range map[sluicepb.JobState]bool{
		sluicepb.JobState_JOB_STATE_PENDING: false, sluicepb.JobState_JOB_STATE_RUNNING: false,
		sluicepb.JobState_JOB_STATE_COMPLETED: true, sluicepb.JobState_JOB_STATE_FAILED: true,
		sluicepb.JobState_JOB_STATE_KILLED: true,
	} {
		if JobEnded(s) != want {
			t.Errorf("JobEnded(%v) = %v", s, !want)
		}
	}
}

// FuzzParseJobEnv checks that parsing never yields empty or untrimmed elements and that
// Environ and ParseJobEnv are inverses on what parsing keeps.
func FuzzParseJobEnv(f *testing.F) {
	f.Add("a:1,b:2", "7", "/in/a\n/in/b", "/out")
	f.Add(" , ", "", "\n\n", "/o,p q")
	f.Fuzz(func(t *testing.T, masters, id, inputs, outputs string) {
		vars := map[string]string{EnvMaster: masters, EnvJobID: id, EnvInputs: inputs, EnvOutputs: outputs}
		env, ok := ParseJobEnv(func(k string) string { return vars[k] })
		if ok != (env.JobID != "") {
			t.Errorf("ok = %v with job ID %q", ok, env.JobID)
		}
		for _, list := range [][]string{env.Masters, env.Inputs, env.Outputs} {
			for _, e := range list {
				if e == "" || strings.TrimSpace(e) != e {
					t.Errorf("element %q is empty or untrimmed", e)
				}
			}
		}
		back, _ := ParseJobEnv(func(k string) string { return env.Environ()[k] })
		if diff := cmp.Diff(env, back); diff != "" {
			t.Errorf("ParseJobEnv(Environ()) (-want +got):\n%s", diff)
		}
	})
}
