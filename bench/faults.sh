#!/usr/bin/env bash
# The fault suite (issue 17; its short version is tests/faults.rs). Prints a Markdown
# table, one row per fault; figures go to docs/reliability.md.
#   1. reference: one uninterrupted run into a fresh store; the hash of every artifact
#      file (compared as (path under objects/, hash) lists), and `exp run --check`
#   2. `kill -9` (of the driver's process group) at MOMENTS random times, uniform in
#      (0, the reference's wall time), of a run into a fresh store, then a complete run
#   3. each dangerous window: `EXP_FAULT=<point>:<pass>` for publish, published, index,
#      checkpoint, journal and passes 1..PASSES; a pass the run never reaches (it exits 0)
#      is counted as not reached, not as a trial
#   4. 4 drivers at once on one fresh store: each node computed once (from the index)
#   5. a full file system: the store on a tmpfs of each size in SIZES; the run fails with
#      a clear message, `exp verify` passes, nothing is left under tmp/; then the tmpfs
#      grows to 512m and the run completes to the reference's bytes (needs root)
#   6. FLIPS single-bit flips in a copy of the reference store (half the picks uniform
#      over files, half uniform over bytes; mtime kept, as bit rot leaves it): `exp verify`
#      must exit 1 and quarantine exactly that identity; then it is put back, the bit
#      flipped back and `exp verify --repair` re-records it
#   7. a hanging stage: an OpenAI-compatible server that accepts and never answers, the
#      evaluation run with `--time-limit jmedbench=3s`: exit 1, "ran past its time limit",
#      within HANG_MAX seconds
#   8. Slurm, where `squeue` answers: one job cancelled from outside (`scancel`), then the
#      driver killed, and each rerun completing to the reference's bytes
# Columns: corrupt artifacts served = `exp verify` finding an altered artifact after the
# fault or after the complete run (for 6: flips verify missed); resumed runs not
# byte-identical = the store's artifact list differs from the reference's; other failures
# = anything else that went wrong (the complete run failing, a wrong message, a node
# computed twice, files left under tmp/); each is named on stderr and its store kept
# under KEEP (default /tmp/faults-kept).
# Needs: a release build (cargo build --release -p exp-engine), python3, sha256sum, root
# for row 5 (mount). Usage: bash bench/faults.sh [MOMENTS] [EXPERIMENT] [PROFILE]
#   e.g. bash bench/faults.sh 20 experiments/corpus-expansion.med toy
# Environment: FLIPS (200), PASSES (3), SIZES ("1m 2m 4m 16m 48m 96m"), DRIVER_TRIALS (3),
# HANG_TRIALS (3), HANG_MAX (10), SEED (17), KEEP, EXP (the binary).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exp="${EXP:-$root/target/release/exp}"
moments="${1:-100}"
experiment="$(realpath "${2:-$root/bench/faults/study.med}")"
profile="${3:-}"
flips="${FLIPS:-200}"
passes="${PASSES:-3}"
sizes="${SIZES:-1m 2m 4m 16m 48m 96m}"
driver_trials="${DRIVER_TRIALS:-3}"
hang_trials="${HANG_TRIALS:-3}"
hang_max="${HANG_MAX:-10}"
seed="${SEED:-17}"
keep="${KEEP:-/tmp/faults-kept}"
prof=()
[ -n "$profile" ] && prof=(--profile "$profile")
[ -x "$exp" ] || { echo "no binary at $exp: cargo build --release -p exp-engine" >&2; exit 2; }
ulimit -c 0 # an aborted process leaves no core file

work="$(mktemp -d)"
mounts=()
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
  # Any tmpfs still mounted under the scratch folder (a run stopped mid-row), deepest first.
  awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount "$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "faults: $*" >&2; }
