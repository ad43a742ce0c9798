//! A `cpt` node trained by Megatron-LM (`trainer: megatron(…)`), through the binary: the
//! local executor refuses it, `exp check` refuses a layout Megatron-LM would refuse, `exp
//! plan --executor slurm` shows its job on whole hosts and its launch, and on the test
//! Slurm (GPUs declared as generic resources, `.ci/slurm`) its job asks for them and ends
//! FAILED with a log that says Megatron-LM is not installed.

use crate::slurm::{jobs_under, start_driver};
use crate::util::{exp_with_env, root, Dir};
use std::process::Command;

/// A tokenised corpus and a tiny model trained by Megatron-LM with `trainer` and `parallel`.
fn study(d: &Dir, trainer: &str, parallel: &str) {
    let tokenizer = root().join("data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model");
    d.write(
        "data/en.jsonl",
        (0..40)
            .map(|i| format!("{{\"id\":\"a{i}\",\"text\":\"abstract number {i} about a disease\"}}\n"))
            .collect::<String>(),
    );
    d.write(
        "study.med",
        format!(
            "experiment \"study\"\n\
             tokenizer t = sentencepiece(\"{}\")\n\
             source en = jsonl(\"data/en.jsonl\", lang: en)\n\
             corpus c = {{ en }} with {{ tokenizer: t }}\n\
             dataset d = tokenize(c, t)\n\
             model base = mixtral(preset: tiny, tokenizer: t)\n\
             pretrain p = cpt(base, d) {{\n  trainer: {trainer},\n  parallel: {parallel},\n  global_batch: 64,\n  seq: 64,\n}}\n",
            tokenizer.display()
        ),
    );
}

#[test]
fn a_megatron_node_needs_the_cluster_executor_and_plans_as_a_job_on_whole_hosts() {
    let d = Dir::new();
    study(&d, "megatron(nodes: 32, gpus_per_node: 8)", "{ tp: 2, pp: 2, cp: 1, ep: 4 }");
    let plan = d.exp(&["plan", "study.med"]);
    assert_eq!(plan.status, 0, "{}", plan.stderr);
    let row = plan.stdout.lines().find(|l| l.contains(" p ")).unwrap_or_default().to_string();
    assert!(
        row.contains("blocked") && row.contains("Megatron-LM on 32 × 8 GPUs: run it with `--executor slurm`"),
        "{}",
        plan.stdout
    );

    d.write("slurm.toml", "[kinds.cpt]\npartition = \"cluster\"\ntime = \"2-00:00:00\"\n");
    let plan = d.exp(&["plan", "--executor", "slurm", "study.med"]);
    assert_eq!(plan.status, 0, "{}", plan.stderr);
    for expected in [
        "↳ sbatch --partition=cluster --time=2-00:00:00 --nodes=32 --ntasks-per-node=1 --gpus-per-node=8 --exclusive --requeue",
        "↳ Megatron-LM core_v0.16.1 on 32 nodes × 8 GPUs: tp 2 × pp 2 × cp 1 × ep 4",
        // The vocabulary sizes the launch: known once the tokenizer is computed.
        "↳ pretrain_gpt.py arguments once `t` is in the store (the vocabulary)",
    ] {
        assert!(plan.stdout.contains(expected), "no `{expected}` in\n{}", plan.stdout);
    }
    // With the vocabulary known, the whole launch; the shards wait for the tokenised data.
    let t = d.exp(&["run", "--only", "t", "study.med"]);
    assert_eq!(t.status, 0, "{}", t.stderr);
    let plan = d.exp(&["plan", "--executor", "slurm", "study.med"]);
    for expected in [
        "↳ data-parallel 64, 1 micro-batches per step; steps once `d` is tokenised",
        "↳ pretrain_gpt.py --num-layers 2 --hidden-size 64 --ffn-hidden-size 128 --num-attention-heads 4 --kv-channels 16 \
         --group-query-attention --num-query-groups 2 --seq-length 64",
        "--vocab-size 99573",
        "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 --context-parallel-size 1 --expert-model-parallel-size 4 --sequence-parallel",
        "--train-iters '<steps>'",
        "--data-path '<tokens>' '<shards of d>' --split '100,0,0' --eval-iters 0 --eval-interval '<steps>'",
        "--exit-duration-in-mins <time left − 15>",
    ] {
        assert!(plan.stdout.contains(expected), "no `{expected}` in\n{}", plan.stdout);
    }
}

#[test]
fn a_layout_megatron_refuses_is_an_error_of_exp_check() {
    let d = Dir::new();
    // The tiny model has 4 heads; 256 GPUs in tp 3 leave no whole data-parallel size.
    study(&d, "megatron(nodes: 32, gpus_per_node: 8)", "{ tp: 3, pp: 2, cp: 1, ep: 4 }");
    let check = d.exp(&["check", "study.med"]);
    assert_eq!(check.status, 1, "{}", check.stderr);
    for expected in [
        "error[E0214]: Megatron-LM needs the world size (256 GPUs: 32 nodes × 8) divisible by tp × pp × cp (3 × 2 × 1 = 6)",
        "study.med:9:3",
        "error[E0214]: Megatron-LM needs the model's 4 attention heads divisible by tp (3)",
    ] {
        assert!(check.stderr.contains(expected), "no `{expected}` in\n{}", check.stderr);
    }
}

