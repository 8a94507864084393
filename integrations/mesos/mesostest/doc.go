// Package mesostest is a stand-in Mesos master and agents, in-process on 127.0.0.1, speaking
// the published Mesos v1 scheduler and executor HTTP APIs with mesos-go's types and codecs, so
// that a Mesos framework and executor can be tested against real HTTP streams and real
// processes without a Mesos cluster.
//
// New starts a master (Config, DefaultConfig) with agents (AgentConfig); AddAgent and
// RemoveAgent change the cluster; KillTaskProcess simulates a crash; Frameworks, Tasks,
// Executors, Agents and Offers return snapshots; Close SIGKILLs every process and ends every
// stream. Point a scheduler at SchedulerURL (or Addr as --mesos-master); executors find their
// agent through MESOS_AGENT_ENDPOINT.
//
// # Reproduced
//
// Scheduler API, POST /api/v1/scheduler on the master:
//   - Codecs application/x-protobuf and application/json (Content-Type of the call); SUBSCRIBE
//     answers 200 with a chunked RecordIO stream whose Content-Type follows Accept (or, with
//     Accept: application/recordio, Message-Accept), and a Mesos-Stream-Id header. Other calls
//     answer 202 with no body, or 400 (malformed, missing or mismatched Mesos-Stream-Id),
//     401 (authentication), 403 (unknown or unsubscribed framework), 405, 406, 415.
//   - Events SUBSCRIBED (framework_id, heartbeat_interval_seconds, master_info), HEARTBEAT,
//     OFFERS, RESCIND, UPDATE, MESSAGE, FAILURE and ERROR.
//   - Calls SUBSCRIBE (new framework, or failover with framework_info.id: within the failover
//     timeout the framework keeps its tasks and unacknowledged updates are re-sent; a second
//     SUBSCRIBE of a connected framework sends ERROR "Framework failed over" on the old stream;
//     a removed framework gets ERROR "Framework has been removed"; an ID the master never issued
//     is accepted, as after a master failover), TEARDOWN, ACCEPT (LAUNCH and LAUNCH_GROUP),
//     DECLINE, REVIVE and SUPPRESS (optionally per role; SUBSCRIBE's suppressed_roles too),
//     KILL (with kill_policy), SHUTDOWN, ACKNOWLEDGE, RECONCILE (implicit and explicit),
//     MESSAGE, UPDATE_FRAMEWORK; REQUEST, ACCEPT_INVERSE_OFFERS and DECLINE_INVERSE_OFFERS are
//     accepted and have no effect.
//   - A disconnected stream starts the failover timer (framework_info.failover_timeout;
//     0 removes the framework at once). Removal (timeout or TEARDOWN) kills the framework's
//     command tasks and shuts down its executors.
//   - Offers: an allocation round runs every AllocationInterval and whenever resources free up
//     or a framework subscribes or revives. Each agent's free resources (never those in use or
//     already offered) go to connected frameworks in order of least allocated cpus (tasks and
//     outstanding offers, re-sorted for each agent), one offer
//     per framework, agent and role, with cpus, mem, disk and ports ranges, agent attributes,
//     the executor IDs running there, and at least 0.01 cpus or 32 MB of memory. Unreserved
//     resources go to any role; statically reserved ones (AgentConfig.Reserved) only to their
//     role. Resources are rendered as Mesos renders them for the framework: role field (or the
//     reservations stack with RESERVATION_REFINEMENT), allocation_info with MULTI_ROLE.
//   - Filters as Mesos' allocator keeps them: DECLINE and the unused part of an ACCEPT refuse
//     those resources from that agent to that role for refuse_seconds (default 5); an agent
//     whose free resources are no longer contained in the refused ones is offered again
//     before the filter expires; REVIVE clears filters, and so does a disconnect or failover.
//     OfferTimeout rescinds stale offers.
//   - ACCEPT validation: unknown, used or foreign offers drop the launches (TASK_LOST, or
//     TASK_DROPPED for PARTITION_AWARE frameworks, REASON_INVALID_OFFERS); tasks needing more
//     than the offers hold, using ports outside them, with duplicate IDs, another agent, both
//     or neither of command and executor, get TASK_ERROR REASON_TASK_INVALID (or
//     REASON_TASK_GROUP_INVALID). Master-generated updates carry no uuid.
//   - Status updates with a uuid (from executors, the command executor and the agent) are
//     delivered in order per task, the oldest re-sent until acknowledged (first after
//     StatusUpdateRetryInterval, doubling up to StatusUpdateRetryMax) and across failovers; an
//     acknowledgement is forwarded to the executor as ACKNOWLEDGED; a terminal task's resources
//     return at once, and the task is completed once all its updates are acknowledged.
//   - Reconciliation answers with the latest known state, REASON_RECONCILIATION and no uuid;
//     unknown tasks are TASK_LOST (TASK_GONE on a known or removed agent, TASK_UNKNOWN otherwise,
//     for PARTITION_AWARE frameworks).
//   - Optional authentication: with Config.Credentials, HTTP basic auth is required and the
//     subscribing framework's principal must be the authenticated one (400 otherwise).
//
// Agents and the executor API, POST /api/v1/executor on each agent's own port:
//   - Tasks run as real processes (own process group, /bin/sh -c for shell commands, argv
//     otherwise) in sandboxes laid out as a Mesos work_dir
//     (WorkDir/slaves/<agent>/frameworks/<framework>/executors/<executor>/runs/<container>),
//     with stdout and stderr files and URIs fetched into the sandbox (local paths, file:// and
//     http(s) URLs; executable honoured; archives are not extracted).
//   - The environment of a Mesos agent: the agent's own (or AgentConfig.Environment), then
//     MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_DIRECTORY, MESOS_SANDBOX,
//     MESOS_AGENT_ENDPOINT, MESOS_SLAVE_ID, MESOS_SLAVE_PID, MESOS_CHECKPOINT,
//     MESOS_HTTP_COMMAND_EXECUTOR, MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD in Mesos duration
//     format ("5secs"), and with checkpointing MESOS_RECOVERY_TIMEOUT and
//     MESOS_SUBSCRIPTION_BACKOFF_MAX, then the CommandInfo's variables. mesos-go's
//     executor/config.FromEnv accepts it.
//   - Command tasks: the stand-in is the command executor (its ExecutorID is the TaskID):
//     TASK_STARTING, TASK_RUNNING, then TASK_FINISHED ("Command exited with status 0"),
//     TASK_FAILED ("Command exited with status N", "Command terminated with signal Killed"),
//     or after KILL TASK_KILLING (TASK_KILLING_STATE frameworks) and TASK_KILLED, SIGTERM then
//     SIGKILL after the kill policy's grace period (default AgentConfig.KillGracePeriod). Once
//     the terminal update is acknowledged the command executor "exits": a FAILURE event with
//     that executor ID and the raw wait status follows, as a real master forwards it.
//   - Custom executors (ExecutorInfo with a command) start once per framework and ExecutorID on
//     an agent, hold their own resources, and get SUBSCRIBED (executor, framework and agent
//     info, container ID), LAUNCH, LAUNCH_GROUP, KILL, ACKNOWLEDGED, MESSAGE, SHUTDOWN and
//     HEARTBEAT events; UPDATE (uuid required, not TASK_STAGING), MESSAGE and HEARTBEAT calls
//     are accepted from a subscribed executor (updates of tasks the agent no longer tracks are
//     accepted and dropped). Tasks launched before the executor subscribes are queued. When the process exits, its live tasks get TASK_FAILED (TASK_KILLED if being
//     killed) with REASON_EXECUTOR_TERMINATED from SOURCE_AGENT, and the framework a FAILURE
//     event whose status is the raw wait status (syscall.WaitStatus). An executor not
//     subscribed within ExecutorRegistrationTimeout is killed
//     (REASON_EXECUTOR_REGISTRATION_TIMEOUT); SHUTDOWN kills after the shutdown grace period.
//     When a stream ends, a checkpointing framework's executor may re-subscribe within
//     RecoveryTimeout; any other is killed after the shutdown grace period.
//   - DEFAULT executors (LAUNCH_GROUP) are played by the stand-in: each task's command runs as
//     a process under the executor's sandbox (tasks/<task>), a failed task kills the rest of
//     its executor's tasks, and the executor ends (FAILURE) once all its tasks ended and their
//     updates were acknowledged.
//   - RemoveAgent: offers rescinded, processes SIGKILLed, live tasks TASK_LOST (TASK_GONE for
//     PARTITION_AWARE frameworks) with REASON_AGENT_REMOVED from the master, FAILURE naming
//     only the agent to every framework; the agent ID cannot be reused.
//
// # Not reproduced
//
// Master election and redirects (one master, never a 307), the operator API (/api/v1 with
// GET_STATE and friends) and the /state endpoints, maintenance and inverse offers, quota,
// weights and DRF beyond "least allocated cpus first", dynamic reservations, persistent
// volumes and the other offer operations (RESERVE, UNRESERVE, CREATE, DESTROY, ... are
// dropped and their resources stay unused), resource providers and operation status calls
// (RECONCILE_OPERATIONS, ACKNOWLEDGE_OPERATION_STATUS answer 400), revocable, shared, GPU or
// custom resources, agent attributes other than text, containers and images (ContainerInfo is
// ignored; processes run as the test's user without isolation or limits; CommandInfo.user is
// ignored), health and readiness checks, agent unreachability and partitions (agents are there
// or removed; no TASK_UNREACHABLE), checkpointed agent recovery and agent restarts, executor
// authentication, framework authorization and role whitelists, offer_filters and
// min_allocatable_resources per framework, the executor SUBSCRIBE call's unacknowledged tasks
// and updates (ignored), and archive extraction by the fetcher.
package mesostest
