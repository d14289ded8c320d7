#!/usr/bin/env bash
# Flight SQL throughput: CLIENTS concurrent clients each pull ROWS rows of market data from `strata serve` (release),
# authenticated (users file, bearer tokens), over loopback, plain TCP and TLS; one client alone first, as the
# baseline. Each client logs in, runs `SELECT * FROM bronze.market_daily LIMIT ROWS` and reads every batch with
# DoGet (benches/src/bin/flight_load.rs). Reported: rows/s and MB/s (Flight data bytes on the wire) over the wall
# time from the first connect to the last batch, the errors (the run fails on any), each client's min/median/max.
#
#   benches/flight/run.sh [CLIENTS] [ROWS]        (defaults: 32 clients, 1,000,000 rows each)
#
# Data: `strata generate market` (400 symbols × 10 years ≈ 1.0 M sessions: symbol, timestamp, OHLC, volume), cached
# under ~/.cache/strata/flight. Results: ~/.cache/strata/flight/results.json (one JSON object per configuration).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CLIENTS="${1:-32}"
ROWS="${2:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
source dev/system.sh; strata_system_packages
cargo build --release --locked -p strata-cli -p strata-benches --bin strata --bin flight_load >&2
STRATA="$CARGO_TARGET_DIR/release/strata"
LOAD="$CARGO_TARGET_DIR/release/flight_load"
CACHE="$HOME/.cache/strata/flight"
WH="$CACHE/warehouse"
mkdir -p "$CACHE"
if [ ! -d "$WH/bronze/market_daily/_delta_log" ]; then
  echo "== generating market data into $WH" >&2
  "$STRATA" generate market --symbols 400 --start 2015-01-01 --end 2024-12-31 --seed 42 \
    --out "$WH/bronze/market_daily" >&2
fi
have="$("$STRATA" query "SELECT count(*) AS n FROM bronze.market_daily" --warehouse "$WH" --format csv | tail -1)"
[ "$have" -ge "$ROWS" ] || { echo "the table has $have rows, fewer than $ROWS" >&2; exit 1; }

WORK="$(mktemp -d)"
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
export STRATA_FLIGHT_PASSWORD="bench-$RANDOM-$RANDOM"
echo "$STRATA_FLIGHT_PASSWORD" | "$STRATA" passwd bench >"$WORK/users"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=bench CA" -keyout "$WORK/ca.key" \
  -out "$WORK/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$WORK/server.key" -out "$WORK/server.csr" \
  >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
  -extfile "$WORK/san.ext" -out "$WORK/server.crt" >/dev/null 2>&1

serve() { # extra serve args...
  "$STRATA" serve --warehouse "$WH" --bind 127.0.0.1:0 --users "$WORK/users" "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    ADDR="$(sed -n 's/^Flight SQL listening on //p' "$WORK/serve.out")"
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  cat "$WORK/serve.err" >&2
  exit 1
}
stop() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

SQL="SELECT * FROM bronze.market_daily LIMIT $ROWS"
: >"$CACHE/results.json"
run() { # label clients client-args...
  local label="$1" n="$2"; shift 2
  local out
  out="$("$LOAD" "$ADDR" "$n" "$SQL" --user bench "$@")" || { echo "$label: $out" >&2; exit 1; }
  echo "$out" | "${PYTHON:-python3}" -c "
import json, sys
r = json.loads(sys.stdin.read()); r['transport'] = '$label'
print(json.dumps(r))
rows_ok = r['rows'] == r['clients'] * $ROWS
print(f\"{r['transport']:<6} {r['clients']:>3} clients  {r['rows']:>12,} rows  {r['errors']} errors  \"
      f\"{r['wall_seconds']:7.2f} s  {r['rows_per_second']/1e6:7.2f} M rows/s  {r['mb_per_second']:8.1f} MB/s  \"
      f\"client s min/median/max {r['client_seconds_min']:.2f}/{r['client_seconds_median']:.2f}/{r['client_seconds_max']:.2f}\"
      + ('' if rows_ok else '  ROW COUNT WRONG'), file=sys.stderr)
sys.exit(0 if rows_ok and r['errors'] == 0 else 1)
" >>"$CACHE/results.json"
}

echo "== $CLIENTS clients x $ROWS rows, $(nproc) cores, strata serve (release) on loopback" >&2
serve
run plain 1
run plain "$CLIENTS"
stop
serve --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key"
run tls 1 --tls-ca "$WORK/ca.crt"
run tls "$CLIENTS" --tls-ca "$WORK/ca.crt"
stop
echo "== results: $CACHE/results.json" >&2
