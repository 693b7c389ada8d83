#!/usr/bin/env bash
# Run the fuzz targets: fuzz/run.sh [SECONDS] [TARGET...]
# Each target runs SECONDS (default 300) from its committed seeds
# (fuzz/seeds/<t>) plus a working corpus (fuzz/corpus/<t>, gitignored).
# Crashes land in fuzz/artifacts/<t>/; replay one with
#   cargo +nightly fuzz run <t> fuzz/artifacts/<t>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(decode roundtrip server_connection gateway client_connection device_connect node_invoke)
fi
status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "=== $t: ${secs}s"
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$secs" -max_len=4096 -print_final_stats=1; then
    echo "=== $t: FAILED (see fuzz/artifacts/$t/)"
    status=1
  fi
done
exit $status
