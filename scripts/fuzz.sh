#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET seconds (default 20); fails on
# any crash, panic, hang (one input over FUZZ_INPUT_TIMEOUT seconds, default 10) or runaway
# memory. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Installs cargo-fuzz (crates.io) when missing. cargo-fuzz wants a nightly compiler for the
# address sanitizer; on a stable one RUSTC_BOOTSTRAP=1 unlocks the flags (the stable toolchain
# ships the sanitizer runtimes), and if that build fails the targets are built without a
# sanitizer (Rust code needs none to find panics). Targets are built with debug assertions and
# overflow checks, so an arithmetic overflow is a crash too.
#
# Corpora: the committed seeds in fuzz/seeds/<target> (regenerate with fuzz/make_seeds.sh) plus
# fuzz/corpus/<target> (not committed), which grows from run to run. A crash leaves its input in
# fuzz/artifacts/<target>/; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>   (in fuzz/)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-20}"
input_timeout="${FUZZ_INPUT_TIMEOUT:-10}"
step() { echo "==> $*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# 16 codegen units: a much faster build for a slightly slower fuzzer.
build=(--codegen-units 16)
step "cargo fuzz build (address sanitizer)"
if ! cargo fuzz build "${build[@]}"; then
    step "address sanitizer build failed: building without a sanitizer"
    build+=(--sanitizer none)
    cargo fuzz build "${build[@]}"
fi

failed=()
for target in $(cargo fuzz list); do
    step "fuzz $target for ${seconds}s"
    mkdir -p "corpus/$target"
    log="$(mktemp)"
    if cargo fuzz run "${build[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout="$input_timeout" -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units)' "$log" >&2 || true
    else
        tail -n 60 "$log" >&2
        failed+=("$target")
    fi
    rm -f "$log"
done

if ((${#failed[@]})); then
    echo "fuzz: crash in ${failed[*]}; inputs are in fuzz/artifacts/" >&2
    exit 1
fi
echo "fuzz: no crash in $(cargo fuzz list | wc -l) targets × ${seconds}s" >&2
