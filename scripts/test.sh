#!/usr/bin/env bash
# The project's test command (README, .ci/run): PostgreSQL up, format and lint checks, every test.
#
# Tests reach PostgreSQL through CUTOVER_TEST_PG (set from scripts/pg-up.sh). Uses cargo-nextest
# when installed, else cargo test; doc-tests run separately, first.
# scripts/determinism.sh, when present and executable, runs last with SCALE=$DETERMINISM_SCALE
# (default 1, the smallest fixture), the same SCALE variable scripts/demo.sh reads.
# scripts/fuzz.sh runs after the tests, FUZZ_SECONDS (default 15) per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "==> $*" >&2; }

step "PostgreSQL"
url="$(scripts/pg-up.sh | tail -n1)"
export CUTOVER_TEST_PG="$url"
echo "CUTOVER_TEST_PG=$CUTOVER_TEST_PG" >&2

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "benchmark harness arithmetic (benches/e2e/test_*.py)"
PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s benches/e2e -p 'test_*.py'

# Doc-tests first (nextest does not run them), so that the summary of the main run is the last
# one printed: CI reads the test runner's closing line.
step "cargo test --doc"
cargo test --doc --workspace
if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run"
    cargo nextest run --workspace --no-fail-fast
else
    step "cargo test (cargo-nextest not installed)"
    cargo test --workspace --lib --bins --tests --no-fail-fast
fi

# The fuzz targets (fuzz/), briefly: FUZZ_SECONDS per target (default 15; 0 skips).
# A first fuzz build instruments every dependency (10+ CPU-minutes): on a machine without
# cargo-fuzz the short run is skipped to keep the suite under 20 minutes (FUZZ=1 forces it;
# the nightly workflow runs scripts/fuzz.sh for longer).
if [[ "${FUZZ_SECONDS:-15}" != 0 ]] && { command -v cargo-fuzz >/dev/null 2>&1 || [[ "${FUZZ:-}" == 1 ]]; }; then
    step "scripts/fuzz.sh ${FUZZ_SECONDS:-15}"
    scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
else
    step "fuzz: skipped (cargo-fuzz not installed; FUZZ=1 scripts/test.sh or scripts/fuzz.sh runs it)"
fi

if [[ -x scripts/determinism.sh ]]; then
    step "scripts/determinism.sh (scale ${DETERMINISM_SCALE:-1})"
    SCALE="${DETERMINISM_SCALE:-1}" scripts/determinism.sh
fi
