#!/usr/bin/env bash
# The Slurm executor's overhead (issue 15). Prints a table; figures go to
# docs/performance.md.
#   1. the same graph (41 small nodes: 20 sources, 20 mixtures of one source each, one
#      mixture of all) run by the local executor and as Slurm jobs, each into a fresh
#      store, REPEATS times each, alternating: median wall time and overhead per node
#   2. Slurm calls per minute during the Slurm runs (sbatch, squeue, sacct), from the run's
#      own summary
#   3. the wait from a node's last input being published (the rename of its object
#      folder) to its job starting (Slurm's StartTime, from the job completion log)
# Needs: a release build (cargo build --release), a Slurm answering (SLURM_CONF; on one
# machine `eval "$(.ci/slurm start /tmp/slurm)"`, whose job completion log this reads),
# python3. Usage: bash bench/slurm.sh [work-dir] [repeats] [poll-seconds]
set -euo pipefail
exp="$(cd "$(dirname "$0")/.." && pwd)/target/release/exp"
work="${1:-$(mktemp -d)}"
repeats="${2:-5}"
poll="${3:-1}"
: "${SLURM_CONF:?SLURM_CONF must name the Slurm configuration}"
jobcomp=$(awk -F= '/^JobCompLoc=/ { print $2 }' "$SLURM_CONF")
mkdir -p "$work/data"
cd "$work"

python3 - <<'PY'
import json
with open("bench.med", "w") as f:
    f.write('experiment "slurm-bench"\n')
    for i in range(20):
        with open(f"data/s{i}.jsonl", "w") as d:
            for j in range(4):
                d.write(json.dumps({"id": f"{i}-{j}", "text": f"document {j} of source {i}"}) + "\n")
        f.write(f'source s{i} = jsonl("data/s{i}.jsonl", lang: en)\n')
        f.write(f"corpus m{i} = {{ s{i} }} with {{ seed: {i} }}\n")
    f.write("corpus all = { " + ", ".join(f"m{i}" for i in range(20)) + " }\n")
PY
printf 'poll_seconds = %s\nmax_jobs = 100\n' "$poll" > slurm.toml

: > local.times
: > slurm.times
: > slurm.summaries
for r in $(seq "$repeats"); do
  rm -rf "store-local-$r" "store-slurm-$r"
  start=$(date +%s.%N)
  "$exp" run -j 2 --store "store-local-$r" bench.med > /dev/null 2>&1
  python3 -c "print($(date +%s.%N) - $start)" >> local.times
  start=$(date +%s.%N)
  "$exp" run --executor slurm --store "store-slurm-$r" bench.med 2> "slurm-$r.err" > /dev/null
  python3 -c "print($(date +%s.%N) - $start)" >> slurm.times
  grep '  slurm: ' "slurm-$r.err" >> slurm.summaries
done

python3 - "$work" "$repeats" "$jobcomp" "$poll" <<'PY'
import json, os, re, statistics, sys
work, repeats, jobcomp, poll = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
local = [float(x) for x in open(f"{work}/local.times")]
slurm = [float(x) for x in open(f"{work}/slurm.times")]
nodes = 41
ml, ms = statistics.median(local), statistics.median(slurm)
print(f"| measure | local | slurm (poll {poll} s) |")
print("|---|---|---|")
print(f"| wall time of {nodes} nodes, median of {repeats} | {ml:.2f} s | {ms:.2f} s |")
print(f"| per node | {ml / nodes * 1000:.0f} ms | {ms / nodes * 1000:.0f} ms |")
print(f"| overhead per node through Slurm | | {(ms - ml) / nodes * 1000:.0f} ms |")

calls = {"sbatch": [], "squeue": [], "sacct": []}
for line, wall in zip(open(f"{work}/slurm.summaries"), slurm):
    for name in calls:
        n = int(re.search(rf"(\d+) {name}", line).group(1))
        calls[name].append(n / (wall / 60))
for name, per_min in calls.items():
    print(f"| `{name}` calls per minute, median | | {statistics.median(per_min):.0f} |")

# Slurm's StartTime per job (1 s resolution), from the job completion log.
starts = {}
for line in open(jobcomp):
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    if "JobId" in f and f.get("StartTime", "Unknown") != "Unknown":
        starts[int(f["JobId"])] = f["StartTime"]
import datetime, sqlite3
waits = []
for r in range(1, repeats + 1):
    store = f"{work}/store-slurm-{r}"
    db = sqlite3.connect(f"{store}/index.sqlite")
    jobs = {name: (job, identity) for job, name, identity in db.execute("SELECT job, name, identity FROM jobs")}
    lineage = {}
    for identity, inp in db.execute("SELECT identity, input FROM lineage"):
        lineage.setdefault(identity, []).append(inp)
    def published(identity):
        return os.stat(f"{store}/objects/{identity[:2]}/{identity}").st_ctime
    for name, (job, identity) in jobs.items():
        inputs = lineage.get(identity, [])
        if not inputs or job not in starts:
            continue
        start = datetime.datetime.fromisoformat(starts[job]).timestamp()
        waits.append(start - max(published(i) for i in inputs))
if waits:
    waits.sort()
    print(f"| inputs published → job started, median ({len(waits)} jobs) | | {statistics.median(waits):.1f} s |")
    print(f"| inputs published → job started, max | | {waits[-1]:.1f} s |")
PY
