#!/usr/bin/env bash
# MCQA evaluation throughput on the CPU: our tiny model scoring each option in its own
# pass vs a batch of items whose prompts run once into a shared key/value cache; and the
# OpenAI-compatible HTTP provider against a stub server on localhost (client overhead); greedy
# generation of 8 prompts one at a time vs batched across prompts (left-padded, same tokens).
# Usage: bash bench/eval.sh [items]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p exp-trainer --example eval_bench
./target/release/examples/eval_bench "${1:-40}"
