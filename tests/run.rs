//! `exp run`, `exp plan`, `exp diff` and `exp status`: the cache promise end to end.

use crate::util::{root, Dir};

/// Two JSONL sources and two mixtures in a temporary folder.
fn study(d: &Dir, seed: u32) {
    d.write(
        "data/en.jsonl",
        "{\"id\":\"a1\",\"body\":\"an English abstract\"}\n{\"id\":\"a2\",\"body\":\"another one\"}\n",
    );
    d.write("data/ja.jsonl", "{\"id\":\"j1\",\"body\":\"日本語の抄録\"}\n");
    d.write(
        "study.med",
        format!(
            "experiment \"study\"\nsource en = jsonl(\"data/en.jsonl\", text: \"body\", id: \"id\", lang: en)\nsource ja = jsonl(\"data/ja.jsonl\", text: \"body\", id: \"id\", lang: ja)\ncorpus both = {{ en, ja * 2 }} with {{ seed: {seed} }}\ncorpus english = {{ en }}\n"
        ),
    );
}

fn lines_with<'a>(text: &'a str, word: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.trim_start().starts_with(word)).collect()
}

#[test]
fn a_changed_mixture_reruns_only_its_branch() {
    let d = Dir::new();
    study(&d, 1);
    let first = d.exp(&["run", "study.med"]);
    assert_eq!(first.status, 0, "{}", first.stderr);
    assert!(first.stderr.contains("4 ran, 0 cached, 0 failed"), "{}", first.stderr);
    let mixed = std::fs::read_dir(d.path().join(".exp/objects")).expect("objects").count();
    assert!(mixed >= 1);

    // Nothing changed: everything is cached.
    let again = d.exp(&["plan", "study.med"]);
    assert_eq!(lines_with(&again.stdout, "cached").len(), 4, "{}", again.stdout);

    // Change one mixture's seed: only that node reruns, with the reason.
    study(&d, 2);
    let plan = d.exp(&["plan", "study.med"]);
    let runs = lines_with(&plan.stdout, "run ");
    assert_eq!(runs.len(), 1, "{}", plan.stdout);
    assert!(runs[0].contains("both") && runs[0].contains("parameter `seed` changed 1 → 2"), "{}", plan.stdout);
    let second = d.exp(&["run", "study.med"]);
    assert!(second.stderr.contains("1 ran, 3 cached"), "{}", second.stderr);

    // A data file's bytes change: its source and everything using it rerun.
    d.write("data/ja.jsonl", "{\"id\":\"j1\",\"body\":\"日本語の抄録、改訂版\"}\n");
    let plan = d.exp(&["plan", "study.med"]);
    let runs = lines_with(&plan.stdout, "run ");
    assert_eq!(runs.len(), 2, "{}", plan.stdout);
    assert!(plan.stdout.contains("file `data/ja.jsonl` changed"), "{}", plan.stdout);
    assert!(plan.stdout.contains("input `ja` changed"), "{}", plan.stdout);
}

