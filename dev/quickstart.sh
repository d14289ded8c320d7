#!/usr/bin/env bash
# Generate sample market data and run the stock pipeline on the embedded engine (no cluster, no services).
# Output: Delta tables under ./warehouse (or $STRATA_WAREHOUSE). Extra arguments go to `strata run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata/target}"
warehouse="${STRATA_WAREHOUSE:-./warehouse}"

# shellcheck source=dev/system.sh
source dev/system.sh
strata_system_packages

cargo build --locked --quiet -p strata-cli
strata="$CARGO_TARGET_DIR/debug/strata"
"$strata" generate market --symbols 50 --start 2015-01-01 --end 2024-12-31 --seed 42 --defect-rate 0.01 \
  --out "$warehouse/bronze/market_daily"
"$strata" run jobs/stock_market/pipeline.sql --warehouse "$warehouse" "$@"
