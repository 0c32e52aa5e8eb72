# onair: `make run` builds and starts the server; `make test` runs every test.
GO      ?= go
BIN     := bin/onair
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build ui run test test-postgres test-loaded vet fuzz bench deps test-deps clean

all: build

## deps: install the system programs onair uses (ffmpeg, the aws CLI), if missing
deps:
	@bash scripts/deps.sh

## test-deps: deps, and Chromium for the browser tests
test-deps:
	@bash scripts/deps.sh --test

# npm ci runs again only when the lock file changed.
WEB_STAMP := web/node_modules/.package-lock.json
$(WEB_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund

## ui: build the console and player pages (web/) into internal/webui/dist for go:embed
ui: $(WEB_STAMP)
	rm -rf internal/webui/dist/assets internal/webui/dist/*.html
	cd web && npm run build

## build: build bin/onair with the UI inside
build: ui
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/onair

## run: build and start onair with its defaults (data in ./data)
run: deps build
	./$(BIN) serve

# golangci-lint, pinned: `make vet` installs this version into bin/tools/ when it is missing
# there (a new version gets a new directory). Its checks are in .golangci.yml.
LINT_VERSION := v2.15.0
LINT         := bin/tools/golangci-lint-$(LINT_VERSION)/golangci-lint

$(LINT):
	GOBIN=$(abspath $(dir $(LINT))) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(LINT_VERSION)

## vet: static checks: go vet, gofmt, golangci-lint (installed on first use), go mod tidy
vet: $(LINT)
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(LINT) run ./...
	$(GO) mod tidy -diff

# E2E tests that run again with every server on PostgreSQL (ONAIR_TEST_STORE=postgres): a
# representative subset (API, sessions, restarts, recording, chat, stages, webhooks, floods);
# internal/store/postgres runs the store's suite on PostgreSQL in ./... already, and the cluster
# tests (TestCluster*, always on PostgreSQL) record to S3 there, so TestRecordS3 is not repeated.
POSTGRES_E2E := TestFirstStartFiles|TestKillAndRestart|TestGracefulStop|TestAWSCLIWithCredentialsFile|TestAPIBadRequests|TestStreamSessions|TestLimitBreach|TestInputQuota|TestLiveLowLatencyRTMPS|TestKillWhileRecording|TestPrivateChannel|TestChatMessaging|TestStagesWithAWSCLI|TestStageTokensVerify|TestStageEventsToWebhooksAndSSE|TestFlood

## test: unit and end-to-end tests (the e2e tests build and start the real binary), then a
## subset of the e2e tests on PostgreSQL
test: test-deps ui vet
	$(GO) test -race -count=1 -timeout 25m ./...
	ONAIR_TEST_STORE=postgres $(GO) test -race -count=1 -timeout 15m -run '^($(POSTGRES_E2E))$$' ./test/e2e/

## test-postgres: every e2e test with every server on PostgreSQL
test-postgres: test-deps ui
	ONAIR_TEST_STORE=postgres $(GO) test -race -count=1 -timeout 25m ./test/e2e/

## test-loaded: make test while stress-ng keeps every processor busy (STRESS: its load options);
## the suite must pass on a loaded machine as on a quiet one. stress-ng is stopped by its PID.
STRESS ?= --cpu 0
test-loaded: test-deps
	@stress-ng $(STRESS) --quiet & pid=$$!; trap 'kill $$pid; wait $$pid 2>/dev/null' EXIT; \
		start=$$(date +%s); echo "test-loaded: stress-ng $(STRESS) (pid $$pid)"; \
		$(MAKE) test; rc=$$?; echo "test-loaded: make test exited $$rc after $$(( $$(date +%s) - start )) s"; exit $$rc

## fuzz: run every fuzz target for FUZZTIME each (default 15s)
FUZZTIME ?= 15s
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

## bench: Go benchmarks, then bench/ against a fresh onair (appends to docs/benchmarks.md)
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./internal/...
	$(GO) run ./bench -onair $(BIN) -append docs/benchmarks.md

clean:
	rm -rf bin
