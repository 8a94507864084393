// Package miniotest starts a real MinIO server on 127.0.0.1 for the tests of S3 code.
//
// Start finds the MinIO binary that `make test` builds from the Go module proxy (see
// scripts/tools.sh): first $SLUICE_MINIO_BIN, then the version-keyed cache folder that
// the script fills, then $PATH. Without a binary a test skips with a message saying how
// to get one, except under CI=true, where it fails: no test silently skips in CI.
//
// Each Server runs in its own temporary directory with random root credentials, binds
// its API and console to loopback ports only, and has every outbound feature turned
// off (update check, call-home, browser), so no traffic leaves 127.0.0.1. It stops when
// the test that started it ends (SIGTERM, then SIGKILL after a grace period).
//
// Reading the environment is allowed here: this is a test harness, not a library.
package miniotest
