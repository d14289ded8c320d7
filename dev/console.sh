#!/usr/bin/env bash
# A headless browser for testing the scheduler's web console (flight/console) with dev/console_test.mjs.
#
#   source dev/console.sh
#   strata_console_tools       # installs what is missing; exports STRATA_CHROMIUM and STRATA_PLAYWRIGHT
#   node dev/console_test.mjs --url http://127.0.0.1:PORT --user alice --password-file FILE \
#     --ok-run RUN_ID --failed-run RUN_ID --expect-location jobs/x.sql:12 --screenshots DIR
#
# Chromium is Debian's package (Playwright's own browser download is not from a package registry); playwright-core (pinned,
# no bundled browser) drives it over CDP and is installed once from npm into ~/.cache/strata/tools/playwright.
# playwright-core 1.61 is the newest that still runs on Node 18 (Debian 12's nodejs, used when node is missing).
# Progress goes to stderr; stdout is only the two `NAME=value` lines.
STRATA_TOOLS="${STRATA_TOOLS:-$HOME/.cache/strata/tools}"
STRATA_PLAYWRIGHT_VERSION="${STRATA_PLAYWRIGHT_VERSION:-1.61.1}"

strata_console_tools() {
  local missing=() chromium dir="$STRATA_TOOLS/playwright" have
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  chromium="$(command -v chromium 2>/dev/null || true)"
  [ -n "$chromium" ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    # shellcheck source=dev/system.sh
    source "$(dirname "${BASH_SOURCE[0]}")/system.sh"
    strata_apt_install "${missing[@]}" || return 1
    chromium="$(command -v chromium 2>/dev/null || true)"
  fi
  # Debian's /usr/bin/chromium is a shell wrapper (it reads /etc/chromium.d, and its /dev/shm check can print
  # shell errors); the browser it starts is /usr/lib/chromium/chromium, which Playwright launches directly.
  [ -x /usr/lib/chromium/chromium ] && [ "$chromium" = /usr/bin/chromium ] && chromium=/usr/lib/chromium/chromium
  if [ -z "$chromium" ] || ! "$chromium" --version >/dev/null 2>&1; then
    echo "chromium is not usable: ${chromium:-not installed}" >&2
    return 1
  fi
  have="$(node -p 'try { require(process.argv[1]).version } catch (e) { "" }' \
    "$dir/node_modules/playwright-core/package.json" 2>/dev/null || true)"
  if [ "$have" != "$STRATA_PLAYWRIGHT_VERSION" ]; then
    echo "== installing playwright-core $STRATA_PLAYWRIGHT_VERSION into $dir (once)" >&2
    mkdir -p "$dir"
    # No browser download: playwright-core has none, and the variable keeps any postinstall from trying.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
      "playwright-core@$STRATA_PLAYWRIGHT_VERSION" >&2 || return 1
  fi
  STRATA_CHROMIUM="$chromium"
  STRATA_PLAYWRIGHT="$dir/node_modules"
  export STRATA_CHROMIUM STRATA_PLAYWRIGHT
  echo "STRATA_CHROMIUM=$STRATA_CHROMIUM"
  echo "STRATA_PLAYWRIGHT=$STRATA_PLAYWRIGHT"
}
