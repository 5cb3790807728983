# Everything a fresh machine with Go needs: `make run` and `make test`.
GO       ?= go
PKGS     ?= ./...
BENCH    ?= .
BENCHTIME ?= 1s

.PHONY: run test test-alone faults e2e fmt vet bench cover

## run: start the demo on :8080 (ADDR overrides), on REDIS_URL or an embedded miniredis.
## Built, then run, rather than `go run`: go run exits 1 when interrupted even
## if the program exits 0, and Ctrl-C is how the demo is meant to end.
run:
	$(GO) build -o bin/demo ./examples/demo
	./bin/demo

## test: gofmt check, go vet and the race-enabled test suite
test: fmt vet
	$(GO) test -race -count=1 $(PKGS)

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
