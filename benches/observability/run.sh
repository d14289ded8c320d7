#!/usr/bin/env bash
# What watching a cluster costs: the stock pipeline on a local cluster (one scheduler, two executors, all with
# --http-bind), REPEATS times quiet and REPEATS times observed, interleaved (quiet, observed, quiet, ...), each on
# a fresh warehouse over the same bronze data. "Observed" means a scraper reads /metrics of the scheduler and both
# executors, and the console's API (runs list, the newest run's page, the job's history, executors), every
# INTERVAL seconds for the whole run: with the default 1 s, 15 to 30 times Prometheus' usual scrape rate.
#
#   benches/observability/run.sh [REPEATS] [INTERVAL]      (default: 3 repeats, 1 s)
#
# Data: the peers' stock data (5,000 symbols, 2015-2024, seed 42; benches/peers/run.sh generates it, or this
# script does, into ~/.cache/strata/peers/stock-1x). Prints each run's wall time, the medians, the overhead and
# how many requests the scraper made.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
repeats="${1:-3}" interval="${2:-1}"
data="${STRATA_PEERS_DIR:-$HOME/.cache/strata/peers}/stock-1x"
work="$(mktemp -d "${TMPDIR:-/tmp}/strata-observability-bench.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

source dev/python.sh
python="$(strata_python)"
cargo build --release --locked --quiet -p strata-cli
strata="$CARGO_TARGET_DIR/release/strata"
if [ ! -d "$data/bronze/_delta_log" ] || [ ! -d "$data/symbol_metadata/_delta_log" ]; then
  mkdir -p "$data"
  "$strata" generate market --symbols 5000 --start 2015-01-01 --end 2024-12-31 --seed 42 --defect-rate 0.01 \
    --out "$data/bronze"
fi
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The cluster: every process serves /metrics (and the scheduler the console) on its own http port.
sched_port="$(free_port)" sched_http="$(free_port)" e1_http="$(free_port)" e2_http="$(free_port)"
"$strata" --log warn scheduler --bind "127.0.0.1:$sched_port" --warehouse "$work" --insecure \
  --http-bind "127.0.0.1:$sched_http" >"$work/scheduler.log" 2>&1 &
pids+=($!)
sleep 1
for http in "$e1_http" "$e2_http"; do
  "$strata" --log warn executor --scheduler "127.0.0.1:$sched_port" --vcores 1 --http-bind "127.0.0.1:$http" \
    --work-dir "$work/executor-$http" >"$work/executor-$http.log" 2>&1 &
  pids+=($!)
done
for http in "$sched_http" "$e1_http" "$e2_http"; do
  for _ in $(seq 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$http/readyz" && break
    sleep 0.1
  done
done

fresh() {
  rm -rf "$work/$1" && mkdir -p "$work/$1/bronze" && ln -s "$data/bronze" "$work/$1/bronze/market_daily" &&
    ln -s "$data/symbol_metadata" "$work/$1/bronze/symbol_metadata"
}

# The scraper: until its stop file appears, every $interval s, each endpoint once; it prints how many it read.
scrape() {
  "$python" - "$interval" "$1" "$sched_http" "$e1_http" "$e2_http" <<'EOF'
import json, os, sys, time, urllib.parse, urllib.request
interval, stop, sched, e1, e2 = float(sys.argv[1]), sys.argv[2], *sys.argv[3:]
def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read()
n = 0
while not os.path.exists(stop):
    t0 = time.time()
    for port in (sched, e1, e2):
        get(port, "/metrics"); n += 1
    runs = json.loads(get(sched, "/api/runs?limit=50"))["runs"]; n += 1
    if runs:
        get(sched, "/api/runs/" + runs[0]["run_id"]); n += 1
        get(sched, "/api/jobs/history?job=" + urllib.parse.quote(runs[0]["job"])); n += 1
    get(sched, "/api/executors"); n += 1
    time.sleep(max(0.0, interval - (time.time() - t0)))
print(n)
EOF
}

now() { "$python" -c 'import time; print(time.time())'; }
declare -A times
requests=0
for i in $(seq "$repeats"); do
  for mode in quiet observed; do
    fresh "$mode-$i"
    stop="$work/stop-$mode-$i"
    if [ "$mode" = observed ]; then
      scrape "$stop" >"$work/scraped-$i" &
      scraper=$!
    fi
    t0="$(now)"
    "$strata" submit jobs/stock_market/pipeline.sql --wait --scheduler "127.0.0.1:$sched_port" \
      --warehouse "$work/$mode-$i" >/dev/null
    wall="$("$python" -c "import time; print(f'{time.time() - $t0:.2f}')")"
    if [ "$mode" = observed ]; then
      touch "$stop"
      wait "$scraper"
      requests=$((requests + $(cat "$work/scraped-$i")))
    fi
    times[$mode]+="$wall "
    echo "run $i $mode: $wall s"
    rm -rf "$work/$mode-$i" "$work"/executor-*/*  # a run's tables and shuffle files: disk stays bounded
  done
done
"$python" - "${times[quiet]}" "${times[observed]}" "$requests" "$interval" <<'EOF'
import statistics, sys
quiet, observed = ([float(x) for x in s.split()] for s in sys.argv[1:3])
q, o = statistics.median(quiet), statistics.median(observed)
print()
print(f"quiet    median {q:.2f} s  ({' '.join(f'{x:.2f}' for x in quiet)})")
print(f"observed median {o:.2f} s  ({' '.join(f'{x:.2f}' for x in observed)})")
print(f"overhead {100 * (o - q) / q:+.2f} %  ({sys.argv[3]} requests, one round every {sys.argv[4]} s)")
EOF
