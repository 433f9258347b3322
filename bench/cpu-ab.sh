#!/bin/bash
# Same-run A/B of two `secnn bench --backend flex` configurations, alternating, per-pair ratios.
#   bench/cpu-ab.sh ROUNDS BIN_A "ARGS_A" BIN_B "ARGS_B"
# e.g. one binary with and without a CPU kernel:
#   bench/cpu-ab.sh 4 target/release/secnn "--burn-layers conv" target/release/secnn ""
# or two builds (two commits) with the same arguments. Prints B/A: training images/s, batch-1
# time, batch-256 images/s.
set -euo pipefail
rounds=$1 bin_a=$2 args_a=$3 bin_b=$4 args_b=$5
measure() {
  # shellcheck disable=SC2086
  "$1" bench --backend flex --runs 3 $2 2>/dev/null | python3 -c \
    "import json,sys; d=json.load(sys.stdin); print(d['train_images_per_s'], d['infer_batch1_ms'], d['infer_batch256_images_per_s'])"
}
for _ in $(seq "$rounds"); do
  echo "$(measure "$bin_a" "$args_a") | $(measure "$bin_b" "$args_b")"
done | python3 -c '
import statistics, sys
rows = [line.split("|") for line in sys.stdin]
for name, i in (("training", 0), ("batch-1 time", 1), ("batch 256", 2)):
    a = [float(r[0].split()[i]) for r in rows]
    b = [float(r[1].split()[i]) for r in rows]
    ratios = [y / x for x, y in zip(a, b)]
    print(f"{name}: A {statistics.median(a):.2f}, B {statistics.median(b):.2f}, B/A per pair {statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f})")
'
