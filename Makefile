# Everything a fresh machine with Go needs: `make run` and `make test`.
GO       ?= go
PKGS     ?= ./...
BENCH    ?= .
BENCHTIME ?= 1s

.PHONY: run test test-alone test-modules faults e2e fmt vet bench cover benchcheck loadtest loadtest-profile

## run: start the demo on :8080 (ADDR overrides), on REDIS_URL or an embedded miniredis.
## Built, then run, rather than `go run`: go run exits 1 when interrupted even
## if the program exits 0, and Ctrl-C is how the demo is meant to end. The
## demo is a module of its own (examples/demo/go.mod), so its OpenTelemetry
## and Prometheus never enter the library's go.mod.
run:
	$(GO) -C examples/demo build -o $(CURDIR)/bin/demo .
	./bin/demo

## test: gofmt check, go vet, the race-enabled test suite, and the allocation
## budgets (they skip under -race, which changes allocation counts)
test: fmt vet
	$(GO) test -race -count=1 $(PKGS)
	$(GO) test -count=1 -run 'AllocationBudget' $(PKGS)

## test-modules: vet and the race-enabled tests of the modules beside the
## library (the otel module, the demo), on REDIS_URL or the embedded miniredis
MODULES ?= otel examples/demo
test-modules:
	@for m in $(MODULES); do \
	  echo "== $$m"; \
	  (cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 ./...) || exit 1; \
	done

## test-alone: every test and subtest in a process of its own (none may lean on an earlier one)
test-alone:
	bash .ci/alone $(filter-out ./...,$(PKGS))

## faults: the fault suite (internal/faulttest): a redis-server of its own,
## paused, killed and restarted under load from every package, once per
## client mode; prints what it injected and saw per phase. Needs
## redis-server on PATH (fails without it); `make test` skips it. No race
## detector: the suite measures wall-clock recovery, and the packages'
## races are `make test`'s job.
faults:
	FAULTS=1 $(GO) test -count=1 -v -timeout 10m ./internal/faulttest

## e2e: the demo driven by headless Chromium (Debian package chromium) through
## every panel; a module of its own, so chromedp stays out of the library's go.mod.
## On REDIS_URL when it is set, the embedded store otherwise.
e2e:
	cd examples/demo/e2e && $(GO) vet ./... && $(GO) test -count=1 -v -timeout 5m ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## bench: benchmarks with allocation counts
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) $(PKGS)

## cover: coverage profile and per-function summary
cover:
	$(GO) test -count=1 -coverprofile=coverage.out $(PKGS)
	$(GO) tool cover -func=coverage.out | tail -1

## benchcheck: vet benchmarks/ (its own module), run its tests and each of its
## micro-benchmarks once, so they cannot rot (CI; not the load test)
benchcheck:
	cd benchmarks && $(GO) vet ./... && $(GO) test -count=1 -bench . -benchtime=1x ./...

# The load test: wrk against benchmarks/cmd/rwserver, redisware and the Go
# peers side by side. Needs REDIS_URL; installs wrk (Debian) when missing.
# LOADTEST_FLAGS passes flags to the runner, e.g. -rounds 1 -duration 3s
# -scenarios session-read,session-write.
LOADTEST_OUT   ?= loadtest-out
LOADTEST_FLAGS ?=
PROFILE_CELLS  ?= ratelimit-allow/redisware,session-read/redisware,session-write/redisware,cache-hit-1k/redisware

.PHONY: wrk
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "loadtest: wrk missing; installing it with apt-get"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }

## loadtest: measure every scenario (3 interleaved rounds), print the table,
## write $(LOADTEST_OUT)/loadtest.{md,json} and the chart BENCHMARKS.svg
loadtest: wrk
	@test -n "$(REDIS_URL)" || { echo "loadtest: set REDIS_URL, e.g. redis://127.0.0.1:6379/0"; exit 1; }
	cd benchmarks && $(GO) run ./cmd/loadtest -out $(abspath $(LOADTEST_OUT)) -chart $(abspath BENCHMARKS.svg) $(LOADTEST_FLAGS)

## loadtest-profile: CPU and allocation profiles of the server under the same
## load for PROFILE_CELLS, into $(LOADTEST_OUT)/profiles
loadtest-profile: wrk
	@test -n "$(REDIS_URL)" || { echo "loadtest: set REDIS_URL, e.g. redis://127.0.0.1:6379/0"; exit 1; }
	cd benchmarks && $(GO) run ./cmd/loadtest -out $(abspath $(LOADTEST_OUT)) -profile $(PROFILE_CELLS) $(LOADTEST_FLAGS)
