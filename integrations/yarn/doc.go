// Package yarn is the scheduler.Backend that runs Sluice as a YARN service through the
// YARN Services REST API (/app/v1/services).
//
// A later issue builds it.
package yarn
