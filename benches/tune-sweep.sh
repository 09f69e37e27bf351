#!/usr/bin/env bash
# The tuning benchmark: `yujing tune` sweeping benches/tune-grid.toml (20 configurations) over a simulated history
# of about a million clue versions, timed with /usr/bin/time (wall, CPU, peak RSS). Release build.
#
#   bash benches/tune-sweep.sh                          # 350,000 disputes, seed 3: ~1,000,000 records
#   YUJING_TUNE_DISPUTES=20000 bash benches/tune-sweep.sh    # a county year
#
# The simulation is kept in $YUJING_TUNE_OUT/sim (default ${TMPDIR:-/tmp}/yujing-tune-bench) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/yujing-target}"
out="${YUJING_TUNE_OUT:-${TMPDIR:-/tmp}/yujing-tune-bench}"
disputes="${YUJING_TUNE_DISPUTES:-350000}"
mkdir -p "$out"
cargo build --release -p yujing --locked
yujing="$CARGO_TARGET_DIR/release/yujing"
if [[ ! -d "$out/sim/feeds" ]]; then
  "$yujing" --demo simulate --seed 3 --disputes "$disputes" --days 365 --out "$out/sim"
fi
RUST_LOG=warn /usr/bin/time -v "$yujing" --demo --data-dir "$out/unused" \
  tune --truth "$out/sim" --grid benches/tune-grid.toml --out "$out/report" 2> "$out/time.txt"
grep -E '^tune:' "$out/time.txt" || true
grep -E 'Elapsed|Maximum resident|User time|System time' "$out/time.txt"
echo "report: $out/report/report.md"
