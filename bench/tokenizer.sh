#!/usr/bin/env bash
# Tokeniser throughput (issue 4): our SentencePiece encoder (`exp encode`, 1 and 2
# threads) against the Python `sentencepiece` package and Hugging Face `tokenizers`
# (the same model converted with `SentencePieceUnigramTokenizer.from_spm`, whose ids
# agree with SentencePiece's) on the same text in the same run.
# Needs a release build and `pip install sentencepiece tokenizers protobuf`.
# Usage: bash bench/tokenizer.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exp="$root/target/release/exp"
model="$root/data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model"
work="$(mktemp -d)"
# ~20 MB of real bundled text, English and Japanese, one document per line.
python3 - "$root" "$work/text.txt" <<'PY'
import glob, json, sys
root, out = sys.argv[1], sys.argv[2]
docs = []
with open(f"{root}/data/pubmedqa/pqal.jsonl", encoding="utf-8") as f:
    docs += [json.loads(l)["abstract"] for l in f]
for p in sorted(glob.glob(f"{root}/data/igakuqa/20*/*[A-F].jsonl")):
    with open(p, encoding="utf-8") as f:
        docs += [json.loads(l)["problem_text"] for l in f]
text = "\n".join(d.replace("\n", " ") for d in docs) + "\n"
with open(out, "w", encoding="utf-8") as f:
    while f.tell() < 20_000_000:
        f.write(text)
PY
echo "exp (Rust):"
"$exp" encode "$model" "$work/text.txt" --threads 1
"$exp" encode "$model" "$work/text.txt" --threads 2
echo "sentencepiece (Python):"
python3 - "$model" "$work/text.txt" <<'PY'
import sys, time
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
lines = open(sys.argv[2], encoding="utf-8").read().splitlines()
size = sum(len(l.encode()) + 1 for l in lines) / 1e6
for threads in (1, 2):
    start = time.perf_counter()
    ids = sp.encode(lines, num_threads=threads)
    seconds = time.perf_counter() - start
    tokens = sum(map(len, ids))
    print(f"{len(lines)} lines, {size:.1f} MB, {tokens} tokens in {seconds:.2f}s: {size / seconds:.2f} MB/s, {tokens / seconds:.0f} tokens/s ({threads} threads)")
PY
echo "tokenizers (Python, Rust core):"
# from_spm imports `sentencepiece_model_pb2` at top level; the sentencepiece package ships it.
echo "from sentencepiece.sentencepiece_model_pb2 import *" > "$work/sentencepiece_model_pb2.py"
for threads in 1 2; do
  PYTHONPATH="$work" RAYON_NUM_THREADS=$threads python3 - "$model" "$work/text.txt" "$threads" <<'PY'
import sys, time
from tokenizers.implementations import SentencePieceUnigramTokenizer
tok = SentencePieceUnigramTokenizer.from_spm(sys.argv[1])
lines = open(sys.argv[2], encoding="utf-8").read().splitlines()
size = sum(len(l.encode()) + 1 for l in lines) / 1e6
start = time.perf_counter()
encodings = tok.encode_batch(lines)
seconds = time.perf_counter() - start
tokens = sum(len(e.ids) for e in encodings)
print(f"{len(lines)} lines, {size:.1f} MB, {tokens} tokens in {seconds:.2f}s: {size / seconds:.2f} MB/s, {tokens / seconds:.0f} tokens/s ({sys.argv[3]} threads)")
PY
done
rm -rf "$work"
