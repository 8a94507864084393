# Sluice build entry points. `make test` is what CI (.ci/run) runs on a clean clone.
GO ?= go
SHELL := bash

.PHONY: all build test bench vet proto clean nomad-dev

all: build

build:
	$(GO) build ./...
	$(GO) build -o bin/sluice ./cmd/sluice

# Installs what the tests need (MinIO and Nomad built from the Go module proxy into a cache
# folder outside the module), then go vet and go test -race over everything.
test:
	./scripts/test.sh

# Runs the loopback-only Nomad dev agent the tests use (scripts/nomad-dev.hcl, fixed ports
# 14646-14648) in the foreground, for trying `sluice framework nomad` by hand. Ctrl-C stops it.
nomad-dev:
	"$$(. scripts/tools.sh && ensure_nomad)" agent -dev -bind 127.0.0.1 -config scripts/nomad-dev.hcl

vet:
	$(GO) vet ./...

# Regenerates api/sluicepb from every api/*.proto (protoc from Debian, pinned plugins via
# go install into a cache folder); the generated code is committed.
proto:
	./scripts/proto.sh

# Benchmarks: figures stand beside their references measured in the same run.
BENCH ?= .
BENCHTIME ?= 3x
bench:
	SLUICE_MINIO_BIN="$$(. scripts/tools.sh && ensure_minio)" \
		$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) ./blocks/... ./ufs/... ./internal/clusterbench/... ./client/... ./executor/...

clean:
	rm -rf bin
