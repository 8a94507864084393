// Package client is the Go SDK for Sluice used by the CLI, jobs and integrations: the file
// API (create, open, read, list, rename, …) with write and read types, remote streams and
// short-circuit access to executors on the same host.
//
// It imports only package api. The working-cluster issue builds it.
package client
