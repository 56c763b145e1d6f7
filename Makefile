# patronfed — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
include tools.mk

GOMODCACHE := $(shell go env GOMODCACHE)
GATEWAY_V1 := github.com/grpc-ecosystem/grpc-gateway@v1.16.0
PROTOVALIDATE := github.com/bufbuild/protovalidate@v1.2.2

.PHONY: run test lint generate check-generate build thirdparty go-test opa-test bench bench-full clean

## run: start a private PostgreSQL under .data/, migrate, load the demo consortium, serve gRPC (127.0.0.1:9090) and REST (127.0.0.1:8080)
run: build
	./bin/patronfed dev

build:
	go build -o bin/patronfed ./cmd/patronfed

## test: lint, check that gen/ matches proto/, run the Rego tests and every Go test (real PostgreSQL, real gRPC)
test: lint check-generate opa-test go-test

go-test:
	go test -race -count=1 ./...

opa-test: $(BIN)/.opa-$(OPA_VERSION)
	opa test -v policy/rego | tail -n 3

# Third-party protos come from the Go module cache, never from a registry.
thirdparty:
	@go mod download $(GATEWAY_V1) $(PROTOVALIDATE)
	@rm -rf .thirdparty && mkdir -p .thirdparty/google/api .thirdparty/buf/validate
	@cp $(GOMODCACHE)/$(GATEWAY_V1)/third_party/googleapis/google/api/{annotations,http}.proto .thirdparty/google/api/
	@cp $(GOMODCACHE)/$(PROTOVALIDATE)/proto/protovalidate/buf/validate/validate.proto .thirdparty/buf/validate/
	@chmod -R u+w .thirdparty

generate: $(GEN_TOOLS) thirdparty
	rm -rf gen/patronfed gen/openapi/*.json
	buf generate
	gofmt -w gen

check-generate: generate
	@git add -N gen >/dev/null 2>&1 || true
	@if ! git diff --quiet -- gen; then \
		echo "gen/ is out of step with proto/: run 'make generate' and commit"; git diff --stat -- gen; exit 1; fi

lint: $(LINT_TOOLS) thirdparty
	buf lint
	@test -z "$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go'))" || { gofmt -l $$(git ls-files -co --exclude-standard '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...
	@test -z "$$(opa fmt --list policy/rego)" || { opa fmt --list policy/rego; echo "opa fmt needed"; exit 1; }
	opa check --strict policy/rego

clean:
	rm -rf bin .thirdparty

# ---------------------------------------------------------------------------
# Performance (docs/performance.md). Benchmarks never run as part of
# `make test`: `go test ./...` only compiles them; these targets run them
# (-run '^$' skips the tests). The load runs use their own durable
# PostgreSQL under $(BENCH_DIR), seeded once per size and reused.
BENCH_DIR ?= /tmp/patronfed-bench
.PHONY: bench-tools

## bench-tools: ghz, benchstat and opa (the sidecar comparison) into bin/
bench-tools: $(BENCH_TOOLS) $(BIN)/.opa-$(OPA_VERSION)

## bench: Go benchmarks (policy embedded vs an OPA sidecar over HTTP; the allocations of a GetPatron read and its audit row) and a short load run on 20 000 patrons: GetPatron vs the bare baseline and one doing its own read (view) over gRPC with ghz, search, checkout/check-in (a few minutes)
bench: bench-tools
	go test -run '^$$' -bench . -skip ColdCache -benchmem -count 6 ./bench/policybench ./policy | tee $(BENCH_DIR).go.txt
	go test -run '^$$' -bench ColdCache -benchtime 2000x -benchmem ./bench/policybench | tee -a $(BENCH_DIR).go.txt
	go test -run '^$$' -bench 'LoadView|ResourceAndContact|RowOfARead|JSONBText' -benchmem -count 6 ./patron ./audit | tee -a $(BENCH_DIR).go.txt
	benchstat $(BENCH_DIR).go.txt
	go run ./bench/loadrun -dir $(BENCH_DIR) -patrons 20000 -phases getpatron,search,circulation,holds,extract \
		-duration 10s -warmup 3s -rounds 2 -c 1,16

## bench-full: the consortium-scale runs on 1 000 000 patrons and 5 000 000 loans (seeding takes ~3 min the first time; the runs ~35 min, 13 of them the retention run at its default pace): GetPatron vs the bare and the same-read (view) baselines, search (warm, after a PostgreSQL restart with empty shared buffers, and after one with autoprewarm), circulation, reservations (a patron's holds beside GetPatron, the hold shelf list, their plans), patrons' full data extracts, anonymising sampled patrons (rolled back), GetPatron again against both baselines writing one durable row per read, retention, memory over 5 minutes
bench-full: bench-tools
	go run ./bench/loadrun -dir $(BENCH_DIR) -patrons 1000000 -phases getpatron,search,restart-empty,search,search,restart,search,circulation,holds,extract,anonymise,retention,memory \
		-duration 20s -rounds 2 -c 1,16 -out $(BENCH_DIR)/results-1000000.json
	go run ./bench/loadrun -dir $(BENCH_DIR) -patrons 1000000 -phases getpatron -baseline-write \
		-duration 20s -rounds 2 -c 1,16 -out $(BENCH_DIR)/results-1000000-writing-baseline.json
