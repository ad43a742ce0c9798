//! MCQA evaluation throughput, for `bench/eval.sh`:
//! `cargo run --release -p exp-trainer --example eval_bench -- [items]`.
//!
//! The same IgakuQA 2021 and CRADE items (prompts rendered by the built-in templates) are
//! scored by likelihood four ways: our tiny model one option per call ("unbatched": the
//! prompt runs again for every option) and a batch of 8 items per call (each prompt runs
//! once into a key/value cache shared by its options); and an OpenAI-compatible stub
//! server on localhost, one item per request and 8 per request (the client's overhead:
//! the stub answers at once). Prints items/s.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use exp_stages::eval::openai::OpenAi;
use exp_stages::eval::provider::{Likelihood, Provider};
use exp_stages::eval::tasks::{igakuqa, load_all, Lang, Plain, TaskSpec};
use exp_trainer::config::MixtralConfig;
use exp_trainer::model::{Init, Mixtral};
use exp_trainer::provider::Local;
use std::path::Path;
use std::time::{Duration, Instant};

/// The likelihood requests of each item (its options after its prompt).
fn items(n: usize) -> Vec<Vec<Likelihood>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let igakuqa = TaskSpec::Igakuqa(igakuqa::Spec { shots: 0, years: vec![2021], lang: Lang::Ja, template: None });
    let crade = TaskSpec::Crade(Plain { shots: 0, template: None });
    let tasks = load_all(&[igakuqa, crade], &data, &data).expect("tasks");
    tasks
        .iter()
        .flat_map(|t| {
            t.items.iter().filter_map(|i| i.as_ref().ok()).take(n / 2).map(|item| {
                let prompt = t.template.render(item, &[]).expect("renders");
                item.options.iter().map(|o| Likelihood { context: prompt.clone(), continuation: o.clone() }).collect()
            })
        })
        .collect()
}

/// Items per second when `per_call` items go to the provider at once (0: one option per call).
fn measure(provider: &mut dyn Provider, items: &[Vec<Likelihood>], per_call: usize) -> f64 {
    let start = Instant::now();
    if per_call == 0 {
        for r in items.iter().flatten() {
            provider.likelihoods(std::slice::from_ref(r)).into_iter().for_each(|s| {
                s.expect("scored");
            });
        }
    } else {
        for chunk in items.chunks(per_call) {
            let requests: Vec<Likelihood> = chunk.iter().flatten().cloned().collect();
            provider.likelihoods(&requests).into_iter().for_each(|s| {
                s.expect("scored");
            });
        }
    }
    items.len() as f64 / start.elapsed().as_secs_f64()
}

/// A stub `completions` endpoint echoing one token per character, log-probability -1.
fn stub() -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}/v1", server.server_addr().to_ip().expect("an IP address"));
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut body = String::new();
            request.as_reader().read_to_string(&mut body).expect("a body");
            let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            let choices: Vec<serde_json::Value> = body["prompt"]
                .as_array()
                .expect("prompts")
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let n = p.as_str().expect("text").chars().count();
                    serde_json::json!({"index": i, "logprobs": {
                        "text_offset": (0..n).collect::<Vec<_>>(),
                        "token_logprobs": (0..n).map(|j| if j == 0 { None } else { Some(-1.0) }).collect::<Vec<_>>(),
                    }})
                })
                .collect();
            let header = tiny_http::Header::from_bytes("Content-Type", "application/json").expect("a header");
            let reply = serde_json::json!({ "choices": choices }).to_string();
            request.respond(tiny_http::Response::from_string(reply).with_header(header)).expect("respond");
        }
    });
    url
}

fn main() {
    let n = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(40);
    let items = items(n);
    let options: usize = items.iter().map(Vec::len).sum();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model");
    let tokenizer = exp_stages::sentencepiece::SentencePiece::load(&path).expect("tokenizer");
    let config = MixtralConfig::tiny(tokenizer.vocab_size());
    type B = burn::backend::NdArray<f32>;
    let model: Mixtral<B> = Mixtral::new(&config, Init::Random(&mut Init::seeded(0)), &Default::default());
    let again = exp_stages::sentencepiece::SentencePiece::load(&path).expect("tokenizer");
    let mut local = Local::new(model.clone(), config.clone(), tokenizer, Default::default(), "tiny".into(), 1);
    let mut local2 = Local::new(model, config, again, Default::default(), "tiny".into(), 2).with_cpu_head();
    println!("# {} MCQA items ({options} options): IgakuQA 2021 and CRADE, 0-shot", items.len());
    println!("provider\tper call\titems/s");
    println!("local (tiny, cpu)\t1 option\t{:.1}", measure(&mut local, &items, 0));
    println!("local (tiny, cpu)\t8 items\t{:.1}", measure(&mut local, &items, 8));
    println!("local (tiny, cpu, 2 threads)\t8 items\t{:.1}", measure(&mut local2, &items, 8));
    let mut http = OpenAi::new(&stub(), "stub", None, Duration::from_secs(30));
    println!("openai (stub server)\t1 item\t{:.1}", measure(&mut http, &items, 1));
    println!("openai (stub server)\t8 items\t{:.1}", measure(&mut http, &items, 8));
}
