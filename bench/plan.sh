#!/usr/bin/env bash
# Planning benchmark (issue 18, item 4): `exp check` and a no-op `exp plan` (everything
# cached) of generated experiments of about 1,000, 10,000 and 100,000 nodes, each written
# with two nested `for` loops (not one definition per node). Prints a table of median wall
# time and peak resident memory; figures go to docs/performance.md.
#
# The experiment: one anchor source, then for each of F tiny JSON-lines files and each of
# 50 document limits a `jsonl` source reading that file up to that limit and a mixture of
# it with the anchor. Nodes: 1 + 2 × 50 × F. Every node is computed once (`exp run -j 2`,
# timed: that is the cost of filling the cache, not a target) before the plans.
#
# Needs: a release build (cargo build --release -p exp-engine), python3, GNU time
# (/usr/bin/time). Usage: bash bench/plan.sh [work-dir] (SIZES="1000 10000" to choose;
# RUNS=5 timed repetitions each; EXP=path/to/exp to measure another build). A work dir kept from an earlier call keeps its store, so
# a second call only measures.
set -euo pipefail
exp="${EXP:-$(cd "$(dirname "$0")/.." && pwd)/target/release/exp}"
work="${1:-$(mktemp -d)}"
sizes="${SIZES:-1000 10000 100000}"
runs="${RUNS:-5}"
mkdir -p "$work"

# Median wall seconds and median peak RSS (MiB) of `runs` runs of the command.
measure() {
    local times=() rss=() out
    for _ in $(seq "$runs"); do
        /usr/bin/time -o "$work/.time" -f '%e %M' "$@" > /dev/null 2>&1
        out=$(tail -1 "$work/.time")
        times+=("${out% *}")
        rss+=("${out#* }")
    done
    python3 -c 'import statistics,sys; t=[float(x) for x in sys.argv[1].split()]; r=[float(x) for x in sys.argv[2].split()]; print(f"{statistics.median(t):.2f} s | {statistics.median(r)/1024:.0f} MiB")' "${times[*]}" "${rss[*]}"
}

rows=()
for n in $sizes; do
    dir="$work/n$n"
    mkdir -p "$dir/data"
    python3 - "$n" "$dir" <<'PY'
import json, os, sys
n, out = int(sys.argv[1]), sys.argv[2]
limits = 50
files = max(1, round(n / (2 * limits)))
def data(name, i):
    path = os.path.join(out, "data", name)
    if not os.path.exists(path):
        with open(path, "w") as d:
            for j in range(3):
                d.write(json.dumps({"id": f"{i}-{j}", "text": f"document {j} of file {i}"}) + "\n")
data("anchor.jsonl", -1)
for i in range(files):
    data(f"f{i}.jsonl", i)
paths = ", ".join(f'"data/f{i}.jsonl"' for i in range(files))
docs = ", ".join(f"{k} docs" for k in range(1, limits + 1))
with open(os.path.join(out, "plan.med"), "w") as f:
    f.write('experiment "plan-bench"\n\n')
    f.write('source anchor = jsonl("data/anchor.jsonl", lang: en)\n\n')
    f.write(f"for file in [{paths}] {{\n")
    f.write(f"  for limit in [{docs}] {{\n")
    f.write("    source src_{file}_{limit} = jsonl(file, lang: en, limit: limit)\n")
    f.write("    corpus mix_{file}_{limit} = { src_{file}_{limit}, anchor * 2 } with { seed: 1 }\n")
    f.write("  }\n}\n")
PY
    cd "$dir"
    nodes=$("$exp" show --lowered plan.med | grep -c '^  name:' || true)
    if [ ! -f .filled ]; then
        start=$(date +%s.%N)
        "$exp" run -j 2 plan.med > run.log 2>&1
        fill=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f} s')" "$start" "$(date +%s.%N)")
        echo "$fill" > .filled
    fi
    grep -q "^0 to run, $nodes cached, 0 blocked" <("$exp" plan plan.med | tail -1) \
        || { echo "n=$n: not everything is cached" >&2; exit 1; }
    check=$(measure "$exp" check plan.med)
    plan=$(measure "$exp" plan plan.med)
    rows+=("| $nodes | $(stat -c %s plan.med) bytes | $check | $plan | $(cat .filled) |")
    cd - > /dev/null
done

echo "| nodes | file | check: time | check: peak RSS | no-op plan: time | plan: peak RSS | filling the cache (-j 2) |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
