"""The seed corpora of the fuzz targets (`corpus/<target>/`), cut small (a few KB each)
from the bundled data (`data/`) and the test fixtures, so that libFuzzer starts from
inputs each reader accepts. The targets and what they read are in
`stages/src/fuzzing.rs`.

Run from the repository root: python3 stages/fuzz/make_corpus.py
Needs: Python 3.9+, the `gzip` and `zstd` commands, and `pyarrow` for the Parquet seeds
(`pip install pyarrow`; without it they are left as they are).
"""
import json
import re
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "stages/fuzz/corpus"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    (folder / name).write_bytes(data)
    print(f"{target}/{name}: {len(data)} bytes")


def lines(path, n):
    with open(ROOT / path, encoding="utf-8") as f:
        return "".join(f.readline() for _ in range(n))


def jsonl():
    seed = lines("data/igakuqa/2018/112-A.jsonl", 4)
    write("jsonl", "igakuqa-112-A.jsonl", seed)
    write("jsonl", "pubmedqa-shortened.jsonl", pubmedqa())
    for target, command in (("jsonl_gz", ["gzip", "-9", "-n", "-c"]), ("jsonl_zst", ["zstd", "-19", "-q", "-c"])):
        write(target, "igakuqa-112-A.jsonl" + (".gz" if target == "jsonl_gz" else ".zst"),
              subprocess.run(command, input=seed.encode(), capture_output=True, check=True).stdout)


def pubmedqa():
    """Two PubMedQA items with their long fields cut: other field names and types."""
    out = []
    for line in lines("data/pubmedqa/pqal.jsonl", 2).splitlines():
        item = json.loads(line)
        item = {k: (v[:120] if isinstance(v, str) else v[:2] if isinstance(v, list) else v) for k, v in item.items()}
        item["problem_text"], item["problem_id"] = item.pop("question"), item.pop("pmid")
        out.append(json.dumps(item, ensure_ascii=False))
    return "\n".join(out) + "\n"


def csv():
    # JMED-LLM: header row, quoted fields spanning lines; the first three records.
    text = (ROOT / "data/jmed-llm/crade.csv").read_text(encoding="utf-8")
    records, quoted, start = [], False, 0
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == "\n" and not quoted:
            records.append(text[start:i + 1])
            start = i + 1
            if len(records) == 3:
                break
    write("csv", "jmed-llm-crade.csv", "".join(records))
    # JMMLU: no header, a byte-order mark.
    write("csv", "jmmlu-anatomy.csv", lines("data/jmmlu/anatomy.csv", 4))


def parquet():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        print("parquet: no pyarrow, seeds left as they are")
        return
    rows = []
    for i, line in enumerate(lines("data/igakuqa/2018/112-A.jsonl", 4).splitlines()):
        r = json.loads(line)
        rows.append({"id": r["problem_id"], "text": r["problem_text"], "year": 2018,
                     "note": None if i == 2 else "ok", "choices": r["choices"][:2]})
    table = pa.Table.from_pylist(rows)
    CORPUS.joinpath("parquet").mkdir(parents=True, exist_ok=True)
    for name, options in (("snappy-2-groups.parquet", dict(compression="snappy", row_group_size=2)),
                          ("zstd-dictionary.parquet", dict(compression="zstd", use_dictionary=True)),
                          ("plain-v1.parquet", dict(compression="none", use_dictionary=False, data_page_version="1.0"))):
        path = CORPUS / "parquet" / name
        pq.write_table(table, path, **options)
        print(f"parquet/{name}: {path.stat().st_size} bytes")


def text():
    write("text", "jglue-jsts.txt", lines("data/jglue/jsts-v1.1-train.txt", 12))


