#!/bin/bash
# Where the browser's CPU fine-tuning spends its time: `perf record` of the whole machine while
# headless Chromium fine-tunes through the module's worker, with V8 writing perf maps so the
# wasm functions appear under their Rust names. Prints the top symbols over the steady middle of
# the run (the page load and the first epoch cut off) and the share of idle CPU.
#   bench/browser-profile.sh [full|head] [threads|cpu]
# Needs perf, Chromium and the modules of `make web`. The shipped modules have their name
# section stripped (wasm-opt --strip-debug), so the module profiled here is wasm-bindgen's output
# before that step, in a temporary copy of www/: the same code, named. Last, the symbols that
# run on one core while the other idles (the serial parts of a step).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full} module=${2:-threads}
target=${CARGO_TARGET_DIR:-$HOME/.cache/secnn/target}
case $module in
  threads) wasm=$target/threads/wasm32-unknown-unknown/wasm-threads/secnn.wasm ;;
  cpu) wasm=$target/wasm32-unknown-unknown/wasm-cpu/secnn.wasm ;;
  *) echo "module: threads or cpu" >&2; exit 2 ;;
esac
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bench"
cp -a www "$root/" && cp -a bench/browser "$root/bench/"
ln -s "$PWD/bench/node_modules" "$root/bench/node_modules"
out=$root/www/secnn/pkg-$module
rm -rf "$out" && wasm-bindgen --target web --out-dir "$out" --out-name secnn "$wasm"
# From inside the copy: V8's profiling flags leave isolate-*.log files in the working directory.
repo=$PWD
(cd "$root" && perf record -a -k CLOCK_MONOTONIC -F 1999 -o perf.data -- node "$repo/bench/browser-profile.mjs" "$root" "$mode" "$module") | tee "$root/run.txt"
window=$(sed -n 's/^WINDOW //p' "$root/run.txt")
echo "== samples between the second epoch's end and the run's end (perf time $window)"
perf report -i "$root/perf.data" --time "$window" --no-children --sort symbol --stdio 2>/dev/null \
  | grep -E '^ +[0-9]' | sed -E 's/\[[0-9a-f]{16}\]//g; s/ +- +- *$//' | cut -c1-150 | sed -n "1,${TOP:-25}p"
echo "== stretches with both cores idle (the worker between calls into the runtime, or waiting)"
perf script -i "$root/perf.data" --time "$window" -F cpu,time,comm 2>/dev/null | python3 -c '
import re, sys
busy, start, gaps = {}, None, []
for line in sys.stdin:
    m = re.match(r"\s*(\S+)\s+\[(\d+)\]\s+([\d.]+):", line)
    if not m:
        continue
    busy[m[2]] = m[1] != "swapper"
    idle = len(busy) > 1 and not any(busy.values())
    if idle and start is None:
        start = float(m[3])
    elif not idle and start is not None:
        gaps.append(float(m[3]) - start)
        start = None
long = [g * 1000 for g in gaps if g > 0.0015]
if long:
    long.sort()
    print(f"{len(long)} over 1.5 ms, {sum(long):.0f} ms in all, median {long[len(long) // 2]:.1f} ms")
else:
    print("none over 1.5 ms")
'
echo "== what runs while the other core idles (share of all samples in the window, top ${TOP:-25})"
perf script -i "$root/perf.data" --time "$window" -F cpu,time,comm,ip,sym 2>/dev/null | python3 -c '
import collections, re, sys
state, alone, total = {}, collections.Counter(), 0
for line in sys.stdin:
    m = re.match(r"\s*(\S+)\s+\[(\d+)\]\s+([\d.]+):\s*[0-9a-f]+\s+(.*)", line)
    if not m:
        continue
    comm, cpu, symbol = m[1], m[2], re.sub(r"-\d+-turbofan$", "", m[4].strip())[:120]
    state[cpu] = comm != "swapper"
    total += 1
    others = [busy for c, busy in state.items() if c != cpu]
    if state[cpu] and others and not any(others):
        alone[symbol] += 1
print(f"{100 * sum(alone.values()) / max(total, 1):.1f} % of the samples run alone")
for symbol, n in alone.most_common(int(sys.argv[1])):
    print(f"{100 * n / total:6.2f} %  {symbol}")
' "${TOP:-25}"
