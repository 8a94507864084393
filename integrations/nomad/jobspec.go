package nomad

import (
	"fmt"
	"maps"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// The Nomad jobs of a deployment (see Deployment): "<prefix>-master" and
// "<prefix>-executor", both service jobs, built here as api.Job values. The HCL files in
// examples/nomad are their hand-written equivalent.

// Names of the task groups, tasks, ports and services.
const (
	groupMaster    = "master"
	groupExecutor  = "executor"
	taskMaster     = "master"
	taskFramework  = "framework"
	taskExecutor   = "executor"
	taskShmCleanup = "cleanup"
	portRPC        = "rpc"
	portHTTP       = "http"
	portRaft       = "raft"
	portFramework  = "framework"
	// tokenVarItem is the item of the Nomad variable "nomad/jobs/<prefix>-master" that
	// holds the framework sidecar's Nomad token.
	tokenVarItem = "nomad_token"
	// shmRoot is where the executors' MEM tiers live on the nodes.
	shmRoot = "/dev/shm/sluice"
)

// Meta keys set on every job of a deployment, so that Status and Teardown find them.
const (
	MetaDeployment = "sluice.deployment"
	MetaRole       = "sluice.role"
)

// Defaults of a Deployment.
const (
	DefaultPrefix         = "sluice"
	DefaultMasterRPCPort  = 19998
	DefaultMasterHTTPPort = 19999
	DefaultMasterRaftPort = 19200
	DefaultMemTierSize    = 1 << 30
	DefaultExecutorCPU    = 0.5
	DefaultExecutorMemMB  = 512
	DefaultMasterCPU      = 0.5
	DefaultMasterMemMB    = 512
	DefaultFrameworkCPU   = 0.1
	DefaultFrameworkMemMB = 128
	// DefaultCPUMHzPerCore converts cores to Nomad's MHz when the nodes do not report
	// their CPU frequency.
	DefaultCPUMHzPerCore = 1000
)

// Deployment describes a Sluice cluster on Nomad. Start from DefaultDeployment.
//
// It registers two service jobs: "<Prefix>-master" (group "master": Masters allocations,
// each with the task "master" and the prestart sidecar "framework", which runs the
// FrameworkScheduler for lineage jobs: `sluice framework nomad serve`) and
// "<Prefix>-executor" (group "executor": Executors allocations on distinct nodes). The
// lineage jobs the sidecar launches are batch jobs "<Prefix>-job-<id>-<attempt>".
type Deployment struct {
	// Prefix names the jobs and services. It must be a valid Nomad service name part:
	// letters, digits and dashes.
	Prefix string
	// Masters is 1 or 3. With 3, MasterNodes names the three nodes they are pinned to.
	Masters int
	// Executors is the number of executors, one per node.
	Executors int
	// ExecutorCPU and MasterCPU are in cores; ExecutorMemMB and MasterMemMB are the
	// memory of the processes in MiB. The executors also reserve MemTierSize.
	ExecutorCPU   float64
	ExecutorMemMB int
	MasterCPU     float64
	MasterMemMB   int
	// MemTierSize is each executor's MEM tier in bytes, kept in /dev/shm/sluice/
	// <Prefix>-<allocation ID> on its node and removed when the allocation stops.
	MemTierSize int64
	// CPUMHzPerCore converts cores to Nomad's MHz (Deploy reads it from the nodes).
	CPUMHzPerCore int
	// Binary is the absolute path of the sluice binary on every node. Artifact, when
	// set instead, is a URL that Nomad fetches (go-getter) into each task's local/
	// directory: an archive (.tar.gz, .tgz, .zip…) holding "sluice" at its top, or the
	// binary itself. Exactly one of them is set.
	Binary   string
	Artifact string
	// Datacenters where the jobs run; empty means every datacenter ("*").
	Datacenters []string
	// Namespace and Region of the jobs; empty means Nomad's defaults.
	Namespace string
	Region    string
	// MasterRPCPort, MasterHTTPPort and MasterRaftPort are the masters' static ports
	// (the same on every master node, so that masters know their peers).
	MasterRPCPort  int
	MasterHTTPPort int
	MasterRaftPort int
	// DataDir is the directory on the master nodes that holds the Raft journal
	// (DataDir/journal) and, unless RootUFS is set, the root UFS (DataDir/ufs). Default:
	// /var/lib/sluice/<Prefix>.
	DataDir string
	// RootUFS is the URI mounted at "/" on a new cluster; it must be reachable from
	// every node (S3, or a shared file system). RootUFSOptions are its options.
	RootUFS        string
	RootUFSOptions map[string]string
	// Env is added to the environment of the master, the sidecar and the executors
	// (UFS credentials, for example).
	Env map[string]string
	// LogLevel of the Sluice processes ("info" when empty).
	LogLevel string
	// MasterNodes are the IDs of the nodes of the masters (Masters == 3) and
	// MasterAddrs their addresses, in the same order; Deploy chooses them.
	MasterNodes []string
	MasterAddrs []string
	// Framework is how the framework sidecar reaches Nomad to run lineage jobs: the
	// address, TLS files (paths on the master nodes) and the jobs' Driver. Its Token,
	// when set, is not written into the job: Deploy keeps it in the Nomad variable
	// nomad/jobs/<prefix>-master, which only that job's tasks (and operators) read.
	// Its JobPrefix, Region, Namespace and Datacenters are ignored: the deployment's
	// own are used.
	Framework Config
}

// DefaultDeployment returns one master and one executor of 1 GiB, with the default ports.
func DefaultDeployment() Deployment {
	return Deployment{
		Prefix:         DefaultPrefix,
		Masters:        1,
		Executors:      1,
		ExecutorCPU:    DefaultExecutorCPU,
		ExecutorMemMB:  DefaultExecutorMemMB,
		MasterCPU:      DefaultMasterCPU,
		MasterMemMB:    DefaultMasterMemMB,
		MemTierSize:    DefaultMemTierSize,
		CPUMHzPerCore:  DefaultCPUMHzPerCore,
		MasterRPCPort:  DefaultMasterRPCPort,
		MasterHTTPPort: DefaultMasterHTTPPort,
		MasterRaftPort: DefaultMasterRaftPort,
		LogLevel:       "info",
		Framework:      Config{Driver: DriverRawExec},
	}
}

// Validate reports the first problem of d, wrapping ErrInvalidDeployment.
func (d Deployment) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidDeployment)
	}
	ports := []int{d.MasterRPCPort, d.MasterHTTPPort, d.MasterRaftPort}
	switch {
	case !validPrefix(d.Prefix):
		return bad("job prefix %q: want letters, digits and dashes, at most 40", d.Prefix)
	case d.Masters != 1 && d.Masters != 3:
		return bad("masters %d: want 1 or 3", d.Masters)
	case d.Executors < 0:
		return bad("executors %d < 0", d.Executors)
	case d.ExecutorCPU <= 0 || d.MasterCPU <= 0:
		return bad("cpu must be positive (executor %v, master %v cores)", d.ExecutorCPU, d.MasterCPU)
	case d.ExecutorMemMB <= 0 || d.MasterMemMB <= 0:
		return bad("memory must be positive (executor %d, master %d MiB)", d.ExecutorMemMB, d.MasterMemMB)
	case d.MemTierSize <= 0:
		return bad("MEM tier size %d must be positive", d.MemTierSize)
	case d.CPUMHzPerCore <= 0:
		return bad("CPU MHz per core %d must be positive", d.CPUMHzPerCore)
	case (d.Binary == "") == (d.Artifact == ""):
		return bad("set exactly one of the binary path and the artifact URL")
	case d.Binary != "" && !path.IsAbs(d.Binary):
		return bad("binary %q: want an absolute path on the nodes", d.Binary)
	case slices.ContainsFunc(ports, func(p int) bool { return p <= 0 || p > 65535 }):
		return bad("master ports %v: want 1-65535", ports)
	case d.MasterRPCPort == d.MasterHTTPPort || d.MasterRPCPort == d.MasterRaftPort || d.MasterHTTPPort == d.MasterRaftPort:
		return bad("master ports %v must differ", ports)
	case d.DataDir != "" && !path.IsAbs(d.DataDir):
		return bad("data directory %q: want an absolute path", d.DataDir)
	case d.Masters == 3 && (len(d.MasterNodes) != 3 || len(d.MasterAddrs) != 3):
		return bad("3 masters need 3 master nodes and addresses, have %d and %d", len(d.MasterNodes), len(d.MasterAddrs))
	case d.Framework.Address == "":
		return bad("no Nomad address for the framework sidecar")
	case d.Framework.Driver != DriverRawExec && d.Framework.Driver != DriverExec:
		return bad("job driver %q: want %s or %s", d.Framework.Driver, DriverRawExec, DriverExec)
	}
	return nil
}

