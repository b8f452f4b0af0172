GO       ?= go
PKGS     ?= ./...
BIN      ?= bin/issuer
FUZZTIME ?= 30s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)

# The release build. The Dockerfile builds with `make build`, and
# cmd/issuer's TestStaticBuild runs the same target, so these flags live here
# only.
LDFLAGS     ?= -s -w
BUILD_FLAGS  = -trimpath -ldflags "$(LDFLAGS) -X main.version=$(VERSION) -X main.commit=$(COMMIT)"

.PHONY: help build run test test-short lint vet bench fuzz docker tidy

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

build: ## static binary in $(BIN) (CGO_ENABLED=0, trimmed, stripped)
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o $(BIN) ./cmd/issuer

run: ## development issuer on http://localhost:8080 (embedded config, memory store)
	$(GO) run ./cmd/issuer

vet: ## go vet
	$(GO) vet $(PKGS)

test: vet ## go vet, then every test with the race detector
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-short: ## quick tests (skips the static build test)
	$(GO) test -short -count=1 $(PKGS)

lint: vet ## gofmt and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest $(PKGS)

# BENCH_FLAGS: flags of cmd/issuer-bench, e.g. BENCH_FLAGS="-backends memory -flows 3000".
# The Go micro-benchmarks: go test -run '^$' -bench . -benchmem ./... (see docs/performance.md).
BENCH_FLAGS ?=
bench: ## load benchmark: the issuer on memory, then redis, with 64 wallets (docs/performance.md)
	$(GO) run ./cmd/issuer-bench $(BENCH_FLAGS)

fuzz: ## run every fuzz target for FUZZTIME (default 30s) each
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

docker: ## container image issuer:$(VERSION)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t issuer:$(VERSION) .

tidy:
	$(GO) mod tidy
