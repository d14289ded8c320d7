#!/usr/bin/env bash
# Kafka → PostgreSQL throughput: Strata (release) vs the hand-written Python loop (confluent-kafka + psycopg COPY),
# same topic, same server, same table shape.
#
#   benches/kafka_postgres/run.sh [MESSAGES] [ROUNDS]   (defaults: 1,000,000 messages, 3 rounds; or the MESSAGES and
#                                                        ROUNDS environment variables)
#   STRATA_BIN=path/to/strata benches/kafka_postgres/run.sh   # use that binary, build nothing
#   ENGINES=python benches/kafka_postgres/run.sh              # one engine only (default: "strata python")
#
# Starts tansu (dev/kafka.sh) and a PostgreSQL server with its default durability settings (dev/postgres.sh,
# STRATA_PG_DURABLE=1) on loopback, fills a 4-partition topic once with JSON ticks (produce.py: symbol, price, volume,
# timestamp, fetch_timestamp), then alternates the two readers, each into a fresh table of the database `bench`:
#   strata  `strata run` of a job reading the topic (STORED AS KAFKA, a fresh consumer name per round) into a
#           PostgreSQL append table it creates (ticks_strata_R): one binary COPY and the topic offsets in
#           strata.kafka_offsets, in one transaction;
#   python  python_loop_pg.py (ticks_python_R, a fresh consumer group per round): json.loads, COPY every 100,000
#           messages, commit, then commit the consumer offsets (at least once).
# Times are wall clock of each whole process. A CHECKPOINT precedes each run. Each table must hold every message
# once (count(*) and count(DISTINCT fetch_timestamp) = MESSAGES), each engine must have stored offsets for every
# message, and the two tables of a round must agree (sums of price and volume, timestamp range); any failure stops
# the script with a non-zero status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
N="${1:-${MESSAGES:-1000000}}"
ROUNDS="${2:-${ROUNDS:-3}}"
ENGINES="${ENGINES:-strata python}"
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1000 ] && [ "$N" -le 10000000 ] ||
  { echo "MESSAGES must be a whole number from 1000 to 10000000 (the broker keeps the topic in memory), not '$N'" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] ||
  { echo "ROUNDS must be a whole number from 1 to 20, not '$ROUNDS'" >&2; exit 2; }