// validPrefix accepts a job prefix that keeps "<prefix>-executor" a valid service name.
func validPrefix(p string) bool {
	if p == "" || len(p) > 40 || p[0] == '-' || p[len(p)-1] == '-' {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// MasterJobID, ExecutorJobID and MasterService name the deployment's jobs and the
// masters' service.
func (d Deployment) MasterJobID() string   { return d.Prefix + "-master" }
func (d Deployment) ExecutorJobID() string { return d.Prefix + "-executor" }
func (d Deployment) MasterService() string { return d.Prefix + "-master" }

// ExecutorService is the Nomad service of the executors' gRPC ports.
func (d Deployment) ExecutorService() string { return d.Prefix + "-executor" }

// TokenVariablePath is the Nomad variable holding the sidecar's token.
func (d Deployment) TokenVariablePath() string { return "nomad/jobs/" + d.MasterJobID() }

// dataDir is DataDir or its default.
func (d Deployment) dataDir() string {
	if d.DataDir != "" {
		return d.DataDir
	}
	return "/var/lib/sluice/" + d.Prefix
}

// RootUFSURI is RootUFS or its default, the ufs folder of the data directory.
func (d Deployment) RootUFSURI() string {
	if d.RootUFS != "" {
		return d.RootUFS
	}
	return "file://" + path.Join(d.dataDir(), "ufs")
}

// mhz converts cores to Nomad CPU MHz, at least 1.
func (d Deployment) mhz(cores float64) *int {
	return new(max(1, int(cores*float64(d.CPUMHzPerCore)+0.5)))
}

// MasterJob is the job "<prefix>-master".
func (d Deployment) MasterJob() *api.Job {
	j := d.serviceJob(d.MasterJobID(), "master")
	tg := api.NewTaskGroup(groupMaster, d.Masters)
	tg.Networks = []*api.NetworkResource{{
		ReservedPorts: []api.Port{
			{Label: portRPC, Value: d.MasterRPCPort},
			{Label: portHTTP, Value: d.MasterHTTPPort},
			{Label: portRaft, Value: d.MasterRaftPort},
		},
		DynamicPorts: []api.Port{{Label: portFramework}},
	}}
	// Two masters never share a node: their static ports would clash.
	tg.Constraints = []*api.Constraint{api.NewConstraint("", "distinct_hosts", "true")}
	if d.Masters == 3 {
		tg.Constraints = append(tg.Constraints,
			api.NewConstraint("${node.unique.id}", "regexp", "^("+strings.Join(d.MasterNodes, "|")+")$"))
	}
	tg.RestartPolicy = restartPolicy()
	tg.ReschedulePolicy = reschedulePolicy()
	tg.Update = updateStrategy()

	master := d.task(taskMaster, d.masterArgs())
	master.Resources = &api.Resources{CPU: d.mhz(d.MasterCPU), MemoryMB: new(d.MasterMemMB)}
	master.Services = []*api.Service{{
		Name:      d.MasterService(),
		PortLabel: portRPC,
		Provider:  "nomad",
		Tags:      []string{"sluice", "master"},
		Checks:    []api.ServiceCheck{healthCheck("master-healthz")},
	}}
	master.KillTimeout = new(30 * time.Second)

	fw := d.task(taskFramework, d.frameworkArgs())
	fw.Lifecycle = &api.TaskLifecycle{Hook: api.TaskLifecycleHookPrestart, Sidecar: true}
	fw.Resources = &api.Resources{CPU: d.mhz(DefaultFrameworkCPU), MemoryMB: new(DefaultFrameworkMemMB)}
	if d.Framework.Token != "" {
		// The token comes from the job's own variable, never from the job's text.
		fw.Templates = append(fw.Templates, &api.Template{
			EmbeddedTmpl: new(`{{ with nomadVar "` + d.TokenVariablePath() + `" }}NOMAD_TOKEN={{ .` + tokenVarItem + ` }}{{ end }}`),
			DestPath:     new("secrets/nomad-token.env"),
			Envvars:      new(true),
			ChangeMode:   new("restart"),
		})
	}
	tg.Tasks = []*api.Task{fw, master}
	j.TaskGroups = []*api.TaskGroup{tg}
	return j
}

// ExecutorJob is the job "<prefix>-executor".
func (d Deployment) ExecutorJob() *api.Job {
	j := d.serviceJob(d.ExecutorJobID(), "executor")
	tg := api.NewTaskGroup(groupExecutor, d.Executors)
	tg.Networks = []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: portRPC}, {Label: portHTTP}}}}
	tg.Constraints = []*api.Constraint{api.NewConstraint("", "distinct_hosts", "true")}
	tg.RestartPolicy = restartPolicy()
	tg.ReschedulePolicy = reschedulePolicy()
	tg.Update = updateStrategy()

	ex := d.task(taskExecutor, d.executorArgs())
	// The MEM tier lives in memory (tmpfs): reserve it with the process's own memory.
	ex.Resources = &api.Resources{
		CPU:      d.mhz(d.ExecutorCPU),
		MemoryMB: new(d.ExecutorMemMB + int((d.MemTierSize+(1<<20)-1)>>20)),
	}
	ex.Services = []*api.Service{{
		Name:      d.ExecutorService(),
		PortLabel: portRPC,
		Provider:  "nomad",
		Tags:      []string{"sluice", "executor"},
		Checks:    []api.ServiceCheck{healthCheck("executor-healthz")},
	}}
	// Every master's gRPC address, from Nomad's service catalog; a change of masters
	// restarts the executor with the new list.
	ex.Templates = []*api.Template{{
		EmbeddedTmpl: new(`SLUICE_MASTER={{ range $i, $s := nomadService "` + d.MasterService() +
			`" }}{{ if $i }},{{ end }}{{ $s.Address }}:{{ $s.Port }}{{ end }}` + "\n"),
		DestPath:   new("local/master.env"),
		Envvars:    new(true),
		ChangeMode: new("restart"),
	}}
	ex.KillTimeout = new(30 * time.Second)

	// The poststop task removes the allocation's MEM tier from /dev/shm.
	cleanup := &api.Task{
		Name:      taskShmCleanup,
		Driver:    DriverRawExec,
		Lifecycle: &api.TaskLifecycle{Hook: api.TaskLifecycleHookPoststop},
		Config: map[string]any{
			"command": "/bin/rm",
			"args":    []string{"-rf", d.memDir()},
		},
		Resources: &api.Resources{CPU: new(20), MemoryMB: new(32)},
	}
	tg.Tasks = []*api.Task{ex, cleanup}
	j.TaskGroups = []*api.TaskGroup{tg}
	return j
}

