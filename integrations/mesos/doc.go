// Package mesos is the Mesos framework for Sluice: a scheduler.Backend on the Mesos v1
// scheduler HTTP API (Backend, built by New or Factory) and the executor adapter that
// runs `sluice executor` under the Mesos v1 executor API (RunExecutor).
//
// # The framework scheduler (Backend)
//
// A Backend subscribes to the master with a FrameworkInfo (role, principal, failover
// timeout, checkpointing, PARTITION_AWARE) and keeps subscribing: a stream that ends, an
// ERROR event or two missed heartbeats lead to a new SUBSCRIBE after a growing pause,
// with the same framework ID. The ID is kept in Config.FrameworkIDFile, and the launched
// tasks beside it, so that a restarted scheduler re-registers within the failover
// timeout and adopts its running tasks (see reconcile.go). A framework ID refused by
// three ERROR events in a row is given up and a new framework registered.
//
// Launch queues a task. Offers are matched to queued tasks (offers.go): masters first,
// then executors (one per agent), then jobs by priority, each by cpus, mem, disk and
// ports, jobs waiting LocalityWait for one of their preferred agents. Placed tasks go
// out in ACCEPT calls with LAUNCH operations; offers left unused are declined with a
// refuse filter. Offers are suppressed while nothing is queued and revived when a task
// is queued. Masters and jobs are command tasks; executors are custom executors whose
// command is the task's argv (`sluice executor`, which speaks the executor API). The
// environment carries SLUICE_TASK_ID (the Mesos task ID) and SLUICE_PORT_<NAME> for the
// ports picked from the offer.
//
// Two task labels constrain placement: LabelAgent pins a task to one agent and
// LabelStaticPorts gives named ports fixed numbers, for masters whose addresses must be
// known before they start. Task.Labels also go into the TaskInfo labels.
//
// Every status update is acknowledged; its state becomes the task's event (states.go).
// FAILURE events end the tasks of a removed agent or an exited executor as lost. Known
// tasks are reconciled explicitly after every subscription and all of them implicitly
// every ReconcileInterval; a live task this framework has ended or does not know is
// killed. Kill sends KILL; the task ends as killed.
//
// Nodes are the agents seen in offers; NodesAtLeast waits, asking for offers, until
// some number of agents is known (three pinned masters need three agents). Tests run against the stand-in master and
// agents of package mesostest.
package mesos
