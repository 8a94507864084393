// Package nomadtest starts a real Nomad dev agent (`nomad agent -dev`) on 127.0.0.1 for
// the tests of the Nomad backend and of `sluice framework nomad`.
//
// The binary is the Nomad v1.6.1 that `make test` builds from the Go module proxy (see
// scripts/tools.sh): first $SLUICE_NOMAD_BIN, then the version-keyed cache folder that
// the script fills, then $PATH. Without a binary a test skips with a message saying how
// to get one, except under CI=true, where it fails: no test silently skips in CI.
//
// Each Agent runs with the project's loopback-only configuration, scripts/nomad-dev.hcl
// (found by walking up from the working directory to the module root), plus a second
// configuration file written at start that moves its HTTP, RPC and Serf ports to free
// loopback ports and gives it a dynamic-port window of its own, so the agents of test
// packages running in parallel do not collide. Every address is 127.0.0.1 and the
// cloud, Consul and Vault fingerprinters are denied: no traffic leaves the machine.
// Its data directory is a fresh temporary directory.
//
// Start returns an agent for one test and stops it when the test ends. Starting an
// agent costs a few seconds, so a package with many tests shares one: Shared starts it
// on first use and StopShared, called from TestMain after m.Run, stops it. StartWith
// takes Options (FastHeartbeats: a silent node is down within seconds). AddClient joins
// one more client node to an agent (Nomad sees another host: distinct_hosts, node
// constraints), and Client.Crash kills that node's agent alone, so that its
// allocations are lost as with a machine cut off. Stopping
// sends SIGINT, then SIGKILL after a grace period, then kills whatever the agent left
// behind (its plugin processes and the tasks it ran, found by the data directory in
// their environment), and removes the data directory unless something is still
// mounted inside it (the exec driver's chroots).
//
// Reading the environment is allowed here: this is a test harness, not a library.
package nomadtest
