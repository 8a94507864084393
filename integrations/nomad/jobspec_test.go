package nomad

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/nomad/api"
)

// testDeployment is a valid deployment of one master and two executors.
func testDeployment() Deployment {
	d := DefaultDeployment()
	d.Prefix = "sl"
	d.Executors = 2
	d.Binary = "/opt/sluice/bin/sluice"
	d.CPUMHzPerCore = 2000
	d.MemTierSize = 256 << 20
	d.ExecutorMemMB = 100
	d.Framework.Address = "http://10.0.0.1:4646"
	return d
}

func TestDeployment_Validate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Deployment)
		ok     bool
	}{
		{"default with binary", func(*Deployment) {}, true},
		{"artifact instead", func(d *Deployment) { d.Binary, d.Artifact = "", "https://example.test/sluice.tar.gz" }, true},
		{"both binary and artifact", func(d *Deployment) { d.Artifact = "https://example.test/sluice" }, false},
		{"neither", func(d *Deployment) { d.Binary = "" }, false},
		{"relative binary", func(d *Deployment) { d.Binary = "bin/sluice" }, false},
		{"two masters", func(d *Deployment) { d.Masters = 2 }, false},
		{"three masters without nodes", func(d *Deployment) { d.Masters = 3 }, false},
		{"three masters placed", func(d *Deployment) {
			d.Masters, d.MasterNodes, d.MasterAddrs = 3, []string{"n1", "n2", "n3"}, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
		}, true},
		{"negative executors", func(d *Deployment) { d.Executors = -1 }, false},
		{"zero executors", func(d *Deployment) { d.Executors = 0 }, true},
		{"prefix with underscore", func(d *Deployment) { d.Prefix = "a_b" }, false},
		{"prefix with dash", func(d *Deployment) { d.Prefix = "team-a" }, true},
		{"empty prefix", func(d *Deployment) { d.Prefix = "" }, false},
		{"same ports", func(d *Deployment) { d.MasterHTTPPort = d.MasterRPCPort }, false},
		{"port out of range", func(d *Deployment) { d.MasterRaftPort = 70000 }, false},
		{"zero cpu", func(d *Deployment) { d.ExecutorCPU = 0 }, false},
		{"zero tier", func(d *Deployment) { d.MemTierSize = 0 }, false},
		{"relative data dir", func(d *Deployment) { d.DataDir = "data" }, false},
		{"no framework address", func(d *Deployment) { d.Framework.Address = "" }, false},
		{"docker job driver", func(d *Deployment) { d.Framework.Driver = "docker" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment()
			tt.change(&d)
			err := d.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidDeployment) {
				t.Errorf("error %v does not wrap ErrInvalidDeployment", err)
			}
		})
	}
}

// taskNamed returns the task of tg called name.
func taskNamed(t *testing.T, tg *api.TaskGroup, name string) *api.Task {
	t.Helper()
	for _, tk := range tg.Tasks {
		if tk.Name == name {
			return tk
		}
	}
	t.Fatalf("group %s has no task %s", *tg.Name, name)
	return nil
}

func argsOf(t *testing.T, tk *api.Task) []string {
	t.Helper()
	args, ok := tk.Config["args"].([]string)
	if !ok {
		t.Fatalf("task %s: args %T", tk.Name, tk.Config["args"])
	}
	return args
}

