//! `jmedbench` through the binary: our tiny model on the bundled benchmark data, and a
//! served model behind an OpenAI-compatible endpoint (a stub server in a thread).

use crate::util::{plan_state, root, shown_artifact, shown_metric, Dir};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn experiment(provider: &str) -> String {
    let data = root().join("data");
    let data = data.to_str().expect("UTF-8 path");
    format!(
        r#"experiment "eval-e2e"
tokenizer llmjp = sentencepiece("{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 1)
eval scores = jmedbench(
  base,
  tasks: [igakuqa(shots: 3, years: [2021]), crade, jcsts, nrner, ejmmt(direction: "en-ja", years: [2021])],
  tokenizer: llmjp,
  data: "{data}",
  limit: 3,
  bootstrap: 50,{provider}
)
"#
    )
}

#[test]
fn our_model_on_the_bundled_benchmarks() {
    let d = Dir::new();
    d.write("eval.med", experiment(""));
    let out = d.exp(&["run", "eval.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let shown = d.exp(&["show", "eval.med", "scores"]).stdout;
    let metric = |name: &str| -> f64 { shown_metric(&shown, name).parse().expect("a number") };
    let accuracy = metric("igakuqa_3shot/accuracy");
    assert!((0.0..=1.0).contains(&accuracy), "{shown}");
    for task in ["igakuqa_3shot", "crade", "jcsts", "nrner", "ejmmt_en-ja"] {
        assert_eq!(metric(&format!("{task}/failed")), 0.0, "{task}: {shown}");
    }
    assert!(metric("avg/overall").is_finite() && metric("avg/mcqa").is_finite() && metric("avg/ja").is_finite());
    let artifact = shown_artifact(d.path(), &shown);
    let items = std::fs::read_to_string(artifact.join("items/crade.jsonl")).expect("per-item results");
    assert_eq!(items.lines().count(), 3);
    let first: serde_json::Value = serde_json::from_str(items.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["likelihoods"].as_array().expect("per option").len(), 4, "{first}");
    let csv = std::fs::read_to_string(artifact.join("scores.csv")).expect("scores.csv");
    assert!(csv.starts_with("task,category,lang,metric,value\n") && csv.contains("jcsts,sts,ja,pearson,"), "{csv}");
}

/// An OpenAI-compatible stub: every prompt character is a token of log-probability -1
/// (so the shortest option wins); generations are a fixed list; `fail_generation` makes
/// generation requests answer 500. Returns the base URL and a request counter.
fn stub_server(fail_generation: bool) -> (String, Arc<AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}/v1", server.server_addr().to_ip().expect("an IP address"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut body = String::new();
            request.as_reader().read_to_string(&mut body).expect("a body");
            let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            let prompts: Vec<String> = body["prompt"]
                .as_array()
                .expect("a prompt list")
                .iter()
                .map(|p| p.as_str().expect("text").to_string())
                .collect();
            let echo = body["echo"].as_bool().unwrap_or(false);
            if !echo && fail_generation {
                let _ = request.respond(tiny_http::Response::from_string("overloaded").with_status_code(500));
                continue;
            }
            let choices: Vec<serde_json::Value> = prompts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if echo {
                        let n = p.chars().count();
                        serde_json::json!({"index": i, "text": "", "logprobs": {
                            "text_offset": (0..=n).collect::<Vec<_>>(),
                            "token_logprobs": (0..=n).map(|j| if j == 0 { None } else { Some(-1.0) }).collect::<Vec<_>>(),
                        }})
                    } else {
                        serde_json::json!({"index": i, "text": "['胃癌']\nmore"})
                    }
                })
                .collect();
            let reply = serde_json::json!({"choices": choices}).to_string();
            let header = tiny_http::Header::from_bytes("Content-Type", "application/json").expect("a header");
            let _ = request.respond(tiny_http::Response::from_string(reply).with_header(header));
        }
    });
    (url, count)
}

