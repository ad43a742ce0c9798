//! Artifacts are a function of their identity alone: a chain from two sources through a
//! mixture, tokenising, CPT, SFT, an evaluation, a report and a corpus card, run from two
//! experiment folders into two stores, gives the same bytes for every node; and
//! `exp run --check` recomputes stored nodes and names the first file that differs.

use crate::util::{exp, root, Dir};
use std::collections::BTreeMap;
use std::path::Path;

fn experiment() -> String {
    let data = root().join("data");
    let data = data.to_str().expect("UTF-8 path");
    format!(
        r#"experiment "reproducible"
tokenizer llmjp = sentencepiece("{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
source pmc = licence(jats("{data}/pmc-oa/*.nxml"), keep: ["CC0", "CC-BY"])
source abstracts = jsonl("{data}/pubmedqa/pqal.jsonl", text: "abstract", id: "pmid", lang: en, licence: "MIT")
corpus papers = {{ pmc, abstracts }} with {{ tokenizer: llmjp, seed: 1 }}
dataset tokens = tokenize(papers, llmjp)
model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 42)
pretrain cpt_papers = cpt(base, tokens) {{
  lr: 3e-3 -> 3e-4 cosine, global_batch: 4, micro_batch: 2, seq: 64, max_steps: 3 steps,
}}
source chat = render(
  jsonl("{data}/pubmedqa/pqal.jsonl", text: "question", id: "pmid", lang: en, meta: {{ long_answer: "long_answer" }}),
  template: "chat.j2",
  format: chat,
)
finetune sft_papers = sft(cpt_papers, chat, llmjp) {{ global_batch: 4, micro_batch: 2, seq: 64, max_steps: 2 steps }}
eval eval_papers = jmedbench(
  sft_papers,
  tasks: [igakuqa(shots: 0, years: [2021]), crade, ejmmt(direction: "en-ja", years: [2021])],
  tokenizer: llmjp,
  data: "{data}",
  limit: 2,
  bootstrap: 20,
  max_new_tokens: 8,
)
report comparison = compare(eval_*, corpora: [papers], training: cpt_*)
report card = corpus_card([papers])
"#
    )
}

/// Every stored artifact of a store: identity → (file → blake3 of its bytes).
pub fn artifacts(store: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for shard in std::fs::read_dir(store.join("objects")).expect("objects/") {
        for object in std::fs::read_dir(shard.expect("entry").path()).expect("shard") {
            let object = object.expect("entry").path();
            let artifact = object.join("artifact");
            let mut files = BTreeMap::new();
            let mut stack = vec![artifact.clone()];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).expect("artifact folder") {
                    let p = e.expect("entry").path();
                    if p.is_dir() {
                        stack.push(p);
                    } else {
                        let rel = p.strip_prefix(&artifact).expect("inside").display().to_string();
                        files.insert(rel, blake3::hash(&std::fs::read(&p).expect("read")).to_hex().to_string());
                    }
                }
            }
            out.insert(object.file_name().expect("name").to_string_lossy().into_owned(), files);
        }
    }
    out
}

/// The study's folder `sub` of `d`, with its template.
fn study_in(d: &Dir, sub: &str) -> std::path::PathBuf {
    let chat = std::fs::read(root().join("experiments/templates/chat.j2")).expect("the chat template");
    d.write(&format!("{sub}/chat.j2"), chat);
    d.write(&format!("{sub}/study.med"), experiment());
    d.path().join(sub)
}

#[test]
fn two_stores_in_two_folders_hold_the_same_bytes_and_check_finds_a_changed_one() {
    let d = Dir::new();
    let (a, b) = (study_in(&d, "a"), study_in(&d, "elsewhere/deeper/b"));
    std::thread::scope(|s| {
        let other = s.spawn(|| exp(&b, &["run", "--store", "../store-b", "study.med"]));
        let here = exp(&a, &["run", "study.med"]);
        assert_eq!(here.status, 0, "{}", here.stderr);
        let there = other.join().expect("the second run");
        assert_eq!(there.status, 0, "{}", there.stderr);
    });
    let (one, two) = (artifacts(&a.join(".exp")), artifacts(&d.path().join("elsewhere/deeper/store-b")));
    assert_eq!(one.len(), 14, "every node stored: {:?}", one.keys());
    for (identity, files) in &one {
        assert_eq!(Some(files), two.get(identity), "node {identity} differs between the two stores");
    }
    assert_eq!(one, two);

    // Recomputed in a scratch folder, every node gives the same bytes again.
    let check = exp(&a, &["run", "--check", "study.med"]);
    assert_eq!(check.status, 0, "{}", check.stderr);
    assert!(check.stderr.contains("checked 14 node(s) of `reproducible`: 14 the same, 0 differ"), "{}", check.stderr);
    assert!(check.stderr.contains("✓ cpt_papers (cpt, "), "{}", check.stderr);

    // A stored byte changed behind exp's back: `--check` names the node and the file.
    let log = shown_artifact_of(&a, "cpt_papers").join("train_log.jsonl");
    let mut bytes = std::fs::read(&log).expect("the training log");
    bytes[10] ^= 1;
    std::fs::write(&log, bytes).expect("write");
    let check = exp(&a, &["run", "--check", "study.med", "cpt_papers", "tokens"]);
    assert_eq!(check.status, 1, "{}", check.stderr);
    assert!(
        check.stderr.contains("✗ cpt_papers (cpt, ")
            && check.stderr.contains("differs: `train_log.jsonl` first differs at byte 10 (line 1)"),
        "{}",
        check.stderr
    );
    assert!(check.stderr.contains("checked 2 node(s) of `reproducible`: 1 the same, 1 differ"), "{}", check.stderr);
    let unknown = exp(&a, &["run", "--check", "study.med", "cpt_paper"]);
    assert!(
        unknown.stderr.contains("`cpt_paper`: no such definition; did you mean `cpt_papers`?"),
        "{}",
        unknown.stderr
    );
}

fn shown_artifact_of(dir: &Path, node: &str) -> std::path::PathBuf {
    crate::util::shown_artifact(dir, &exp(dir, &["show", "study.med", node]).stdout)
}
