#!/usr/bin/env bash
# A private Docker daemon for the test suite, the local base images, and the Strata image built from a binary.
#
#   source dev/docker.sh
#   strata_docker_start                              # dockerd on a private socket; exports DOCKER_HOST
#   strata_docker_network strata-test 10.214.0.0/24  # a bridge network: one IP per container, DNS for aliases;
#                                                    # prints the gateway (the host's address on it): 10.214.0.1
#   strata_docker_bases                              # strata-runtime-base:local (FROM scratch + the libraries)
#   strata_docker_image ~/.cache/strata/target/debug/strata strata:test   # prints the image id and its size
#   strata_docker_debian [PACKAGE...]                # optional: strata-debian:bookworm, a shell image (debootstrap)
#   ...  docker run --label strata.test=1 ...         # label everything a test creates
#   strata_docker_stop                               # removes labelled containers/networks, stops dockerd
#
# What it guarantees:
# - The host network is left alone: dockerd runs with `--bridge=none --iptables=false --ip6tables=false
#   --ip-forward=false --ip-masq=false`: no docker0, no iptables chain or rule on the host, no sysctl change
#   (ip_forward stays as it was). Only the bridges of networks made by `strata_docker_network` appear, and
#   `strata_docker_stop` removes them. (The chaos test's own netns bridge, 10.213.0.0/24, is never touched.)
# - Images and layers persist in ~/.cache/strata/docker/root (STRATA_DOCKER_ROOT), so the bases and built images
#   are reused across runs; sockets and runtime state live in a temporary directory removed on stop. One daemon
#   per data root: dockerd refuses to start while the pid file of a live one exists.
# - Nothing is pulled: no registry is reachable. Base images are made locally from the host's files.
# - Storage driver: overlay2 (the data root is on ext4 here; checked: import, build and run all work). vfs is the
#   fallback if overlay2 fails to start (STRATA_DOCKER_STORAGE_DRIVER overrides): it works everywhere but copies
#   every layer in full.
# - Docker CLIs: /usr/local/bin/docker (28.2) and Debian's /usr/bin/docker (20.10) both talk to the daemon
#   (Debian's docker.io 20.10.24, API 1.41; the 28.2 client negotiates down). Builds use Debian's 20.10 client
#   with DOCKER_BUILDKIT=1: the daemon's built-in BuildKit needs no buildx plugin with that client (the 28.2
#   client refuses BuildKit without buildx), and BuildKit skips stages the target does not need, which the
#   legacy builder does not. STRATA_DOCKER_CLI is that client. There is no default bridge, so a BuildKit build
#   whose RUN steps need a network (the Dockerfile's source path: cargo fetches crates) needs `--network host`.
# - `docker run` prints "WARNING: IPv4 forwarding is disabled" on stderr: harmless (no traffic leaves the host).
# - Restart policies: `docker kill` and `docker stop` count as manual stops, never restarted. A crash is: to make a
#   "pod" crash and come back (same IP), kill its process: kill -9 "$(docker inspect -f '{{.State.Pid}}' NAME)".
# - The container's entrypoint is PID 1: a SIGTERM it does not handle is ignored, and `docker stop` then kills
#   it after the timeout (exit 137), as on Kubernetes.
#
# Networking with --iptables=false (checked on this machine, user-defined bridge 10.214.0.0/24, gateway .1):
# - containers on the network reach each other by IP and by `--network-alias` names: the embedded DNS server
#   (127.0.0.11 inside each container) still works, because its redirect rules live in the container's own
#   network namespace, not the host's;
# - the host reaches every container's IP directly (the bridge holds the gateway address);
# - containers reach a server on the host bound to the gateway IP (e.g. SeaweedFS with STRATA_S3_HOST=10.214.0.1);
# - containers reach nothing beyond the host (no masquerading, no forwarding): what the tests want;
# - a name the embedded DNS does not know is forwarded upstream, which is unreachable: a 10-15 s timeout per miss,
#   unless the container has `--dns GATEWAY` and strata_docker_network's NXDOMAIN server answers (instantly).
STRATA_DOCKER_HOME="${STRATA_DOCKER_HOME:-$HOME/.cache/strata/docker}"
STRATA_DOCKER_ROOT="${STRATA_DOCKER_ROOT:-$STRATA_DOCKER_HOME/root}"
STRATA_DOCKER_CLI="${STRATA_DOCKER_CLI:-/usr/bin/docker}"
STRATA_DOCKER_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Start dockerd (installing Debian's docker.io first if needed); exports DOCKER_HOST, STRATA_DOCKER_PID and
# STRATA_DOCKER_RUN (the temporary directory: socket, exec root, daemon config).
strata_docker_start() {
  if [ -n "${STRATA_DOCKER_PID:-}" ] && kill -0 "$STRATA_DOCKER_PID" 2>/dev/null; then
    return 0  # already running (started by this shell)
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "== installing docker.io (Debian) once" >&2
    # shellcheck source=dev/system.sh
    source "$STRATA_DOCKER_REPO/dev/system.sh"
    DEBIAN_FRONTEND=noninteractive strata_apt_install docker.io || return 1
  fi
  mkdir -p "$STRATA_DOCKER_ROOT"
  # Short path: containerd's shim sockets live under the exec root and unix socket paths are limited to 108 bytes.
  STRATA_DOCKER_RUN="$(mktemp -d /tmp/strata-docker.XXXXXX)"
  echo '{}' >"$STRATA_DOCKER_RUN/daemon.json"
  local driver log="$STRATA_DOCKER_HOME/dockerd.log"
  for driver in ${STRATA_DOCKER_STORAGE_DRIVER:-overlay2 vfs}; do
    dockerd --config-file "$STRATA_DOCKER_RUN/daemon.json" --data-root "$STRATA_DOCKER_ROOT" \
      --exec-root "$STRATA_DOCKER_RUN/exec" --pidfile "$STRATA_DOCKER_HOME/dockerd.pid" \
      -H "unix://$STRATA_DOCKER_RUN/docker.sock" --storage-driver "$driver" \
      --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
      --userland-proxy=false --shutdown-timeout 10 >"$log" 2>&1 &
    STRATA_DOCKER_PID=$!
    export DOCKER_HOST="unix://$STRATA_DOCKER_RUN/docker.sock" STRATA_DOCKER_PID STRATA_DOCKER_RUN
    local _
    for _ in $(seq 300); do
      if "$STRATA_DOCKER_CLI" version >/dev/null 2>&1; then
        strata_docker_cleanup
        return 0
      fi
      kill -0 "$STRATA_DOCKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    echo "dockerd did not start with storage driver $driver; its log ($log):" >&2
    tail -15 "$log" >&2
    strata_docker_kill
    # Another daemon on this data root is not a storage-driver problem: stop trying.
    if grep -q 'pid file found' "$log"; then
      break
    fi
  done
  rm -rf "$STRATA_DOCKER_RUN"
  unset DOCKER_HOST STRATA_DOCKER_PID STRATA_DOCKER_RUN
  return 1
}

# Remove what tests made (containers and networks labelled strata.test=1); also run at start, after a crash.
strata_docker_cleanup() {
  local ids
  ids="$("$STRATA_DOCKER_CLI" ps -aq --filter label=strata.test=1)"
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    "$STRATA_DOCKER_CLI" rm -f $ids >/dev/null 2>&1 || true
  fi
  ids="$("$STRATA_DOCKER_CLI" network ls -q --filter label=strata.test=1)"
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    "$STRATA_DOCKER_CLI" network rm $ids >/dev/null 2>&1 || true
  fi
}

# TERM dockerd and wait for it (it stops its containerd first); KILL after 30 s.
strata_docker_kill() {
  [ -n "${STRATA_DOCKER_PID:-}" ] || return 0
  kill "$STRATA_DOCKER_PID" 2>/dev/null || true
  local _
  for _ in $(seq 300); do
    kill -0 "$STRATA_DOCKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$STRATA_DOCKER_PID" 2>/dev/null; then
    kill -9 "$STRATA_DOCKER_PID" 2>/dev/null || true
  fi
  wait "$STRATA_DOCKER_PID" 2>/dev/null || true
}

# Remove the test's containers and networks, stop dockerd, remove the temporary directory.
strata_docker_stop() {
  [ -n "${STRATA_DOCKER_PID:-}" ] || return 0
  strata_docker_cleanup
  local pid
  if [ -f "$STRATA_DOCKER_RUN/dns.pids" ]; then
    while read -r pid; do
      if grep -q dns-stub "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
      fi
    done <"$STRATA_DOCKER_RUN/dns.pids"
  fi
  strata_docker_kill
  if [ -n "${STRATA_DOCKER_RUN:-}" ]; then
    # dockerd unmounts what it mounted; anything left (after a KILL) is unmounted here before removal.
    grep -o " $STRATA_DOCKER_RUN/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$STRATA_DOCKER_RUN"
  fi
  unset DOCKER_HOST STRATA_DOCKER_PID STRATA_DOCKER_RUN
}

# strata_docker_network NAME SUBNET: a user-defined bridge network (idempotent; recreated if its subnet differs).
# The gateway is the subnet's first address and is assigned to the host's side of the bridge. Prints the gateway.
strata_docker_network() {
  local name="$1" subnet="$2" gateway current
  gateway="$(python3 -c 'import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1]).hosts()))' "$subnet")" \
    || return 1
  current="$("$STRATA_DOCKER_CLI" network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$name" 2>/dev/null)" || true
  if [ -n "$current" ] && [ "$current" != "$subnet" ]; then
    "$STRATA_DOCKER_CLI" network rm "$name" >/dev/null || return 1
    current=""
  fi
  if [ -z "$current" ]; then
    "$STRATA_DOCKER_CLI" network create --driver bridge --subnet "$subnet" --gateway "$gateway" \
      --label strata.test=1 "$name" >/dev/null || return 1
  fi
  # Docker's embedded DNS forwards names it does not know to the host's resolver, unreachable from the network:
  # each miss would hang 10 s+. A server on GATEWAY:53 answering NXDOMAIN to everything (as a cluster's DNS does
  # for names that do not exist) makes misses instant for containers run with `--dns GATEWAY` (kube_play.py
  # passes it). kube_play.py records its pid in $STRATA_DOCKER_RUN/dns.pids: strata_docker_stop stops it.
  python3 "$STRATA_DOCKER_REPO/dev/kube_play.py" dns-stub --bind "$gateway" --detach >/dev/null || return 1
  echo "$gateway"
}