#[test]
fn a_served_model_over_http() {
    let (url, requests) = stub_server(false);
    let d = Dir::new();
    d.write("eval.med", experiment(&format!("\n  provider: openai(url: \"{url}\", model: \"tiny\"),")));
    let out = d.exp(&["run", "eval.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(requests.load(Ordering::SeqCst) >= 5, "one request per batch of each task");
    let shown = d.exp(&["show", "eval.med", "scores"]).stdout;
    let metric = |name: &str| -> f64 { shown_metric(&shown, name).parse().expect("a number") };
    assert_eq!(metric("nrner/failed"), 0.0, "{shown}");
    // The stub's first line is a list literal of one entity.
    let artifact = shown_artifact(d.path(), &shown);
    let ner = std::fs::read_to_string(artifact.join("items/nrner.jsonl")).expect("items");
    assert!(ner.contains(r#""entities":["胃癌"]"#), "{ner}");
    let scores = std::fs::read_to_string(artifact.join("scores.json")).expect("scores.json");
    assert!(scores.contains(&format!("openai({url}, model: tiny)")), "{scores}");
}

#[test]
fn a_refusing_endpoint_fails_items_not_the_run() {
    let (url, _) = stub_server(true);
    let d = Dir::new();
    d.write("eval.med", experiment(&format!("\n  provider: openai(url: \"{url}\", model: \"tiny\"),")));
    let out = d.exp(&["run", "eval.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let shown = d.exp(&["show", "eval.med", "scores"]).stdout;
    let metric = |name: &str| -> f64 { shown_metric(&shown, name).parse().expect("a number") };
    assert_eq!(metric("nrner/failed"), 3.0, "every generation was refused: {shown}");
    assert_eq!(metric("nrner/f1"), 0.0);
    assert_eq!(metric("crade/failed"), 0.0, "likelihoods still answered");
    let log = d.exp(&["log", "eval.med", "scores"]).stdout;
    assert!(log.contains("nrner: jmed-llm/nrner.csv: item nrner:") && log.contains("500"), "{log}");
}

/// An evaluation's identity covers the files its tasks read: a corpus file in the same
/// data folder changes nothing for it, and a benchmark file reruns only the evaluations
/// whose tasks read that file, naming it as the reason.
#[test]
fn an_evaluation_reruns_only_for_the_files_its_tasks_read() {
    let d = Dir::new();
    let bundled = root().join("data");
    for file in ["jmed-llm/crade.csv", "jmed-llm/jcsts.csv"] {
        d.write(&format!("data/{file}"), std::fs::read(bundled.join(file)).expect("bundled benchmark file"));
    }
    d.write("data/corpus/notes.jsonl", "{\"text\": \"a corpus document\"}\n");
    let tokenizer = bundled.join("tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model");
    d.write(
        "eval.med",
        format!(
            r#"experiment "reads"
tokenizer llmjp = sentencepiece("{}")
source notes = jsonl("data/corpus/notes.jsonl")
model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 1)
eval eval_crade = jmedbench(base, tasks: [crade], tokenizer: llmjp, data: "data", limit: 2, bootstrap: 10)
eval eval_jcsts = jmedbench(base, tasks: [jcsts], tokenizer: llmjp, data: "data", limit: 2, bootstrap: 10)
"#,
            tokenizer.display()
        ),
    );
    let out = d.exp(&["run", "eval.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let shown = d.exp(&["show", "eval.med", "eval_crade"]).stdout;
    assert!(shown.contains("files read: 1 file,") && shown.contains("data/jmed-llm/crade.csv"), "{shown}");

    let append = |file: &str, line: &str| {
        let mut text = d.read(file);
        text.push_str(line);
        d.write(file, text);
    };
    append("data/corpus/notes.jsonl", "{\"text\": \"another one\"}\n");
    let plan = d.exp(&["plan", "eval.med"]).stdout;
    assert_eq!(plan_state(&plan, "notes"), "run", "{plan}");
    for eval in ["eval_crade", "eval_jcsts"] {
        assert_eq!(plan_state(&plan, eval), "cached", "{plan}");
    }
    let out = d.exp(&["run", "eval.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);

    append("data/jmed-llm/crade.csv", "disease,\"質問\",a,b,c,d,A\n");
    let plan = d.exp(&["plan", "eval.med"]).stdout;
    assert_eq!(plan_state(&plan, "eval_crade"), "run", "{plan}");
    assert_eq!(plan_state(&plan, "eval_jcsts"), "cached", "{plan}");
    assert!(plan.contains("file `data/jmed-llm/crade.csv` changed"), "{plan}");
}
