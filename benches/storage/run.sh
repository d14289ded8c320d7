#!/usr/bin/env bash
# Wall time of the stock pipeline with its warehouse on the local disk and on an S3-compatible store (SeaweedFS on
# loopback, started here), embedded and on a local 2-executor cluster, with one command:
#   benches/storage/run.sh [SYMBOLS] [START] [END] [REPEATS]   (default: 5000 symbols, 2015-01-01 .. 2024-12-31, 2)
# Builds strata (release) and generates the bronze table once on disk (cached under ~/.cache/strata/peers, shared
# with benches/peers and benches/cluster). Each run gets a fresh warehouse: on disk the cached bronze table linked
# in, on S3 the same table generated (same seed: the same rows) under a fresh prefix before the clock starts. The
# four modes alternate within each repeat, so drift on the machine hits them alike. At the end every S3 table is
# compared with the disk run's by the independent `deltalake` reader (dev/compare_delta.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
symbols="${1:-5000}" start="${2:-2015-01-01}" end="${3:-2024-12-31}" repeats="${4:-2}"
data="${STRATA_PEERS_DIR:-$HOME/.cache/strata/peers}/${symbols}_${start}_${end}"
work="$(mktemp -d "${TMPDIR:-/tmp}/strata-storage-bench.XXXXXX")"

source dev/python.sh
python="$(strata_python)"
source dev/s3.sh
# Room for ~10 GB of objects: the suite's 64 MB volumes are sized for small tables.
STRATA_S3_VOLUME_MB="${STRATA_S3_VOLUME_MB:-1024}" strata_s3_start >/dev/null
trap 'strata_s3_stop; rm -rf "$work"' EXIT
echo "S3-compatible store: $STRATA_S3 (SeaweedFS $SEAWEEDFS_VERSION, loopback)"

cargo build --release --locked --quiet -p strata-cli
strata="$CARGO_TARGET_DIR/release/strata"
generate() { # generate OUT: the benchmark's bronze table
  "$strata" generate market --symbols "$symbols" --start "$start" --end "$end" --seed 42 --defect-rate 0.01 \
    --out "$1" >/dev/null
}
if [ ! -d "$data/bronze/_delta_log" ] || [ ! -d "$data/symbol_metadata/_delta_log" ]; then
  mkdir -p "$data"
  generate "$data/bronze"
fi
tables="silver.daily_bars silver.weekly_bars silver.monthly_bars silver.bars_3d silver.bars_5d silver.bars_8d
  silver.bars_13d silver.bars_21d silver.bars_34d gold.daily_indicators"

fresh() { # fresh MODE RUN: print a new warehouse for the mode, its bronze table in place
  case "$1" in
    disk-*)
      local wh="$work/$1-$2"
      mkdir -p "$wh/bronze" && ln -s "$data/bronze" "$wh/bronze/market_daily" &&
        ln -s "$data/symbol_metadata" "$wh/bronze/symbol_metadata"
      echo "$wh" ;;
    s3-*)
      local wh="s3://strata/bench-$1-$2-$$"
      generate "$wh/bronze/market_daily"
      echo "$wh" ;;
  esac
}
now() { "$python" -c 'import time; print(time.time())'; }
seconds() { "$python" -c "import time; print(f'{time.time() - $1:.1f}')"; }

"$strata" cluster up --executors 2 --vcores 1 --port 0 --dir "$work/cluster" --warehouse "$work" >/dev/null
scheduler="$("$python" -c "import json; print(json.load(open('$work/cluster/cluster.json'))['scheduler'])")"
trap '"$strata" cluster down --dir "$work/cluster" >/dev/null 2>&1 || true; strata_s3_stop; rm -rf "$work"' EXIT

modes="disk-embedded s3-embedded disk-cluster s3-cluster"
declare -A results last
for i in $(seq "$repeats"); do
  for mode in $modes; do
    wh="$(fresh "$mode" "$i")"
    t0="$(now)"
    case "$mode" in
      *-embedded) "$strata" run jobs/stock_market/pipeline.sql --no-progress --warehouse "$wh" >/dev/null ;;
      *-cluster) "$strata" submit jobs/stock_market/pipeline.sql --wait --scheduler "$scheduler" --warehouse "$wh" >/dev/null ;;
    esac
    took="$(seconds "$t0")"
    results[$mode]+="$took "
    last[$mode]="$wh"
    echo "run $i $mode: $took s (wall, including planning and commits)"
  done
done

for engine in embedded cluster; do
  # shellcheck disable=SC2086
  same="$("$python" dev/compare_delta.py "${last[disk-$engine]}" "${last[s3-$engine]}" $tables | grep -c '^same' || true)"
  echo "$engine: tables on S3 equal to the disk run's: $same of 10"
  [ "$same" = 10 ] || { echo "tables differ" >&2; exit 1; }
done
echo
echo "mode           wall seconds per run"
for mode in $modes; do printf '%-14s %s\n' "$mode" "${results[$mode]}"; done
