// Package nomad is the scheduler.Backend that runs Sluice masters, executors and lineage
// jobs on a Nomad cluster through its HTTP API (github.com/hashicorp/nomad/api).
//
// The Nomad issue builds it.
package nomad
