#!/usr/bin/env bash
# Engine benchmarks (issue 3). Prints a table; figures go to docs/performance.md.
#   1. no-op `exp plan` of a generated 1,000-node experiment whose nodes are all cached
#   2. hashing a 1 GB file: `exp hash` (the store's hasher) against `b3sum`
#   3. `exp status` with 100,000 nodes in the index
# Needs: a release build (cargo build --release), hyperfine, b3sum (cargo install b3sum),
# python3. Usage: bash bench/engine.sh [work-dir]
set -euo pipefail
exp="$(cd "$(dirname "$0")/.." && pwd)/target/release/exp"
work="${1:-$(mktemp -d)}"
mkdir -p "$work/data"
cd "$work"

# 1. 500 sources over small files, 500 mixtures of two of them: 1,000 nodes.
python3 - <<'PY'
import json
with open("bench.med", "w") as f:
    f.write('experiment "bench"\n')
    for i in range(500):
        with open(f"data/s{i}.jsonl", "w") as d:
            for j in range(4):
                d.write(json.dumps({"id": f"{i}-{j}", "text": f"document {j} of source {i}"}) + "\n")
        f.write(f'source s{i} = jsonl("data/s{i}.jsonl", lang: en)\n')
    for i in range(500):
        f.write(f"corpus m{i} = {{ s{i}, s{(i + 1) % 500} * 2 }} with {{ seed: {i} }}\n")
PY
"$exp" run -j 2 bench.med > /dev/null 2>&1
hyperfine --warmup 3 --runs 20 --export-markdown plan.md "$exp plan bench.med" > /dev/null

# 2. A 1 GB file, hashed by both.
[ -f big.bin ] || head -c 1073741824 /dev/urandom > big.bin
hyperfine --warmup 1 --runs 5 --export-markdown hash.md "$exp hash big.bin" "b3sum big.bin" > /dev/null

# 3. 100,000 nodes in a store's index.
mkdir -p status-store
"$exp" run --store status-store -j 2 bench.med > /dev/null 2>&1
python3 - <<'PY'
import sqlite3
c = sqlite3.connect("status-store/index.sqlite")
c.executemany(
    "INSERT OR REPLACE INTO nodes VALUES (?, 'jsonl', 1, ?, '{}', 100, 0.1, 0)",
    ((f"{i:064x}", f"n{i}") for i in range(100_000)),
)
c.commit()
print("nodes in the index:", c.execute("SELECT COUNT(*) FROM nodes").fetchone()[0])
PY
hyperfine --warmup 3 --runs 20 --export-markdown status.md "$exp status --store status-store" > /dev/null

cat plan.md hash.md status.md
