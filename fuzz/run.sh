#!/usr/bin/env bash
# Runs netseg's fuzz targets for a bounded time each and fails on the first crash.
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 seconds, every target)
# cargo-fuzz needs nightly-only flags (sanitizers, coverage instrumentation); RUSTC_BOOTSTRAP lets the one stable
# toolchain of this machine accept them. New inputs go to fuzz/corpus/TARGET (not committed); fuzz/seeds/TARGET
# holds the committed seeds. A crash leaves its input in fuzz/artifacts/TARGET: turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(load validate engine); fi
if ! command -v cargo-fuzz > /dev/null; then
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "seeds/$target"
  echo "== fuzz $target for ${seconds}s"
  # grep hides libFuzzer's chatter but keeps the verdict, the final stats and any panic.
  set +e
  cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ +DONE|stat::|==[0-9]+==|SUMMARY|thread .* panicked|Done [0-9]+ runs)|^(line|assert)"
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "fuzz target $target failed (exit $status); the input is in fuzz/artifacts/$target"
    exit 1
  fi
done
