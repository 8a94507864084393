// Package e2e holds the end-to-end tests of Sluice: they build the real sluice binary
// once (in TestMain, with -race when the tests run with -race) and run it as a user
// would, with os/exec: `sluice local`, `sluice master`, `sluice executor` and the
// `sluice fs` and `sluice report` commands. The package has no code besides its tests.
//
// What the tests cover:
//   - the README's Quickstart, command for command (the block between the
//     <!-- quickstart --> markers), with the outputs it shows;
//   - `sluice local`: an executor killed with SIGKILL (persisted files stay readable,
//     MUST_CACHE files become LOST, the executor is relaunched empty), a clean Ctrl-C
//     and restart that keeps the namespace and the cached blocks, a SIGKILL of
//     `sluice local` itself (no executor outlives it; a restart finds everything), and
//     its start-up (BenchmarkLocalStartup measures the time to the first successful
//     `fs ls /`);
//   - `sluice master` killed with SIGKILL at random moments while clients create,
//     rename and delete: every acknowledged operation survives, none is half-applied;
//   - bad input at the binary's level: a clear error, and nothing lost.
//
// Decisions:
//   - Every process listens on 127.0.0.1 only, on ports it picks itself (port 0) or
//     that the test picked free, and runs in the test's own t.TempDir(). Each started
//     process is killed in t.Cleanup; so is any executor of a `sluice local` still
//     running in its data directory once it is gone (found through /proc), which fails
//     the test, and the MEM tier directories that `sluice local` made in /dev/shm are
//     removed.
//   - The daemons' standard output and error go to files in the test's directory, not
//     pipes, so a grandchild that keeps them open cannot block a test; they and the
//     cluster's logs are printed when a test fails. A race report (-race builds) in any
//     of them fails the test.
//   - Waits poll with a deadline; nothing sleeps, and no test asserts on time.
//   - -short skips every test that runs the binary, and the build; the tests of the
//     README parser still run.
//   - SLUICE_E2E_SEED repeats the random choices of a master kill run (each run logs
//     its seed).
package e2e
