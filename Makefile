# stagekit build and test entry points. `make help` lists them.
#
# Conventions: every target is phony; tools live in ./bin (scripts/setup.sh);
# browser tests run in Debian's Chromium through scripts/chromium-wrapper.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
ROOT    := $(CURDIR)
BIN     := $(ROOT)/bin
SDK     := web/sdk
GOROOT_ := $(shell $(GO) env GOROOT)

# Native tests: packages under RACE_PKGS run with -race (worth it for the
# concurrent server code; see `make test-native` timing in the report), all
# other packages without it. Set RACE= to turn -race off.
RACE        ?= -race
RACE_PKGS   ?= ./server/... ./client/... ./internal/...
GO_TEST_FLAGS ?= -count=1
TEST_TIMEOUT  ?= 10m

# js/wasm tests run in headless Chromium through scripts/wasmtest.sh, which
# starts bin/stageserver for them (STAGEKIT_URL, STAGEKIT_API_KEY).
WASM_TEST_PKGS ?= ./jsbridge/... ./client/... ./wasm/...
WASMTEST := $(ROOT)/scripts/wasmtest.sh
# Packages that are compiled to js/wasm (the SDK and what it imports): vetted
# with GOOS=js GOARCH=wasm too, test files included.
WASM_VET_PKGS ?= ./jsbridge/... ./client/... ./protocol/... ./stage/... ./wasm/...

BENCHTIME ?= 1s
# Load benchmarks that do one big run per iteration: run with -benchtime=1x.
BENCH_ONCE_PKGS ?= ./bench ./client/media
FUZZTIME  ?= 10s
DEMO_ADDR ?= 127.0.0.1:8080
DEMO_DATA ?= .cache/demo-data

.PHONY: help setup build build-server build-wasm test vet test-native test-wasm \
	test-e2e bench bench-native bench-wasm demo fuzz clean

help:
	@echo 'make setup     install chromium, brotli, wasmbrowsertest (bin/), npm devDependencies'
	@echo 'make build     bin/stageserver and the wasm SDK into $(SDK)/'
	@echo 'make test      setup + build + vet (gofmt, go mod tidy, go vet) + native tests (-race: $(RACE_PKGS)) + wasm tests + e2e'
	@echo 'make bench     benchmarks, native and js/wasm (in Chromium)'
	@echo 'make demo      build, then run bin/stageserver -demo on $(DEMO_ADDR)'
	@echo 'make cluster   build, then PostgreSQL, Redis and three -cluster nodes on 127.0.0.1:8081-8083'
	@echo 'make fuzz      each Fuzz target for FUZZTIME=$(FUZZTIME)'
	@echo 'make clean     remove build output'

setup:
	@scripts/setup.sh

# --- build ---------------------------------------------------------------

build: build-server build-wasm

build-server:
	$(GO) build -trimpath -o bin/stageserver ./cmd/stageserver

# The SDK: the wasm (raw, gzip -9, brotli -q 11), Go's wasm_exec.js, jsbridge's
# shim as a module the loader imports (jsbridge-shim.js), and the JS entry points with their
# typings (web/*.js, web/*.d.ts).
build-wasm:
	@command -v brotli >/dev/null || { echo 'brotli not found: run make setup' >&2; exit 1; }
	@mkdir -p $(SDK)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o $(SDK)/stagekit.wasm ./wasm
	@# recompress only when the wasm's content changed (sha256 stamp in .cache/)
	@w=$(SDK)/stagekit.wasm; stamp=.cache/stagekit.wasm.sha256; mkdir -p .cache; \
	sum=$$(sha256sum $$w | cut -d' ' -f1); \
	if [ "$$(cat $$stamp 2>/dev/null)" != "$$sum" ] || [ ! -f $$w.gz ] || [ ! -f $$w.br ]; then \
		echo "gzip -9, brotli -q 11: $$w"; \
		gzip -9 -n -k -f $$w && brotli -q 11 -k -f $$w && echo "$$sum" > $$stamp; \
	fi
	cp -f "$(GOROOT_)/lib/wasm/wasm_exec.js" $(SDK)/wasm_exec.js
	@# jsbridge's JS half as a file that stagekit.js imports (no eval needed)
	{ echo '// Generated from jsbridge/shim.js by make build-wasm; stagekit.js imports it.'; \
		echo 'globalThis.__stagekitJSBridge = ('; cat jsbridge/shim.js; echo ');'; \
		echo 'export default globalThis.__stagekitJSBridge;'; } > $(SDK)/jsbridge-shim.js
	cp -f $(wildcard web/*.js web/*.d.ts) $(SDK)/
	@ls -l $(SDK) | awk 'NR>1 {printf "  %-22s %10d bytes\n", $$9, $$5}'

# --- test ----------------------------------------------------------------

test: setup build vet test-native test-wasm test-e2e

# gofmt over the Go files the go tool sees (not _x/, .x/ or testdata/; not
# third_party/, which is upstream's code plus a checked patch), go mod tidy a
# no-op, third_party/pion-webrtc upstream + its patch, then go vet natively
# and for js/wasm.
vet:
	@if ! $(GO) mod tidy -diff >/dev/null 2>&1; then echo "go mod tidy would change go.mod/go.sum:"; $(GO) mod tidy -diff; exit 1; fi
	@scripts/pion-webrtc.sh check
	@unformatted=$$(git ls-files -co --exclude-standard '*.go' | grep -v -E '(^|/)[_.][^/]*/|(^|/)testdata/|^third_party/' | xargs -r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet $(WASM_VET_PKGS)

test-native:
	@race_list=$$($(GO) list $(RACE_PKGS) 2>/dev/null || true); \
	rest=$$($(GO) list ./... | grep -v -x -F -e "$${race_list:-/nonexistent}" || true); \
	if [ -n "$$rest" ]; then \
		echo "go test $(GO_TEST_FLAGS) (native)"; \
		$(GO) test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) $$rest; \
	fi; \
	if [ -n "$$race_list" ]; then \
		echo "go test $(RACE) $(GO_TEST_FLAGS) $(RACE_PKGS)"; \
		$(GO) test $(RACE) $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) $$race_list; \
	fi
	@# the browser build's candidate lines in the pion/webrtc patch, against pion/ice
	cd third_party/pion-webrtc && $(GO) test $(GO_TEST_FLAGS) -run Candidate .

