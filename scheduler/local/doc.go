// Package local is the scheduler Backend that runs tasks as child processes on this
// machine: `sluice local` runs its executors and jobs with it, and tests use it.
//
// Decisions:
//   - Each task gets a process group of its own (Setpgid). Kill sends SIGTERM to the
//     group, then SIGKILL after Config.KillGrace (5 s by default), and returns once the
//     task is reaped. When a task's main process exits, whatever is left of its group
//     is sent SIGKILL, so no child of a task outlives it. Close kills every task still
//     running and waits; Pdeathsig (SIGKILL) also ends the main processes if this
//     process dies without Close.
//   - Task IDs are "<name>-<n>" (name restricted to letters, digits, '-', '_' and '.',
//     n counting launches of the Backend from 1), so IDs are unique and usable as file
//     names.
//   - Events: Running when the process has started (with its PID), then Finished (exit
//     0), Failed (non-zero exit, or a signal not sent by Kill: ExitCode -1 and a message
//     such as "killed by signal 9 (killed)") or Killed (after Kill or Close). A task
//     killed from outside is thus Failed, which the Scheduler treats as a loss.
//   - Logs: stdout and stderr go to one file, Task.LogPath or Config.LogDir/<id>.log,
//     appended to, reported in TaskStatus.LogPath (for `sluice job logs`).
//   - Environment: Config.Env (or this process's environment), then Task.Env, then
//     SLUICE_PORT_<NAME> for each port in Task.Resources.Ports (a free loopback port
//     picked at launch), then SLUICE_TASK_ID, which always wins. The working directory
//     is Task.Dir (empty: this process's).
//   - Resources other than ports are not enforced, and PreferNodes is moot: there is one
//     node, this host, with its host name as ID and 127.0.0.1 as Host.
//   - Ended tasks stay known to Status and Kill for the Backend's life.
package local