for engine in $ENGINES; do
  [ "$engine" = strata ] || [ "$engine" = python ] || { echo "ENGINES: unknown engine '$engine'" >&2; exit 2; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
source dev/python.sh; PY="$(strata_python)"
"$PY" -c 'import confluent_kafka' 2>/dev/null || "$(dirname "$PY")/pip" install --quiet confluent-kafka
"$PY" -c 'import psycopg' 2>/dev/null || "$(dirname "$PY")/pip" install --quiet 'psycopg[binary]'
if [[ " $ENGINES " == *" strata "* ]]; then
  if [ -n "${STRATA_BIN:-}" ]; then
    STRATA="$STRATA_BIN"
    [ -x "$STRATA" ] || { echo "STRATA_BIN=$STRATA is not an executable" >&2; exit 2; }
  else
    source dev/system.sh; strata_system_packages
    cargo build --release --locked -p strata-cli >&2
    STRATA="$CARGO_TARGET_DIR/release/strata"
  fi
fi

source dev/kafka.sh
source dev/postgres.sh
export STRATA_PG_DURABLE=1
WORK="$(mktemp -d)"
trap 'strata_kafka_stop; strata_postgres_stop; rm -rf "$WORK"' EXIT
strata_kafka_start >/dev/null
strata_postgres_start >/dev/null
export PGPASSWORD="$STRATA_PG_PASSWORD"
PSQL=(psql -h "${STRATA_POSTGRES%:*}" -p "${STRATA_POSTGRES#*:}" -U "$STRATA_PG_USER" -v ON_ERROR_STOP=1 -qAt)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench"
DB=("${PSQL[@]}" -d bench)
TOPIC="bench-ticks"
"$(strata_tansu)" topic create "$TOPIC" --partitions 4 --broker "tcp://$STRATA_KAFKA" >/dev/null
echo "== producing $N messages to $TOPIC on $STRATA_KAFKA"
"$PY" benches/kafka_postgres/produce.py "$STRATA_KAFKA" "$TOPIC" "$N"

# The table of one engine and round must hold every message once. Prints "rows|distinct|volume|price|min ts|max ts".
fingerprint() {
  "${DB[@]}" -c "SELECT count(*), count(DISTINCT fetch_timestamp), sum(volume), sum(price::numeric),
                        min(\"timestamp\"), max(\"timestamp\") FROM $1"
}
shape() { # the columns of a table: name, type, NOT NULL
  "${DB[@]}" -c "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) ||
                        CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY attnum)
                 FROM pg_attribute WHERE attrelid = '$1'::regclass AND attnum > 0 AND NOT attisdropped"
}
timed() { # timed LOG COMMAND…: run it, print its wall seconds; on failure show its stderr and stop
  local log="$1" t0 t1; shift
  "${DB[@]}" -c "CHECKPOINT"
  t0=$(date +%s.%N)
  "$@" >"$WORK/$log.out" 2>"$WORK/$log.err" || { tail -30 "$WORK/$log.err" >&2; echo "$log failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
check() { # check ENGINE TABLE OFFSETS: every message once, offsets of every message stored; prints the row count
  local engine="$1" table="$2" offsets="$3" f rows distinct
  f="$(fingerprint "$table")"
  IFS='|' read -r rows distinct _ <<<"$f"
  [ "$rows" -eq "$N" ] || { echo "$engine wrote $rows rows to $table, expected $N" >&2; exit 1; }
  [ "$distinct" -eq "$N" ] || { echo "$engine: $table holds $distinct distinct messages of $N rows" >&2; exit 1; }
  [ "$offsets" -eq "$N" ] || { echo "$engine stored offsets for $offsets messages, expected $N" >&2; exit 1; }
  echo "$rows"
}

RESULTS=() # "engine round seconds rows"
for r in $(seq "$ROUNDS"); do
  echo "== round $r of $ROUNDS"
  if [[ " $ENGINES " == *" strata "* ]]; then
    cat > "$WORK/job_$r.sql" <<SQL
CREATE EXTERNAL TABLE ticks (
  symbol VARCHAR NOT NULL, price DOUBLE NOT NULL, volume BIGINT, "timestamp" TIMESTAMP NOT NULL, fetch_timestamp BIGINT
)
STORED AS KAFKA LOCATION 'kafka://$STRATA_KAFKA/$TOPIC' OPTIONS ('format' 'json', 'consumer' 'strata-bench-$r');
CREATE EXTERNAL TABLE pg_ticks (
  symbol VARCHAR NOT NULL, price DOUBLE NOT NULL, volume BIGINT, "timestamp" TIMESTAMP NOT NULL, fetch_timestamp BIGINT
)
STORED AS POSTGRES LOCATION 'postgres:///bench' OPTIONS (table 'ticks_strata_$r');
INSERT INTO pg_ticks SELECT * FROM ticks;
SQL
    s="$(timed "strata_$r" "$STRATA" run "$WORK/job_$r.sql" --no-progress --warehouse "$WORK/wh_$r")"
    offsets="$("${DB[@]}" -c "SELECT coalesce(sum(next_offset), 0) FROM strata.kafka_offsets
                              WHERE sink = 'public.ticks_strata_$r' AND consumer = 'strata-bench-$r'" 2>/dev/null || echo 0)"
    rows="$(check strata "ticks_strata_$r" "$offsets")"
    RESULTS+=("strata $r $s $rows")
    printf 'strata  round %d: %d rows in %.2f s = %.0f messages/s\n' "$r" "$rows" "$s" "$(echo "$N / $s" | bc -l)"
  fi
  if [[ " $ENGINES " == *" python "* ]]; then
    s="$(timed "python_$r" "$PY" benches/kafka_postgres/python_loop_pg.py "$STRATA_KAFKA" "$TOPIC" "python-bench-$r" bench "ticks_python_$r")"
    read -r read_n offsets < <("$PY" -c 'import json,sys; o = json.load(sys.stdin); print(o["messages"], o["committed"])' <"$WORK/python_$r.out")
    [ "$read_n" -eq "$N" ] || { echo "the python loop read $read_n messages, expected $N" >&2; exit 1; }
    rows="$(check python "ticks_python_$r" "$offsets")"
    RESULTS+=("python $r $s $rows")
    printf 'python  round %d: %d rows in %.2f s = %.0f messages/s\n' "$r" "$rows" "$s" "$(echo "$N / $s" | bc -l)"
  fi
  if [[ " $ENGINES " == *" strata "* && " $ENGINES " == *" python "* ]]; then
    a="$(fingerprint "ticks_strata_$r")" b="$(fingerprint "ticks_python_$r")"
    [ "$a" = "$b" ] || { echo "round $r: the tables differ: strata $a, python $b" >&2; exit 1; }
    a="$(shape "ticks_strata_$r")" b="$(shape "ticks_python_$r")"
    [ "$a" = "$b" ] || echo "warning: the tables' columns differ: strata ($a), python ($b)" >&2
  fi
done

echo
echo "$N messages, 4 partitions, $ROUNDS rounds ($(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-8s %6s %10s %14s %12s\n' engine round seconds messages/s "rows in PG"
declare -A BEST
for line in "${RESULTS[@]}"; do
  read -r engine r s rows <<<"$line"
  printf '%-8s %6d %10.2f %14.0f %12d\n' "$engine" "$r" "$s" "$(echo "$N / $s" | bc -l)" "$rows"
  if [ -z "${BEST[$engine]:-}" ] || [ "$(echo "$s < ${BEST[$engine]}" | bc -l)" -eq 1 ]; then BEST[$engine]="$s"; fi
done
for engine in $ENGINES; do
  printf 'best %-7s %10.2f s = %.0f messages/s\n' "$engine" "${BEST[$engine]}" "$(echo "$N / ${BEST[$engine]}" | bc -l)"
done
if [ -n "${BEST[strata]:-}" ] && [ -n "${BEST[python]:-}" ]; then
  printf 'strata / python (best against best): %.2fx\n' "$(echo "${BEST[python]} / ${BEST[strata]}" | bc -l)"
fi
