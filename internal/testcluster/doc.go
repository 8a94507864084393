// Package testcluster starts in-process Sluice clusters for tests: masters
// (master.New/Run, Raft over in-memory transports, journals in t.TempDir()) and
// executors (executor.New/Run, MEM tiers in t.TempDir()) on 127.0.0.1, over a real
// ufs/local root UFS, and can kill, restart and partition them.
//
//	c := testcluster.New(t, testcluster.Config{Masters: 3, Executors: 2})
//	cl := c.Client(t)
//	c.KillExecutor(0)    // a lost node: storage wiped, loss reported to the leader
//	c.RestartMaster(c.WaitForLeader())
//
// Decisions:
//   - New returns once a master leads and every executor has registered; it skips the
//     test under -short. Everything stops through t.Cleanup, and a component whose Run
//     returned an error fails the test then.
//   - Masters keep their gRPC addresses across restarts (the port is picked free once),
//     and executors their addresses and MEM directories, as real nodes do.
//   - KillExecutor is a lost node, as the framework scheduler sees it: the executor
//     stops, its storage is wiped and the leader gets ReportExecutorLost at once.
//     StopExecutor is a clean stop that keeps the blocks for RestartExecutor.
//   - Partition cuts only Raft links; clients and executors still reach the master.
//   - Logs go to the test's output (t.Output()), at Warn unless Config.LogLevel says
//     otherwise.
package testcluster
