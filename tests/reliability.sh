#!/usr/bin/env bash
# The reliability suite, long form (issue 7). `make test` runs the short
# form: the same tests with 1,000 creates and a few schemathesis examples
# (no fuzzing: its nightly ASan build is too slow for CI). This runs:
#   - load: 10,000 creates at concurrency 64 (0 errors, 0 lost; p50/p99);
#   - crash: kill -9 a node with 50 tasks in flight, restart, all complete;
#   - templates: 500 template tasks in requests of 100, none lost (50 in
#     `make test`);
#   - the hostile-media corpus through every media task (host RSS bounded);
#   - schemathesis against /openapi.json, 200 examples per operation;
#   - scale-out: 3 nodes on Postgres + S3, 500 tasks, one node SIGKILLed;
#   - tenants: a 10,000-task flood through a kill beside an idle tenant,
#     the fetch budget, fair claims and account limits;
#   - cargo fuzz: every target for 10 minutes (FUZZ_SECONDS to change).
# About 30 minutes on 2 cores once `make test` has built everything.
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory test-deps components
cargo build --release --workspace --lib --bins --tests --examples
DRAKE_RELIABILITY=long cargo test --release -p drake-tests --test e2e reliability:: -- \
  --nocapture --test-threads 1
cargo test --release -p drake-tests --test e2e scale:: -- --nocapture --test-threads 1
DRAKE_RELIABILITY=long cargo test --release -p drake-tests --test e2e tenants:: -- \
  --nocapture --test-threads 1
# 200 random SXML timelines through ffmpeg (a dozen in `make test`).
DRAKE_RELIABILITY=long cargo test --release -p drake-tests --test e2e sxml_property:: -- \
  --nocapture
make --no-print-directory fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-600}"
