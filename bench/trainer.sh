#!/usr/bin/env bash
# Training throughput of the tiny preset on the CPU: exp's burn trainer next to PyTorch
# eager running the same Mixtral configuration on the same batch, in the same run.
# Needs torch and transformers for the PyTorch rows (not installed by CI):
#   pip install torch transformers
# Usage: bash bench/trainer.sh [steps] [micro_batch] [seq]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-6}; micro=${2:-2}; seq=${3:-256}
cargo build --release -q -p exp-trainer --example train_bench
echo "# tiny preset, ${micro} × ${seq} tokens per step, ${steps} steps (first one not timed)"
printf 'trainer\ttokens/s\n'
./target/release/examples/train_bench "$steps" "$micro" "$seq"
# Two micro-batches per step computed side by side (twice the work per step).
./target/release/examples/train_bench "$steps" "$micro" "$seq" 2
for threads in 1 2; do
  python3 bench/trainer.py "$steps" "$micro" "$seq" "$threads" 2>/dev/null
done
