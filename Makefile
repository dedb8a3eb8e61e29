# Archway's developer entry points. `make help` lists them.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BUF := go tool -modfile=tools/go.mod buf
GOLANGCI_LINT := go tool -modfile=$(CURDIR)/tools/go.mod golangci-lint
# The branch that `buf breaking` compares the protos against.
BREAKING_AGAINST ?= main
GO_TEST_FLAGS ?= -race -count=1 -timeout=15m
# The Go modules of the repository: the root one, which library users import, and the nested
# ones that keep the harness's, the manifests tests' and the browser tests' dependencies out of
# it (tools/go.mod holds no package). `make test` and `make lint` run in each.
GO_MODULES := . bench deploy internal/browsertest

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

third_party/.fetched: tools/fetch-protos.sh tools/third_party.sha256
	./tools/fetch-protos.sh

.PHONY: third_party
third_party: third_party/.fetched ## Fetch and verify the third-party protos into third_party/

.PHONY: generate
generate: third_party/.fetched ## Regenerate gen/ and openapi/ from proto/, the test APIs in internal/testapi/ and their descriptor set
	$(BUF) format -w
	$(BUF) generate
	$(BUF) generate --template buf.gen.testapi.yaml
	$(BUF) build --path internal/testapi/proto/acme -o integration/testdata/warehouse.binpb
	go run ./internal/cmd/openapidoc -v2 openapi/v2/archway.swagger.json -v3 openapi/v3

.PHONY: check-generated
check-generated: generate ## Fail if gen/, openapi/ or internal/testapi/ differ from what the committed protos generate
	@if [ -n "$$(git status --porcelain -- gen openapi proto internal/testapi integration/testdata)" ]; then \
		git status --porcelain -- gen openapi proto internal/testapi integration/testdata; \
		echo "proto/, gen/, openapi/ or internal/testapi/ differ from the committed tree after 'make generate':" >&2; \
		echo "the generated files are stale or not committed yet; commit them with the protos" >&2; exit 1; \
	fi

.PHONY: lint
lint: third_party/.fetched ## Run go vet, golangci-lint, buf lint, buf format and buf breaking
	for m in $(GO_MODULES); do go -C $$m vet ./... || exit 1; done
	for m in $(GO_MODULES); do (cd $$m && $(GOLANGCI_LINT) run ./...) || exit 1; done
	$(BUF) lint
	$(BUF) format --exit-code -d
	./tools/buf-breaking.sh "$(BREAKING_AGAINST)"

.PHONY: test
test: ## Run every test (unit and integration) of every module, the integration suite again on the descriptor path, then grpc-gateway's example suite against Archway
	for m in $(GO_MODULES); do go -C $$m test $(GO_TEST_FLAGS) ./... || exit 1; done
	$(MAKE) test-integration-descriptors
	$(MAKE) test-grpc-gateway

.PHONY: test-integration-descriptors
test-integration-descriptors: ## Run the integration suite with the storefront loaded from a descriptor set, translated without its generated handlers
	ARCHWAY_TEST_STOREFRONT=descriptors go test -count=1 -timeout=15m ./integration/

# The configurations of integration/grpcgateway/testdata/configs that the suite runs in.
GGSUITE_CONFIGS ?= defaults grpc-gateway

.PHONY: test-grpc-gateway
test-grpc-gateway: ## Run grpc-gateway's example integration suite against Archway (docs/grpc-gateway-suite.md)
	go run ./integration/grpcgateway $(addprefix -config ,$(GGSUITE_CONFIGS))

BENCH_OUT ?= results/$(shell date -u +%Y%m%dT%H%M%SZ)

.PHONY: bench
bench: ## Run the load harness against every target (several minutes); report in results/<time>/
	go -C bench build -o ../bin/archway-bench ./cmd/archway-bench
	bin/archway-bench -out $(BENCH_OUT)

.PHONY: bench-quick
bench-quick: ## Run the load harness with short runs (under 3 minutes), as CI does
	go -C bench build -o ../bin/archway-bench ./cmd/archway-bench
	bin/archway-bench -quick -out $(BENCH_OUT)

.PHONY: bench-micro
bench-micro: ## Run the hot-path Go micro-benchmarks (benchstat-friendly output)
	go test -run '^$$' -bench . -benchmem -count 6 ./gateway/

.PHONY: build
build: ## Build the archway and storefront binaries into bin/
	go build -o bin/ ./cmd/...

.PHONY: certs
certs: ## Write a throwaway CA and server/client certificates to certs/ for trying TLS locally
	go run ./internal/cmd/certs -out certs

.PHONY: run
run: ## Run the gateway with the embedded demo backends on :8080
	go run ./cmd/archway
