GO       ?= go
PKGS     ?= ./...
BIN      ?= bin/issuer
FUZZTIME ?= 30s
# make test runs every fuzz target this long (iterations "Nx" or a duration),
# after its seed corpus (f.Add and testdata/fuzz/<target>) has passed.
FUZZTIME_SMOKE ?= 300x
# Fuzzing workers per target (-test.parallel) and packages fuzzed at once.
FUZZPAR  ?= 2
FUZZJOBS ?= 1
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

test: vet ## go vet, every test with the race detector, then every fuzz target briefly
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@$(MAKE) -s fuzz FUZZTIME=$(FUZZTIME_SMOKE) FUZZPAR=1 FUZZJOBS=2

test-short: ## quick tests (skips the static build test)
	$(GO) test -short -count=1 $(PKGS)

lint: vet ## gofmt and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest $(PKGS)

# BENCH_FLAGS: flags of cmd/issuer-bench, e.g. BENCH_FLAGS="-backends memory -flows 10000".
# The Go micro-benchmarks: go test -run '^$' -bench . -benchmem ./... (see docs/performance.md).
BENCH_FLAGS ?=
bench: ## load benchmark: the issuer on memory, then redis, with 64 wallets (docs/performance.md)
	$(GO) run ./cmd/issuer-bench $(BENCH_FLAGS)

# Each package with fuzz targets is compiled once with fuzzing
# instrumentation (go test -c -fuzz), then each target runs from the package
# directory (seed corpus: f.Add and testdata/fuzz/<target>; new inputs go to
# the go test fuzz cache). A failing input is written to testdata/fuzz.
fuzz: ## run every fuzz target for FUZZTIME (default 30s) each, starting from its seed corpus
	@set -e; export FUZZBIN=$$(mktemp -d) FUZZCACHE=$$($(GO) env GOCACHE)/fuzz; trap 'rm -rf "$$FUZZBIN"' EXIT; \
	$(GO) list -f '{{.Dir}} {{.ImportPath}}' $(PKGS) | xargs -P $(FUZZJOBS) -L 1 sh -c '\
	  targets=$$(grep -hoE "^func Fuzz[A-Za-z0-9_]+" "$$0"/*_test.go 2>/dev/null | sed "s/^func //" | sort -u); \
	  [ -n "$$targets" ] || exit 0; \
	  exe="$$FUZZBIN/$$(echo "$$1" | tr / _).test"; \
	  $(GO) test -c -fuzz . -o "$$exe" "$$0" || exit 255; \
	  cd "$$0"; for t in $$targets; do \
	    out=$$("$$exe" -test.run "^$$" -test.fuzz "^$$t$$" -test.fuzztime $(FUZZTIME) -test.parallel $(FUZZPAR) \
	      -test.fuzzcachedir "$$FUZZCACHE/$$1" 2>&1) || { printf "%s\n" "$$out"; echo "FAIL fuzz $$1 $$t"; exit 255; }; \
	    echo "ok   fuzz $$1 $$t ($(FUZZTIME))"; \
	  done'

docker: ## container image issuer:$(VERSION)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t issuer:$(VERSION) .

tidy:
	$(GO) mod tidy