# The shared libraries (and the loader) binary $1 needs, as ldd resolves them on this host: one path a line.
strata_docker_libs() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u
}

# strata_docker_bases [BINARY]: make strata-runtime-base:local, a FROM-scratch image with the shared libraries
# BINARY needs (default: the debug build) plus the loader, /etc/passwd and /etc/group with nonroot (65532),
# /etc/nsswitch.conf, the CA bundle and /tmp (1777); the same shape as gcr.io/distroless/cc-debian12:nonroot,
# plus libz, which that image lacks. Rebuilt only when its content (libraries, files) changes: its label
# strata.base.hash records a hash of that content.
strata_docker_bases() {
  local binary="${1:-$HOME/.cache/strata/target/debug/strata}" dir hash lib current
  [ -x "$binary" ] || { echo "strata_docker_bases: no binary $binary" >&2; return 1; }
  dir="$(mktemp -d)"
  mkdir -p "$dir/etc/ssl/certs" "$dir/tmp" "$dir/home/nonroot"
  # Every library is copied (its content, links resolved) to the path ldd names, the loader included.
  while read -r lib; do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done < <(strata_docker_libs "$binary")
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$dir/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$dir/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' 'networks: files' \
    'protocols: files' 'services: files' >"$dir/etc/nsswitch.conf"
  cp -L /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
  chmod 1777 "$dir/tmp"
  chown 65532:65532 "$dir/home/nonroot"
  chmod 700 "$dir/home/nonroot"
  hash="$(cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  current="$("$STRATA_DOCKER_CLI" image inspect -f '{{index .Config.Labels "strata.base.hash"}}' \
    strata-runtime-base:local 2>/dev/null)" || true
  if [ "$current" != "$hash" ]; then
    echo "== building strata-runtime-base:local ($hash)" >&2
    tar --numeric-owner --sort=name --mtime=@0 -C "$dir" -c . |
      "$STRATA_DOCKER_CLI" import -c "LABEL strata.base.hash=$hash" -c 'USER 65532:65532' \
        -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "strata-runtime-base:$hash" >/dev/null || { rm -rf "$dir"; return 1; }
    "$STRATA_DOCKER_CLI" tag "strata-runtime-base:$hash" strata-runtime-base:local
  fi
  rm -rf "$dir"
  echo "strata-runtime-base:local"
}

