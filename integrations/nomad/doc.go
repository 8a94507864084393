// Package nomad is the scheduler.Backend that runs Sluice masters, executors and lineage
// jobs on a Nomad cluster through its HTTP API (github.com/hashicorp/nomad/api), and the
// framework.ExecutorSource over a deployment's executor job.
//
// Config says how to reach the cluster (address, ACL token, region, namespace, TLS) and
// how tasks run (job prefix, driver, kill timeout); NewAPIClient turns it into an
// *api.Client with a transport of its own. Factory builds a Backend from cmd/sluice's
// BackendOptions (the Setting* keys).
//
// # Backend
//
// Each scheduler.Task is one Nomad job whose ID is the task's ID: a batch job for
// scheduler.KindJob ("<prefix>-job-<job>-<attempt>" when the framework server's labels
// sluice.job and sluice.job_attempt are set and that ID is free, else
// "<prefix>-job-<name>-<random>"), a service job for masters and executors
// ("<prefix>-<kind>-<name>-<random>"). The job has one group and one task with the
// configured driver, Task.Command as command and arguments (Task.Dir through /bin/sh,
// since Nomad v1.6 drivers have no working-directory option), Task.Env plus
// SLUICE_TASK_ID and SLUICE_PORT_<NAME>=${NOMAD_PORT_<name>} per dynamic port, the
// resources in Nomad's units (cores times the slowest node's cpu.frequency, else
// 1000 MHz a core; Nomad's minimums), Task.Labels as meta, and an affinity on
// ${node.unique.id} per preferred node, best first. Restarts and reschedules are off:
// the Scheduler and the master decide on reruns, with a new task. Nomad interpolates
// ${...} in the task's arguments and environment (${NOMAD_ALLOC_ID}, ${node.unique.id}),
// so such text in Task.Command or Task.Env is replaced on the node.
//
// Task states follow the allocation events of Nomad's event stream, with a resync that
// lists the allocations of live tasks after every reconnection and every few seconds:
// pending, running, then finished (exit 0), failed (an exit code, a signal, a driver
// failure, or a stop from outside Sluice), lost (its node is down) or killed (Kill, which
// deregisters and purges the job). A service task that ends on its own has its job
// stopped so that Nomad does not replace the allocation behind the Scheduler's back.
// Status has no PID and no LogPath: Nomad's API reports neither the processes of a
// task nor paths on its node; LogTail reads a task's output through the API instead.
//
// # Executors
//
// ExecutorWatch follows the allocations of the executor job ("<prefix>-executor") with
// blocking queries. An executor's task ID is its allocation ID; its RPC address is the
// host and value of the allocation's "rpc" port. An allocation that fails, is lost, is
// stopped, is disconnected, vanishes or whose task restarts is reported lost at once.
package nomad
