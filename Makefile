# Everything a fresh machine with Go needs: `make run` and `make test`.
GO       ?= go
PKGS     ?= ./...
BENCH    ?= .
BENCHTIME ?= 1s

.PHONY: run test test-alone test-modules e2e fmt vet bench cover

## run: start the demo on :8080 (ADDR overrides), on REDIS_URL or an embedded miniredis.
## Built, then run, rather than `go run`: go run exits 1 when interrupted even
## if the program exits 0, and Ctrl-C is how the demo is meant to end. The
## demo is a module of its own (examples/demo/go.mod), so its OpenTelemetry
## and Prometheus never enter the library's go.mod.
run:
	$(GO) -C examples/demo build -o $(CURDIR)/bin/demo .
	./bin/demo

## test: gofmt check, go vet, the race-enabled test suite, then the
## allocation budgets, which the race detector would skew (it skips them)
test: fmt vet
	$(GO) test -race -count=1 $(PKGS)
	$(GO) test -count=1 -run Allocs $(PKGS)

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
