#!/usr/bin/env bash
# Builds the external servers the tests use from the Go module proxy into a cache folder
# outside the module, keyed by version, so a warm machine pays nothing and a cold one pays
# the build once. Source it, then call ensure_minio or ensure_nomad; each prints the
# binary's path.
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

# Nomad: v1.6.1 is the last MPL-2.0 release that builds here (see DEPENDENCIES.md); it needs
# four replace directives, so it is built from a throwaway module under the cache folder.
NOMAD_VERSION="v1.6.1"

ensure_nomad() {
	local dir="$SLUICE_CACHE/nomad-$NOMAD_VERSION"
	if [ -x "$dir/bin/nomad" ]; then
		echo "$dir/bin/nomad"
		return 0
	fi
	echo "building Nomad $NOMAD_VERSION into $dir (once; about 4 minutes cold)" >&2
	local tmp
	tmp=$(mktemp -d "$SLUICE_CACHE/.nomad-build.XXXXXX" 2>/dev/null || { mkdir -p "$SLUICE_CACHE" && mktemp -d "$SLUICE_CACHE/.nomad-build.XXXXXX"; })
	cat >"$tmp/go.mod" <<GOMOD
module nomadbuild
go 1.26
require github.com/hashicorp/nomad $NOMAD_VERSION
replace (
	github.com/Microsoft/go-winio => github.com/endocrimes/go-winio v0.4.13-0.20190628114223-fb47a8b41948
	github.com/hashicorp/hcl => github.com/hashicorp/hcl v1.0.1-0.20201016140508-a07e7d50bbee
	github.com/armon/go-metrics => github.com/armon/go-metrics v0.0.0-20230509193637-d9ca9af9f1f9
	github.com/hashicorp/nomad/api => github.com/hashicorp/nomad/api v0.0.0-20230721134942-515895c7690c
)
GOMOD
	# GOWORK=off and GOFLAGS=-mod=mod keep a surrounding workspace or vendor folder out of it.
	if ! (cd "$tmp" && GOWORK=off GOFLAGS=-buildvcs=false go build -mod=mod -trimpath -ldflags "-s -w" \
		-o "$tmp/bin/nomad" github.com/hashicorp/nomad) >&2; then
		rm -rf "$tmp"
		return 1
	fi
	mkdir -p "$dir"
	rm -rf "$dir/bin"
	mv "$tmp/bin" "$dir/bin"
	rm -rf "$tmp"
	echo "$dir/bin/nomad"
}
