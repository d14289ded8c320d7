#!/usr/bin/env bash
# Strata vs DuckDB vs Polars on the same pipeline and data, with one command:
#   benches/peers/run.sh [SYMBOLS] [START] [END]        (default: 5000 symbols, 2015-01-01 .. 2024-12-31)
# Builds strata (release), installs duckdb and polars from PyPI into the project venv, generates the data once
# (cached under ~/.cache/strata/peers), runs each engine with 2 threads, checks that the results agree and prints
# wall time and peak memory as ratios to Strata.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
symbols="${1:-5000}" start="${2:-2015-01-01}" end="${3:-2024-12-31}"
work="${STRATA_PEERS_DIR:-$HOME/.cache/strata/peers}/${symbols}_${start}_${end}"

source dev/python.sh
python="$(strata_python)"
"$python" -c 'import duckdb, polars' 2>/dev/null || "$(dirname "$python")/pip" install --quiet duckdb polars

cargo build --release --locked --quiet -p strata-cli
strata="$CARGO_TARGET_DIR/release/strata"
if [ ! -d "$work/bronze/_delta_log" ]; then
  mkdir -p "$work"
  "$strata" generate market --symbols "$symbols" --start "$start" --end "$end" --seed 42 --defect-rate 0.01 \
    --out "$work/bronze"
fi
# Fibonacci buckets count sessions from the first session of the data (2015-01-02 for the default range).
origin="$("$python" -c "import duckdb,sys; print(duckdb.sql(\"SELECT CAST(min(ts) AS DATE) FROM read_parquet('$work/bronze/**/*.parquet')\").fetchall()[0][0])")"
"$python" benches/peers/compare.py "$strata" "$work/bronze" "$work" "$origin"
