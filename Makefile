# onair: `make run` builds and starts the server; `make test` runs every test.
GO      ?= go
BIN     := bin/onair
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test vet fuzz bench deps clean

all: build

## deps: install the system programs onair and its tests use (ffmpeg), if missing
deps:
	@bash scripts/deps.sh

## build: build bin/onair
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/onair

## run: build and start onair with its defaults (data in ./data)
run: deps build
	./$(BIN) serve

## vet: static checks
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

## test: unit and end-to-end tests (the e2e tests build and start the real binary)
test: deps vet
	$(GO) test -race -count=1 -timeout 25m ./...

## fuzz: run every fuzz target for FUZZTIME each (default 15s)
FUZZTIME ?= 15s
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

## bench: Go benchmarks (figures go to docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./internal/...

clean:
	rm -rf bin