t0() { echo "$EPOCHREALTIME"; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$1" "$EPOCHREALTIME"; }
# Every artifact file of a store as `hash  ./<id[..2]>/<id>/artifact/<path>`, sorted.
listing() { (cd "$1/objects" && find . -path '*/artifact/*' -type f -print0 | sort -z | xargs -0r sha256sum); }
# The store's copy (and the logs beside it) kept for inspection; its path on stderr.
kept() {
  local from=$1 name=$2
  mkdir -p "$keep"
  rm -rf "${keep:?}/$name"
  cp -a "$from" "$keep/$name"
  say "  kept for inspection: $keep/$name"
}
run_exp() { # store, then extra arguments of `exp run`
  local store=$1
  shift
  "$exp" run --store "$store" "${prof[@]}" "$@" "$experiment"
}
# `exp verify` of a store: 0 intact, 1 something quarantined, 2 verify itself failed.
verify() {
  local store=$1 log=$2 rc=0
  [ -d "$store/objects" ] || { echo "no store yet" >"$log"; return 0; }
  "$exp" verify --store "$store" >"$log" 2>&1 || rc=$?
  if grep -Eq '^verified [0-9]+ artifact\(s\): [0-9]+ intact, 0 quarantined' "$log" && [ $rc = 0 ]; then
    return 0
  elif grep -q '^✗ ' "$log"; then
    return 1
  fi
  return 2
}
leftover() { [ -d "$1/tmp" ] && find "$1/tmp" -mindepth 1 -maxdepth 1 | wc -l || echo 0; }

# After a fault: verify, then a complete run, then its bytes against the reference.
# Adds to the counters corrupt, differ, other of the caller; $1 the store, $2 a label.
resume_and_compare() {
  local store=$1 label=$2 dir bad=0 rc=0 v=0
  dir=$(dirname "$store")
  verify "$store" "$dir/verify-killed.log" || v=$?
  if [ $v = 1 ]; then
    corrupt=$((corrupt + 1)); bad=1
    say "  $label: an altered artifact after the fault: $(grep '^✗' "$dir/verify-killed.log" | head -3)"
  elif [ $v = 2 ]; then
    other=$((other + 1)); bad=1
    say "  $label: exp verify failed after the fault: $(tail -2 "$dir/verify-killed.log")"
  fi
  run_exp "$store" >"$dir/resumed.log" 2>&1 || rc=$?
  if [ $rc != 0 ]; then
    other=$((other + 1)); bad=1
    say "  $label: the complete run failed ($rc): $(tail -3 "$dir/resumed.log")"
  else
    if ! listing "$store" | cmp -s - "$work/reference.list"; then
      differ=$((differ + 1)); bad=1
      say "  $label: the resumed store differs from the reference"
      listing "$store" | diff - "$work/reference.list" >"$dir/listing.diff" || true
    fi
    v=0
    verify "$store" "$dir/verify-resumed.log" || v=$?
    if [ $v != 0 ]; then
      corrupt=$((corrupt + 1)); bad=1
      say "  $label: exp verify after the complete run: $(grep -v '^verified' "$dir/verify-resumed.log" | head -3)"
    fi
    if [ "$(leftover "$store")" != 0 ]; then
      other=$((other + 1)); bad=1
      say "  $label: files left under tmp/ after the complete run: $(ls "$store/tmp" | head -3)"
    fi
  fi
  [ $bad = 0 ] || kept "$dir" "$label"
}

row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 | $7 |"; }

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
echo "Command: \`bash bench/faults.sh $moments ${2:-bench/faults/study.med}${profile:+ $profile}\`" \
  "(FLIPS=$flips PASSES=$passes SIZES=\"$sizes\" DRIVER_TRIALS=$driver_trials SEED=$seed)"
echo
echo "Machine: $(nproc) cores ($cpu), $mem, $(uname -sr); exp at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' with local changes'); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
row fault trials "corrupt artifacts served" "resumed runs not byte-identical" "other failures" seconds notes
row --- ---: ---: ---: ---: ---: ---

# 1. The reference.
mkdir -p "$work/reference"
start=$(t0)
run_exp "$work/reference/store" >"$work/reference/run.log" 2>&1 || {
  cat "$work/reference/run.log" >&2
  echo "the reference run failed" >&2
  exit 1
}
ref_wall=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$EPOCHREALTIME")
listing "$work/reference/store" >"$work/reference.list"
# A second uninterrupted run into a fresh store, with warm caches: the same bytes, and the
# wall time the kill moments are drawn within (the shorter of the two).
t=$(t0)
run_exp "$work/reference/again" >"$work/reference/again.log" 2>&1 || { cat "$work/reference/again.log" >&2; exit 1; }
again_wall=$(python3 -c "import sys; print(min(float(sys.argv[3]), float(sys.argv[2]) - float(sys.argv[1])))" "$t" "$EPOCHREALTIME" "$ref_wall")
again_same=identical
listing "$work/reference/again" | cmp -s - "$work/reference.list" || again_same=differ
rm -rf "$work/reference/again"
ref_wall=$again_wall
artifacts=$(find "$work/reference/store/objects" -mindepth 2 -maxdepth 2 -type d | wc -l)
files=$(wc -l <"$work/reference.list")
size=$(du -sh "$work/reference/store/objects" | cut -f1)
corrupt=0 other=0
verify "$work/reference/store" "$work/reference/verify.log" || { corrupt=1; cat "$work/reference/verify.log" >&2; }
check=0
run_exp "$work/reference/store" --check >"$work/reference/check.log" 2>&1 || check=$?
[ $check = 0 ] || { other=1; say "exp run --check of the reference: $(tail -5 "$work/reference/check.log")"; }
[ $again_same = identical ] || { other=$((other + 1)); say "two uninterrupted runs into fresh stores differ"; }
row "reference (two uninterrupted runs into fresh stores, then \`exp run --check\`)" 2 $corrupt "—" $other "$(since "$start")" \
  "$artifacts artifacts, $files files, $size; a run $(printf '%.1f' "$ref_wall") s; the two $again_same; --check $([ $check = 0 ] && echo identical || echo "exit $check")"
say "reference: $artifacts artifacts in $(printf '%.1f' "$ref_wall") s"

# 2. kill -9 at random moments.
start=$(t0)
corrupt=0 differ=0 other=0 finished=0
mkdir -p "$work/kill"
python3 -c "
import random, sys
r = random.Random(int(sys.argv[1]))
for _ in range(int(sys.argv[2])): print(f'{r.uniform(0, float(sys.argv[3])):.3f}')
" "$seed" "$moments" "$ref_wall" >"$work/kill/moments"
i=0
while read -r moment; do
  i=$((i + 1))
  store="$work/kill/store"
  rm -rf "$store" "$work/kill"/*.log "$work/kill/listing.diff"
  setsid "$exp" run --store "$store" "${prof[@]}" "$experiment" >"$work/kill/killed.log" 2>&1 &
  pid=$!
  sleep "$moment"
  kill -9 -- "-$pid" 2>/dev/null || true
  rc=0
  wait "$pid" || rc=$?
  [ $rc = 137 ] || { finished=$((finished + 1)); say "  kill-$i: the run ended ($rc) before the kill at $moment s"; } # it ended before the kill
  resume_and_compare "$store" "kill-$i-at-${moment}s"
  [ $((i % 10)) = 0 ] && say "kill -9: $i of $moments"
done <"$work/kill/moments"
row "\`kill -9\` at a random moment, then a complete run" "$moments" $corrupt $differ $other "$(since "$start")" \
  "moments uniform in (0, $(printf '%.1f' "$ref_wall") s), seed $seed; $finished ended before the kill"

# 3. Each dangerous window.
for point in publish published index checkpoint journal; do
  start=$(t0)
  corrupt=0 differ=0 other=0 trials=0 unreached=""
  for pass in $(seq "$passes"); do
    dir="$work/fault-$point-$pass"
    mkdir -p "$dir"
    rc=0
    EXP_FAULT="$point:$pass" run_exp "$dir/store" >"$dir/killed.log" 2>&1 || rc=$?
    if [ $rc = 0 ]; then
      unreached="$unreached $pass"
      rm -rf "$dir"
      continue
    fi
    trials=$((trials + 1))
    if ! grep -q "EXP_FAULT: dying at \`$point\` (pass $pass)" "$dir/killed.log"; then
      other=$((other + 1))
      say "  $point:$pass: the run failed ($rc) but not at the fault point: $(tail -3 "$dir/killed.log")"
    fi
    resume_and_compare "$dir/store" "fault-$point-$pass"
    rm -rf "$dir"
  done
  row "\`EXP_FAULT=$point:1..$passes\`, then a complete run" $trials $corrupt $differ $other "$(since "$start")" \
    "$([ -n "$unreached" ] && echo "pass(es)$unreached not reached" || echo "every pass reached")"
done

# 4. Four drivers at once on one store.
start=$(t0)
corrupt=0 differ=0 other=0 twice=0
for trial in $(seq "$driver_trials"); do
  dir="$work/drivers-$trial"
  mkdir -p "$dir"
  pids=()
  for d in 1 2 3 4; do
    run_exp "$dir/store" >"$dir/driver-$d.log" 2>&1 &
    pids+=($!)
  done
  bad=0
  for d in 1 2 3 4; do
    rc=0
    wait "${pids[$((d - 1))]}" || rc=$?
    [ $rc = 0 ] || { other=$((other + 1)); bad=1; say "  drivers-$trial: driver $d failed ($rc): $(tail -3 "$dir/driver-$d.log")"; }
  done
  counts=$(python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rows = c.execute(\"SELECT identity, count(*) FROM run_nodes WHERE status = 'ran' GROUP BY identity\").fetchall()
runs = c.execute('SELECT count(*) FROM runs').fetchone()[0]
print(len(rows), sum(1 for _, n in rows if n > 1), runs)
" "$dir/store/index.sqlite")
  read -r ran more runs <<<"$counts"
  if [ "$more" != 0 ] || [ "$ran" != "$artifacts" ] || [ "$runs" != 4 ]; then
    twice=$((twice + more)); other=$((other + 1)); bad=1
    say "  drivers-$trial: $ran identities ran ($artifacts expected), $more more than once, $runs runs recorded"
  fi
  listing "$dir/store" | cmp -s - "$work/reference.list" || { differ=$((differ + 1)); bad=1; say "  drivers-$trial: the store differs from the reference"; }
  v=0
  verify "$dir/store" "$dir/verify.log" || v=$?
  [ $v = 0 ] || { corrupt=$((corrupt + 1)); bad=1; say "  drivers-$trial: exp verify: $(head -3 "$dir/verify.log")"; }
  [ $bad = 0 ] || kept "$dir" "drivers-$trial"
  rm -rf "$dir"
done
row "4 drivers at once on one fresh store" "$driver_trials" $corrupt $differ $other "$(since "$start")" \
  "nodes computed more than once: $twice"

# 5. A full file system.
start=$(t0)
corrupt=0 differ=0 other=0 trials=0 notes="" skipped=""
for size in $sizes; do
  dir="$work/full-$size"
  mnt="$dir/disk"
  mkdir -p "$mnt"
  if ! mount -t tmpfs -o "size=$size" tmpfs "$mnt" 2>"$dir/mount.err"; then
    skipped="mount -t tmpfs failed: $(head -1 "$dir/mount.err")"
    break
  fi
  mounts+=("$mnt")
  trials=$((trials + 1))
  store="$mnt/store"
  bad=0 rc=0
  run_exp "$store" >"$dir/full.log" 2>&1 || rc=$?
  if [ $rc = 0 ]; then
    notes="$notes $size: fits;"
  else
    at=$(grep -oE '✗ [A-Za-z0-9_]+' "$dir/full.log" | head -1 | cut -c5-)
    if grep -Eq 'No space left on device|disk is full' "$dir/full.log"; then
      notes="$notes $size: ENOSPC at ${at:-?};"
    else
      other=$((other + 1)); bad=1
      notes="$notes $size: failed ($rc) without a clear message;"
      say "  full-$size: no clear message: $(tail -5 "$dir/full.log")"
    fi
  fi
  v=0
  verify "$store" "$dir/verify-full.log" || v=$?
  [ $v = 0 ] || { corrupt=$((corrupt + 1)); bad=1; say "  full-$size: exp verify on the full disk: $(head -3 "$dir/verify-full.log")"; }
  left=$(leftover "$store")
  [ "$left" = 0 ] || { other=$((other + 1)); bad=1; say "  full-$size: $left entries left under tmp/"; }
  mount -o remount,size=512m "$mnt"
  rc=0
  run_exp "$store" >"$dir/room.log" 2>&1 || rc=$?
  if [ $rc != 0 ]; then
    other=$((other + 1)); bad=1; say "  full-$size: the run with room failed ($rc): $(tail -3 "$dir/room.log")"
  else
    listing "$store" | cmp -s - "$work/reference.list" || { differ=$((differ + 1)); bad=1; say "  full-$size: the store differs from the reference"; }
    v=0
    verify "$store" "$dir/verify-room.log" || v=$?
    [ $v = 0 ] || { corrupt=$((corrupt + 1)); bad=1; say "  full-$size: exp verify after the run with room: $(head -3 "$dir/verify-room.log")"; }
  fi
  [ $bad = 0 ] || kept "$dir" "full-$size"
  umount "$mnt"
  unset 'mounts[-1]'
  rm -rf "$dir"
done
if [ -n "$skipped" ] && [ $trials = 0 ]; then
  row "a full file system (tmpfs of $sizes)" 0 — — — "$(since "$start")" "skipped: $skipped"
else
  row "a full file system (tmpfs of $sizes), then room (512m)" $trials $corrupt $differ $other "$(since "$start")" \
    "${notes# }${skipped:+ then $skipped}"
fi

# 6. Bit flips in a copy of the reference store.
start=$(t0)
cp -a "$work/reference/store" "$work/flips"
read -r missed other <<<"$(python3 - "$exp" "$work/flips" "$flips" "$seed" "$artifacts" "$keep" <<'PY'
import os, random, shutil, subprocess, sys
exp, store, count, seed, artifacts, keep = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
objects = os.path.join(store, "objects")
files = []  # (path, identity, size)
for shard in sorted(os.listdir(objects)):
    for identity in sorted(os.listdir(os.path.join(objects, shard))):
        obj = os.path.join(objects, shard, identity)
        paths = [os.path.join(obj, "manifest.json")]
        for d, _, names in os.walk(os.path.join(obj, "artifact")):
            paths += [os.path.join(d, n) for n in sorted(names)]
        files += [(p, identity, os.path.getsize(p)) for p in paths if os.path.getsize(p) > 0]
total = sum(s for _, _, s in files)
r = random.Random(seed)
picks = []
for k in range(count):
    # Half uniform over files (small files get picks), half uniform over bytes (the weights).
    f = r.choice(files) if k % 2 == 0 else r.choices(files, weights=[s for _, _, s in files])[0]
    picks.append((f, r.randrange(f[2]), r.randrange(8)))

def flip(path, offset, bit):
    st = os.stat(path)
    with open(path, "r+b") as h:
        h.seek(offset)
        b = h.read(1)[0]
        h.seek(offset)
        h.write(bytes([b ^ (1 << bit)]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as bit rot leaves it

def verify(*extra):
    out = subprocess.run([exp, "verify", "--store", store, *extra], capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr

missed = other = 0
pristine = store + ".pristine"
shutil.copytree(store, pristine, symlinks=True)
for n, ((path, identity, _), offset, bit) in enumerate(picks, 1):
    flip(path, offset, bit)
    rc, out = verify()
    quarantine = os.path.join(store, "quarantine")
    moved = [d for d in os.listdir(quarantine) if d.startswith(identity + ".")] if os.path.isdir(quarantine) else []
    wrong = [l for l in out.splitlines() if l.startswith("✗") and f"/{identity}." not in l]
    rel = os.path.relpath(path, objects)
    if rc != 1 or not moved or f"/{identity}." not in out:
        missed += 1
        print(f"faults:   flip {n}: bit {bit} of byte {offset} of {rel} missed (exit {rc}): {out.strip()[-300:]}", file=sys.stderr)
    if wrong:
        other += 1
        print(f"faults:   flip {n}: other identities quarantined: {wrong}", file=sys.stderr)
    # Put it back: the folder to objects/, the bit flipped back, the index re-recorded.
    ok = True
    if moved and not wrong:
        os.rename(os.path.join(quarantine, moved[0]), os.path.join(objects, identity[:2], identity))
        flip(path, offset, bit)
        rc, out = verify("--repair")
        ok = rc == 0 and f"repaired the index from {artifacts} intact artifact(s)" in out and "; 0 quarantined" in out
        if not ok:
            print(f"faults:   flip {n}: verify --repair after putting it back (exit {rc}): {out.strip()[-300:]}", file=sys.stderr)
    elif not moved:
        flip(path, offset, bit)
    if not ok or wrong or moved[1:]:
        other += 1
        dest = os.path.join(keep, f"flip-{n}")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(store, dest, symlinks=True)
        print(f"faults:   kept for inspection: {dest}", file=sys.stderr)
        shutil.rmtree(store)
        shutil.copytree(pristine, store, symlinks=True)
    if n % 50 == 0:
        print(f"faults: flips: {n} of {count}", file=sys.stderr)
rc, out = verify()
if rc != 0:
    other += 1
    print(f"faults:   the store after every flip was put back does not verify: {out.strip()[-300:]}", file=sys.stderr)
print(missed, other)
PY
)"
rm -rf "$work/flips" "$work/flips.pristine"
row "one bit flipped in an artifact file or manifest.json (copy of the reference)" "$flips" "$missed (missed)" "—" "$other" \
  "$(since "$start")" "$files artifact files + $artifacts manifests; half the picks by file, half by byte; seed $seed"

# 7. A stage that hangs.
start=$(t0)
corrupt=0 differ=0 other=0
dir="$work/hang"
mkdir -p "$dir"
python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept())  # takes connections and never answers
' >"$dir/port" &
server=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
cat >"$dir/served.med" <<EOF
experiment "hang"
tokenizer llmjp = sentencepiece("$root/data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 1)
eval served = jmedbench(base, tasks: [crade], data: "$root/data", limit: 2, provider: openai(url: "http://127.0.0.1:$port/v1", model: "m"))
EOF
"$exp" run --store "$dir/store" --only base "$dir/served.med" >"$dir/base.log" 2>&1
worst=0
for trial in $(seq "$hang_trials"); do
  t=$(t0)
  rc=0
  "$exp" run --store "$dir/store" --time-limit jmedbench=3s "$dir/served.med" >"$dir/hang.log" 2>&1 || rc=$?
  took=$(since "$t")
  [ "$took" -gt "$worst" ] && worst=$took
  if [ $rc != 1 ] || ! grep -q "ran past its time limit" "$dir/hang.log" || [ "$took" -gt "$hang_max" ]; then
    other=$((other + 1))
    say "  hang-$trial: exit $rc after $took s: $(tail -3 "$dir/hang.log")"
    kept "$dir" "hang-$trial"
  fi
done
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=""
row "a stage that hangs (\`--time-limit jmedbench=3s\`, a server that never answers)" "$hang_trials" 0 "—" $other \
  "$(since "$start")" "exit 1, \"ran past its time limit\"; slowest $worst s (limit $hang_max s)"
rm -rf "$dir"

# 8. Slurm.
if command -v squeue >/dev/null 2>&1 && squeue -h >/dev/null 2>&1; then
  row "Slurm: a job cancelled from outside, the driver killed" 0 — — — 0 \
    "skipped: Slurm answers, but this row is not written yet (see bench/slurm.sh)"
else
  row "Slurm: a job cancelled from outside, the driver killed" 0 — — — 0 \
    "skipped: no Slurm answers here (\`eval \"\$(.ci/slurm start DIR)\"\` starts one)"
fi
