#!/usr/bin/env bash
# The trainer on an NVIDIA GPU: tokens/s and MFU of the tiny preset and of the ~1B MoE
# preset (`MixtralConfig::moe_1b`: 1.06 B parameters, 456 M active per token), each in
# fp32 and in bf16 (fp32 master weights and AdamW state), and the GPU's logits against
# the CPU's on the parity fixture (tolerance 1e-3 in fp32, 1e-2 in bf16).
# MFU is against an H100/H200 SXM's dense bf16 peak, 989.4 TFLOP/s, for both precisions.
# Usage: bash bench/gpu.sh [steps]   (on a machine with an NVIDIA driver and GPU)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-8}
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "bench/gpu.sh: no NVIDIA GPU here (nvidia-smi is missing or lists none); nothing measured" >&2
  exit 1
fi
cargo build --release -q -p exp-trainer --features cuda --example gpu_bench
bench=./target/release/examples/gpu_bench
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/# GPU: /'
echo "# ${steps} steps per row, the first two (kernel autotuning) not timed; one precision per process"
printf 'preset\tprecision\ttokens/step\ttokens/s\tMFU\tfirst loss\tlast loss\n'
failed=0
# Each run in its own process: burn fixes a device's float type at its first tensor.
for precision in fp32 bf16; do
  "$bench" train tiny "$precision" "$steps" 16 512 || failed=1
done
for precision in fp32 bf16; do
  "$bench" train moe-1b "$precision" "$steps" 4 1024 || failed=1
done
for precision in fp32 bf16; do
  "$bench" parity "$precision" || failed=1
done
exit "$failed"
