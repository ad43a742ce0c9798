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
use exp_stages::eval::provider::{Generation, Likelihood, Provider};
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

/// IgakuQA 2021 3-shot: every prompt starts with the same three solved questions (the
/// task's fixed shots, from its pool).
fn three_shot(n: usize) -> Vec<Vec<Likelihood>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let spec = TaskSpec::Igakuqa(igakuqa::Spec { shots: 3, years: vec![2021], lang: Lang::Ja, template: None });
    let tasks = load_all(&[spec], &data, &data).expect("tasks");
    let t = &tasks[0];
    let shots: Vec<_> = t.pool.iter().take(3).collect();
    t.items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .take(n)
        .map(|item| {
            let prompt = t.template.render(item, &shots).expect("renders");
            item.options.iter().map(|o| Likelihood { context: prompt.clone(), continuation: o.clone() }).collect()
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
    let (model_gen, config_gen) = (model.clone(), config.clone());
    let mut local2 = Local::new(model, config, again, Default::default(), "tiny".into(), 2).with_cpu_head();
    println!("# {} MCQA items ({options} options): IgakuQA 2021 and CRADE, 0-shot", items.len());
    println!("provider\tper call\titems/s");
    println!("local (tiny, cpu)\t1 option\t{:.1}", measure(&mut local, &items, 0));
    println!("local (tiny, cpu)\t8 items\t{:.1}", measure(&mut local, &items, 8));
    println!("local (tiny, cpu, 2 threads)\t8 items\t{:.1}", measure(&mut local2, &items, 8));
    let shot3 = three_shot(16);
    println!("# {} IgakuQA 2021 3-shot items, 8 per call", shot3.len());
    for threads in [1, 2] {
        let make = || {
            let tk = exp_stages::sentencepiece::SentencePiece::load(&path).expect("tokenizer");
            Local::new(model_gen.clone(), config_gen.clone(), tk, Default::default(), "tiny".into(), threads)
        };
        let before = measure(&mut make().with_prefix_reuse(false), &shot3, 8);
        let after = measure(&mut make(), &shot3, 8);
        println!("local (tiny, cpu, {threads} thread(s))\t3-shot, each context whole\t{before:.2}");
        println!("local (tiny, cpu, {threads} thread(s))\t3-shot, shared prefix once per call\t{after:.2}");
    }
    // Generation: the toy study's generation tasks ask up to 128 new tokens after each of
    // 8 prompts per call; the random model never stops early, so every item runs to 128.
    let gens: Vec<Generation> = items
        .iter()
        .take(8)
        .map(|i| Generation { prompt: i[0].context.clone(), max_tokens: 128, stop: vec![] })
        .collect();
    let generate = |p: &mut Local<B>| {
        let start = Instant::now();
        p.generate(&gens).into_iter().for_each(|g| {
            g.expect("generated");
        });
        gens.len() as f64 / start.elapsed().as_secs_f64()
    };
    println!("# generation: {} prompts of different lengths, 128 new tokens each, one call", gens.len());
    for threads in [1, 2] {
        let make = || {
            let tk = exp_stages::sentencepiece::SentencePiece::load(&path).expect("tokenizer");
            Local::new(model_gen.clone(), config_gen.clone(), tk, Default::default(), "tiny".into(), threads)
                .with_cpu_head()
        };
        let before = generate(&mut make().with_batch_generation(false));
        let after = generate(&mut make());
        println!("local (tiny, cpu, {threads} thread(s))\tgeneration, one prompt at a time\t{before:.2}");
        println!("local (tiny, cpu, {threads} thread(s))\tgeneration, batched across prompts\t{after:.2}");
    }
    let mut http = OpenAi::new(&stub(), "stub", None, Duration::from_secs(30));
    println!("openai (stub server)\t1 item\t{:.1}", measure(&mut http, &items, 1));
    println!("openai (stub server)\t8 items\t{:.1}", measure(&mut http, &items, 8));
}
