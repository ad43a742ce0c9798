//! The fault suite's short version (the long one is `bench/faults.sh`): a run that dies
//! inside each dangerous window resumes to the same bytes as an uninterrupted run; four
//! drivers on one store compute each node once; a full file system gives a clear error,
//! corrupts nothing, and the run completes once there is room; a lost index is rebuilt;
//! a stage that hangs is stopped at its time limit.

use crate::reproducible::artifacts;
use crate::util::{exp, exp_with_env, root, Dir};
use std::path::Path;

fn experiment() -> String {
    let data = root().join("data");
    let data = data.to_str().expect("UTF-8 path");
    format!(
        r#"experiment "faults"
tokenizer llmjp = sentencepiece("{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
source abstracts = jsonl("{data}/pubmedqa/pqal.jsonl", text: "abstract", id: "pmid", lang: en, licence: "MIT")
source questions = jsonl("{data}/pubmedqa/pqal.jsonl", text: "question", id: "pmid", lang: en, licence: "MIT")
corpus both = {{ abstracts, questions }} with {{ tokenizer: llmjp, seed: 1 }}
dataset tokens = tokenize(both, llmjp)
model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 42)
pretrain cpt_both = cpt(base, tokens) {{
  lr: 3e-3 -> 3e-4 cosine, global_batch: 4, micro_batch: 2, seq: 64, max_steps: 3 steps, checkpoint_every: 1 steps,
}}
eval eval_cpt = jmedbench(cpt_both, tasks: [crade], tokenizer: llmjp, data: "{data}", limit: 4, batch: 1, bootstrap: 20)
"#
    )
}

/// Runs until `exp run` succeeds, the first try dying at `fault`; what it printed.
fn killed_then_resumed(dir: &Path, fault: &str) -> String {
    let killed = exp_with_env(dir, &["run", "study.med"], &[("EXP_FAULT", fault)]);
    assert_ne!(killed.status, 0, "{fault}: the run was to die: {}", killed.stderr);
    assert!(killed.stderr.contains(&format!("EXP_FAULT: dying at `{}`", fault.split(':').next().unwrap_or(fault))));
    let resumed = exp(dir, &["run", "study.med"]);
    assert_eq!(resumed.status, 0, "{fault}: {}", resumed.stderr);
    resumed.stderr
}

#[test]
fn a_run_killed_in_each_dangerous_window_resumes_to_the_same_bytes() {
    let d = Dir::new();
    d.write("reference/study.med", experiment());
    let reference = exp(&d.path().join("reference"), &["run", "study.med"]);
    assert_eq!(reference.status, 0, "{}", reference.stderr);
    let expected = artifacts(&d.path().join("reference/.exp"));
    assert_eq!(expected.len(), 8);
    // Each window, and where it is reached more than once, a later pass too.
    for fault in ["publish:3", "published:2", "index:4", "checkpoint:2", "journal:2"] {
        let dir = d.path().join(fault.replace(':', "-"));
        d.write(&format!("{}/study.med", fault.replace(':', "-")), experiment());
        let resumed = killed_then_resumed(&dir, fault);
        if fault.starts_with("checkpoint") {
            assert!(resumed.contains("✓ cpt_both"), "{resumed}");
            let log = exp(&dir, &["log", "study.med", "cpt_both"]).stdout;
            assert!(log.contains("resuming from the checkpoint of step 1"), "{fault}: {log}");
        }
        assert_eq!(artifacts(&dir.join(".exp")), expected, "{fault}: the resumed run's bytes differ");
        // Every node is in the index, also one published just before the death.
        let index = rusqlite::Connection::open(dir.join(".exp/index.sqlite")).expect("the index");
        let nodes: i64 = index.query_row("SELECT count(*) FROM nodes", [], |r| r.get(0)).expect("nodes");
        assert_eq!(nodes, 8, "{fault}: nodes recorded");
        let verify = exp(&dir, &["verify", "--store", ".exp"]);
        assert_eq!(verify.status, 0, "{fault}: {}", verify.stdout);
        assert!(verify.stdout.contains("verified 8 artifact(s): 8 intact, 0 quarantined"), "{}", verify.stdout);
    }
}

