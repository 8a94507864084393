#!/usr/bin/env bash
# make test: installs what the tests need, then runs go vet and go test -race over the
# whole module, integration tests included. Under CI=true a missing prerequisite fails
# the run; elsewhere the tests that need it skip and say how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh

if minio=$(ensure_minio); then
	export SLUICE_MINIO_BIN="$minio"
	echo "minio: $minio"
elif [ "${CI:-}" = "true" ]; then
	echo "make test: could not build MinIO (needed by the S3 tests)" >&2
	exit 1
else
	echo "make test: could not build MinIO; the S3 tests will skip" >&2
fi

if nomad=$(ensure_nomad); then
	export SLUICE_NOMAD_BIN="$nomad"
	echo "nomad: $nomad"
elif [ "${CI:-}" = "true" ]; then
	echo "make test: could not build Nomad (needed by the Nomad tests)" >&2
	exit 1
else
	echo "make test: could not build Nomad; the Nomad tests will skip" >&2
fi

go vet ./...
go test -race -timeout 30m ${TESTFLAGS:-} ./...
