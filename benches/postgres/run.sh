#!/usr/bin/env bash
# PostgreSQL sink throughput: Strata (release) against psql's \copy and batched multi-row INSERTs, same rows, same
# server, same table definitions.
#
#   benches/postgres/run.sh [ROWS] [REPEATS]      (defaults: 1,000,000 rows, 5 repeats; medians are reported)
#
# Starts a PostgreSQL server with its default durability settings (dev/postgres.sh, STRATA_PG_DURABLE=1) on
# loopback, writes the rows once as a Delta table (Strata's input), a CSV file and a multi-row INSERT script, then
# alternates the loaders. Before every load the target is truncated and a CHECKPOINT is taken; after it, the row
# count is checked. Times are wall-clock of each whole command (Strata: read Delta, plan, encode, COPY, commit);
# Strata's sink phase alone (COPY + upsert + commit) is taken from its log.
#   append: a table without keys. Strata: binary COPY. psql: \copy CSV, \copy binary. INSERT: 1,000 rows/statement.
#   upsert: a table with a primary key. Strata: key 'id' (COPY into staging + INSERT … ON CONFLICT in one
#           transaction). psql: the same statements by hand (temp table, \copy CSV, INSERT … ON CONFLICT).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
N="${1:-1000000}"
REPEATS="${2:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
source dev/system.sh; strata_system_packages
source dev/python.sh; PY="$(strata_python)"
cargo build --release --locked -p strata-cli >&2
STRATA="$CARGO_TARGET_DIR/release/strata"
source dev/postgres.sh
export STRATA_PG_DURABLE=1
strata_postgres_start >/dev/null
WORK="$(mktemp -d)"
trap 'strata_postgres_stop; rm -rf "$WORK"' EXIT
export PGPASSWORD="$STRATA_PG_PASSWORD"
PSQL=(psql -h "${STRATA_POSTGRES%:*}" -p "${STRATA_POSTGRES#*:}" -U "$STRATA_PG_USER" -d postgres -v ON_ERROR_STOP=1 -qAt)
COLUMNS="id bigint, symbol text, price numeric(18,4), volume bigint, ts timestamp, fetched timestamptz, ok boolean"
"${PSQL[@]}" -c "CREATE TABLE ticks ($COLUMNS)" -c "CREATE TABLE ticks_pk ($COLUMNS, PRIMARY KEY (id))"

echo "== preparing $N rows (Delta, CSV, INSERT script) in $WORK"
"$PY" benches/postgres/prepare.py "$WORK" "$N"
for mode in append upsert; do
  target=ticks; key=""
  [ "$mode" = upsert ] && target=ticks_pk && key=", key 'id'"
  cat > "$WORK/$mode.sql" <<SQL
CREATE EXTERNAL TABLE input STORED AS DELTA LOCATION '$WORK/ticks';
CREATE EXTERNAL TABLE output STORED AS POSTGRES LOCATION 'postgres://$STRATA_POSTGRES/postgres'
  OPTIONS (table '$target'$key);
INSERT INTO output SELECT * FROM input;
SQL
done
"${PSQL[@]}" -c "\\copy ticks FROM '$WORK/ticks.csv' (FORMAT csv)" -c "\\copy ticks TO '$WORK/ticks.bin' (FORMAT binary)"

declare -A TIMES
fresh() { "${PSQL[@]}" -c "TRUNCATE ticks, ticks_pk" -c "CHECKPOINT"; }
check() {
  local rows; rows="$("${PSQL[@]}" -c "SELECT count(*) FROM $1")"
  [ "$rows" -eq "$N" ] || { echo "$2 loaded $rows rows into $1, expected $N" >&2; exit 1; }
}
timed() { # name table command...
  local name="$1" table="$2"; shift 2
  fresh
  local t0 t1; t0=$(date +%s.%N); "$@" >"$WORK/out.log" 2>"$WORK/err.log" || { cat "$WORK/err.log" >&2; exit 1; }; t1=$(date +%s.%N)
  check "$table" "$name"
  TIMES[$name]+="$(echo "$t1 - $t0" | bc -l) "
}
sink_phase() { # the sink's own time, from Strata's JSON log
  "$PY" -c 'import json,sys
for line in open(sys.argv[1]):
    try: e = json.loads(line)
    except ValueError: continue
    f = e.get("fields", {})
    if f.get("message") == "PostgreSQL write committed": print(f["elapsed_ms"] / 1000)' "$WORK/err.log"
}
strata_run() { "$STRATA" --log-format json --log info run "$WORK/$1.sql" --no-progress --warehouse "$WORK/wh"; }
upsert_by_hand() {
  "${PSQL[@]}" -c "BEGIN" \
    -c "CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT * FROM ticks_pk WITH NO DATA" \
    -c "\\copy stage FROM '$WORK/ticks.csv' (FORMAT csv)" \
    -c "INSERT INTO ticks_pk SELECT * FROM stage ON CONFLICT (id) DO UPDATE SET symbol = EXCLUDED.symbol, price = EXCLUDED.price, volume = EXCLUDED.volume, ts = EXCLUDED.ts, fetched = EXCLUDED.fetched, ok = EXCLUDED.ok" \
    -c "COMMIT"
}
for r in $(seq "$REPEATS"); do
  echo "== round $r of $REPEATS"
  timed "strata append" ticks strata_run append
  TIMES["strata append: sink phase"]+="$(sink_phase) "
  timed "psql \\copy csv" ticks "${PSQL[@]}" -c "\\copy ticks FROM '$WORK/ticks.csv' (FORMAT csv)"
  timed "psql \\copy binary" ticks "${PSQL[@]}" -c "\\copy ticks FROM '$WORK/ticks.bin' (FORMAT binary)"
  timed "multi-row INSERT" ticks "${PSQL[@]}" -f "$WORK/inserts.sql"
  timed "strata upsert" ticks_pk strata_run upsert
  TIMES["strata upsert: sink phase"]+="$(sink_phase) "
  timed "psql upsert (stage + \\copy csv + ON CONFLICT)" ticks_pk upsert_by_hand
done

echo
echo "$N rows, median of $REPEATS runs ($(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-48s %10s %14s\n' "loader" "seconds" "rows/s"
for name in "strata append" "strata append: sink phase" "psql \\copy csv" "psql \\copy binary" "multi-row INSERT" \
            "strata upsert" "strata upsert: sink phase" "psql upsert (stage + \\copy csv + ON CONFLICT)"; do
  median="$(printf '%s\n' ${TIMES[$name]} | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
  printf '%-48s %10.2f %14.0f\n' "$name" "$median" "$(echo "$N / $median" | bc -l)"
done
