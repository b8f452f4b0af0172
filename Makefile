GO       ?= go
PKGS     ?= ./...
LDFLAGS  ?= -s -w
BIN      ?= bin/issuer

.PHONY: build run test test-short lint vet bench fuzz tidy

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/issuer

run:
	$(GO) run ./cmd/issuer

vet:
	$(GO) vet $(PKGS)

test: vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz:
	@echo "fuzz targets are run per package; see README"

tidy:
	$(GO) mod tidy
