# drake — build, test and run. `make run` and `make test` install what a
# fresh Debian machine lacks (the wasm32-wasip2 target, ffmpeg, fonts).
SHELL := /bin/bash
CARGO ?= cargo
# The task components: every crate named drake-task-* (components/tasks/*
# and the test guests in tests/guests/*, taken by the workspace's globs).
TASK_CRATES := 'drake-task-*'
# The ffmpeg-free tasks, also built as Spin HTTP components: the crates
# spin.toml builds (spin.toml is generated from the task crates: `make catalog`).
SPIN_CRATES = $(shell sed -n 's/^command = ".* -p \(drake-task-[a-z0-9-]*\) .*/\1/p' spin.toml)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
WASM_DIR := $(TARGET_DIR)/wasm32-wasip2
# Python test tools from PyPI: moto's S3 server (the S3 blob tests start
# it) and schemathesis (the OpenAPI contract test). One virtualenv outside
# the clone, so fresh clones reuse it.
VENV := $(HOME)/.cache/drake/venv
PY_TOOLS := moto[server]==5.2.5 schemathesis==4.32.5

# cargo fuzz targets (tests/fuzz; sxml starts from sxml.md's examples) and
# how long each runs. Not part of `make test`: the nightly toolchain,
# cargo-fuzz and an ASan build of the targets cost CI a quarter of its
# budget; tests/reliability.sh runs them for 10 minutes each.
FUZZ_TARGETS := request query sxml
FUZZ_SECONDS ?= 30

.PHONY: build components spin spin-variants host test run deps test-deps fuzz-deps check bench clean fuzz catalog spin-tasks

## deps: install the toolchain target and system packages when missing.
deps:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
	@missing=""; \
	for p in ffmpeg bubblewrap fonts-dejavu-core sqlite3; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) || \
	  echo "warning: could not install$$missing (needed only by later tasks)"; \
	fi

## test-deps: deps, plus the headless browser of the dashboard test, the
## Postgres server the store tests start themselves (never a running one),
## moto (an S3 server, likewise) and schemathesis.
## (The Spin components run under tests/spin-serve, built with the
## workspace: no second wasmtime build.)
test-deps: deps
	@missing=""; \
	for p in chromium chromium-driver postgresql; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@test -x $(VENV)/bin/moto_server -a -x $(VENV)/bin/st || { \
	  echo "installing: $(PY_TOOLS) (PyPI) into $(VENV)"; \
	  python3 -m venv $(VENV) && $(VENV)/bin/pip install -q $(foreach t,$(PY_TOOLS),'$(t)'); }

## fuzz-deps: the nightly toolchain and cargo-fuzz, for `make fuzz`.
fuzz-deps:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo fuzz --version >/dev/null 2>&1 || { \
	  echo "installing: cargo-fuzz (cargo install)"; $(CARGO) install cargo-fuzz --locked; }

## components: every task component, one wasm32-wasip2 release invocation.
components: deps
	$(CARGO) build --release --target wasm32-wasip2 -p $(TASK_CRATES)

## spin: the ffmpeg-free tasks as Spin HTTP components, the same crates
## with the SDK's `spin` feature, into target/wasm32-wasip2/spin where
## spin.toml points (`spin build` writes the same files through its own
## `spin` profile). Built in the release profile like drake's components,
## so only the SDK and the crates above it compile a second time, then
## copied out; then drake's components are built again, since a cdylib
## has one file name whatever its features (the release directory held
## the Spin variants of those crates in between).
spin: spin-variants
	$(CARGO) build --release --target wasm32-wasip2 -p $(TASK_CRATES)

## spin-variants: `make spin` without building drake's components after
## it; `make test` runs it before `components`, so each variant compiles
## once (the other order rebuilt ten components, ~45 s).
spin-variants: deps
	$(CARGO) build --release --target wasm32-wasip2 --features drake-sdk/spin $(addprefix -p ,$(SPIN_CRATES))
	@mkdir -p $(WASM_DIR)/spin
	@for c in $(SPIN_CRATES); do f=$$(echo $$c | tr - _).wasm; cp --remove-destination $(WASM_DIR)/release/$$f $(WASM_DIR)/spin/$$f; done

## spin-tasks: the crates `make spin` builds.
spin-tasks:
	@echo $(SPIN_CRATES)

## catalog: regenerate the host's task table and spin.toml from the task
## crates' [package.metadata.drake] (after adding or changing a task).
catalog:
	$(CARGO) run -q -p drake-catalog

## host: the drake binary (release), built with the whole workspace's
## features (`--workspace --bins` builds only the binaries, but resolves
## every dependency as `make test` and `make bench` do): `make run`, then
## `make test`, compile wasmtime once.
host:
	$(CARGO) build --release --workspace --bins

## build: the components and the host, then every component precompiled
## beside its .wasm file, so no start of this build compiles.
build: components host
	$(TARGET_DIR)/release/drake precompile

## test: the whole suite (unit, component, conformance, end to end).
# One native build of every target `cargo test` runs, with its features, so
# the test run reuses it (building -p drake-host alone unifies features
# differently and would rebuild wasmtime). The benches are not linked here
# (seven more binaries holding the host): clippy type-checks them.
test: test-deps spin-variants components
	$(CARGO) fmt --all -- --check
	$(CARGO) build --release --workspace --lib --bins --tests --examples
	$(TARGET_DIR)/release/drake precompile
	$(CARGO) test --release --workspace
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

## fuzz: every cargo fuzz target for FUZZ_SECONDS (nightly, libFuzzer + ASan).
fuzz: fuzz-deps
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	  mkdir -p tests/fuzz/corpus/$$t; \
	  $(CARGO) +nightly fuzz run --fuzz-dir tests/fuzz --target-dir $(TARGET_DIR)/fuzz $$t \
	    tests/fuzz/corpus/$$t $$([ $$t = sxml ] && echo components/lib/sxml/tests/examples) -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 | grep -E '^(Done|stat::number_of_executed_units)|ERROR|panicked|SUMMARY' ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || exit 1; \
	done

## run: build and serve on SQLite + ./data with a demo account.
run: build
	$(TARGET_DIR)/release/drake serve --data data

## bench: latency and throughput figures (see bench/README.md).
# The release profile and the whole workspace, as `make test` builds:
# the benches reuse its build instead of compiling wasmtime again.
bench: build
	$(CARGO) bench --profile release --workspace --bench api
	$(CARGO) bench --profile release --workspace --bench video
	bash bench/codecs/setup.sh
	$(CARGO) bench --profile release --workspace --bench codecs
	$(CARGO) bench --profile release --workspace --bench video_create
	$(CARGO) bench --profile release --workspace --bench sxml_corpus
	$(CARGO) bench --profile release --workspace --bench start
	$(CARGO) bench --profile release --workspace --bench templates

clean:
	$(CARGO) clean
