// Package nomad is the scheduler.Backend that runs Sluice masters, executors and lineage
// jobs on a Nomad cluster through its HTTP API (github.com/hashicorp/nomad/api).
//
// Config says how to reach the cluster (address, ACL token, region, namespace, TLS) and
// how tasks run (job prefix, driver); NewAPIClient turns it into an *api.Client.
package nomad
