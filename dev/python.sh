# Sourced by dev scripts: a Python venv (outside the clone) with the packages tests and benchmarks use.
# `strata_python` prints the interpreter path, creating or completing the venv first.
strata_python() {
  local venv="${STRATA_VENV:-$HOME/.cache/strata/venv}"
  if ! "$venv/bin/python" -c 'import deltalake, pyarrow, pandas, talib, numpy, adbc_driver_flightsql.dbapi, prometheus_client, opentelemetry.proto.collector.trace.v1.trace_service_pb2, exchange_calendars' >/dev/null 2>&1; then
    echo "== installing the Python test tools into $venv" >&2
    python3 -m venv "$venv" >&2
    # ta-lib is pinned: reference values depend on the bundled TA-Lib C version. exchange_calendars is the
    # independent NYSE calendar the Fibonacci bars are checked against (4.8+ runs on pandas 3).
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'deltalake>=1.1' 'pyarrow>=18' 'ta-lib==0.8.2' numpy 'pandas>=2' \
      'adbc-driver-flightsql==1.13.0' 'adbc-driver-manager==1.13.0' 'prometheus-client>=0.20' 'opentelemetry-proto>=1.20' \
      'exchange_calendars>=4.8' >&2
  fi
  echo "$venv/bin/python"
}
