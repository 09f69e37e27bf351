#!/usr/bin/env bash
# The end-to-end benchmark (benches/e2e.rs): a simulated history of about a million records through the whole
# pipeline, beside the machine's physical references, in release mode. Takes 10-20 minutes on 2 cores.
#
#   bash benches/e2e.sh                      # embedded log; Kafka too when YUJING_KAFKA_BOOTSTRAP is set
#   YUJING_E2E_DISPUTES=20000 bash benches/e2e.sh      # a county year (about 57,000 records), quickly
#   YUJING_E2E_RATE=2000 YUJING_E2E_SECONDS=30 bash benches/e2e.sh
#
# Results: $YUJING_E2E_OUT/results.md and results.json (default ${TMPDIR:-/tmp}/yujing-e2e). The simulation is
# kept there and reused; delete it to simulate again.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/yujing-target}"
export YUJING_E2E=1
export YUJING_E2E_OUT="${YUJING_E2E_OUT:-${TMPDIR:-/tmp}/yujing-e2e}"
mkdir -p "$YUJING_E2E_OUT"
YUJING_E2E_OUT="$(cd "$YUJING_E2E_OUT" && pwd)"
if [[ -n "${YUJING_E2E_SIM:-}" ]]; then
  YUJING_E2E_SIM="$(cd "$YUJING_E2E_SIM" && pwd)"
  export YUJING_E2E_SIM
fi
export RUST_LOG="${RUST_LOG:-warn}"
cargo bench -p yujing --bench e2e
