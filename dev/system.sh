# Sourced by dev scripts: the Debian packages the build needs. rdkafka builds its bundled librdkafka with the
# library's own configure script and make (no cmake, no curl headers), so a C compiler and make are all it takes;
# zlib is found on the system or built from source by libz-sys. Installs only what is missing (needs root or sudo).
strata_system_packages() {
  local missing=()
  command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
  command -v make >/dev/null 2>&1 || missing+=(make)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing Debian packages: ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  # A stale package index can offer a -dev package older than the installed library: refresh it and retry.
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}