/// Whether a Slurm with GPUs as generic resources answers (`.ci/slurm`).
fn slurm_with_gpus() -> bool {
    let out = Command::new("sinfo").args(["-h", "-n", "localhost", "-o", "%G"]).output();
    let gpus = out.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("gpu"));
    if !gpus {
        assert!(
            std::env::var_os("EXP_REQUIRE_SLURM").is_none(),
            "EXP_REQUIRE_SLURM is set but no Slurm with GPUs answers"
        );
        eprintln!("no Slurm with GPUs answers here (`.ci/slurm start DIR`): the Megatron-LM job is not tested");
    }
    gpus
}

#[test]
fn on_slurm_the_training_job_asks_for_its_gpus_and_fails_clearly_without_megatron() {
    if !slurm_with_gpus() {
        return;
    }
    let d = Dir::new();
    study(&d, "megatron(nodes: 1, gpus_per_node: 2)", "{ tp: 1, pp: 1, cp: 1, ep: 2 }");
    d.write(
        "slurm.toml",
        "poll_seconds = 0.5\n[megatron]\nsource = \"/nonexistent/Megatron-LM\"\npython = \"/usr/bin/python3\"\n",
    );
    let out = exp_with_env(d.path(), &["run", "--executor", "slurm", "study.med"], &[]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("ended FAILED"), "{}", out.stderr);
    assert!(
        out.stderr.contains("Megatron-LM is not installed at /nonexistent/Megatron-LM"),
        "the failure says why: {}",
        out.stderr
    );
    let script = std::fs::read_to_string(d.path().join(".exp/logs/1/p.sh")).expect("the job's script");
    for option in ["#SBATCH --nodes=1", "#SBATCH --gpus-per-node=2", "#SBATCH --requeue"] {
        assert!(script.contains(option), "no `{option}` in\n{script}");
    }
    assert!(script.contains("export EXP_MEGATRON_SOURCE=/nonexistent/Megatron-LM"), "{script}");
    // Everything upstream was computed by its own job.
    let status = exp_with_env(d.path(), &["status", "--store", ".exp"], &[]);
    assert!(
        status.stdout.lines().any(|l| l.trim_start().starts_with("d ") && l.contains("COMPLETED")),
        "{}",
        status.stdout
    );
}

/// The job of `p` as `scontrol show job` describes it, once Slurm holds it pending.
fn pending_training_job(dir: &std::path::Path, limit: std::time::Duration) -> String {
    let started = std::time::Instant::now();
    let script = format!("{}/.exp/logs/1/p.sh", dir.display());
    loop {
        let jobs = jobs_under(dir);
        if let Some((id, _, _)) = jobs.iter().find(|(_, state, s)| *s == script && state == "PENDING") {
            let show = Command::new("scontrol").args(["show", "job", &id.to_string()]).output().expect("scontrol runs");
            return String::from_utf8_lossy(&show.stdout).into_owned();
        }
        assert!(started.elapsed() < limit, "the training job was not submitted: {jobs:?}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// At full scale the job asks Slurm for 32 whole hosts of 8 GPUs (the test Slurm's
/// `cluster` partition declares them, never started, so the job stays pending).
#[test]
fn on_slurm_the_full_scale_job_asks_for_32_hosts_of_8_gpus() {
    if !slurm_with_gpus() {
        return;
    }
    let d = Dir::new();
    study(&d, "megatron(nodes: 32, gpus_per_node: 8)", "{ tp: 2, pp: 2, cp: 1, ep: 4 }");
    // The tokenised data takes a while, so the training job waits for its job (`afterok`).
    d.write(
        "slurm.toml",
        "poll_seconds = 0.5\n[kinds.cpt]\npartition = \"cluster\"\ntime = \"2-00:00:00\"\n[nodes.d]\nsetup = [\"sleep 8\"]\n",
    );
    let driver = start_driver(&d, &[]);
    let job = pending_training_job(d.path(), std::time::Duration::from_secs(180));
    for expected in [
        "Partition=cluster",
        "NumNodes=32",
        "NumTasks=32",
        "TresPerNode=gres:gpu:8",
        "OverSubscribe=NO",
        "Requeue=1",
        "TimeLimit=2-00:00:00",
    ] {
        assert!(job.contains(expected), "no `{expected}` in\n{job}");
    }
    let tokenised = format!("{}/.exp/logs/1/d.sh", d.path().display());
    let (d_job, _, _) =
        jobs_under(d.path()).into_iter().find(|(_, _, script)| *script == tokenised).expect("the tokenising job");
    let dependency = job.split_whitespace().find(|f| f.starts_with("Dependency=")).unwrap_or_default();
    assert!(dependency.contains(&format!("afterok:{d_job}")), "the job waits for the data's job {d_job}:\n{job}");
    let sent = Command::new("kill").args(["-INT", &driver.id().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    let out = driver.wait_with_output().expect("the driver ends");
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
}