// serviceJob is a service job of the deployment with its placement settings and meta.
func (d Deployment) serviceJob(id, role string) *api.Job {
	j := api.NewServiceJob(id, id, d.Region, 50)
	if d.Namespace != "" {
		j.Namespace = new(d.Namespace)
	}
	j.Datacenters = slices.Clone(d.Datacenters)
	if len(j.Datacenters) == 0 {
		j.Datacenters = []string{"*"}
	}
	if d.Region == "" {
		j.Region = nil
	}
	j.Meta = map[string]string{MetaDeployment: d.Prefix, MetaRole: role}
	return j
}

// task is a raw_exec task running sluice with args, from Binary or from Artifact.
func (d Deployment) task(name string, args []string) *api.Task {
	t := &api.Task{Name: name, Driver: DriverRawExec, Env: maps.Clone(d.Env)}
	if d.LogLevel != "" {
		args = append(args, "--log-level", d.LogLevel)
	}
	switch {
	case d.Binary != "":
		t.Config = map[string]any{"command": d.Binary, "args": args}
	case isArchive(d.Artifact):
		t.Artifacts = []*api.TaskArtifact{{GetterSource: new(d.Artifact), RelativeDest: new("local/")}}
		t.Config = map[string]any{"command": "${NOMAD_TASK_DIR}/sluice", "args": args}
	default:
		// go-getter does not make a downloaded file executable: the shell does, then
		// becomes sluice ($0) with the arguments.
		t.Artifacts = []*api.TaskArtifact{{
			GetterSource: new(d.Artifact), RelativeDest: new("local/sluice"), GetterMode: new("file"),
		}}
		t.Config = map[string]any{
			"command": "/bin/sh",
			"args":    append([]string{"-c", `chmod 0755 "$0" && exec "$0" "$@"`, "${NOMAD_TASK_DIR}/sluice"}, args...),
		}
	}
	return t
}