def pubmed_xml():
    source = (ROOT / "data/pubmed-xml/pubmed-29768149.xml").read_text(encoding="utf-8")
    doctype = re.search(r"<!DOCTYPE[^>]*>", source).group(0)
    root = ET.fromstring(source)
    for article in root.iter("Article"):
        for drop in ("AuthorList", "GrantList", "PublicationTypeList"):
            for e in article.findall(drop):
                article.remove(e)
    for abstract in root.iter("AbstractText"):
        if abstract.text:
            abstract.text = abstract.text[:160]
        for child in abstract:
            child.tail = (child.tail or "")[:60]
    citation = root.find("PubmedArticle/MedlineCitation")
    mesh = citation.find("MeshHeadingList")
    for heading in list(mesh)[3:]:
        mesh.remove(heading)
    data = root.find("PubmedArticle/PubmedData")
    for drop in ("History", "ReferenceList"):
        for e in data.findall(drop):
            data.remove(e)
    body = ET.tostring(root, encoding="unicode")
    # Character references, as PubMed writes Greek letters.
    body = body.replace("\u03b2", "&#946;").replace("\u03bc", "&#956;")
    write("pubmed_xml", "pubmed-29768149-cut.xml", '<?xml version="1.0" ?>\n' + doctype + "\n" + body + "\n")


def jats():
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    ET.register_namespace("mml", "http://www.w3.org/1998/Math/MathML")
    for name in ("1471-2180-11-174.nxml", "ehp-116-1694.nxml"):
        source = (ROOT / "data/pmc-oa" / name).read_text(encoding="utf-8")
        doctype = re.search(r"<!DOCTYPE[^>]*>", source).group(0)
        root = ET.fromstring(source)
        for parent in list(root.iter()):
            for child in list(parent):
                if child.tag in ("back", "floats-group", "contrib-group", "aff", "author-notes", "history",
                                 "fig", "table-wrap", "ref-list", "kwd-group", "counts", "funding-group"):
                    parent.remove(child)
        for section_list in [root.find("body"), root.find("front/article-meta/abstract")]:
            if section_list is None:
                continue
            for sec in list(section_list)[2:]:
                section_list.remove(sec)
            for parent in list(section_list.iter()):
                paragraphs = [c for c in parent if c.tag == "p"]
                for p in paragraphs[1:]:
                    parent.remove(p)
                for p in paragraphs[:1]:
                    text = "".join(p.itertext())[:200]
                    p.clear()
                    p.text = text
        body = ET.tostring(root, encoding="unicode")
        write("jats", name.replace(".nxml", "-cut.nxml"), doctype + "\n" + body + "\n")
    # An internal DTD subset with an entity, which the reader allows.
    write("jats", "internal-entity.nxml", """<?xml version="1.0"?>
<!DOCTYPE article [<!ENTITY lambda "&#x003bb;">]>
<article xmlns:xlink="http://www.w3.org/1999/xlink"><front><journal-meta><journal-title-group>
<journal-title>BMC Microbiology</journal-title></journal-title-group></journal-meta><article-meta>
<article-id pub-id-type="pmid">21810267</article-id><article-id pub-id-type="doi">10.1186/x</article-id>
<title-group><article-title>Lysis time in phage &lambda;</article-title></title-group>
<pub-date pub-type="epub"><year>2011</year></pub-date>
<permissions><license license-type="open-access" xlink:href="http://creativecommons.org/licenses/by/2.0">
<license-p>This is an Open Access article.</license-p></license></permissions>
<abstract><sec><title>Background</title><p>Phage &lambda; lyses <italic>E. coli</italic>.</p></sec></abstract>
</article-meta></front><body><sec><title>Results</title><p>Text <p>nested</p> here.</p></sec></body></article>
""")


def hf_config():
    write("hf_config", "transformers-5.json",
          (ROOT / "stages/trainer/tests/fixtures/mixtral/model/config.json").read_text(encoding="utf-8"))
    # The transformers 4.x form, as `MixtralConfig::to_json` writes it.
    config = {
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "vocab_size": 99487,
        "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40, "num_attention_heads": 40,
        "num_key_value_heads": 40, "head_dim": 128, "num_local_experts": 8, "num_experts_per_tok": 2,
        "max_position_embeddings": 4096, "rope_theta": 10000.0, "rms_norm_eps": 1e-05,
        "router_aux_loss_coef": 0.01, "hidden_act": "silu", "attention_dropout": 0.0, "sliding_window": None,
        "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
    }
    write("hf_config", "transformers-4.json", json.dumps(config, indent=2) + "\n")


