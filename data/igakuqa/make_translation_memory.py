"""Builds the translation memory the toy experiment uses in place of an MT engine: the
IgakuQA questions' English translations (`*_translate.jsonl`, `problem_text_en`) paired
with the Japanese originals (`problem_text`) by `problem_id`.

Run from the repository root: python3 data/igakuqa/make_translation_memory.py
(Python 3.11, standard library only). Writes data/igakuqa/translation-memory.jsonl with
one {"id", "source" (English), "target" (Japanese)} per line.
"""
import glob
import json

pairs = []
for original in sorted(glob.glob("data/igakuqa/20*/*[A-F].jsonl")):
    translated = original[: -len(".jsonl")] + "_translate.jsonl"
    with open(original, encoding="utf-8") as f:
        ja = {r["problem_id"]: r["problem_text"] for r in map(json.loads, f)}
    with open(translated, encoding="utf-8") as f:
        for r in map(json.loads, f):
            if r["problem_id"] in ja:
                pairs.append({"id": r["problem_id"], "source": r["problem_text_en"], "target": ja[r["problem_id"]]})
with open("data/igakuqa/translation-memory.jsonl", "w", encoding="utf-8") as out:
    for p in pairs:
        out.write(json.dumps(p, ensure_ascii=False) + "\n")
print(len(pairs), "pairs")
