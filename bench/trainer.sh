#!/usr/bin/env bash
# Training throughput on the CPU: exp's burn trainer next to PyTorch eager running the same
# Mixtral configuration on the same batch, in the same run, for each preset:
#   tiny      hidden 64, 2 layers (the vocabulary projection is most of the step)
#   small512  hidden 512, 8 layers, 8 experts (MixtralConfig::small_512)
# At 1 thread both sides train `micro` sequences per step; at 2 threads exp computes two
# micro-batches on two workers and PyTorch a batch of 2 × `micro` on two threads.
# Needs torch and transformers for the PyTorch rows (not installed by CI):
#   pip install torch transformers
# Usage: [PRESET=tiny|small512] bash bench/trainer.sh [steps] [micro_batch] [seq]
# (both presets when PRESET is unset; small512 runs half the steps, at least 3).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-6}; micro=${2:-2}; seq=${3:-256}
cargo build --release -q -p exp-trainer --example train_bench
for preset in ${PRESET:-tiny small512}; do
  n=$steps
  if [ "$preset" = small512 ]; then n=$(( steps / 2 > 3 ? steps / 2 : 3 )); fi
  echo "# $preset preset, ${micro} × ${seq} tokens per step (2 × that on 2 threads), ${n} steps (first one not timed)"
  printf 'trainer\ttokens/s\n'
  ./target/release/examples/train_bench "$n" "$micro" "$seq" 1 "$preset"
  python3 bench/trainer.py "$n" "$micro" "$seq" 1 "$preset" 2>/dev/null || echo "PyTorch: not installed"
  ./target/release/examples/train_bench "$n" "$micro" "$seq" 2 "$preset"
  python3 bench/trainer.py "$n" $(( 2 * micro )) "$seq" 2 "$preset" 2>/dev/null || echo "PyTorch: not installed"
done
