# Pinned developer tools, installed into ./bin (gitignored) so a fresh
# machine needs only Go. Bump a version here and `make tools` reinstalls it.
BUF_VERSION              := v1.75.0
PROTOC_GEN_GO_VERSION    := v1.36.11
PROTOC_GEN_GO_GRPC_VER   := v1.6.0
GRPC_GATEWAY_VERSION     := v2.33.0
OPA_VERSION              := v1.22.2
GHZ_VERSION              := v0.120.0
GRPCURL_VERSION          := v1.9.3
BENCHSTAT_VERSION        := v0.0.0-20260908200009-22c9c6c9d4da

BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

$(BIN)/.buf-$(BUF_VERSION):
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION) && touch $@
$(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION):
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION) && touch $@
$(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VER):
	GOBIN=$(BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VER) && touch $@
$(BIN)/.gateway-$(GRPC_GATEWAY_VERSION):
	GOBIN=$(BIN) go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION) \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION) && touch $@
$(BIN)/.opa-$(OPA_VERSION):
	GOBIN=$(BIN) go install github.com/open-policy-agent/opa@$(OPA_VERSION) && touch $@
$(BIN)/.ghz-$(GHZ_VERSION):
	GOBIN=$(BIN) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION) && touch $@
$(BIN)/.grpcurl-$(GRPCURL_VERSION):
	GOBIN=$(BIN) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION) && touch $@
$(BIN)/.benchstat-$(BENCHSTAT_VERSION):
	GOBIN=$(BIN) go install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION) && touch $@

GEN_TOOLS  := $(BIN)/.buf-$(BUF_VERSION) $(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION) \
	$(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VER) $(BIN)/.gateway-$(GRPC_GATEWAY_VERSION)
LINT_TOOLS := $(BIN)/.buf-$(BUF_VERSION) $(BIN)/.opa-$(OPA_VERSION)
BENCH_TOOLS := $(BIN)/.ghz-$(GHZ_VERSION) $(BIN)/.benchstat-$(BENCHSTAT_VERSION)

.PHONY: tools
tools: $(GEN_TOOLS) $(LINT_TOOLS) $(BIN)/.grpcurl-$(GRPCURL_VERSION)