# strata_docker_image BINARY TAG: build the repo's Dockerfile around BINARY (stripped of debug info) on
# strata-runtime-base:local, tag it TAG and print "IMAGE_ID SIZE_BYTES". Reused (retagged, not rebuilt) while the
# binary, the Dockerfile and the base are unchanged: the build is tagged strata-build:<hash of the three>.
strata_docker_image() {
  local binary="$1" tag="$2" base key ctx
  [ -x "$binary" ] && [ -n "$tag" ] || { echo "usage: strata_docker_image BINARY TAG" >&2; return 1; }
  command -v objcopy >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    binutils >&2 || return 1
  strata_docker_bases "$binary" >/dev/null || return 1
  base="$("$STRATA_DOCKER_CLI" image inspect -f '{{.Id}}' strata-runtime-base:local)" || return 1
  key="$( { sha256sum <"$binary"; sha256sum <"$STRATA_DOCKER_REPO/Dockerfile"; echo "$base"; } | sha256sum | cut -c1-16)"
  if ! "$STRATA_DOCKER_CLI" image inspect "strata-build:$key" >/dev/null 2>&1; then
    # The context is a root-filesystem overlay (see the Dockerfile): just usr/local/bin/strata.
    ctx="$(mktemp -d)"
    mkdir -p "$ctx/usr/local/bin"
    objcopy --strip-debug "$binary" "$ctx/usr/local/bin/strata" || { rm -rf "$ctx"; return 1; }
    chmod 755 "$ctx/usr/local/bin/strata"
    DOCKER_BUILDKIT=1 "$STRATA_DOCKER_CLI" build -q -f "$STRATA_DOCKER_REPO/Dockerfile" \
      --build-arg RUNTIME_IMAGE=strata-runtime-base:local --build-arg BINARY_SOURCE=prebuilt \
      --label "strata.build.key=$key" -t "strata-build:$key" "$ctx" >/dev/null || { rm -rf "$ctx"; return 1; }
    rm -rf "$ctx"
    # Keep the data root small: every build stores a ~360 MB layer, and BuildKit caches the context too. Other
    # builds lose their strata-build tag (images still tagged otherwise stay), then dangling images and the
    # build cache go.
    local old
    for old in $("$STRATA_DOCKER_CLI" images --format '{{.Repository}}:{{.Tag}}' strata-build); do
      [ "$old" = "strata-build:$key" ] || "$STRATA_DOCKER_CLI" rmi "$old" >/dev/null 2>&1 || true
    done
    "$STRATA_DOCKER_CLI" image prune -f >/dev/null 2>&1 || true
    "$STRATA_DOCKER_CLI" builder prune -af >/dev/null 2>&1 || true
  fi
  "$STRATA_DOCKER_CLI" tag "strata-build:$key" "$tag" || return 1
  "$STRATA_DOCKER_CLI" image inspect -f '{{.Id}} {{.Size}}' "$tag"
}

