#!/usr/bin/env bash
# The whole Strata test suite, on a fresh machine or a warm one.
#
# Installs what the tests need and is missing (a Python venv with the independent `deltalake` reader; later issues
# add PostgreSQL and a Kafka-compatible broker, started on loopback), then runs formatting and lint checks and every
# test of every crate. The build cache lives outside the clone, in $CARGO_TARGET_DIR (default
# ~/.cache/strata/target), so repeated runs and CI reuse it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

# shellcheck source=dev/python.sh
source dev/python.sh
export STRATA_PYTHON="$(strata_python)"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (cargo prints one per test binary).
sum() { grep -E '^test result:' "$log" | sed -E "s/.* ([0-9]+) $1.*/\1/" | awk '{s += $1} END {print s + 0}'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
exit "$status"
