#!/usr/bin/env bash
# Prepares, on this machine, what bench/gpu_train.sh needs on a lent GPU machine (which has no
# network and no Rust toolchain). Run from the repository root; both folders are git-ignored and
# go to the GPU machine as `carry` paths (64 MiB in all):
#   .carry/secnn-<variant>.xz   stripped release builds of this crate, one per GPU feature set
#   .carry/cifar10-test.tar.gz  the CIFAR-10 test split (the accuracy check on the GPU)
#   .gl/*.deb                   Debian's Vulkan and GL loaders (the GPU machine has only the driver)
# Each variant is a full build of Burn and cubecl with other features: 10–30 min each here.
set -euo pipefail
VARIANTS=${VARIANTS:-"base: fused:autotune,fusion vulkan:vulkan vulkan-fused:vulkan,autotune,fusion"}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/secnn/target-gpu}
mkdir -p .carry .gl
for variant in $VARIANTS; do
  name=${variant%%:*} features=${variant#*:}
  echo "== secnn-$name (features: ${features:-none})"
  cargo build --release --locked ${features:+--features "$features"}
  strip -o ".carry/secnn-$name" "$CARGO_TARGET_DIR/release/secnn"
  xz -f -T0 ".carry/secnn-$name"
done
[ -d data/cifar10/test ] || make data
tar -czf .carry/cifar10-test.tar.gz -C data cifar10/test
if ! ls .gl/*.deb >/dev/null 2>&1; then
  apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  mkdir -p /tmp/amd64/partial
  apt-get "${apt_options[@]}" update
  (cd .gl && apt-get "${apt_options[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -ch .carry/* .gl/* | tail -1