#[test]
fn four_drivers_at_once_compute_each_node_once() {
    let d = Dir::new();
    d.write("study.med", experiment().replace("max_steps: 3 steps", "max_steps: 1 steps"));
    let outs: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> =
            (0..4).map(|_| s.spawn(|| exp(d.path(), &["run", "--only", "tokens", "study.med"]))).collect();
        runs.into_iter().map(|r| r.join().expect("a driver")).collect()
    });
    for out in &outs {
        assert_eq!(out.status, 0, "{}", out.stderr);
    }
    let index = rusqlite::Connection::open(d.path().join(".exp/index.sqlite")).expect("the index");
    let ran: Vec<(String, i64)> = index
        .prepare("SELECT name, count(*) FROM run_nodes WHERE status = 'ran' GROUP BY identity ORDER BY name")
        .expect("a query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let names: Vec<&str> = ran.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["abstracts", "both", "llmjp", "questions", "tokens"], "{ran:?}");
    assert!(ran.iter().all(|(_, n)| *n == 1), "each computed once: {ran:?}");
    let runs: i64 = index.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)).expect("runs");
    assert_eq!(runs, 4);
}

/// A size-limited tmpfs at `dir` while it lives (needs root; `None` where it cannot be
/// mounted, and the test says so).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .expect("mount runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn a_full_file_system_gives_a_clear_error_and_the_run_completes_once_there_is_room() {
    let d = Dir::new();
    d.write("study.med", experiment());
    let Some(disk) = Tmpfs::mount(&d.path().join("small"), "2m") else {
        eprintln!("no tmpfs could be mounted here (not root?): the full file system is not tested by this run");
        return;
    };
    let run = |only: &str| exp(d.path(), &["run", "--store", "small/store", "--only", only, "study.med"]);
    // The tokenizer (1.6 MiB) fits; the mixture after it does not.
    let full = run("tokens");
    assert_eq!(full.status, 1, "{}", full.stderr);
    assert!(full.stderr.contains("No space left on device"), "{}", full.stderr);
    let verify = exp(d.path(), &["verify", "--store", "small/store"]);
    assert_eq!(verify.status, 0, "nothing stored is corrupt: {}", verify.stdout);
    let tmp = std::fs::read_dir(d.path().join("small/store/tmp")).expect("tmp/").count();
    assert_eq!(tmp, 0, "no half-written artifact is left behind");
    disk.resize("64m");
    let again = run("tokens");
    assert_eq!(again.status, 0, "{}", again.stderr);
    let verify = exp(d.path(), &["verify", "--store", "small/store"]);
    assert!(verify.stdout.contains("verified 5 artifact(s): 5 intact"), "{}", verify.stdout);
}

#[test]
fn a_lost_index_is_rebuilt_and_nothing_reruns() {
    let d = Dir::new();
    d.write("study.med", experiment());
    assert_eq!(exp(d.path(), &["run", "--only", "tokens", "study.med"]).status, 0);
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(d.path().join(format!(".exp/index.sqlite{suffix}"))).ok();
    }
    let plan = exp(d.path(), &["plan", "study.med"]);
    assert_eq!(plan.status, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains("warning: the store's index lost; rebuilt from the manifests: 5 nodes"),
        "{}",
        plan.stderr
    );
    assert!(plan.stdout.contains("3 to run, 5 cached"), "{}", plan.stdout);
    // What `gc` keeps by default (the definitions last run) came back too.
    let gc = exp(d.path(), &["gc", "--store", ".exp", "--dry-run"]);
    assert!(gc.stdout.contains("would remove 0 artifact(s)"), "{}", gc.stdout);
    let repair = exp(d.path(), &["verify", "--repair", "--store", ".exp"]);
    assert_eq!(repair.status, 0, "{}", repair.stdout);
    assert!(repair.stdout.contains("repaired the index from 5 intact artifact(s)"), "{}", repair.stdout);
}

#[test]
fn a_stage_that_hangs_is_stopped_at_its_time_limit() {
    // A server that takes connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("an address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let d = Dir::new();
    let data = root().join("data");
    d.write(
        "served.med",
        format!(
            r#"experiment "hang"
tokenizer llmjp = sentencepiece("{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 1)
eval served = jmedbench(base, tasks: [crade], data: "{data}", limit: 2, provider: openai(url: "http://127.0.0.1:{port}/v1", model: "m"))
"#,
            data = data.display()
        ),
    );
    let started = std::time::Instant::now();
    let out = exp(d.path(), &["run", "--time-limit", "1h", "--time-limit", "jmedbench=2s", "served.med"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("ran past its time limit of 2s (`--time-limit jmedbench=2s`)")
            && out.stderr.contains("the stage did not stop and was abandoned"),
        "{}",
        out.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
    assert!(!out.stderr.contains("✓ served"));
    let bad = exp(d.path(), &["run", "--time-limit", "jmedbench=2 weeks", "served.med"]);
    assert_eq!(bad.status, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("`weeks` is not a unit of time"), "{}", bad.stderr);
}