#[test]
fn a_second_experiment_reuses_shared_artifacts() {
    let d = Dir::new();
    study(&d, 1);
    assert_eq!(d.exp(&["run", "study.med"]).status, 0);
    // Another file, other names, the same English source spelt differently.
    d.write(
        "other.med",
        "experiment \"other\"\nsource english_abstracts = jsonl(path: \"./data/en.jsonl\", text: \"body\", id: \"id\", lang: en)\ncorpus solo = { english_abstracts * 3 }\n",
    );
    let out = d.exp(&["run", "other.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.contains("1 ran, 1 cached"), "{}", out.stderr);

    let diff = d.exp(&["diff", "study.med", "other.med"]);
    assert_eq!(diff.status, 0, "{}", diff.stderr);
    assert!(diff.stdout.contains("+ english_abstracts (jsonl) only in other.med"), "{}", diff.stdout);
    assert!(diff.stdout.contains("running other.med would compute 0 node(s)"), "{}", diff.stdout);
    let json = d.exp(&["diff", "--json", "study.med", "other.med"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["only_in_b"].as_array().map(Vec::len), Some(2));

    let status = d.exp(&["status", "--store", ".exp"]);
    assert!(status.stdout.contains("ok"), "{}", status.stdout);
    assert_eq!(status.stdout.lines().count(), 2, "{}", status.stdout);
}

#[test]
fn a_bad_record_fails_its_node_and_leaves_nothing_half_written() {
    let d = Dir::new();
    study(&d, 1);
    d.write("data/ja.jsonl", "{\"id\":\"j1\",\"body\":\"fine\"}\n{\"id\":\"j2\" \"body\": broken\n");
    let out = d.exp(&["run", "study.med"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("data/ja.jsonl:2: not JSON"), "{}", out.stderr);
    // `both` needs `ja`: skipped; `en` and `english` are independent but the run stopped
    // launching after the failure unless --keep-going.
    let tmp = std::fs::read_dir(d.path().join(".exp/tmp"))
        .expect("tmp")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(tmp, 0, "no temporary folder is left behind");
    let going = d.exp(&["run", "--keep-going", "study.med"]);
    assert!(going.stderr.contains("1 failed, 1 skipped"), "{}", going.stderr);
    // Fixing the file resumes where it stopped.
    d.write("data/ja.jsonl", "{\"id\":\"j1\",\"body\":\"fine\"}\n");
    let fixed = d.exp(&["run", "study.med"]);
    assert_eq!(fixed.status, 0, "{}", fixed.stderr);
    assert!(fixed.stderr.contains("0 failed"), "{}", fixed.stderr);
}

#[test]
fn missing_data_and_unimplemented_stages_are_blocked_not_crashed() {
    let d = Dir::new();
    d.write("x.med", "experiment \"x\"\nsource a = jsonl(\"nowhere/*.jsonl\")\nsource b = near_dedup(a)\n");
    let plan = d.exp(&["plan", "x.med"]);
    assert_eq!(plan.status, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("`nowhere/*.jsonl` matches no file"), "{}", plan.stdout);
    assert!(plan.stdout.contains("input `a` cannot be computed"), "{}", plan.stdout);
    let run = d.exp(&["run", "x.med"]);
    assert_eq!(run.status, 1);
    let study =
        d.exp(&["plan", &root().join("experiments/corpus-expansion.med").display().to_string(), "--store", ".exp"]);
    assert_eq!(study.status, 0, "{}", study.stderr);
    assert!(study.stdout.contains("blocked"), "{}", study.stdout);
}

/// `gc --keep FILE --profile P` keeps that profile's graph, not the default one's.
#[test]
fn gc_keeps_the_graph_of_the_profile_asked_for() {
    let d = Dir::new();
    study(&d, 1);
    d.write(
        "prof.med",
        "experiment \"prof\"\nlet seed = 1\nprofile other {\n  let seed = 9\n}\nsource en = jsonl(\"data/en.jsonl\", text: \"body\", id: \"id\", lang: en)\ncorpus mixed = { en } with { seed: seed }\n",
    );
    assert_eq!(d.exp(&["run", "--profile", "other", "prof.med"]).status, 0);
    // The default profile's `mixed` (seed 1) was never made: keeping it frees the seed-9 one.
    let default = d.exp(&["gc", "--store", ".exp", "--keep", "prof.med", "--dry-run"]);
    assert!(default.stdout.contains("would remove 1 artifact(s)"), "{}", default.stdout);
    let other = d.exp(&["gc", "--store", ".exp", "--keep", "prof.med", "--profile", "other", "--dry-run"]);
    assert!(other.stdout.contains("would remove 0 artifact(s)"), "{}", other.stdout);
}

#[test]
fn show_log_graph_gc_and_verify() {
    let d = Dir::new();
    study(&d, 1);
    assert_eq!(d.exp(&["run", "study.med"]).status, 0);
    let list = d.exp(&["show", "study.med"]);
    assert_eq!(lines_with(&list.stdout, "stored").len(), 4, "{}", list.stdout);
    let node = d.exp(&["show", "study.med", "both"]);
    assert!(node.stdout.contains("documents = 4"), "{}", node.stdout);
    assert!(node.stdout.contains("composition.json"), "{}", node.stdout);
    let en = d.exp(&["show", "study.med", "en"]);
    assert!(en.stdout.contains("used by (stored):") && en.stdout.contains("both (as `member`)"), "{}", en.stdout);
    let log = d.exp(&["log", "study.med", "en"]);
    assert!(log.stdout.contains("read 2 documents"), "{}", log.stdout);
    let dot = d.exp(&["graph", "study.med"]);
    assert!(dot.stdout.starts_with("digraph \"study\"") && dot.stdout.contains("[label=\"member\"]"), "{}", dot.stdout);
    let typo = d.exp(&["show", "study.med", "bth"]);
    assert_eq!(typo.status, 2);
    assert!(typo.stderr.contains("did you mean `both`?"), "{}", typo.stderr);

    // Change the seed and rerun: the old `both` is no longer reached by the last run.
    study(&d, 5);
    assert_eq!(d.exp(&["run", "study.med"]).status, 0);
    let dry = d.exp(&["gc", "--store", ".exp", "--dry-run"]);
    assert!(dry.stdout.contains("would remove 1 artifact(s)"), "{}", dry.stdout);
    let gc = d.exp(&["gc", "--store", ".exp"]);
    assert!(gc.stdout.contains("removed 1 artifact(s)"), "{}", gc.stdout);
    assert!(d.exp(&["plan", "study.med"]).stdout.contains("0 to run, 4 cached"));

    // Damage an artifact: verify quarantines it and the next run recomputes it.
    let objects = d.path().join(".exp/objects");
    let victim = std::fs::read_dir(&objects).expect("objects").flatten().next().expect("a shard").path();
    let artifact = std::fs::read_dir(&victim).expect("shard").flatten().next().expect("an object").path();
    std::fs::write(artifact.join("artifact/documents.jsonl"), "tampered\n").expect("write");
    let verify = d.exp(&["verify", "--store", ".exp"]);
    assert_eq!(verify.status, 1);
    assert!(verify.stdout.contains("`documents.jsonl` changed"), "{}", verify.stdout);
    assert!(d.exp(&["plan", "study.med"]).stdout.contains("1 to run"));
}

#[test]
fn an_unwritable_store_is_a_clear_error() {
    let d = Dir::new();
    study(&d, 1);
    d.write("not-a-folder", "a file where the store should be");
    let out = d.exp(&["run", "--store", "not-a-folder", "study.med"]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("cannot create the store at `not-a-folder`"), "{}", out.stderr);
}

/// A source big enough to take a while to read in a debug build.
fn big_source(d: &Dir, megabytes: usize) {
    let line = format!("{{\"id\":\"x\",\"body\":\"{}\"}}\n", "medical text ".repeat(60));
    let count = megabytes * (1 << 20) / line.len();
    d.write("data/big.jsonl", line.repeat(count));
    d.write("big.med", "experiment \"big\"\nsource big = jsonl(\"data/big.jsonl\", text: \"body\", lang: en)\ncorpus m = { big * 2 }\n");
}

#[test]
fn ctrl_c_cancels_cleanly_and_the_next_run_resumes() {
    let d = Dir::new();
    big_source(&d, 60);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(["run", "big.med"])
        .current_dir(d.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("exp starts");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("exp ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let leftovers =
        std::fs::read_dir(d.path().join(".exp/tmp")).expect("tmp").flatten().filter(|e| e.path().is_dir()).count();
    assert_eq!(leftovers, 0, "no temporary folder is left behind");
    let again = d.exp(&["run", "big.med"]);
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert!(again.stderr.contains("2 ran"), "{}", again.stderr);
}

#[test]
fn two_runs_at_once_compute_each_node_once() {
    let d = Dir::new();
    big_source(&d, 8);
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_exp"))
            .args(["run", "big.med"])
            .current_dir(d.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("exp starts")
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().expect("a"), b.wait_with_output().expect("b"));
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let ran = |o: &std::process::Output| {
        let s = String::from_utf8_lossy(&o.stderr).into_owned();
        let n: usize =
            s.split(" ran,").next().and_then(|x| x.rsplit(' ').next()).and_then(|x| x.parse().ok()).unwrap_or(99);
        n
    };
    assert_eq!(ran(&a) + ran(&b), 2, "each of the two nodes is computed by one run only");
}

#[test]
fn mixtures_count_tokens_and_meet_token_budgets() {
    let d = Dir::new();
    let model = root().join("data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model");
    std::fs::copy(&model, d.path().join("tok.model")).expect("copy the tokenizer");
    let mut en = String::new();
    for i in 0..400 {
        en.push_str(&format!(
            "{{\"id\":\"e{i}\",\"text\":\"Patients with anemia number {i} were treated and followed.\"}}\n"
        ));
    }
    d.write("data/en.jsonl", en);
    d.write(
        "tok.med",
        "experiment \"tok\"\ntokenizer t = sentencepiece(\"tok.model\")\nsource en = jsonl(\"data/en.jsonl\", lang: en)\ncorpus all = { en } with { tokenizer: t }\ncorpus half = { en } with { tokenizer: t, budget: 2k tokens, seed: 3 }\ndataset shards = tokenize(all, t, shard_tokens: 3k)\n",
    );
    let out = d.exp(&["run", "tok.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let composition = |name: &str| -> serde_json::Value {
        let path = d.artifact("tok.med", name).join("composition.json");
        serde_json::from_slice(&std::fs::read(path).expect("composition")).expect("JSON")
    };
    let all = composition("all");
    let tokens = all["total"]["tokens"].as_u64().expect("token count");
    assert!(tokens > 4000, "{all}");
    assert_eq!(all["total"]["by_language"]["en"]["tokens"].as_u64(), Some(tokens));
    let half = composition("half");
    let sampled = half["total"]["tokens"].as_u64().expect("token count");
    assert!((1500..=2500).contains(&sampled), "a 2k-token budget gives about 2k tokens: {sampled}");
    // Megatron shards: every token of the corpus plus one end-of-document token each.
    let show = d.exp(&["show", "tok.med", "shards"]);
    assert!(show.stdout.contains(&format!("tokens = {}", tokens + 400)), "{}", show.stdout);
    assert!(show.stdout.contains("shard_00001.idx"), "3k tokens per shard gives several shards: {}", show.stdout);
}

#[test]
fn pmc_articles_through_the_licence_filter() {
    let d = Dir::new();
    let data = root().join("data");
    d.write(
        "pmc.med",
        format!(
            "experiment \"pmc\"\nsource pmc = jats(\"{0}/pmc-oa/*.nxml\")\nsource open = licence(pmc, keep: [\"CC0\", \"CC-BY\"])\nsource long = length(open, min_chars: 20k)\nsource medline = pubmed_xml(\"{0}/pubmed-xml/*.xml\")\nsource questions = csv(\"{0}/jmmlu/anatomy.csv\", header: false, columns: [\"question\", \"A\", \"B\", \"C\", \"D\", \"answer\"], text: \"question\", lang: ja)\ncorpus all = {{ long, medline, questions }}\n",
            data.display()
        ),
    );
    let out = d.exp(&["run", "pmc.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let shown = d.exp(&["show", "pmc.med", "open"]);
    // 8 articles: 4 CC-BY, one CC-BY-NC, one public-domain mark, two without a licence.
    assert!(shown.stdout.contains("kept = 4") && shown.stdout.contains("dropped = 4"), "{}", shown.stdout);
    let log = d.exp(&["log", "pmc.med", "open"]);
    assert!(
        log.stdout.contains("dropped 2: licence unknown") && log.stdout.contains("dropped 1: licence CC-BY-NC"),
        "{}",
        log.stdout
    );
    let medline = d.exp(&["show", "pmc.med", "medline"]);
    assert!(medline.stdout.contains("documents = 1"), "{}", medline.stdout);
}

#[test]
fn only_runs_the_named_definitions_and_what_they_need() {
    let d = Dir::new();
    study(&d, 1);
    let out = d.exp(&["run", "--only", "english", "study.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.contains("2 ran, 0 cached"), "{}", out.stderr);
    let rest = d.exp(&["run", "study.med"]);
    assert!(rest.stderr.contains("2 ran, 2 cached"), "{}", rest.stderr);
    let typo = d.exp(&["run", "--only", "englsh", "study.med"]);
    assert_eq!(typo.status, 2);
    assert!(typo.stderr.contains("did you mean `english`?"), "{}", typo.stderr);
}

#[test]
fn dedup_decontamination_split_and_near_duplicates() {
    let d = Dir::new();
    d.write(
        "data/a.jsonl",
        "{\"id\":\"1\",\"doi\":\"10.1/X\",\"text\":\"Asthma patients were treated with budesonide as needed for one year in this trial.\"}\n\
         {\"id\":\"2\",\"doi\":\"10.1/y\",\"text\":\"Asthma patients were treated with budesonide as needed for one year in this study.\"}\n\
         {\"id\":\"3\",\"doi\":\"10.1/z\",\"text\":\"高アンモニア血症をきたす疾患はどれか。\"}\n\
         {\"id\":\"4\",\"doi\":\"10.1/w\",\"text\":\"An unrelated abstract about the epidemiology of influenza in older adults.\"}\n",
    );
    d.write("data/b.jsonl", "{\"id\":\"9\",\"doi\":\"10.1/x\",\"text\":\"another copy\"}\n");
    d.write("data/eval.jsonl", "{\"id\":\"e\",\"text\":\"問題：高アンモニア血症をきたす疾患はどれか。\"}\n");
    d.write("ids.json", "{\"4\": \"yes\"}");
    d.write(
        "f.med",
        "experiment \"f\"\n\
         source a = jsonl(\"data/a.jsonl\", id: \"id\", meta: { doi: \"doi\" })\n\
         source b = jsonl(\"data/b.jsonl\", id: \"id\", meta: { doi: \"doi\" })\n\
         source eval = jsonl(\"data/eval.jsonl\", id: \"id\")\n\
         source unique = dedup(a, by: [doi], against: [b])\n\
         source clean = decontaminate(unique, against: [eval], ngram: 8)\n\
         source train = split(clean, keep: train, ids: \"ids.json\")\n\
         source distinct = near_dedup(a, threshold: 0.7)\n\
         source japanese = language(a, keep: [ja])\n",
    );
    let out = d.exp(&["run", "--keep-going", "f.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let metric = |name: &str, m: &str| d.metric("f.med", name, m);
    assert_eq!(metric("unique", "kept"), "3", "the DOI of 1 is in b (case-insensitively)");
    assert_eq!(metric("clean", "kept"), "2", "3 shares 8 characters with the evaluation item");
    assert_eq!(metric("train", "kept"), "1", "4 is on the test side");
    assert_eq!(metric("distinct", "kept"), "3", "2 is a near-duplicate of 1");
    assert_eq!(metric("japanese", "kept"), "1");
}

#[test]
fn translation_pairing_and_templates() {
    let d = Dir::new();
    d.write(
        "data/en.jsonl",
        "{\"id\":\"q1\",\"text\":\"What disease causes hyperammonemia?\",\"answer\":\"e\"}\n{\"id\":\"q2\",\"text\":\"Which drug is an anticoagulant?\",\"answer\":\"b\"}\n",
    );
    d.write(
        "memory.jsonl",
        "{\"source\":\"What disease causes hyperammonemia?\",\"target\":\"高アンモニア血症をきたす疾患はどれか。\"}\n",
    );
    // An engine that "translates" by reversing the text, and fails on q2.
    d.write(
        "mt.py",
        "import json, sys\nfor line in sys.stdin:\n    r = json.loads(line)\n    out = {'id': r['id'], 'error': 'refused'} if r['id'] == 'q2' else {'id': r['id'], 'text': r['text'][::-1]}\n    print(json.dumps(out), flush=True)\n",
    );
    d.write("qa.j2", "Question: {{ doc.text }}\nAnswer: {{ doc.meta.answer }}");
    d.write(
        "t.med",
        "experiment \"t\"\n\
         source en = jsonl(\"data/en.jsonl\", id: \"id\", lang: en, meta: { answer: \"answer\" })\n\
         source ja = translate(en, to: ja, engine: memory(\"memory.jsonl\"))\n\
         source reversed = translate(en, to: ja, engine: command(\"python3 mt.py\"), retries: 1)\n\
         source pairs = parallel(en, ja, order: shuffled, seed: 7)\n\
         source qa = render(en, template: \"qa.j2\")\n",
    );
    let out = d.exp(&["run", "t.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let metric = |name: &str, m: &str| d.metric("t.med", name, m);
    assert_eq!(metric("ja", "translated"), "1");
    assert_eq!(metric("ja", "failed"), "1", "q2 is not in the memory: excluded and counted");
    assert_eq!(metric("reversed", "translated"), "1");
    assert_eq!(metric("reversed", "failed"), "1");
    assert_eq!(metric("pairs", "pairs"), "1");
    assert_eq!(metric("pairs", "unpaired"), "1");
    let artifact =
        |name: &str| std::fs::read_to_string(d.artifact("t.med", name).join("documents.jsonl")).expect("documents");
    assert!(artifact("reversed").contains("?aimenommarepyh sesuac esaesid tahW"), "{}", artifact("reversed"));
    assert!(artifact("qa").contains("Question: Which drug is an anticoagulant?\\nAnswer: b"), "{}", artifact("qa"));
    let pair = artifact("pairs");
    assert!(pair.contains("高アンモニア血症") && pair.contains("hyperammonemia"), "{pair}");
    // A changed template reruns only `qa`; the translation cache spares the engine on a rerun.
    d.write("qa.j2", "Q: {{ doc.text }}\nA: {{ doc.meta.answer }}");
    let plan = d.exp(&["plan", "t.med"]);
    assert!(plan.stdout.contains("1 to run"), "{}", plan.stdout);
    assert!(plan.stdout.contains("file `qa.j2` changed"), "{}", plan.stdout);
    std::fs::remove_dir_all(d.path().join(".exp/objects")).expect("empty the objects, keep the cache");
    let again = d.exp(&["run", "t.med"]);
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert_eq!(metric("reversed", "from_cache"), "1", "the finished translation came from the cache");
}

#[test]
fn bad_records_fail_or_are_skipped_and_counted_and_a_corrupt_gz_is_named() {
    let d = Dir::new();
    d.write(
        "data/a.jsonl",
        "{\"text\":\"fine\"}\n{\"text\": broken\n{\"other\":\"no text field\"}\n{\"text\":\"also fine\"}\n",
    );
    d.write("data/a.csv", "question,answer\nq1,a\nq2\n");
    d.write("data/bad.jsonl.gz", b"\x1f\x8b\x08\x00not really gzip");
    d.write(
        "p.med",
        "experiment \"p\"\nsource strict = jsonl(\"data/a.jsonl\")\nsource lenient = jsonl(\"data/a.jsonl\", on_error: skip)\nsource rows = csv(\"data/a.csv\", text: \"question\", on_error: skip)\nsource gz = jsonl(\"data/bad.jsonl.gz\")\n",
    );
    let out = d.exp(&["run", "--keep-going", "p.med"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("a.jsonl:2: not JSON"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.jsonl.gz"), "the corrupt file is named: {}", out.stderr);
    let lenient = d.exp(&["show", "p.med", "lenient"]).stdout;
    assert!(lenient.contains("documents = 2") && lenient.contains("skipped = 2"), "{lenient}");
    let log = d.exp(&["log", "p.med", "lenient"]).stdout;
    assert!(log.contains("a.jsonl:3: no text field `text`"), "{log}");
    let rows = d.exp(&["show", "p.med", "rows"]).stdout;
    assert!(rows.contains("documents = 1") && rows.contains("skipped = 1"), "{rows}");
}

/// A one-thread OpenAI-compatible server on loopback: it "translates" every text to
/// `翻訳`, except that it answers 500 to texts mentioning an anticoagulant.
fn fake_openai(requests: usize) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).ok();
            let (status, reply) = if String::from_utf8_lossy(&body).contains("anticoagulant") {
                ("500 Internal Server Error", "{\"error\":\"overloaded\"}".to_string())
            } else {
                ("200 OK", "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"翻訳\"}}]}".to_string())
            };
            let response = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len());
            stream.write_all(response.as_bytes()).ok();
        }
    });
    (port, handle)
}

#[test]
fn translation_through_an_openai_compatible_endpoint() {
    let d = Dir::new();
    d.write(
        "data/en.jsonl",
        "{\"id\":\"q1\",\"text\":\"What disease causes hyperammonemia?\"}\n{\"id\":\"q2\",\"text\":\"Which drug is an anticoagulant?\"}\n",
    );
    // q1 once; q2 on its first try and its one retry.
    let (port, server) = fake_openai(3);
    d.write(
        "o.med",
        format!("experiment \"o\"\nsource en = jsonl(\"data/en.jsonl\", id: \"id\", lang: en)\nsource ja = translate(en, to: ja, engine: openai(url: \"http://127.0.0.1:{port}/v1\", model: \"m\"), retries: 1, concurrency: 1)\n"),
    );
    let out = d.exp(&["run", "o.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    server.join().expect("the fake server ends after its requests");
    let show = d.exp(&["show", "o.med", "ja"]).stdout;
    assert!(show.contains("translated = 1") && show.contains("failed = 1"), "{show}");
    let log = d.exp(&["log", "o.med", "ja"]).stdout;
    assert!(log.contains("1 failed and excluded"), "{log}");
}

#[test]
fn parquet_rows_become_documents() {
    let d = Dir::new();
    let fixture = root().join("stages/tests/fixtures/parquet/pairs.parquet");
    std::fs::copy(&fixture, d.path().join("pairs.parquet")).expect("copy the fixture");
    d.write("bad.parquet", "not parquet at all");
    d.write(
        "k.med",
        "experiment \"k\"\nsource pairs = parquet(\"pairs.parquet\", text: \"text\", id: \"id\", lang: mixed, meta: { year: \"year\", note: \"note\" })\nsource broken = parquet(\"bad.parquet\")\n",
    );
    let out = d.exp(&["run", "--keep-going", "k.med"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("bad.parquet: not a Parquet file"), "{}", out.stderr);
    let show = d.exp(&["show", "k.med", "pairs"]).stdout;
    assert!(show.contains("documents = 40"), "{show}");
    let docs = std::fs::read_to_string(d.artifact("k.med", "pairs").join("documents.jsonl")).expect("documents");
    let first: serde_json::Value = serde_json::from_str(docs.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["id"], "112A1");
    assert_eq!(first["meta"]["year"], "2018");
    assert!(first["text"].as_str().expect("text").contains("hyperammonemia"), "{first}");
    let fourth: serde_json::Value = serde_json::from_str(docs.lines().nth(3).expect("line 4")).expect("JSON");
    assert!(fourth["meta"].get("note").is_none(), "a null cell is absent: {fourth}");
}
