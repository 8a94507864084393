// Package mesos is the Mesos framework for Sluice: a scheduler.Backend on the Mesos v1
// scheduler HTTP API and the executor adapter that runs `sluice executor` under the Mesos v1
// executor API.
//
// The Mesos issue builds it.
package mesos
