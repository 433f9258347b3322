#!/usr/bin/env bash
# Times every GPU build of secnn (bench/gpu_prepare.sh made them) against PyTorch CUDA on the
# same card, and checks that each computes the shipped model's test accuracy as the CPU does.
# Runs on a lent GPU machine from the repository root of a copy of this checkout, with `.carry`
# and `.gl` carried along:
#   BUDGET_S=480 bash bench/gpu_train.sh
# Everything goes to $OUT (raw JSON and log.txt). Steps that would pass the budget are skipped
# and say so. TRAIN=1 also times two epochs of `secnn train` on the test images (the real loop).
# A dry run elsewhere (lavapipe, no CUDA): BENCH_STEPS=2 RUNS=1 VARIANTS=base bash bench/gpu_train.sh
set -uo pipefail
BUDGET_S=${BUDGET_S:-480}
BENCH_STEPS=${BENCH_STEPS:-30}
RUNS=${RUNS:-5}
OUT=${OUT:-/tmp/secnn-out}
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
# Runs "$@" with a limit of $1 seconds, unless fewer than that are left.
step() {
  local limit=$1; shift
  if (( $(elapsed) + limit > BUDGET_S )); then echo "[$(elapsed)s] SKIPPED (budget): $*" >&2; return 1; fi
  timeout "$limit" "$@"; local rc=$?
  (( rc == 0 )) || echo "[$(elapsed)s] FAILED ($rc): $*" >&2
  return $rc
}

# The GPU machine has the NVIDIA driver but no Vulkan loader.
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
mkdir -p /tmp/bin /tmp/data
for f in .carry/secnn-*.xz; do
  bin=/tmp/bin/$(basename "$f" .xz)
  xz -dc "$f" > "$bin" && chmod +x "$bin"
done
tar -xzf .carry/cifar10-test.tar.gz -C /tmp/data
DATA=/tmp/data/cifar10
echo "[$(elapsed)s] unpacked: $(ls /tmp/bin)"

# The reference: PyTorch CUDA, the seed's exact model class, same batch sizes.
step 60 python3 bench/pytorch_reference.py --device cuda --train-batch 64 --runs 5 --json "$OUT/pytorch-cuda-b64.json"
step 60 python3 bench/pytorch_reference.py --device cuda --train-batch 128 --runs 5 --json "$OUT/pytorch-cuda-b128.json"
# The shipped model's test accuracy on the CPU, which every GPU build must reproduce.
step 60 /tmp/bin/secnn-base eval --backend flex --data "$DATA" --json > "$OUT/eval-flex.json"

for name in ${VARIANTS:-base vulkan-fused fused vulkan}; do
  bin=/tmp/bin/secnn-$name
  [ -x "$bin" ] || { echo "no $bin"; continue; }
  backend=wgpu; [[ $name == vulkan* ]] && backend=vulkan
  echo "[$(elapsed)s] == $name ($backend)"
  step 150 "$bin" bench --backend $backend --train-batch 64 --runs $RUNS --train-steps $BENCH_STEPS --json "$OUT/$name-b64.json" >/dev/null
  step 90 "$bin" bench --backend $backend --train-batch 128 --runs $RUNS --train-steps $BENCH_STEPS --json "$OUT/$name-b128.json" >/dev/null
  step 90 "$bin" bench --backend $backend --train-batch 128 --runs $RUNS --train-steps $BENCH_STEPS --read-every 1 --json "$OUT/$name-b128-read1.json" >/dev/null
  step 60 "$bin" eval --backend $backend --data "$DATA" --json > "$OUT/eval-$name.json"
done
if [ "${TRAIN:-0}" = 1 ]; then
  best=${BEST:-vulkan-fused}; backend=wgpu; [[ $best == vulkan* ]] && backend=vulkan
  step 120 /tmp/bin/secnn-$best train --backend $backend --data "$DATA/test" --out /tmp/run --epochs 2 \
    --batch-size 128 --optimizer sgd --lr 0.05 --schedule one-cycle --validation-split 0
fi

python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None
ref = {b: load(f"{out}/pytorch-cuda-b{b}.json") for b in (64, 128)}
flex = load(f"{out}/eval-flex.json")
acc = lambda e: e and "%.4f (loss %.4f)" % (e["plain"]["accuracy"], e["plain"]["loss"])
print("variant | train b64 | train b128 | b128 read every step | batch-1 ms | b256 img/s | first 3 steps s | batch prep ms (b128) | test accuracy (flex: %s)" % acc(flex))
for path in sorted(glob.glob(f"{out}/*-b64.json")):
    name = os.path.basename(path)[:-len("-b64.json")]
    if name.startswith("pytorch"): continue
    b64, b128, r1 = load(path), load(f"{out}/{name}-b128.json"), load(f"{out}/{name}-b128-read1.json")
    if not b64: continue
    ev = load(f"{out}/eval-{name}.json")
    def ratio(r, b):
        if not r: return "-"
        ips = r["train_images_per_s"]
        return f"{ips:.0f} ({ips / ref[b]['train_images_per_s']:.2f}x)" if ref[b] else f"{ips:.0f}"
    print(" | ".join([name, ratio(b64, 64), ratio(b128, 128), ratio(r1, 128),
        f"{b64['infer_batch1_ms']:.2f}", f"{b64['infer_batch256_images_per_s']:.0f}", f"{b64['first_steps_s']:.1f}",
        f"{b128['prepare_batch_ms']:.2f}" if b128 and "prepare_batch_ms" in b128 else "-",
        str(acc(ev))]))
for b in (64, 128):
    r = ref[b]
    if r: print(f"pytorch cuda b{b}: train {r['train_images_per_s']:.0f} img/s, batch-1 {r['infer_batch1_ms']:.2f} ms, b256 {r['infer_batch256_images_per_s']:.0f} img/s")
PY
echo "[$(elapsed)s] all done"
