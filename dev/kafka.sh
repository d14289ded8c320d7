#!/usr/bin/env bash
# A Kafka-protocol broker on loopback for the test suite: `tansu` (Apache Kafka is not in the reachable registries).
#
#   source dev/kafka.sh; strata_kafka_start      # prints the bootstrap address; the broker stops with this shell
#
# The binary is built once with `cargo install` (about 15 minutes on 2 cores) into ~/.cache/strata/tools and reused
# by later runs and CI. Storage is in memory: every start is an empty broker. Topics are not auto-created.
STRATA_TOOLS="${STRATA_TOOLS:-$HOME/.cache/strata/tools}"
TANSU_VERSION="${TANSU_VERSION:-0.6.0}"

strata_tansu() {
  local bin="$STRATA_TOOLS/bin/tansu"
  if [ ! -x "$bin" ]; then
    echo "== installing tansu $TANSU_VERSION into $STRATA_TOOLS (once)" >&2
    CARGO_TARGET_DIR="$STRATA_TOOLS/target" cargo install tansu --version "$TANSU_VERSION" --locked \
      --features dynostore --root "$STRATA_TOOLS" >&2
  fi
  echo "$bin"
}

# Start a broker on a free loopback port; sets STRATA_KAFKA (host:port) and STRATA_KAFKA_PID.
strata_kafka_start() {
  local bin port dir
  bin="$(strata_tansu)"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  dir="$(mktemp -d)" # tansu reads a .env from its working directory: give it an empty one
  (cd "$dir" && exec "$bin" --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ --cluster-id strata-test >"$dir/tansu.log" 2>&1) &
  STRATA_KAFKA_PID=$!
  STRATA_KAFKA="127.0.0.1:$port"
  export STRATA_KAFKA STRATA_KAFKA_PID
  for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      echo "$STRATA_KAFKA"
      return 0
    fi
    sleep 0.1
  done
  echo "tansu did not start; its log: $dir/tansu.log" >&2
  return 1
}

strata_kafka_stop() {
  [ -n "${STRATA_KAFKA_PID:-}" ] && kill "$STRATA_KAFKA_PID" 2>/dev/null || true
}
