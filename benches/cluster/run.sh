#!/usr/bin/env bash
# Wall time of the stock pipeline in Strata's three modes on the same data, with one command:
#   benches/cluster/run.sh [SYMBOLS] [START] [END] [REPEATS]   (default: 5000 symbols, 2015-01-01 .. 2024-12-31, 2)
# Builds strata (release), generates the bronze table once (shared with benches/peers, cached under
# ~/.cache/strata/peers), then runs the pipeline embedded, on an in-process Ballista cluster (--standalone), and
# on a local cluster of one scheduler and two executor processes (`strata cluster up`), each REPEATS times with a
# fresh warehouse, and checks that every mode wrote the same tables (dev/compare_delta.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
symbols="${1:-5000}" start="${2:-2015-01-01}" end="${3:-2024-12-31}" repeats="${4:-2}"
data="${STRATA_PEERS_DIR:-$HOME/.cache/strata/peers}/${symbols}_${start}_${end}"
work="$(mktemp -d "${TMPDIR:-/tmp}/strata-cluster-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

source dev/python.sh
python="$(strata_python)"
cargo build --release --locked --quiet -p strata-cli
strata="$CARGO_TARGET_DIR/release/strata"
if [ ! -d "$data/bronze/_delta_log" ] || [ ! -d "$data/symbol_metadata/_delta_log" ]; then
  mkdir -p "$data"
  "$strata" generate market --symbols "$symbols" --start "$start" --end "$end" --seed 42 --defect-rate 0.01 \
    --out "$data/bronze"
fi
tables="silver.daily_bars silver.weekly_bars silver.monthly_bars silver.bars_3d silver.bars_5d silver.bars_8d
  silver.bars_13d silver.bars_21d silver.bars_34d gold.daily_indicators"

fresh() { # a warehouse whose bronze table is the cached data
  rm -rf "$work/$1" && mkdir -p "$work/$1/bronze" && ln -s "$data/bronze" "$work/$1/bronze/market_daily" &&
    ln -s "$data/symbol_metadata" "$work/$1/bronze/symbol_metadata"
}
seconds() { local t0=$1; "$python" -c "import time; print(f'{time.time() - $t0:.1f}')"; }
now() { "$python" -c 'import time; print(time.time())'; }

declare -A results
"$strata" cluster up --executors 2 --vcores 1 --port 0 --dir "$work/cluster" --warehouse "$work" >/dev/null
scheduler="$("$python" -c "import json; print(json.load(open('$work/cluster/cluster.json'))['scheduler'])")"
trap '"$strata" cluster down --dir "$work/cluster" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

for i in $(seq "$repeats"); do
  for mode in embedded standalone cluster; do
    fresh "$mode"
    t0="$(now)"
    case "$mode" in
      embedded) "$strata" run jobs/stock_market/pipeline.sql --no-progress --warehouse "$work/$mode" >/dev/null ;;
      standalone) "$strata" run jobs/stock_market/pipeline.sql --no-progress --standalone --warehouse "$work/$mode" >/dev/null ;;
      cluster) "$strata" submit jobs/stock_market/pipeline.sql --wait --scheduler "$scheduler" --warehouse "$work/$mode" >/dev/null ;;
    esac
    results[$mode]+="$(seconds "$t0") "
    echo "run $i $mode: $(seconds "$t0") s (wall, including planning and commits)"
  done
done
# shellcheck disable=SC2086
"$python" dev/compare_delta.py "$work/embedded" "$work/standalone" $tables | grep -c '^same' | xargs echo "standalone tables equal to embedded:"
# shellcheck disable=SC2086
"$python" dev/compare_delta.py "$work/embedded" "$work/cluster" $tables | grep -c '^same' | xargs echo "cluster tables equal to embedded:"
echo
echo "mode        wall seconds per run"
for mode in embedded standalone cluster; do printf '%-11s %s\n' "$mode" "${results[$mode]}"; done
