#!/usr/bin/env bash
# An Azure Blob Storage emulator on loopback for the test suite: Azurite from npm (pinned), blob service only.
#
#   source dev/azure.sh; strata_azure_start    # prints the endpoint; exports the AZURE_* settings for it
#
# Installed once into ~/.cache/strata/tools/azurite-<version> (needs node and npm: installed from Debian when
# missing). Bound to 127.0.0.1, telemetry off, data in a temporary directory. Requests are checked against the
# emulator's well-known account key (SharedKey signatures); container `strata` exists from the start.
STRATA_TOOLS="${STRATA_TOOLS:-$HOME/.cache/strata/tools}"
AZURITE_VERSION="${AZURITE_VERSION:-3.37.0}"

strata_azurite() {
  local dir="$STRATA_TOOLS/azurite-$AZURITE_VERSION"
  if [ ! -x "$dir/node_modules/.bin/azurite-blob" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      # shellcheck source=dev/system.sh
      source "$(dirname "${BASH_SOURCE[0]}")/system.sh"
      strata_apt_install nodejs npm
    fi
    echo "== installing Azurite $AZURITE_VERSION into $dir (once)" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >&2
  fi
  echo "$dir/node_modules/.bin/azurite-blob"
}

# Start the blob service on a free loopback port; sets STRATA_AZURE (its URL) and STRATA_AZURE_PID, and exports
# what every client (Strata's az:// stores) reads: the emulator switch and its URL.
strata_azure_start() {
  local bin dir port
  bin="$(strata_azurite)"
  dir="$(mktemp -d)"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$bin" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir" --disableTelemetry --skipApiVersionCheck \
    --silent >"$dir/azurite.log" 2>&1 &
  STRATA_AZURE_PID=$!
  STRATA_AZURE="http://127.0.0.1:$port"
  AZURE_STORAGE_USE_EMULATOR=true
  AZURITE_BLOB_STORAGE_URL="$STRATA_AZURE"
  export STRATA_AZURE STRATA_AZURE_PID AZURE_STORAGE_USE_EMULATOR AZURITE_BLOB_STORAGE_URL
  for _ in $(seq 200); do
    if python3 "$(dirname "${BASH_SOURCE[0]}")/azure_container.py" "$STRATA_AZURE" strata 2>/dev/null; then
      echo "$STRATA_AZURE"
      return 0
    fi
    kill -0 "$STRATA_AZURE_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "Azurite did not start; its log: $dir/azurite.log" >&2
  tail -20 "$dir/azurite.log" >&2
  return 1
}

strata_azure_stop() {
  if [ -n "${STRATA_AZURE_PID:-}" ]; then
    kill "$STRATA_AZURE_PID" 2>/dev/null || true
    wait "$STRATA_AZURE_PID" 2>/dev/null || true
  fi
}
