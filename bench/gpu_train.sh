#!/usr/bin/env bash
# Trains the shipped CIFAR-10 weights on a lent GPU with secnn's own wgpu backend (Vulkan), and
# times secnn-wgpu against PyTorch CUDA on the same card. Runs from the repository root of a
# copy of this checkout on the GPU machine, with these prepared (ignored) folders carried along:
#   .gl/     Debian's Vulkan/GL loader packages (the machine has the NVIDIA driver, not the loader)
#   .carry/  secnn (a release build of this crate) and cifar10-jpeg.tar.gz
# Everything it produces goes to $OUT. Budget: BUDGET_S seconds for the whole script.
set -uo pipefail
BUDGET_S=${BUDGET_S:-570}
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
OUT=${OUT:-/tmp/secnn-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
xz -dk .carry/secnn.xz
BIN=.carry/secnn
chmod +x "$BIN"
mkdir -p /tmp/data && tar -xzf .carry/cifar10-jpeg.tar.gz -C /tmp/data
echo "[$(elapsed)s] data unpacked"

# 1. Throughput of secnn on wgpu (also tells how many epochs fit).
timeout 120 "$BIN" bench --backend wgpu --train-batch 64 --runs 5 --json "$OUT/secnn-wgpu-bench.json" || {
  echo "secnn wgpu bench failed"; exit 1; }
timeout 60 "$BIN" bench --backend wgpu --train-batch 128 --runs 3 --train-steps 20 --json "$OUT/secnn-wgpu-bench-b128.json"
IPS=$(python3 -c "import json;print(json.load(open('$OUT/secnn-wgpu-bench-b128.json'))['train_images_per_s'])" 2>/dev/null \
  || python3 -c "import json;print(json.load(open('$OUT/secnn-wgpu-bench.json'))['train_images_per_s'])")
echo "[$(elapsed)s] secnn wgpu training at batch 128: $IPS img/s"

# 2. Train as many epochs as fit (one-cycle needs the count up front), keeping time for the rest.
LEFT=$(( BUDGET_S - $(elapsed) - 75 ))
EPOCHS=$(python3 -c "print(max(1, min(${MAX_EPOCHS:-60}, int($LEFT * $IPS * 0.85 / 50000))))")
echo "[$(elapsed)s] training $EPOCHS epochs in ~${LEFT}s"
timeout $(( LEFT + 30 )) "$BIN" train --backend wgpu --data /tmp/data/cifar10 --out /tmp/run \
  --epochs "$EPOCHS" --batch-size 128 --optimizer sgd --lr 0.05 --weight-decay 5e-4 \
  --schedule one-cycle --label-smoothing 0.1 --validation-split 0 \
  --description "Trained with \`secnn train --backend wgpu\` on the CIFAR-10 train split (50,000 JPEG images): $EPOCHS epochs, SGD-Nesterov one-cycle to lr 0.05, weight decay 5e-4, label smoothing 0.1, batch 128, random crop + flip."
cp /tmp/run/model.bpk /tmp/run/state.json "$OUT/" 2>/dev/null
echo "[$(elapsed)s] training done"

# 3. Accuracy on the test split, recorded in the weights file.
timeout 60 "$BIN" eval --backend wgpu --data /tmp/data/cifar10 --split test --weights "$OUT/model.bpk" --record
echo "[$(elapsed)s] eval done"

# 4. PyTorch CUDA on the same card, same settings as the secnn bench.
timeout 60 python3 bench/pytorch_reference.py --device cuda --train-batch 64 --runs 5 --json "$OUT/pytorch-cuda.json"
timeout 40 python3 bench/pytorch_reference.py --device cuda --train-batch 128 --runs 3 --train-steps 20 --json "$OUT/pytorch-cuda-b128.json"
echo "[$(elapsed)s] all done"
