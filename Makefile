# The project's entry points. `make testnet` and `make test` are the two
# commands a newcomer needs; CI runs .ci/run, which calls `make ci`.
GO        ?= go
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 30s
JSDIR     := types/testdata/polkadotjs
TESTNET_FLAGS ?= --nodes 10 --paras 5 --blocks 20 --slot 1s --report report.json

.PHONY: all build test test-short bench fuzz interop testnet vet ci clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The whole test suite, with the race detector.
test: vet
	$(GO) test -race -timeout 20m $(PKGS)
	@if ! command -v node >/dev/null 2>&1; then \
	  echo "make test: NOTE: Node.js not found, the live polkadot-js cross-check was skipped (CI runs it with 'make interop')"; \
	elif [ ! -d $(JSDIR)/node_modules/@polkadot/types ]; then \
	  echo "make test: NOTE: polkadot-js packages not installed, the live cross-check was skipped (run 'make interop')"; \
	fi

test-short:
	$(GO) test -short $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Every fuzz target for FUZZTIME each (go test runs one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Live cross-check against polkadot-js (installs the pinned npm packages).
interop:
	cd $(JSDIR) && npm ci --no-audit --no-fund --loglevel=error
	POLKADOTJS_REQUIRED=1 $(GO) test -count=1 -run 'Interop|PolkadotJS' ./types/ ./cmd/...

testnet: build
	$(BIN)/testnet $(TESTNET_FLAGS)

ci: test interop

clean:
	rm -rf $(BIN) report.json
