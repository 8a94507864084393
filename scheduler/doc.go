// Package scheduler is the framework scheduler core: the desired cluster of masters and
// executors, the reconcile loop that relaunches lost tasks, the job queue, and the Backend
// interface that every cluster manager driver (local, nomad, mesos, yarn) implements.
//
// It knows nothing of the master: it talks to it only through the api package. The Nomad
// issue builds it.
package scheduler
