"""Converts PubMedQA's ori_pqal.json (one JSON object keyed by PMID) into JSON lines,
one item per line, so `exp`'s `jsonl` reader can stream it.

Usage: python3 convert.py ori_pqal.json > pqal.jsonl   (Python 3.11, standard library only)
"""
import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    items = json.load(f)
for pmid, item in items.items():
    record = {
        "pmid": pmid,
        "question": item["QUESTION"],
        "abstract": " ".join(item["CONTEXTS"]),
        "sections": item["LABELS"],
        "long_answer": item["LONG_ANSWER"],
        "final_decision": item["final_decision"],
        "year": item.get("YEAR"),
        "meshes": item.get("MESHES", []),
    }
    print(json.dumps(record, ensure_ascii=False))
