#!/usr/bin/env bash
# The daily incremental run against a full refresh (called by run.sh incremental):
#   benches/peers/incremental.sh STRATA_BINARY DATA_DIR      (DATA_DIR/bronze: 10 years of daily bars)
# jobs/stock_market/pipeline.sql runs on a warehouse whose bronze table lacks the last session (a full refresh), the
# last session is appended, and the incremental run that adds it is timed against a full refresh of all the data
# in a second warehouse. Both warehouses must end with the same ten tables (dev/compare_delta.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
strata="$1" data="$2"
source dev/python.sh
python="$(strata_python)"
work="$(mktemp -d "${TMPDIR:-/tmp}/strata-incremental.XXXXXX")"
trap 'rm -rf "$work"' EXIT
last="$("$python" -c "
import duckdb; print(duckdb.sql(\"SELECT CAST(max(ts) AS DATE) FROM read_parquet('$data/bronze/**/*.parquet')\").fetchall()[0][0])")"
before="$("$python" -c "import datetime as d; print(d.date.fromisoformat('$last') - d.timedelta(days=1))")"
tables="silver.daily_bars silver.weekly_bars silver.monthly_bars silver.bars_3d silver.bars_5d silver.bars_8d \
silver.bars_13d silver.bars_21d silver.bars_34d gold.daily_indicators"

timed() { # timed LABEL COMMAND…: wall seconds of the command, printed and echoed
  local start end
  start="$(date +%s.%N)"
  "${@:2}" >"$work/$1.log" 2>&1 || { tail -20 "$work/$1.log" >&2; exit 1; }
  end="$(date +%s.%N)"
  "$python" -c "print(f'{$end - $start:.2f}')"
}

mkdir -p "$work/inc/bronze" "$work/full/bronze"
"$python" dev/append_days.py "$data/bronze" "$work/inc/bronze/market_daily" 1900-01-01 "$before" >/dev/null
ln -s "$data/bronze" "$work/full/bronze/market_daily"
ln -s "$data/symbol_metadata" "$work/inc/bronze/symbol_metadata"
ln -s "$data/symbol_metadata" "$work/full/bronze/symbol_metadata"
history="$(timed history "$strata" run jobs/stock_market/pipeline.sql --warehouse "$work/inc" --no-progress)"
rows="$("$python" dev/append_days.py "$data/bronze" "$work/inc/bronze/market_daily" "$last" "$last")"
incremental="$(timed incremental "$strata" run jobs/stock_market/pipeline.sql --warehouse "$work/inc" --no-progress)"
full="$(timed full "$strata" run jobs/stock_market/pipeline.sql --warehouse "$work/full" --no-progress --full-refresh)"
# shellcheck disable=SC2086
"$python" dev/compare_delta.py "$work/inc" "$work/full" $tables >"$work/compare.log" ||
  { cat "$work/compare.log"; echo "the incremental run's tables differ from the full refresh's" >&2; exit 1; }
echo "== incremental daily run (jobs/stock_market/pipeline.sql, ten tables)"
echo "history up to $before (first run):  ${history} s"
echo "incremental run adding $last ($rows rows): ${incremental} s"
echo "full refresh of all sessions:          ${full} s"
"$python" -c "print(f'incremental / full refresh: {100 * $incremental / $full:.1f} %  (tables equal)')"
