# Sourced by dev scripts: the Debian packages the build and the test suite need. rdkafka builds its bundled
# librdkafka with the library's own configure script and make (no cmake, no curl headers): a C compiler, make, and
# OpenSSL's headers found by pkg-config (libssl-dev; librdkafka's TLS and SASL SCRAM use OpenSSL); zlib is found on
# the system or built from source by libz-sys. Installs only what is missing (needs root or sudo).
strata_system_packages() {
  local missing=()
  command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  [ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
  strata_apt_install "${missing[@]}"
}

# What the test suite's services need besides the build: curl (the object store's readiness probe) and Python's venv.
strata_test_packages() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl) # the secured Kafka broker's certificates
  # promtool lints /metrics and tests the chart's alert rules; the Pushgateway takes `strata run --metrics-push`.
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
  strata_apt_install "${missing[@]}"
}

strata_apt_install() {
  [ $# -eq 0 ] && return 0
  echo "== installing Debian packages: $*" >&2
  local sudo=() policy=/usr/sbin/policy-rc.d made_policy=0
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  # Services a package ships (prometheus, the Pushgateway) must not start: the tests start what they need.
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod +x "$policy" && made_policy=1
  fi
  # A stale package index can offer a -dev package older than the installed library: refresh it and retry.
  local status=0
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; then
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 || status=$?
  fi
  [ "$made_policy" = 1 ] && "${sudo[@]}" rm -f "$policy"
  return "$status"
}
