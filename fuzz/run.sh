#!/usr/bin/env bash
# Coverage-guided fuzzing of the six decoders and the normalizer (libFuzzer through cargo-fuzz, nightly).
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     default: 600 s each, every target
#
# Targets: hotline12345 grid police screening justice exchange. Each decodes its input as that feed's export
# and normalizes every record (fuzz/src/lib.rs). New inputs go to fuzz/work/<target> (not committed), seeded
# from fuzz/corpus/<target>: the regression corpus, the fixtures plus every input that once crashed, which the
# test crates/yujing-feeds/tests/fuzz_corpus.rs replays on stable in CI. A crash is written to
# fuzz/artifacts/<target>/; copy it into fuzz/corpus/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(hotline12345 grid police screening justice exchange)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export CARGO_TARGET_DIR="${YUJING_FUZZ_TARGET:-$HOME/.cache/yujing-fuzz-target}"
for target in "${targets[@]}"; do
  mkdir -p "work/$target" "artifacts/$target"
  echo "=== $target: ${seconds} s"
  cargo +nightly fuzz run "$target" "work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$target/" -print_final_stats=1
done