// flagValue returns the value after flag in args, or "" when absent.
func flagValue(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func TestMasterJob(t *testing.T) {
	tests := []struct {
		name            string
		change          func(*Deployment)
		wantCount       int
		wantPeers       string
		wantConstraints []*api.Constraint
	}{
		{
			name:            "one master",
			change:          func(*Deployment) {},
			wantCount:       1,
			wantConstraints: []*api.Constraint{{Operand: "distinct_hosts", RTarget: "true"}},
		},
		{
			name: "three masters pinned",
			change: func(d *Deployment) {
				d.Masters, d.MasterNodes, d.MasterAddrs = 3, []string{"n1", "n2", "n3"}, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
			},
			wantCount: 3,
			wantPeers: "10.0.0.1:19200=10.0.0.1:19998,10.0.0.2:19200=10.0.0.2:19998,10.0.0.3:19200=10.0.0.3:19998",
			wantConstraints: []*api.Constraint{
				{Operand: "distinct_hosts", RTarget: "true"},
				{LTarget: "${node.unique.id}", Operand: "regexp", RTarget: "^(n1|n2|n3)$"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment()
			tt.change(&d)
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			j := d.MasterJob()
			if *j.ID != "sl-master" || *j.Type != api.JobTypeService || j.Meta[MetaDeployment] != "sl" {
				t.Errorf("job %s type %s meta %v", *j.ID, *j.Type, j.Meta)
			}
			if diff := cmp.Diff([]string{"*"}, j.Datacenters); diff != "" {
				t.Errorf("datacenters (-want +got):\n%s", diff)
			}
			tg := j.TaskGroups[0]
			if *tg.Count != tt.wantCount {
				t.Errorf("count %d, want %d", *tg.Count, tt.wantCount)
			}
			if diff := cmp.Diff(tt.wantConstraints, tg.Constraints); diff != "" {
				t.Errorf("constraints (-want +got):\n%s", diff)
			}
			net := tg.Networks[0]
			if diff := cmp.Diff([]api.Port{{Label: "rpc", Value: 19998}, {Label: "http", Value: 19999}, {Label: "raft", Value: 19200}}, net.ReservedPorts); diff != "" {
				t.Errorf("static ports (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]api.Port{{Label: "framework"}}, net.DynamicPorts); diff != "" {
				t.Errorf("dynamic ports (-want +got):\n%s", diff)
			}
			if *tg.RestartPolicy.Mode != "fail" || !*tg.ReschedulePolicy.Unlimited || *tg.Update.HealthCheck != "checks" {
				t.Errorf("restart %+v reschedule %+v update %+v", tg.RestartPolicy, tg.ReschedulePolicy, tg.Update)
			}

			m := taskNamed(t, tg, "master")
			args := argsOf(t, m)
			want := map[string]string{
				"--rpc-addr": "${NOMAD_ADDR_rpc}", "--http-addr": "${NOMAD_ADDR_http}", "--raft-addr": "${NOMAD_ADDR_raft}",
				"--framework": "${NOMAD_ADDR_framework}", "--journal-dir": "/var/lib/sluice/sl/journal",
				"--root-ufs": "file:///var/lib/sluice/sl/ufs", "--peers": tt.wantPeers,
			}
			for flag, v := range want {
				if got := flagValue(args, flag); got != v {
					t.Errorf("master %s = %q, want %q", flag, got, v)
				}
			}
			if m.Config["command"] != "/opt/sluice/bin/sluice" || args[0] != "master" || m.Driver != "raw_exec" {
				t.Errorf("master runs %v %v with %s", m.Config["command"], args, m.Driver)
			}
			if *m.Resources.CPU != 1000 || *m.Resources.MemoryMB != DefaultMasterMemMB {
				t.Errorf("master resources cpu %d mem %d", *m.Resources.CPU, *m.Resources.MemoryMB)
			}
			svc := m.Services[0]
			if svc.Name != "sl-master" || svc.Provider != "nomad" || svc.PortLabel != "rpc" {
				t.Errorf("master service %+v", svc)
			}
			if c := svc.Checks[0]; c.Type != "http" || c.Path != "/healthz" || c.PortLabel != "http" || c.CheckRestart == nil {
				t.Errorf("master check %+v", c)
			}

			fw := taskNamed(t, tg, "framework")
			if fw.Lifecycle == nil || fw.Lifecycle.Hook != "prestart" || !fw.Lifecycle.Sidecar {
				t.Errorf("framework lifecycle %+v, want a prestart sidecar", fw.Lifecycle)
			}
			fargs := argsOf(t, fw)
			if diff := cmp.Diff([]string{"framework", "nomad", "serve"}, fargs[:3]); diff != "" {
				t.Errorf("framework command (-want +got):\n%s", diff)
			}
			for flag, v := range map[string]string{"--rpc-addr": "${NOMAD_ADDR_framework}", "--nomad-addr": "http://10.0.0.1:4646",
				"--job-prefix": "sl", "--driver": "raw_exec"} {
				if got := flagValue(fargs, flag); got != v {
					t.Errorf("framework %s = %q, want %q", flag, got, v)
				}
			}
		})
	}
}

func TestExecutorJob(t *testing.T) {
	d := testDeployment()
	d.Datacenters = []string{"dc1", "dc2"}
	d.Env = map[string]string{"AWS_REGION": "eu-west-1"}
	j := d.ExecutorJob()
	if *j.ID != "sl-executor" || *j.Type != api.JobTypeService {
		t.Errorf("job %s type %s", *j.ID, *j.Type)
	}
	if diff := cmp.Diff([]string{"dc1", "dc2"}, j.Datacenters); diff != "" {
		t.Errorf("datacenters (-want +got):\n%s", diff)
	}
	tg := j.TaskGroups[0]
	if *tg.Count != 2 {
		t.Errorf("count %d, want 2", *tg.Count)
	}
	if diff := cmp.Diff([]*api.Constraint{{Operand: "distinct_hosts", RTarget: "true"}}, tg.Constraints); diff != "" {
		t.Errorf("constraints (-want +got):\n%s", diff)
	}
	net := tg.Networks[0]
	if len(net.ReservedPorts) != 0 {
		t.Errorf("static ports %v, want none", net.ReservedPorts)
	}
	if diff := cmp.Diff([]api.Port{{Label: "rpc"}, {Label: "http"}}, net.DynamicPorts); diff != "" {
		t.Errorf("dynamic ports (-want +got):\n%s", diff)
	}
	ex := taskNamed(t, tg, "executor")
	args := argsOf(t, ex)
	for flag, v := range map[string]string{
		"--rpc-addr": "${NOMAD_ADDR_rpc}", "--http-addr": "${NOMAD_ADDR_http}", "--task-id": "${NOMAD_ALLOC_ID}",
		"--advertise-host": "${attr.unique.hostname}", "--mem-dir": "/dev/shm/sluice/sl-${NOMAD_ALLOC_ID}",
		"--mem-size": "256MiB", "--log-level": "info",
	} {
		if got := flagValue(args, flag); got != v {
			t.Errorf("executor %s = %q, want %q", flag, got, v)
		}
	}
	if slices.Contains(args, "--master") {
		t.Errorf("executor args %v name a master; it comes from SLUICE_MASTER", args)
	}
	// 0.5 core at 2000 MHz; 100 MiB of process plus the 256 MiB tier.
	if *ex.Resources.CPU != 1000 || *ex.Resources.MemoryMB != 356 {
		t.Errorf("executor resources cpu %d mem %d, want 1000 and 356", *ex.Resources.CPU, *ex.Resources.MemoryMB)
	}
	if diff := cmp.Diff(map[string]string{"AWS_REGION": "eu-west-1"}, ex.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	tpl := ex.Templates[0]
	if !*tpl.Envvars || *tpl.ChangeMode != "restart" || !strings.Contains(*tpl.EmbeddedTmpl, `nomadService "sl-master"`) ||
		!strings.HasPrefix(*tpl.EmbeddedTmpl, "SLUICE_MASTER=") {
		t.Errorf("master template %q envvars %v change %s", *tpl.EmbeddedTmpl, *tpl.Envvars, *tpl.ChangeMode)
	}
	svc := ex.Services[0]
	if svc.Name != "sl-executor" || svc.Provider != "nomad" || svc.Checks[0].Path != "/healthz" || svc.Checks[0].PortLabel != "http" {
		t.Errorf("executor service %+v", svc)
	}
	cl := taskNamed(t, tg, "cleanup")
	if cl.Lifecycle == nil || cl.Lifecycle.Hook != "poststop" {
		t.Errorf("cleanup lifecycle %+v", cl.Lifecycle)
	}
	if diff := cmp.Diff([]string{"-rf", "/dev/shm/sluice/sl-${NOMAD_ALLOC_ID}"}, argsOf(t, cl)); diff != "" {
		t.Errorf("cleanup args (-want +got):\n%s", diff)
	}
}

func TestTask_BinaryOrArtifact(t *testing.T) {
	tests := []struct {
		name         string
		binary, url  string
		wantCommand  string
		wantArgsHead []string
		wantArtifact *api.TaskArtifact
	}{
		{
			name: "binary on the nodes", binary: "/usr/local/bin/sluice",
			wantCommand: "/usr/local/bin/sluice", wantArgsHead: []string{"executor"},
		},
		{
			name: "archive", url: "https://dl.example.test/sluice-linux-amd64.tar.gz?checksum=sha256:ab",
			wantCommand: "${NOMAD_TASK_DIR}/sluice", wantArgsHead: []string{"executor"},
			wantArtifact: &api.TaskArtifact{GetterSource: new("https://dl.example.test/sluice-linux-amd64.tar.gz?checksum=sha256:ab"), RelativeDest: new("local/")},
		},
		{
			name: "plain file", url: "https://dl.example.test/sluice",
			wantCommand:  "/bin/sh",
			wantArgsHead: []string{"-c", `chmod 0755 "$0" && exec "$0" "$@"`, "${NOMAD_TASK_DIR}/sluice", "executor"},
			wantArtifact: &api.TaskArtifact{GetterSource: new("https://dl.example.test/sluice"), RelativeDest: new("local/sluice"), GetterMode: new("file")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment()
			d.Binary, d.Artifact = tt.binary, tt.url
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			ex := taskNamed(t, d.ExecutorJob().TaskGroups[0], "executor")
			if ex.Config["command"] != tt.wantCommand {
				t.Errorf("command %v, want %s", ex.Config["command"], tt.wantCommand)
			}
			args := argsOf(t, ex)
			if diff := cmp.Diff(tt.wantArgsHead, args[:len(tt.wantArgsHead)]); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			var got *api.TaskArtifact
			if len(ex.Artifacts) == 1 {
				got = ex.Artifacts[0]
			} else if len(ex.Artifacts) > 1 {
				t.Fatalf("%d artifacts", len(ex.Artifacts))
			}
			if diff := cmp.Diff(tt.wantArtifact, got); diff != "" {
				t.Errorf("artifact (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMasterJob_TokenStaysOutOfTheJob(t *testing.T) {
	d := testDeployment()
	d.Framework.Token = "secret-token-value"
	d.Framework.CACert = "/etc/nomad/ca.pem"
	j := d.MasterJob()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "secret-token-value") {
		t.Fatal("the token is written into the job")
	}
	fw := taskNamed(t, j.TaskGroups[0], "framework")
	if len(fw.Templates) != 1 || !strings.Contains(*fw.Templates[0].EmbeddedTmpl, `nomadVar "nomad/jobs/sl-master"`) ||
		!*fw.Templates[0].Envvars || !strings.HasPrefix(*fw.Templates[0].DestPath, "secrets/") {
		t.Errorf("framework templates %+v", fw.Templates)
	}
	if got := flagValue(argsOf(t, fw), "--ca-cert"); got != "/etc/nomad/ca.pem" {
		t.Errorf("--ca-cert %q", got)
	}
	if d.TokenVariablePath() != "nomad/jobs/sl-master" {
		t.Errorf("variable path %s", d.TokenVariablePath())
	}
}

func TestMasterJob_UFSOptionsAndDataDir(t *testing.T) {
	d := testDeployment()
	d.DataDir = "/srv/sluice"
	d.RootUFS = "s3://bucket/root"
	d.RootUFSOptions = map[string]string{"s3.region": "x", "s3.endpoint": "10.0.0.9:9000"}
	d.Namespace, d.Region = "data", "eu"
	j := d.MasterJob()
	if *j.Namespace != "data" || *j.Region != "eu" {
		t.Errorf("namespace %v region %v", j.Namespace, j.Region)
	}
	args := argsOf(t, taskNamed(t, j.TaskGroups[0], "master"))
	var opts []string
	for i, a := range args {
		if a == "--root-ufs-option" {
			opts = append(opts, args[i+1])
		}
	}
	if diff := cmp.Diff([]string{"s3.endpoint=10.0.0.9:9000", "s3.region=x"}, opts); diff != "" {
		t.Errorf("UFS options (-want +got):\n%s", diff)
	}
	if flagValue(args, "--root-ufs") != "s3://bucket/root" || flagValue(args, "--journal-dir") != "/srv/sluice/journal" {
		t.Errorf("args %v", args)
	}
	fargs := argsOf(t, taskNamed(t, j.TaskGroups[0], "framework"))
	if flagValue(fargs, "--namespace") != "data" || flagValue(fargs, "--region") != "eu" {
		t.Errorf("framework args %v", fargs)
	}
}

func TestIsDeploymentJob(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"sluice-master", true},
		{"sluice-executor", true},
		{"sluice-job-12-1", true},
		{"sluice-job-12", false},
		{"sluice-job-x-1", false},
		{"sluice-b-master", false},
		{"sluice-b-job-1-1", false},
		{"other-master", false},
		{"sluice-master-2", false},
	}
	for _, tt := range tests {
		if got := IsDeploymentJob("sluice", tt.id); got != tt.want {
			t.Errorf("IsDeploymentJob(sluice, %s) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