def micro_tensors():
    """The tensors of `fuzzing::micro_config()`, by name, with shapes."""
    vocab, h, inter, layers, heads, kv, head_dim, experts = 8, 4, 4, 1, 2, 1, 2, 2
    t = {"model.embed_tokens.weight": [vocab, h], "model.norm.weight": [h], "lm_head.weight": [vocab, h]}
    for l in range(layers):
        p = f"model.layers.{l}"
        t[f"{p}.input_layernorm.weight"] = [h]
        t[f"{p}.post_attention_layernorm.weight"] = [h]
        t[f"{p}.self_attn.q_proj.weight"] = [heads * head_dim, h]
        t[f"{p}.self_attn.k_proj.weight"] = [kv * head_dim, h]
        t[f"{p}.self_attn.v_proj.weight"] = [kv * head_dim, h]
        t[f"{p}.self_attn.o_proj.weight"] = [h, heads * head_dim]
        t[f"{p}.block_sparse_moe.gate.weight"] = [experts, h]
        for e in range(experts):
            x = f"{p}.block_sparse_moe.experts.{e}"
            t[f"{x}.w1.weight"] = [inter, h]
            t[f"{x}.w2.weight"] = [h, inter]
            t[f"{x}.w3.weight"] = [inter, h]
    return t


def safetensors_file(dtype_of):
    """A safetensors file of the micro model, each tensor in the dtype `dtype_of(name)` gives."""
    size = {"F32": 4, "BF16": 2, "F16": 2}
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for i, (name, shape) in enumerate(sorted(micro_tensors().items())):
        dtype = dtype_of(name)
        count = 1
        for d in shape:
            count *= d
        values = [((i * 7 + k) % 13 - 6) / 8 for k in range(count)]
        if dtype == "F32":
            raw = struct.pack(f"<{count}f", *values)
        elif dtype == "F16":
            raw = struct.pack(f"<{count}e", *values)
        else:  # bfloat16: the high half of the float32
            raw = b"".join(struct.pack("<f", v)[2:] for v in values)
        assert len(raw) == count * size[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data to 8 bytes
    return struct.pack("<Q", len(text)) + text + data


def safetensors():
    write("safetensors", "micro-f32.safetensors", safetensors_file(lambda _: "F32"))
    write("safetensors", "micro-bf16-f16.safetensors",
          safetensors_file(lambda name: "BF16" if "experts" in name else "F16"))


def sentencepiece():
    """The LLM-jp model cut to its control and byte pieces and a few normal ones."""
    data = (ROOT / "data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model").read_bytes()
    fields = list(protobuf(data))
    keep, normal = [], 0
    for number, _, value, raw in fields:
        if number != 1:
            continue
        piece = {n: v for n, _, v, _ in protobuf(value)}
        kind = piece.get(3, 1)
        text = piece.get(1, b"").decode("utf-8")
        if kind == 1:
            if normal >= 160 or len(text) > 2 or not (text.isascii() or text in "▁世界医学日本語"):
                continue
            normal += 1
        keep.append((kind, raw))
    rest = [(number, raw) for number, _, _, raw in fields if number != 1]
    write("sentencepiece", "llm-jp-cut.model", b"".join(raw for _, raw in keep) + b"".join(raw for _, raw in rest))
    # Without the byte pieces and with byte fallback (trainer spec field 35) off: unknown
    # characters stay <unk>.
    trainer = next(value for number, _, value, _ in fields if number == 2)
    trainer = b"".join(raw for number, _, _, raw in protobuf(trainer) if number != 35) + varint(35 << 3) + varint(0)
    rest = [raw if number != 2 else varint(2 << 3 | 2) + varint(len(trainer)) + trainer for number, raw in rest]
    pieces = b"".join(raw for kind, raw in keep if kind != 6)
    write("sentencepiece", "llm-jp-cut-no-bytes.model", pieces + b"".join(rest))


def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if not n:
            return out + bytes([byte])
        out += bytes([byte | 0x80])


def protobuf(data):
    """The fields of a protobuf message: (number, wire type, value, the field's bytes),
    the value an int for varints, bytes otherwise."""
    i = 0
    while i < len(data):
        start = i
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(data, i)
        elif wire == 2:
            length, i = read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value, data[start:i]


def read_varint(data, i):
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


if __name__ == "__main__":
    jsonl()
    csv()
    parquet()
    text()
    pubmed_xml()
    jats()
    hf_config()
    safetensors()
    sentencepiece()
