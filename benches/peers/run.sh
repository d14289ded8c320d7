#!/usr/bin/env bash
# Strata and its peers side by side, on the same data, with one command:
#   benches/peers/run.sh [plain|stock|scale|incremental|all ...]     (default: all)
#
#   plain        the plain-SQL pipeline (plain/strata.sql; the peers' native scripts beside it) at 1x:
#                Strata embedded, Strata on a 2-executor cluster, datafusion-python 55, DuckDB, Polars, PySpark
#   stock        the stock pipeline (stock/strata.sql): Strata, DuckDB, Polars
#   scale        the plain pipeline at 1x, 4x (4x the symbols) and 16x (minute bars) in Strata (within
#                --memory-limit $STRATA_PEERS_MEMORY_LIMIT, default 4G), DuckDB and Polars
#   incremental  jobs/stock_market/pipeline.sql: a full refresh of 10 years against the incremental run that adds
#                the next session
#
# Builds strata (release), installs the peers from PyPI into the project venv (Java 17 for PySpark from Debian if
# missing), generates the data once (cached under ~/.cache/strata/peers), runs each engine with 2 threads, checks
# that every engine's outputs agree, and prints wall time and peak RSS of each whole process tree. Raw numbers go
# to ~/.cache/strata/peers/*/…-results.json. Engines of `plain`: STRATA_PEERS_ENGINES (comma-separated).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
cache="${STRATA_PEERS_DIR:-$HOME/.cache/strata/peers}"
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(plain stock scale incremental)
[ "${what[0]}" != all ] || what=(plain stock scale incremental)

source dev/python.sh
python="$(strata_python)"
"$python" -c 'import duckdb, polars, datafusion, pyspark' 2>/dev/null ||
  "$(dirname "$python")/pip" install --quiet duckdb polars 'datafusion==55.0.0' 'pyspark==4.3.0'
if ! command -v java >/dev/null; then
  apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
cargo build --release --locked --quiet -p strata-cli
strata="$CARGO_TARGET_DIR/release/strata"

# generate NAME ARGS…: a bronze Delta table under $cache/NAME, made once.
generate() {
  local name="$1"
  shift
  if [ ! -d "$cache/$name/bronze/_delta_log" ]; then
    rm -rf "$cache/$name"
    mkdir -p "$cache/$name"
    "$strata" generate market --out "$cache/$name/bronze" "$@" >&2
  fi
  echo "$cache/$name"
}

# plain DATA ENGINES [MEMORY_LIMIT]: the plain-SQL pipeline in ENGINES on DATA's bronze table.
plain() {
  local data="$1" engines="$2" limit="${3:-}" cluster=""
  if [[ ",$engines," == *",cluster,"* ]]; then
    cluster="$(mktemp -d "${TMPDIR:-/tmp}/strata-peers-cluster.XXXXXX")"
    "$strata" cluster up --executors 2 --vcores 1 --port 0 --dir "$cluster" --warehouse "$data" >/dev/null
    trap '"$strata" cluster down --dir "'"$cluster"'" >/dev/null 2>&1 || true' EXIT
  fi
  echo "== plain SQL pipeline on $data"
  STRATA_BENCH_CLUSTER="$cluster/cluster.json" STRATA_BENCH_MEMORY_LIMIT="$limit" \
    "$python" benches/peers/plain/compare.py "$strata" "$data/bronze" "$data" "$engines"
  if [ -n "$cluster" ]; then
    "$strata" cluster down --dir "$cluster" >/dev/null 2>&1 || true
    trap - EXIT
  fi
}

for step in "${what[@]}"; do
  case "$step" in
    plain)
      data="$(generate plain-1x --symbols 5000 --start 2015-01-01 --end 2024-12-31 --seed 7 --defect-rate 0)"
      plain "$data" "${STRATA_PEERS_ENGINES:-strata,cluster,datafusion,duckdb,polars,pyspark}"
      ;;
    stock)
      data="$(generate stock-1x --symbols 5000 --start 2015-01-01 --end 2024-12-31 --seed 42 --defect-rate 0.01)"
      # Fibonacci buckets count sessions from the first session of the data (2015-01-02).
      echo "== stock pipeline on $data"
      "$python" benches/peers/stock/compare.py "$strata" "$data/bronze" "$data" 2015-01-02
      ;;
    scale)
      limit="${STRATA_PEERS_MEMORY_LIMIT:-4G}"
      plain "$(generate plain-1x --symbols 5000 --start 2015-01-01 --end 2024-12-31 --seed 7 --defect-rate 0)" \
        strata,duckdb,polars "$limit"
      plain "$(generate plain-4x --symbols 20000 --start 2015-01-01 --end 2024-12-31 --seed 7 --defect-rate 0)" \
        strata,duckdb,polars "$limit"
      # 16x: minute bars, 5,000 symbols x 103 sessions x 390 minutes.
      plain "$(generate plain-16x --symbols 5000 --start 2024-01-02 --end 2024-05-31 --interval minute --seed 7 \
        --defect-rate 0)" strata,duckdb,polars "$limit"
      ;;
    incremental)
      bash benches/peers/incremental.sh "$strata" \
        "$(generate stock-1x --symbols 5000 --start 2015-01-01 --end 2024-12-31 --seed 42 --defect-rate 0.01)"
      ;;
    *)
      echo "unknown step '$step' (plain, stock, scale, incremental, all)" >&2
      exit 2
      ;;
  esac
done