// isArchive reports whether go-getter unpacks the URL (by its extension) rather than
// saving it as one file.
func isArchive(u string) bool {
	p, _, _ := strings.Cut(u, "?")
	for _, ext := range []string{".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".zip", ".tar"} {
		if strings.HasSuffix(strings.ToLower(p), ext) {
			return true
		}
	}
	return false
}

// masterArgs are the arguments of `sluice master` in the master task.
func (d Deployment) masterArgs() []string {
	args := []string{
		"master",
		"--rpc-addr", "${NOMAD_ADDR_rpc}",
		"--http-addr", "${NOMAD_ADDR_http}",
		"--raft-addr", "${NOMAD_ADDR_raft}",
		"--journal-dir", path.Join(d.dataDir(), "journal"),
		"--root-ufs", d.RootUFSURI(),
		"--framework", "${NOMAD_ADDR_framework}",
	}
	for _, k := range slices.Sorted(maps.Keys(d.RootUFSOptions)) {
		args = append(args, "--root-ufs-option", k+"="+d.RootUFSOptions[k])
	}
	if d.Masters == 3 {
		peers := make([]string, len(d.MasterAddrs))
		for i, a := range d.MasterAddrs {
			peers[i] = net.JoinHostPort(a, strconv.Itoa(d.MasterRaftPort)) + "=" +
				net.JoinHostPort(a, strconv.Itoa(d.MasterRPCPort))
		}
		args = append(args, "--peers", strings.Join(peers, ","))
	}
	return args
}

