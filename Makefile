# pwru-record / pwru-replay. `make help` lists the targets.
GO      ?= go
KERNEL  ?= all
RUN     ?= .
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help deps deps-check test unit duckdbtest vmtest vmtest-filters kernel-matrix lint generate check-generate fuzz bench vmbench build cross demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

deps: ## install the Debian packages the build and the VM tests need (root)
	./scripts/install-deps.sh

demo: ## the main job: record ping in a VM (good, then with a drop rule), analyze it; captures in demo-out/
	./scripts/demo.sh

test: deps unit vmtest ## everything CI runs: install what is missing, lint, unit tests, VM end-to-end tests

unit: lint check-generate deps-check ## host tests: format, analyzer, filters (no kernel needed), then duckdbtest
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) duckdbtest

DUCKDBTEST := analyze/export/duckdbtest

duckdbtest: ## the Parquet export read back with real DuckDB (own module, cgo; pwru-replay never links it)
	@! CGO_ENABLED=0 $(GO) list -deps ./cmd/pwru-replay | grep -q duckdb || (echo "duckdbtest: pwru-replay links DuckDB"; exit 1)
	cd $(DUCKDBTEST) && CGO_ENABLED=1 $(GO) test -count=1 -timeout 20m ./...

vmtest: ## real-kernel end-to-end tests in qemu (KERNEL=5.10|6.1|6.12|latest|all, comma lists too; RUN=regex)
	$(GO) test -tags vmtest -count=1 -timeout 80m -v ./vmtest/ -run '$(RUN)' -args -kernels=$(KERNEL)

RESULTS ?= .cache/vmtest/results.json
kernel-matrix: ## rewrite README.md's kernel matrix from the last vmtest run's results (RESULTS=.cache/vmtest/results.json)
	$(GO) run ./vmtest/kernelmatrix -results '$(RESULTS)' -readme README.md

vmtest-filters: ## injected pcap/skb/xdp filters loaded by real kernel verifiers (KERNEL=5.10|6.1|6.12|latest|all)
	$(GO) test -tags vmtest -count=1 -timeout 40m -v ./internal/bpffilter/verify/ -run TestVerifier $(if $(filter-out all,$(KERNEL)),-args -kernels=$(KERNEL))

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfe[lb]\.go$$'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet ./...
	$(GO) vet -tags vmtest ./vmtest/...
	$(GO) tool staticcheck ./...
	cd $(DUCKDBTEST) && $(GO) vet ./... && $$(cd $(CURDIR) && $(GO) tool -n staticcheck) ./...

generate: ## rebuild the bpf2go output (needs clang, bpftool)
	$(GO) generate ./bpf/...

check-generate: ## fail when the committed bpf2go output is not what make generate makes (built in a temporary directory)
	@mkdir -p .cache
	DEPFILE=.cache/bpf.d GO=$(GO) ./scripts/check-generate.sh

deps-check: check-generate ## fail when the build or tests use a Debian package scripts/install-deps.sh does not install
	DEPFILE=.cache/bpf.d GO=$(GO) ./scripts/deps-check.sh

fuzz: ## run the capture reader fuzzer for a while (FUZZTIME=60s)
	$(GO) test ./format/ -run '^$$' -fuzz FuzzReader -fuzztime $(or $(FUZZTIME),60s)

bench: ## Go benchmarks as one table
	./scripts/bench.sh

VMBENCH_KERNELS ?= 6.1,6.12
vmbench: ## recorder figures in the test VM (attach, BPF cost, zero-loss rate, bytes/event) as one table (VMBENCH_KERNELS=6.1,6.12; VMBENCH_BASELINE=<pwru-record binary> measured first in each boot; VMBENCH_LEAN=1: the same paced datagrams and flood for pwru-record, its VMBENCH_ABLATE=payload,meta,... variants and VMBENCH_PWRU=<cilium/pwru binary>)
	$(GO) run ./vmtest/vmbench -kernels '$(VMBENCH_KERNELS)' $(if $(VMBENCH_BASELINE),-baseline '$(VMBENCH_BASELINE)') \
		$(if $(VMBENCH_LEAN),-lean -timeout 45m) $(if $(VMBENCH_ABLATE),-ablate '$(VMBENCH_ABLATE)') $(if $(VMBENCH_PWRU),-pwru '$(VMBENCH_PWRU)') $(if $(VMBENCH_BACKENDS),-backends '$(VMBENCH_BACKENDS)') $(if $(VMBENCH_CONCURRENT),-concurrent) $(if $(VMBENCH_ICOUNT),-icount $(VMBENCH_ICOUNT))

LIBPCAP := $(CURDIR)/.cache/libpcap

build: ## static binaries in bin/ (pwru-record links a libpcap built from Debian's source)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pwru-replay ./cmd/pwru-replay
	./scripts/build-libpcap.sh $(LIBPCAP)
	CGO_ENABLED=1 CGO_CFLAGS='-I$(LIBPCAP)/include' CGO_LDFLAGS='-L$(LIBPCAP)/lib' \
		$(GO) build -trimpath -tags netgo,osusergo -ldflags '$(LDFLAGS) -linkmode external -extldflags -static' \
		-o bin/pwru-record ./cmd/pwru-record

clean: ## remove build outputs (keeps the kernel cache)
	rm -rf bin
