#!/usr/bin/env bash
# A PostgreSQL server on loopback for the test suite: Debian's PostgreSQL, a fresh cluster in a temporary
# directory, password authentication (scram-sha-256) for a `strata` superuser.
#
#   source dev/postgres.sh; strata_postgres_start   # sets STRATA_POSTGRES (host:port), STRATA_PG_USER,
#                                                   # STRATA_PG_PASSWORD, STRATA_PG_CA (TLS is on, signed by a
#                                                   # throwaway CA); strata_postgres_stop stops it
#
# Installs Debian's `postgresql` package when no server binaries are present. initdb refuses to run as root, so
# as root the server runs as the `postgres` system user the package creates.

strata_pg_bin() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "== installing Debian's postgresql" >&2
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" apt-get install -y --no-install-recommends postgresql >&2 ||
      { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y --no-install-recommends postgresql >&2; }
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$bin"
}

# Run a server binary as the user that owns the cluster.
strata_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

strata_postgres_start() {
  local bin port dir
  bin="$(strata_pg_bin)"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  dir="$(mktemp -d)"
  STRATA_PG_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
  printf '%s\n' "$STRATA_PG_PASSWORD" >"$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
  strata_pg_as_owner "$bin/initdb" -D "$dir/data" -U strata --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$dir/pwfile"
  # TLS: a throwaway certificate authority and a server certificate for 127.0.0.1 / localhost. The role `tls_only`
  # may connect over TLS only (tests create it).
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=strata test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/data/server.key" \
    -out "$dir/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/san.ext" -out "$dir/data/server.crt" >/dev/null 2>&1
  chmod 600 "$dir/data/server.key"
  { echo "hostnossl all tls_only 127.0.0.1/32 reject"; cat "$dir/data/pg_hba.conf"; } >"$dir/pg_hba.new"
  mv "$dir/pg_hba.new" "$dir/data/pg_hba.conf"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir/data"
  chmod 644 "$dir/ca.crt"
  # Tests trade durability for speed; benchmarks (STRATA_PG_DURABLE=1) keep PostgreSQL's defaults.
  local settings="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ssl=on"
  [ "${STRATA_PG_DURABLE:-0}" = 1 ] && settings="-c max_wal_size=4GB -c ssl=on"
  strata_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $settings" \
    start >/dev/null || { cat "$dir/postgres.log" >&2; return 1; }
  STRATA_POSTGRES="127.0.0.1:$port"
  STRATA_PG_USER=strata
  STRATA_PG_DIR="$dir"
  STRATA_PG_CA="$dir/ca.crt"
  export STRATA_POSTGRES STRATA_PG_USER STRATA_PG_PASSWORD STRATA_PG_DIR STRATA_PG_CA
  echo "$STRATA_POSTGRES"
}

strata_postgres_stop() {
  [ -n "${STRATA_PG_DIR:-}" ] || return 0
  strata_pg_as_owner "$(strata_pg_bin)/pg_ctl" -D "$STRATA_PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$STRATA_PG_DIR"
}