test-wasm:
	STAGEKIT_SERVER_BIN=$(BIN)/stageserver GOOS=js GOARCH=wasm \
		$(GO) test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) -exec $(WASMTEST) $(WASM_TEST_PKGS)

test-e2e:
	STAGEKIT_SERVER_BIN=$(BIN)/stageserver CHROMIUM=/usr/bin/chromium node --test e2e/

# --- bench ---------------------------------------------------------------

bench: bench-native bench-wasm bench-browser bench-media

# The browser SDK's figures: wasm size and what each dependency costs
# (bench/wasmsize), then in headless Chromium against bin/stageserver on
# loopback: init→join cold and warm, and a stage call's round trip from JS
# beside the native client's (bench/browser, bench/roundtrip).
.PHONY: bench-browser
bench-browser: setup build
	$(GO) run ./bench/wasmsize -sdk $(SDK)
	node bench/browser/run.mjs --trace .cache/bench-browser/cold-trace.json

# Media: stage.join() → first frame decoded by another participant, in
# Chromium on loopback (BENCH_RUNS runs, default 20).
.PHONY: bench-media
bench-media: setup build
	node bench/browser-media/bench.mjs

bench-native:
	@pkgs=$$(scripts/list-tests.sh bench); \
	once=$$(printf '%s\n' $$pkgs | grep -x -F -f <(printf '%s\n' $(BENCH_ONCE_PKGS)) || true); \
	rest=$$(printf '%s\n' $$pkgs | grep -v -x -F -f <(printf '%s\n' $(BENCH_ONCE_PKGS)) || true); \
	if [ -z "$$pkgs" ]; then echo 'bench-native: no native benchmarks'; fi; \
	if [ -n "$$rest" ]; then $(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) $$rest; fi; \
	if [ -n "$$once" ]; then $(GO) test -run='^$$' -bench=. -benchmem -benchtime=1x -timeout 30m $$once; fi

bench-wasm: setup build-server
	@pkgs=$$(scripts/list-tests.sh bench-js); \
	if [ -n "$$pkgs" ]; then \
		STAGEKIT_SERVER_BIN=$(BIN)/stageserver GOOS=js GOARCH=wasm \
			$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -exec $(WASMTEST) $$pkgs; \
	else echo 'bench-wasm: no js/wasm benchmarks'; fi

# --- soak ----------------------------------------------------------------

# The bounded soak (issue 11), not part of `make test`: one bin/stageserver,
# 2 hosts and STAGEKIT_SOAK_VIEWERS (1000) viewers with random stage actions,
# cuts, black holes and restarts for STAGEKIT_SOAK_DURATION (10m), then every
# client's view compared with the server's. See soak/main.go for the rest of
# its STAGEKIT_SOAK_* settings. Exits non-zero on FAIL.
.PHONY: soak
soak: build-server
	STAGEKIT_SOAK_SERVER="$${STAGEKIT_SOAK_SERVER:-$(BIN)/stageserver}" $(GO) run ./soak

# --- demo ----------------------------------------------------------------

demo: build
	@mkdir -p $(DEMO_DATA)
	@echo "stagekit demo: http://$(DEMO_ADDR)/demo/   (Ctrl-C stops it)"
	bin/stageserver -demo -addr $(DEMO_ADDR) -data $(DEMO_DATA)

# --- cluster -------------------------------------------------------------

# Three nodes of a cluster on loopback for a person to try (README: "Running
# a cluster"): a throwaway PostgreSQL and redis-server, then bin/stageserver
# -cluster on 127.0.0.1:8081-8083. Ctrl-C stops everything.
.PHONY: cluster
cluster: setup build
	$(GO) run ./cmd/stagecluster -nodes 3 -base-port 8081

# --- fuzz ----------------------------------------------------------------

# Runs every `func FuzzXxx(f *testing.F)` of native test files for FUZZTIME.
fuzz:
	@targets=$$(scripts/list-tests.sh fuzz); \
	if [ -z "$$targets" ]; then echo 'fuzz: no Fuzz targets'; exit 0; fi; \
	while read -r dir fn; do \
		echo "fuzz $$dir $$fn ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) "$$dir"; \
	done <<< "$$targets"

clean:
	rm -rf $(SDK) bin/stageserver .cache/demo-data .cache/stagekit.wasm.sha256
