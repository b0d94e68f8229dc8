#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds (default 10) on its corpus under
# fuzz/corpus/, and prints the executions of each and in all. Any crash stops the run
# with a non-zero status; libFuzzer leaves the input under fuzz/artifacts/<target>/.
# Needs cargo-fuzz (cargo install cargo-fuzz); runs on stable Rust.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-10}"
mkdir -p logs
cargo fuzz build --sanitizer none
total=0
for target in $(cargo fuzz list); do
  log="logs/$target.log"
  if ! cargo fuzz run "$target" --sanitizer none -- \
      -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $target failed: see fuzz/$log and fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  runs=${runs:-0}
  total=$((total + runs))
  printf '%-22s %12d executions, no crash\n' "$target" "$runs"
done
printf '%-22s %12d executions\n' "all targets" "$total"
