#!/usr/bin/env bash
# Peak memory of tokenising a 2 GB JSONL (issue 4; goal under 500 MB): a generated file of
# bundled abstracts and exam questions, read by `jsonl` and tokenised into Megatron shards
# by `tokenize`, in one `exp run`. Prints the run's summary and its peak resident memory.
# Needs a release build. Usage: bash bench/tokenize-memory.sh [work-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
python3 - "$root" "$work/big.jsonl" <<'PY'
import glob, json, sys
root, out = sys.argv[1], sys.argv[2]
texts = []
with open(f"{root}/data/pubmedqa/pqal.jsonl", encoding="utf-8") as f:
    texts += [json.loads(l)["abstract"] for l in f]
for p in sorted(glob.glob(f"{root}/data/igakuqa/20*/*[A-F].jsonl")):
    with open(p, encoding="utf-8") as f:
        texts += [json.loads(l)["problem_text"] for l in f]
i = 0
with open(out, "w", encoding="utf-8") as f:
    while f.tell() < 2_000_000_000:
        for t in texts:
            f.write(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n")
            i += 1
PY
cp "$root/data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model" "$work/tok.model"
cat > "$work/big.med" <<'MED'
experiment "tokenize-2gb"
tokenizer t = sentencepiece("tok.model")
source big = jsonl("big.jsonl", lang: en)
dataset shards = tokenize(big, t)
MED
ls -l "$work/big.jsonl"
/usr/bin/time -v "$root/target/release/exp" run --store "$work/store" "$work/big.med" 2>&1 | grep -E "run 1|Maximum resident|Elapsed"