// frameworkArgs are the arguments of `sluice framework nomad serve` in the sidecar.
func (d Deployment) frameworkArgs() []string {
	f := d.Framework
	args := []string{
		"framework", "nomad", "serve",
		"--rpc-addr", "${NOMAD_ADDR_framework}",
		"--nomad-addr", f.Address,
		"--job-prefix", d.Prefix,
		"--driver", f.Driver,
	}
	for _, o := range []struct{ flag, v string }{
		{"--namespace", d.Namespace}, {"--region", d.Region},
		{"--datacenters", strings.Join(d.Datacenters, ",")},
		{"--ca-cert", f.CACert}, {"--client-cert", f.ClientCert}, {"--client-key", f.ClientKey},
		{"--tls-server-name", f.TLSServerName},
	} {
		if o.v != "" {
			args = append(args, o.flag, o.v)
		}
	}
	if f.TLSSkipVerify {
		args = append(args, "--tls-skip-verify")
	}
	return args
}

// memDir is the MEM tier directory of an executor allocation.
func (d Deployment) memDir() string {
	return shmRoot + "/" + d.Prefix + "-${NOMAD_ALLOC_ID}"
}

// executorArgs are the arguments of `sluice executor` in the executor task. The masters
// come from SLUICE_MASTER (the template). The advertised host is the node's host name,
// as Sluice hosts are everywhere (os.Hostname): clients on the node read its blocks
// directly and `sluice report` shows its PID there.
func (d Deployment) executorArgs() []string {
	return []string{
		"executor",
		"--rpc-addr", "${NOMAD_ADDR_rpc}",
		"--http-addr", "${NOMAD_ADDR_http}",
		"--advertise-host", "${attr.unique.hostname}",
		"--task-id", "${NOMAD_ALLOC_ID}",
		// A restart of the task in its allocation is reported lost (ExecutorWatch):
		// it comes back empty, as a new node would.
		"--format",
		"--mem-dir", d.memDir(),
		"--mem-size", tierSize(d.MemTierSize),
	}
}

// tierSize renders a MEM tier size for --mem-size: whole MiB as "<n>MiB", else bytes.
func tierSize(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + "MiB"
	}
	return strconv.FormatInt(n, 10)
}

// healthCheck is the HTTP check of /healthz on the task's "http" port.
func healthCheck(name string) api.ServiceCheck {
	return api.ServiceCheck{
		Name:      name,
		Type:      "http",
		Path:      "/healthz",
		PortLabel: portHTTP,
		Interval:  5 * time.Second,
		Timeout:   2 * time.Second,
		// Three failed checks in a row restart the task; a starting task has a minute.
		CheckRestart: &api.CheckRestart{Limit: 3, Grace: new(time.Minute)},
	}
}

// restartPolicy restarts a failed task twice in a minute on its node, then fails the
// allocation so that the reschedule policy moves it.
func restartPolicy() *api.RestartPolicy {
	return &api.RestartPolicy{
		Attempts: new(2),
		Interval: new(time.Minute),
		Delay:    new(5 * time.Second),
		Mode:     new("fail"),
	}
}

// reschedulePolicy replaces a failed allocation forever, waiting longer each time.
func reschedulePolicy() *api.ReschedulePolicy {
	return &api.ReschedulePolicy{
		Unlimited:     new(true),
		Delay:         new(5 * time.Second),
		DelayFunction: new("exponential"),
		MaxDelay:      new(5 * time.Minute),
	}
}

// updateStrategy rolls one allocation at a time, healthy when its checks pass.
func updateStrategy() *api.UpdateStrategy {
	return &api.UpdateStrategy{
		MaxParallel:      new(1),
		HealthCheck:      new("checks"),
		MinHealthyTime:   new(3 * time.Second),
		HealthyDeadline:  new(2 * time.Minute),
		ProgressDeadline: new(5 * time.Minute),
		AutoRevert:       new(false),
	}
}
