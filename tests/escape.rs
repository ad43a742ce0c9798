//! Nothing escapes: no name, path or record leads a stage outside its output folder;
//! hostile text in a corpus's metadata is shown as text in the report and the corpus card
//! (rendered by a real headless Chromium, and the Markdown by a CommonMark renderer
//! that passes HTML through, as many viewers do); an API key read from the environment
//! is in no file of the store, even when the server echoes it in its errors.

use crate::util::{headless_dom, root, Dir};
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Text that, were it markup, would run a script (setting the page's title), close a
/// table, inject an image with an `onerror` handler, decode as entities, split a
/// Markdown table cell, open a code span, emphasise and link.
const HOSTILE: &str = "<script>document.title='PWNED'</script></table><img src=x onerror=document.title='PWNED'> \
                       &lt; &amp; | `tick` *star* [link](javascript:alert(1))";

/// A data file whose name is hostile text too (it is listed in the card).
const HOSTILE_FILE: &str = "<img src=x onerror=alert(1)>|&amp;`tick`.jsonl";

// --- A stub of an OpenAI-compatible server ---------------------------------------------

/// How the stub answers.
#[derive(Clone)]
enum Stub {
    /// Every request, as a server that works: each prompt character a token of
    /// log-probability -1, generations `[]`, translations `翻訳`.
    Answers,
    /// As a server that echoes the key it was sent: the first likelihood request is
    /// answered `200` with an error quoting it and no `choices`; generations and chat
    /// completions are refused with `401` and a body quoting it.
    Echoes(String),
}

/// Serves `stub` on a local port; returns the base URL and the `Authorization` header of
/// every request.
fn stub_server(stub: Stub) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}/v1", server.server_addr().to_ip().expect("an IP address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let headers = seen.clone();
    std::thread::spawn(move || {
        let mut first_likelihood = true;
        for mut request in server.incoming_requests() {
            let auth =
                request.headers().iter().find(|h| h.field.equiv("Authorization")).map(|h| h.value.as_str().to_string());
            headers.lock().expect("not poisoned").push(auth);
            let mut body = String::new();
            request.as_reader().read_to_string(&mut body).expect("a body");
            let body: Json = serde_json::from_str(&body).expect("JSON");
            let chat = request.url().ends_with("/chat/completions");
            let echo = body["echo"].as_bool().unwrap_or(false);
            // Only the first likelihood request of an echoing server is answered with an error.
            let refused_likelihood = echo && std::mem::replace(&mut first_likelihood, false);
            let (status, reply) = match &stub {
                Stub::Echoes(key) if !echo => (
                    401,
                    json!({"error": {"message": format!("Incorrect API key provided: {key}."), "code": "invalid_api_key"}}),
                ),
                Stub::Echoes(key) if refused_likelihood => {
                    (200, json!({"error": format!("the key {key} is over its quota")}))
                }
                _ if chat => {
                    (200, json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "翻訳"}}]}))
                }
                _ => (200, completions(&body, echo)),
            };
            let header = tiny_http::Header::from_bytes("Content-Type", "application/json").expect("a header");
            let response = tiny_http::Response::from_string(reply.to_string()).with_header(header);
            let _ = request.respond(response.with_status_code(status));
        }
    });
    (url, seen)
}

/// A `completions` reply: likelihoods with `echo`, else a generation per prompt.
fn completions(body: &Json, echo: bool) -> Json {
    let prompts = body["prompt"].as_array().expect("a prompt list");
    let choices: Vec<Json> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if echo {
                let n = p.as_str().expect("text").chars().count();
                json!({"index": i, "text": "", "logprobs": {
                    "text_offset": (0..=n).collect::<Vec<_>>(),
                    "token_logprobs": (0..=n).map(|j| if j == 0 { None } else { Some(-1.0) }).collect::<Vec<_>>(),
                }})
            } else {
                json!({"index": i, "text": "[]"})
            }
        })
        .collect();
    json!({ "choices": choices })
}

// --- Files and pages ------------------------------------------------------------------------

