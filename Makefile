# drake — build, test and run. `make run` and `make test` install what a
# fresh Debian machine lacks (the wasm32-wasip2 target, ffmpeg, fonts).
SHELL := /bin/bash
CARGO ?= cargo
GUESTS := drake-task-image-info drake-task-image-thumb drake-task-image-face drake-task-image-saliency drake-task-image-smartcrop drake-task-image-gif drake-task-video-info drake-task-video-thumb drake-task-video-convert drake-task-video-strip drake-task-video-reverse drake-task-audio-info drake-task-audio-waveform drake-task-audio-convert drake-task-audio-tts drake-task-audio-beats drake-task-html-scrape drake-task-video-upload-youtube drake-task-video-upload-vimeo drake-task-video-upload-fb drake-task-test-hostile
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: build components host test run deps test-deps check bench clean

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

## test-deps: deps, plus the headless browser of the dashboard test.
test-deps: deps
	@missing=""; \
	for p in chromium chromium-driver; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

## components: every task component, one wasm32-wasip2 release invocation.
components: deps
	$(CARGO) build --release --target wasm32-wasip2 $(addprefix -p ,$(GUESTS))

## host: the drake binary (release).
host:
	$(CARGO) build --release -p drake-host

build: components host

## test: the whole suite (unit, component, conformance, end to end).
# One native build of every target with the features `cargo test` uses, so
# the test run reuses it (building -p drake-host alone unifies features
# differently and would rebuild wasmtime).
test: test-deps components
	$(CARGO) fmt --all -- --check
	$(CARGO) build --release --workspace --all-targets
	$(CARGO) test --release --workspace
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

## run: build and serve on SQLite + ./data with a demo account.
run: build
	$(TARGET_DIR)/release/drake serve --data data

## bench: latency and throughput figures (see bench/README.md).
bench: build
	$(CARGO) bench -p drake-tests --bench api
	$(CARGO) bench -p drake-tests --bench video

clean:
	$(CARGO) clean
