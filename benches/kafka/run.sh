#!/usr/bin/env bash
# Kafka → Delta throughput: Strata (release) vs a plain Python confluent-kafka + deltalake loop, same topic.
#
#   benches/kafka/run.sh [MESSAGES] [REPEATS]      (defaults: 1,000,000 messages, 2 repeats)
#
# Starts tansu on loopback (dev/kafka.sh), fills a 4-partition topic once with JSON ticks, then alternates the two
# readers, each into a fresh warehouse, and prints messages/s. Both must write every message. A third line per round
# is the floor: the same consumer reading the topic and dropping the messages (consume_only.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
N="${1:-1000000}"
REPEATS="${2:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
source dev/system.sh; strata_system_packages
source dev/python.sh; PY="$(strata_python)"
"$PY" -c 'import confluent_kafka' 2>/dev/null || "$(dirname "$PY")/pip" install --quiet confluent-kafka
cargo build --release --locked -p strata-cli >&2
STRATA="$CARGO_TARGET_DIR/release/strata"
source dev/kafka.sh
strata_kafka_start >/dev/null
trap strata_kafka_stop EXIT
TOPIC="bench-ticks"
"$(strata_tansu)" topic create "$TOPIC" --partitions 4 --broker "tcp://$STRATA_KAFKA" >/dev/null
echo "== producing $N messages to $TOPIC on $STRATA_KAFKA"
"$PY" benches/kafka/produce.py "$STRATA_KAFKA" "$TOPIC" "$N"
WORK="$(mktemp -d)"
cat > "$WORK/job.sql" <<SQL
CREATE EXTERNAL TABLE ticks (id BIGINT NOT NULL, symbol VARCHAR NOT NULL, price DOUBLE NOT NULL, ts TIMESTAMP)
STORED AS KAFKA LOCATION 'kafka://$STRATA_KAFKA/$TOPIC' OPTIONS ('format' 'json');
INSERT INTO bronze.ticks SELECT * FROM ticks;
SQL
count() { "$PY" dev/check_table.py "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["rows"])'; }
for r in $(seq "$REPEATS"); do
  rm -rf "$WORK/strata" "$WORK/python"
  t0=$(date +%s.%N)
  "$STRATA" run "$WORK/job.sql" --no-progress --warehouse "$WORK/strata" >/dev/null
  t1=$(date +%s.%N)
  rows=$(count "$WORK/strata/bronze/ticks")
  s=$(echo "$t1 - $t0" | bc -l)
  printf 'strata  run %d: %d rows in %.2f s = %.0f messages/s\n' "$r" "$rows" "$s" "$(echo "$rows / $s" | bc -l)"
  [ "$rows" -eq "$N" ] || { echo "strata wrote $rows rows, expected $N" >&2; exit 1; }
  t0=$(date +%s.%N)
  "$PY" benches/kafka/python_loop.py "$STRATA_KAFKA" "$TOPIC" "$WORK/python" >/dev/null
  t1=$(date +%s.%N)
  rows=$(count "$WORK/python")
  s=$(echo "$t1 - $t0" | bc -l)
  printf 'python  run %d: %d rows in %.2f s = %.0f messages/s\n' "$r" "$rows" "$s" "$(echo "$rows / $s" | bc -l)"
  [ "$rows" -eq "$N" ] || { echo "the python loop wrote $rows rows, expected $N" >&2; exit 1; }
  # The floor: the same consumer reading the topic and dropping every message (broker and client alone).
  t0=$(date +%s.%N)
  read_n=$("$PY" benches/kafka/consume_only.py "$STRATA_KAFKA" "$TOPIC" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
  t1=$(date +%s.%N)
  s=$(echo "$t1 - $t0" | bc -l)
  printf 'floor   run %d: %d messages read and dropped in %.2f s = %.0f messages/s\n' "$r" "$read_n" "$s" "$(echo "$read_n / $s" | bc -l)"
  [ "$read_n" -eq "$N" ] || { echo "the consumer read $read_n messages, expected $N" >&2; exit 1; }
done
rm -rf "$WORK"
