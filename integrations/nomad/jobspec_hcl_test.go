package nomad

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/nomad/api"

	"github.com/sluicedata/sluice/internal/nomadtest"
)

// TestExampleJobFiles checks that the HCL job files of examples/nomad, parsed by the
// dev agent with their default variables, register what Deploy registers for the
// default deployment: ports, constraints, policies, tasks, arguments, services, checks,
// templates and resources.
func TestExampleJobFiles(t *testing.T) {
	agent := nomadtest.Shared(t)
	c := agent.API(t)
	d := DefaultDeployment()
	d.Binary = "/usr/local/bin/sluice"
	d.Framework.Address = "http://127.0.0.1:4646"
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file string
		want *api.Job
	}{
		{"sluice-master.nomad.hcl", d.MasterJob()},
		{"sluice-executor.nomad.hcl", d.ExecutorJob()},
	} {
		t.Run(tt.file, func(t *testing.T) {
			hcl, err := os.ReadFile(filepath.Join("..", "..", "examples", "nomad", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: string(hcl), Canonicalize: true})
			if err != nil {
				t.Fatalf("parse %s: %v", tt.file, err)
			}
			if diff := cmp.Diff(essentials(tt.want), essentials(got)); diff != "" {
				t.Errorf("%s differs from the job Deploy registers (-deploy +file):\n%s", tt.file, diff)
			}
		})
	}
}

// jobEssentials is what the job files and the deploy's jobs must agree on.
type jobEssentials struct {
	ID, Type    string
	Priority    int
	Datacenters []string
	Meta        map[string]string
	Group       string
	Count       int
	Static      []string
	Dynamic     []string
	Constraints []string
	Restart     string
	Reschedule  string
	Update      string
	Tasks       []taskEssentials
}

type taskEssentials struct {
	Name, Driver, Lifecycle string
	Command                 string
	Args                    []string
	Services                []string
	Templates               []string
	CPU, MemoryMB           int
	KillTimeout             time.Duration
}

func essentials(j *api.Job) jobEssentials {
	tg := j.TaskGroups[0]
	e := jobEssentials{
		ID: derefOr(j.ID), Type: derefOr(j.Type), Priority: derefOr(j.Priority), Datacenters: j.Datacenters,
		Meta: j.Meta, Group: derefOr(tg.Name), Count: derefOr(tg.Count),
	}
	for _, n := range tg.Networks {
		for _, p := range n.ReservedPorts {
			e.Static = append(e.Static, fmt.Sprintf("%s=%d", p.Label, p.Value))
		}
		for _, p := range n.DynamicPorts {
			e.Dynamic = append(e.Dynamic, p.Label)
		}
	}
	for _, c := range tg.Constraints {
		e.Constraints = append(e.Constraints, fmt.Sprintf("%s %s %s", c.LTarget, c.Operand, c.RTarget))
	}
	if r := tg.RestartPolicy; r != nil {
		e.Restart = fmt.Sprint(derefOr(r.Attempts), derefOr(r.Interval), derefOr(r.Delay), derefOr(r.Mode))
	}
	if r := tg.ReschedulePolicy; r != nil {
		e.Reschedule = fmt.Sprint(derefOr(r.Unlimited), derefOr(r.Delay), derefOr(r.DelayFunction), derefOr(r.MaxDelay))
	}
	if u := tg.Update; u != nil {
		e.Update = fmt.Sprint(derefOr(u.MaxParallel), derefOr(u.HealthCheck), derefOr(u.MinHealthyTime),
			derefOr(u.HealthyDeadline), derefOr(u.ProgressDeadline), derefOr(u.AutoRevert))
	}
	for _, tk := range tg.Tasks {
		te := taskEssentials{Name: tk.Name, Driver: tk.Driver, Command: fmt.Sprint(tk.Config["command"]), KillTimeout: derefOr(tk.KillTimeout)}
		if te.KillTimeout == 0 {
			te.KillTimeout = 5 * time.Second // Nomad's default, which a parsed job shows
		}
		if l := tk.Lifecycle; l != nil {
			te.Lifecycle = fmt.Sprint(l.Hook, " sidecar=", l.Sidecar)
		}
		switch args := tk.Config["args"].(type) {
		case []string:
			te.Args = args
		case []any:
			for _, a := range args {
				te.Args = append(te.Args, fmt.Sprint(a))
			}
		}
		for _, s := range tk.Services {
			svc := fmt.Sprintf("%s port=%s provider=%s tags=%v", s.Name, s.PortLabel, s.Provider, s.Tags)
			for _, ck := range s.Checks {
				svc += fmt.Sprintf(" check %s %s %s port=%s every %v timeout %v", ck.Name, ck.Type, ck.Path, ck.PortLabel, ck.Interval, ck.Timeout)
				if cr := ck.CheckRestart; cr != nil {
					svc += fmt.Sprintf(" restart after %d, grace %v", cr.Limit, derefOr(cr.Grace))
				}
			}
			te.Services = append(te.Services, svc)
		}
		for _, tp := range tk.Templates {
			te.Templates = append(te.Templates, fmt.Sprintf("%q -> %s env=%v change=%s",
				derefOr(tp.EmbeddedTmpl), derefOr(tp.DestPath), derefOr(tp.Envvars), derefOr(tp.ChangeMode)))
		}
		if r := tk.Resources; r != nil {
			te.CPU, te.MemoryMB = derefOr(r.CPU), derefOr(r.MemoryMB)
		}
		e.Tasks = append(e.Tasks, te)
	}
	slices.SortFunc(e.Tasks, func(a, b taskEssentials) int { return strings.Compare(a.Name, b.Name) })
	return e
}
