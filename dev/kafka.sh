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
  # dynostore: the in-memory storage the suite's broker uses; libsql: SQLite storage, the only one in tansu 0.6 that
  # keeps SCRAM credentials without an external schema (the secured broker below).
  local root="$STRATA_TOOLS/tansu-$TANSU_VERSION-libsql"
  local bin="$root/bin/tansu"
  if [ ! -x "$bin" ]; then
    echo "== installing tansu $TANSU_VERSION into $root (once)" >&2
    CARGO_TARGET_DIR="$STRATA_TOOLS/target" cargo install tansu --version "$TANSU_VERSION" --locked \
      --features dynostore,libsql --root "$root" >&2
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

# A second broker, secured as the seeds' Kafka is: TLS with client certificates (mutual TLS) and SASL SCRAM logins.
# tansu 0.6 authenticates (--authentication) but serves plaintext only, so dev/tls_front.py terminates TLS in front
# of it and tansu advertises the front's address. It keeps SCRAM credentials only in SQLite storage (tansu.db in its directory), and creates
# users only over a connection it has authenticated: so the broker first starts without authentication, the user is
# created with `tansu user create` (SCRAM-SHA-256 and -512), and the broker restarts with authentication on the same
# database. Certificates (a CA, a server certificate for 127.0.0.1, a client certificate) are made with openssl in a
# temporary directory; the password is random and kept in a file there. Sets and exports:
#   STRATA_KAFKA_SECURE            host:port of the TLS front (SASL_SSL)
#   STRATA_KAFKA_SECURE_CA         the CA certificate (PEM) that signed the server and client certificates
#   STRATA_KAFKA_SECURE_CERT/_KEY  the client certificate and key (PEM)
#   STRATA_KAFKA_SECURE_USER       the SCRAM user; STRATA_KAFKA_SECURE_PASSWORD_FILE its password
strata_kafka_secure_start() {
  local bin dir plain front python here pid
  bin="$(strata_tansu)"
  python="${STRATA_PYTHON:?strata_kafka_secure_start needs STRATA_PYTHON (dev/python.sh)}"
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  dir="$(mktemp -d)"
  STRATA_KAFKA_SECURE_DIR="$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=strata-test-ca" -keyout ca.key -out ca.pem
    for who in server client; do
      openssl req -newkey rsa:2048 -nodes -subj "/CN=strata-test-$who" -keyout "$who.key" -out "$who.csr"
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$who.ext"
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile "$who.ext" \
        -out "$who.pem"
    done
    head -c 24 /dev/urandom | base64 | tr -d '/+=' >password
    chmod 600 password ./*.key
  ) >"$dir/openssl.log" 2>&1 || { echo "openssl failed: $dir/openssl.log" >&2; return 1; }
  plain="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  front="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  local broker=("$bin" --listener-url "tcp://127.0.0.1:$plain" --advertised-listener-url "tcp://127.0.0.1:$front"
    --storage-engine sqlite://tansu.db --cluster-id strata-secure)
  # 1. Without authentication, only long enough to create the user.
  (cd "$dir" && exec "${broker[@]}" >"$dir/tansu-setup.log" 2>&1) &
  pid=$!
  strata_wait_port "$plain" || { echo "tansu did not start: $dir/tansu-setup.log" >&2; kill "$pid"; return 1; }
  local mechanism ok=1
  for mechanism in scram256 scram512; do
    "$bin" user create --broker "tcp://127.0.0.1:$plain" --mechanism "$mechanism" "strata" "$(cat "$dir/password")" \
      >>"$dir/user.log" 2>&1 || ok=0
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  [ "$ok" = 1 ] || { echo "could not create the SCRAM user: $dir/user.log" >&2; return 1; }
  # 2. With authentication, behind the TLS front.
  (cd "$dir" && exec "${broker[@]}" --authentication >"$dir/tansu.log" 2>&1) &
  STRATA_KAFKA_SECURE_PIDS="$!"
  "$python" "$here/tls_front.py" "$front" "$plain" "$dir/server.pem" "$dir/server.key" "$dir/ca.pem" \
    >"$dir/front.log" 2>&1 &
  STRATA_KAFKA_SECURE_PIDS="$STRATA_KAFKA_SECURE_PIDS $!"
  STRATA_KAFKA_SECURE="127.0.0.1:$front"
  STRATA_KAFKA_SECURE_CA="$dir/ca.pem"
  STRATA_KAFKA_SECURE_CERT="$dir/client.pem"
  STRATA_KAFKA_SECURE_KEY="$dir/client.key"
  STRATA_KAFKA_SECURE_USER=strata
  STRATA_KAFKA_SECURE_PASSWORD_FILE="$dir/password"
  export STRATA_KAFKA_SECURE STRATA_KAFKA_SECURE_CA STRATA_KAFKA_SECURE_CERT STRATA_KAFKA_SECURE_KEY \
    STRATA_KAFKA_SECURE_USER STRATA_KAFKA_SECURE_PASSWORD_FILE STRATA_KAFKA_SECURE_PIDS STRATA_KAFKA_SECURE_DIR
  strata_wait_port "$plain" && strata_wait_port "$front" || {
    echo "the secured broker did not start: $dir/tansu.log, $dir/front.log" >&2
    return 1
  }
  echo "$STRATA_KAFKA_SECURE"
}

# Wait (10 s at most) until something listens on loopback port $1.
strata_wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

strata_kafka_secure_stop() {
  local pid
  for pid in ${STRATA_KAFKA_SECURE_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
  [ -n "${STRATA_KAFKA_SECURE_DIR:-}" ] && rm -rf "$STRATA_KAFKA_SECURE_DIR"
  return 0
}
