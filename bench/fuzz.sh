#!/usr/bin/env bash
# Fuzzing (issue 17): each cargo-fuzz target, the readers' (stages/fuzz/) and the
# language's (dsl/fuzz/, parse_check), for MINUTES, one after the other on one core.
# Prints a Markdown table: target, minutes fuzzed, executions (libFuzzer's
# stat::number_of_executed_units), corpus (units in libFuzzer's corpus at the end: seeds
# and what it found), crashes (inputs written to <crate>/fuzz/artifacts/<target>/, a crash,
# an out-of-memory, a hang over 10 s or a leak; libFuzzer stops at the first).
#
# Seeds are read from <crate>/fuzz/corpus/<target>/ and stages/tests/fixtures/fuzz/<target>/
# (inputs that once crashed a reader) and left as they are; what libFuzzer finds goes to
# <crate>/fuzz/target/work/<target>/, which a later run starts from; its output to
# <crate>/fuzz/target/work/<target>.log.
#
# Needs: cargo-fuzz (cargo install cargo-fuzz) and libFuzzer's unstable compiler flags:
# this sets RUSTC_BOOTSTRAP=1 for the stable toolchain (`cargo fuzz build`; a nightly
# toolchain works as well: RUSTUP_TOOLCHAIN=nightly bash bench/fuzz.sh). Usage: bash bench/fuzz.sh [MINUTES] [TARGET...]  (default: 1 minute, all)
set -euo pipefail
minutes="${1:-1}"
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version > /dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 1
fi

# target → the crate whose fuzz/ folder has it
declare -A crate
for dir in stages dsl; do
    for t in $(cd "$root/$dir" && cargo fuzz list); do
        crate[$t]=$dir
    done
done
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=($(cd "$root/stages" && cargo fuzz list) $(cd "$root/dsl" && cargo fuzz list))
fi
for t in "${targets[@]}"; do
    [ -n "${crate[$t]:-}" ] || { echo "no fuzz target \`$t\` (cargo fuzz list, in stages/ or dsl/)" >&2; exit 1; }
done

# Built once per crate before the clock starts, so that MINUTES are all fuzzing; then each
# binary is run as `cargo fuzz run` runs it, without the rebuild that `cargo fuzz run`
# would start first whenever a source changed during the runs.
for dir in $(for t in "${targets[@]}"; do echo "${crate[$t]}"; done | sort -u); do
    (cd "$root/$dir" && cargo fuzz build) >&2
done
triple=$(rustc -vV | sed -n 's/^host: //p')

# What libFuzzer writes when an input fails, in the current target's artifacts folder.
found() { find "$artifacts" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | sort; }

echo "| target | minutes | executions | corpus | crashes |"
echo "|---|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
    dir="$root/${crate[$t]}"
    work="$dir/fuzz/target/work/$t"
    artifacts="$dir/fuzz/artifacts/$t"
    mkdir -p "$work" "$artifacts"
    seeds=("$dir/fuzz/corpus/$t")
    [ -d "$root/stages/tests/fixtures/fuzz/$t" ] && seeds+=("$root/stages/tests/fixtures/fuzz/$t")
    before=$(found)
    log="$work.log"
    start=$SECONDS
    # -timeout: an input that takes longer is a hang; -malloc_limit_mb: one allocation
    # larger is out of proportion to any input here (a few KB, 16 MB decompressed).
    "$dir/fuzz/target/$triple/release/$t" -artifact_prefix="$artifacts/" \
        -max_total_time=$((minutes * 60)) -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=512 "$work" "${seeds[@]}" > "$log" 2>&1 || true
    elapsed=$((SECONDS - start))
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
    corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
    new=$(comm -13 <(echo "$before") <(found) | sed '/^$/d')
    crashes=$(printf '%s' "$new" | grep -c . || true)
    printf '| %s | %s | %s | %s | %s |\n' "$t" "$(awk "BEGIN { printf \"%.1f\", $elapsed / 60 }")" \
        "$executions" "$corpus" "$crashes"
    if [ -n "$new" ]; then
        echo "$new" | sed 's/^/  new: /' >&2
    fi
done