/// Every file under `dir`, symbolic links not followed.
fn every_file(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a readable folder") {
            let entry = entry.expect("an entry");
            if entry.file_type().expect("a file type").is_dir() {
                folders.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

/// Markdown as a viewer that passes raw HTML through shows it, as a page.
fn rendered_markdown(md: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.render.unsafe_ = true;
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n{}</body></html>\n",
        comrak::markdown_to_html(md, &options)
    )
}

/// What a reader sees of an HTML text: tags dropped, entities decoded.
fn text_of(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Text as Chromium serialises a text node: `&`, `<` and `>` as entities.
fn as_text_node(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The page's title after its scripts ran (empty when it has none).
fn title_of(dom: &str) -> &str {
    dom.split_once("<title>").and_then(|(_, rest)| rest.split_once("</title>")).map_or("", |(t, _)| t)
}

/// A page `page` (written by exp, or rendered from its Markdown) shows every text of
/// `shown` as text, and nothing of it became an element: checked in its source and, when
/// Chromium is installed, in the DOM Chromium built after running the page's scripts.
/// `cells` are texts expected as a whole table cell.
fn holds_as_text(page: &Path, shown: &[String], cells: &[&str]) {
    let name = page.display();
    let source = std::fs::read_to_string(page).expect("the page");
    assert!(!source.contains("<script"), "{name}: a script element: {source}");
    let seen = text_of(&source);
    for s in shown {
        assert!(seen.contains(s.as_str()), "{name}: {s:?} not shown as text: {seen}");
    }
    let Some(dom) = headless_dom(page) else { return };
    assert!(!title_of(&dom).contains("PWNED"), "{name}: a script ran: {dom}");
    assert!(!dom.contains("<script"), "{name}: a script element: {dom}");
    for img in dom.match_indices("<img").map(|(i, _)| &dom[i..]) {
        assert!(img.starts_with("<img src=\"figures/"), "{name}: an injected image: {dom}");
    }
    let seen = text_of(&dom);
    for s in shown {
        assert!(seen.contains(s.as_str()), "{name}: {s:?} not in Chromium's text: {seen}");
    }
    for cell in cells {
        let td = format!("<td>{}</td>", as_text_node(cell));
        assert!(dom.contains(&td), "{name}: {cell:?} is not one table cell: {dom}");
    }
}

// --- Tests --------------------------------------------------------------------------------

/// A tag unique to this test's folder, made of letters and digits.
fn tag(d: &Dir) -> String {
    d.path().file_name().expect("a name").to_string_lossy().chars().filter(char::is_ascii_alphanumeric).collect()
}

#[test]
fn no_name_or_path_leads_a_stage_out_of_its_folder() {
    let data = root().join("data");
    let data = data.to_str().expect("UTF-8 path");
    let d = Dir::new();
    let tag = tag(&d);
    let (up, abs) = (format!("../../evil-{tag}"), format!("/tmp/evil-{tag}"));
    let header = format!(
        "experiment \"escape\"\ntokenizer llmjp = sentencepiece(\"{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model\")\n\
         model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 1)\n"
    );

    // A task is a constructor: a path in its place is refused by the checker.
    d.write(
        "task.med",
        format!("{header}eval e = jmedbench(base, tasks: [\"{up}\"], tokenizer: llmjp, data: \"{data}\")\n"),
    );
    let out = d.exp(&["check", "task.med"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(out.stderr.contains("error[E0204]: `tasks` expects one of") && out.stderr.contains(&up), "{}", out.stderr);

    // A template is read, never written: one that is not there is a clear error naming it.
    for template in [&up, &abs] {
        d.write(
            "template.med",
            format!(
                "{header}eval e = jmedbench(base, tasks: [crade(template: \"{template}.j2\")], tokenizer: llmjp, data: \"{data}\", limit: 1)\n"
            ),
        );
        let out = d.exp(&["run", "template.med"]);
        assert_eq!(out.status, 1, "{}", out.stderr);
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(said.contains(&format!("`{template}.j2` matches no file")), "{said}");
    }

    // A loop value becomes part of a name only as letters, digits and `_`; the names
    // (and the values, as licences) reach the card, its files stay in its folder.
    let name = |value: &str| -> String {
        format!("s_{}", value.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>())
    };
    d.write("docs/notes.jsonl", "{\"text\": \"a document\"}\n");
    d.write(
        "names.med",
        format!(
            "{header}for c in [\"{up}\", \"{abs}\"] {{\n  source s_{{c}} = jsonl(\"docs/notes.jsonl\", lang: en, licence: c)\n}}\n\
             corpus both = {{ {}, {} }}\nreport card = corpus_card([both])\n",
            name(&up),
            name(&abs)
        ),
    );
    let out = d.exp(&["run", "--only", "card", "names.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let card = std::fs::read_to_string(d.artifact("names.med", "card").join("card.md")).expect("card.md");
    assert!(card.contains(&format!("| {} |", name(&up))) && card.contains(&format!("| {} |", name(&abs))), "{card}");

    // Nothing was written outside the experiment's folder, and inside it only the
    // store holds what the runs wrote.
    for outside in
        [d.path().join(&up), d.path().join(format!("{up}.j2")), abs.clone().into(), format!("{abs}.j2").into()]
    {
        assert!(!outside.exists(), "{} was written", outside.display());
    }
    for file in every_file(d.path()) {
        let inside = file.strip_prefix(d.path()).expect("under the folder");
        let written = ["task.med", "template.med", "names.med", "docs/notes.jsonl"].map(Path::new);
        assert!(inside.starts_with(".exp") || written.contains(&inside), "{} was written", file.display());
    }
}

#[test]
fn hostile_text_is_shown_as_text_in_the_report_and_the_card() {
    let data = root().join("data");
    let data = data.to_str().expect("UTF-8 path");
    let (url, _) = stub_server(Stub::Answers);
    let d = Dir::new();
    d.write(&format!("docs/{HOSTILE_FILE}"), "{\"text\": \"a document\"}\n{\"text\": \"another document\"}\n");
    d.write(
        "study.med",
        format!(
            r#"experiment "{HOSTILE}"
tokenizer llmjp = sentencepiece("{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
source notes = jsonl("docs/*.jsonl", lang: en, licence: "{HOSTILE}")
corpus papers = {{ notes }} with {{ tokenizer: llmjp, content: {{ notes: "{HOSTILE}" }} }}
model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 1)
eval eval_base = jmedbench(base, tasks: [crade], tokenizer: llmjp, data: "{data}", limit: 2, bootstrap: 10,
  provider: openai(url: "{url}", model: "tiny"))
report comparison = compare(eval_*, corpora: [papers])
report card = corpus_card([papers])
"#
        ),
    );
    let out = d.exp(&["run", "study.med"]);
    assert_eq!(out.status, 0, "{}", out.stderr);

    // The check itself can fail: the text as markup runs its script in this browser.
    let control = d.write(
        "control.html",
        format!("<!DOCTYPE html><html><head><title>t</title></head><body>{HOSTILE}</body></html>"),
    );
    if let Some(dom) = headless_dom(&control) {
        assert_eq!(title_of(&dom), "PWNED", "the hostile text as markup must run: {dom}");
    }

    let report = d.artifact("study.med", "comparison");
    let md = std::fs::read_to_string(report.join("report.md")).expect("report.md");
    assert!(!md.contains(HOSTILE), "escaped, so not as written: {md}");
    let md_page = d.write("report.md.html", rendered_markdown(&md));
    let content = [HOSTILE.to_string()];
    holds_as_text(&report.join("report.html"), &content, &[HOSTILE]);
    holds_as_text(&md_page, &content, &[HOSTILE]);

    let card = d.artifact("study.med", "card");
    // Verbatim only inside code spans.
    let md = std::fs::read_to_string(card.join("card.md")).expect("card.md");
    let md_page = d.write("card.md.html", rendered_markdown(&md));
    // The licence among the source's settings and the file it read, as code.
    let settings = [format!("licence: \"{HOSTILE}\""), format!("path/{HOSTILE_FILE}")];
    holds_as_text(&card.join("card.html"), &settings, &[]);
    holds_as_text(&md_page, &[settings.to_vec(), content.to_vec()].concat(), &[HOSTILE]);
}

#[test]
fn an_api_key_from_the_environment_is_nowhere_in_the_store() {
    let data = root().join("data");
    let data = data.to_str().expect("UTF-8 path");
    let d = Dir::new();
    let secret = format!("sk-exp-secret-{}", tag(&d));
    let (url, seen) = stub_server(Stub::Echoes(secret.clone()));
    d.write("notes.jsonl", "{\"text\": \"a document\"}\n{\"text\": \"another document\"}\n");
    d.write(
        "secret.med",
        format!(
            r#"experiment "secret"
tokenizer llmjp = sentencepiece("{data}/tokenizer/llm-jp-tokenizer-100k.ver3.0b1.model")
model base = mixtral(preset: tiny, tokenizer: llmjp, seed: 1)
eval scores = jmedbench(base, tasks: [crade, jcsts, nrner], tokenizer: llmjp, data: "{data}", limit: 2, bootstrap: 10,
  provider: openai(url: "{url}", model: "tiny", api_key_env: "EXP_TEST_API_KEY"))
source notes = jsonl("notes.jsonl", lang: en)
source notes_ja = translate(notes, to: ja, retries: 0,
  engine: openai(url: "{url}", model: "tiny", api_key_env: "EXP_TEST_API_KEY"))
"#
        ),
    );
    let env = [("EXP_TEST_API_KEY", secret.as_str())];
    let run = crate::util::exp_with_env(d.path(), &["run", "secret.med"], &env);
    assert_eq!(run.status, 0, "{}", run.stderr);

    // The key was read and sent with every request: the server had it to echo.
    let headers = seen.lock().expect("not poisoned").clone();
    assert!(headers.len() >= 4, "the evaluation's three tasks and the translation: {headers:?}");
    assert!(headers.iter().all(|h| h.as_deref() == Some(format!("Bearer {secret}").as_str())), "{headers:?}");

    // What the server said is in the logs, the key taken out.
    let scores = d.exp(&["log", "secret.med", "scores"]).stdout;
    assert!(scores.contains("HTTP 401: ") && scores.contains("Incorrect API key provided: [redacted]."), "{scores}");
    assert!(scores.contains("the key [redacted] is over its quota"), "{scores}");
    let shown = d.exp(&["show", "secret.med", "notes_ja"]).stdout;
    assert_eq!(crate::util::shown_metric(&shown, "failed"), "2", "both translations refused: {shown}");

    // No file of the store (manifests, logs, artifacts, the index and its journal)
    // holds the key, nor anything exp printed.
    let files = every_file(&d.path().join(".exp"));
    assert!(files.iter().any(|f| f.ends_with("index.sqlite")), "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).expect("readable");
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "{} holds the API key", file.display());
    }
    for said in [&run.stdout, &run.stderr, &scores, &shown] {
        assert!(!said.contains(&secret), "{said}");
    }
}
