# Miksilo — the two commands that matter on a fresh Debian 12 machine: `make run` and `make test`.
SHELL := /bin/bash
# The official Go toolchain lives here on Debian machines set up per the README.
export PATH := $(PATH):/usr/local/go/bin
GO    ?= go
BIN   := bin/miksilo
ADDR  ?= 127.0.0.1:8888
FUZZTIME ?= 15s

.PHONY: all build run deps test-deps test test-go test-fuzz test-compat test-browser fuzz bench soak docs vet clean

all: build

## deps: install missing system packages for building and running (silent when all are present)
deps:
	@scripts/install-deps.sh

## build: compile the server to bin/miksilo
build:
	$(GO) build -o $(BIN) ./server/cmd/miksilo

## run: install what is missing, build, start the server on loopback
run: deps build
	$(BIN) -addr $(ADDR)

## test-deps: install what the tests need (system packages, npm modules)
test-deps:
	@scripts/install-deps.sh --test

## test: every test: vet, Go tests (race), a short fuzz run, the kurento-client compatibility suite,
## the browser end-to-end suite
test: test-deps vet test-go test-fuzz test-compat test-browser

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 ./...

test-fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

test-compat: build
	@scripts/test-compat.sh

## test-browser: Chromium (kurento-utils + kurento-client pages) against the WebRtcEndpoint, in a
## network namespace with only lo (needs root for unshare)
test-browser: build
	@scripts/test-browser.sh

## fuzz: long fuzz run (FUZZTIME per target, default 5m)
fuzz:
	@scripts/fuzz.sh $(if $(filter command line,$(origin FUZZTIME)),$(FUZZTIME),5m)

## bench: control-plane load benchmark, the WebRTC fan-out benchmark, the Composite benchmark (writes docs/benchmarks.md), then what an idle Composite costs and what send batching saves (printed)
soak: build
	@scripts/soak.sh

bench: build
	@scripts/bench.sh
	@scripts/bench-fanout.sh
	@scripts/bench-composite.sh
	@scripts/bench-composite-idle.sh
	@scripts/bench-sendbatch.sh

## docs: regenerate the generated docs (docs/api.md, docs/configuration.md)
docs:
	MIKSILO_UPDATE_DOCS=1 $(GO) test -count=1 -run 'TestDocsUpToDate' ./...

clean:
	rm -rf bin
