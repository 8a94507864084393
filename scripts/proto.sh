#!/usr/bin/env bash
# make proto: regenerates the Go code of every api/*.proto into api/sluicepb.
#
# protoc comes from Debian (protobuf-compiler, 3.21); the two Go plugins are built with
# `go install` at pinned versions into a cache folder outside the module, keyed by those
# versions, so the output is byte-for-byte reproducible and a warm machine pays nothing.
# The generated files are committed; `make proto && git diff --exit-code api/` checks them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned plugin versions. protoc-gen-go must match the google.golang.org/protobuf runtime in
# go.mod; protoc-gen-go-grpc v1.5.x emits code for grpc >= 1.64 (SupportPackageIsVersion9).
PROTOC_GEN_GO_VERSION="v1.36.12"
PROTOC_GEN_GO_GRPC_VERSION="v1.5.1"

if ! command -v protoc >/dev/null 2>&1; then
	echo "make proto: protoc not found; install it with: apt-get install -y protobuf-compiler" >&2
	exit 1
fi

SLUICE_CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
PLUGIN_BIN="$SLUICE_CACHE/protoc-plugins/go-$PROTOC_GEN_GO_VERSION-grpc-$PROTOC_GEN_GO_GRPC_VERSION/bin"

if [ ! -x "$PLUGIN_BIN/protoc-gen-go" ] || [ ! -x "$PLUGIN_BIN/protoc-gen-go-grpc" ]; then
	echo "installing protoc plugins into $PLUGIN_BIN (once)" >&2
	mkdir -p "$PLUGIN_BIN"
	# Build outside the module so go.mod and go.sum stay untouched.
	(cd "$PLUGIN_BIN" && GOBIN="$PLUGIN_BIN" GOFLAGS=-buildvcs=false go install \
		"google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION")
	(cd "$PLUGIN_BIN" && GOBIN="$PLUGIN_BIN" GOFLAGS=-buildvcs=false go install \
		"google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION")
fi

shopt -s nullglob
protos=(api/*.proto)
if [ ${#protos[@]} -eq 0 ]; then
	echo "make proto: no .proto files in api/" >&2
	exit 1
fi

# Stale outputs of removed .proto files would otherwise linger; generated files carry the
# .pb.go suffix, hand-written ones (doc.go, blockid.go) never do.
rm -f api/sluicepb/*.pb.go

# Every file declares go_package ".../api/sluicepb;sluicepb"; module= strips the module path
# so the output lands in api/sluicepb whatever folder the .proto files sit in.
PATH="$PLUGIN_BIN:$PATH" protoc \
	--proto_path=api \
	--go_out=. --go_opt=module=github.com/sluicedata/sluice \
	--go-grpc_out=. --go-grpc_opt=module=github.com/sluicedata/sluice \
	"${protos[@]#api/}"

echo "make proto: generated $(ls api/sluicepb/*.pb.go | wc -l) files from ${#protos[@]} .proto files" >&2