# strata_docker_debian [PACKAGE...]: strata-debian:bookworm, a Debian bookworm minbase (debootstrap, ~45 s once)
# with the packages given (binutils by default), for containers that need a shell or tools. Rebuilt only when the
# package list changes (label strata.debian.packages).
strata_docker_debian() {
  local packages="${*:-binutils}" current rootfs
  current="$("$STRATA_DOCKER_CLI" image inspect -f '{{index .Config.Labels "strata.debian.packages"}}' \
    strata-debian:bookworm 2>/dev/null)" || true
  if [ "$current" != "$packages" ]; then
    command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y \
      --no-install-recommends debootstrap >&2 || return 1
    rootfs="$(mktemp -d)"
    echo "== debootstrap bookworm ($packages) into $rootfs" >&2
    debootstrap --variant=minbase --include="${packages// /,}" bookworm "$rootfs" http://deb.debian.org/debian >&2 \
      || { rm -rf "$rootfs"; return 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -c . | "$STRATA_DOCKER_CLI" import -c "LABEL strata.debian.packages=\"$packages\"" \
      -c 'CMD ["/bin/bash"]' - strata-debian:bookworm >/dev/null || { rm -rf "$rootfs"; return 1; }
    rm -rf "$rootfs"
  fi
  echo strata-debian:bookworm
}
