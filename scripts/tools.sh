#!/usr/bin/env bash
# Builds the external servers the tests use from the Go module proxy into a cache folder
# outside the module, keyed by version, so a warm machine pays nothing and a cold one pays
# the build once. Source it, then call ensure_minio; it prints the binary's path.
set -euo pipefail

SLUICE_CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"

# MinIO: the version `@latest` gave on 2026-11-21, pinned so caches stay valid.
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

ensure_minio() {
	local dir="$SLUICE_CACHE/minio-$MINIO_VERSION"
	if [ -x "$dir/bin/minio" ]; then
		echo "$dir/bin/minio"
		return 0
	fi
	echo "building MinIO $MINIO_VERSION into $dir (once; about 5 minutes cold)" >&2
	local tmp
	tmp=$(mktemp -d "$SLUICE_CACHE/.minio-build.XXXXXX" 2>/dev/null || { mkdir -p "$SLUICE_CACHE" && mktemp -d "$SLUICE_CACHE/.minio-build.XXXXXX"; })
	if ! (cd "$tmp" && GOBIN="$tmp/bin" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" \
		"github.com/minio/minio@$MINIO_VERSION") >&2; then
		rm -rf "$tmp"
		return 1
	fi
	mkdir -p "$dir"
	rm -rf "$dir/bin"
	mv "$tmp/bin" "$dir/bin"
	rm -rf "$tmp"
	echo "$dir/bin/minio"
}
