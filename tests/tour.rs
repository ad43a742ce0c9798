//! The command examples of `README.md` and `docs/*.md` are what the binary prints: every
//! checked block is run with the real `exp` and its output compared, so the tour cannot
//! drift. With `EXP_UPDATE_DOCS=1` the blocks are rewritten with the fresh output instead
//! (the switch `tests/docs.rs` uses for the generated blocks of `docs/language.md`).
//!
//! # Which blocks are checked
//!
//! A fenced ```` ```console ```` block is checked. Each line `$ COMMAND` is run in turn
//! (by `sh`, so pipes work), and the lines after it, up to the next `$ ` line, are what it
//! must print: standard output and standard error as a terminal interleaves them. A line
//! that is only `…` stands for any run of lines (an excerpt); a command `$ # …` is a
//! comment and runs nothing. The exit status is not checked; the output says how it ended.
//!
//! Every other block is left unchecked: ```` ```med ```` (files, see below), ```` ```sh ````,
//! ```` ```yaml ```` and ```` ```text ````. The README writes as ```` ```text ```` the
//! commands that need the toy study computed or a store with history: `exp run` (minutes
//! of training), `exp show FILE NODE` and `exp report` of stored artifacts, `exp gc`, and
//! `exp plan` / `exp diff` after a run or an edit (what they say depends on the store).
//!
//! # Where a block runs
//!
//! Each checked block runs in a fresh scratch folder, with `exp` first on `PATH`, an empty
//! store (`EXP_STORE`, another temporary folder), no GPU visible (`CUDA_VISIBLE_DEVICES=`)
//! and `LC_ALL=C`. The folder holds:
//! - for `README.md`, links to the repository's top-level folders, so that commands read
//!   `experiments/…` and `data/` as from the repository root;
//! - for `docs/*.md`, a copy of `experiments/` (the study, its library and templates, not
//!   its store) and of the fixtures `tests/fixtures/invalid/` and `tests/fixtures/warnings/`:
//!   the language reference's examples sit beside the study, and its error catalogue runs
//!   the fixtures it names;
//!
//! and then the document's own files: every ```` ```med FILE ```` block of the document
//! under its name FILE (wherever it stands), and the last unnamed ```` ```med ```` block
//! since the previous checked block under the name of the first `.med` file that the
//! block's first command names (the file shown next to the output).
//!
//! # What is normalised
//!
//! In the printed text, the empty store reads as the default store beside the first `.med`
//! file of the command (`experiments/.exp` for `experiments/x.med`), and the scratch folder
//! and the repository root read `…`. Then, on both sides, before comparing: trailing
//! spaces; durations (`2.9s`, `12 ms`) and byte sizes (`49.5 MiB`, `606 B`); the machine
//! (`this machine: 2 CPUs, 24 GiB, 0 GPUs`); and identities and keys (runs of 12 or more
//! hexadecimal digits). Keys are numbered in order of appearance in each output, so a
//! block that shows two names with one key still has to, whatever the key is; in an
//! excerpt (a block with `…`) every key is one placeholder. `EXP_UPDATE_DOCS=1` keeps each
//! line that is the same up to durations, sizes and the machine, takes every other line
//! from the fresh output, and keeps an excerpt's `…` lines where the lines around them can
//! still be found.

use crate::util::root;
use std::collections::HashMap;
use std::io::{Read, Seek};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Held by every test that may rewrite a document (`EXP_UPDATE_DOCS=1`), so that two
/// never overwrite each other's changes to one file.
pub static DOC_FILES: Mutex<()> = Mutex::new(());

/// A line that is only this stands for any run of lines.
const ELIDED: &str = "…";

/// How long one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn the_readme_shows_what_exp_prints() {
    check_documents(&[root().join("README.md")]);
}

#[test]
fn the_docs_show_what_exp_prints() {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    check_documents(&docs);
}

fn updating() -> bool {
    std::env::var_os("EXP_UPDATE_DOCS").is_some()
}

fn check_documents(paths: &[PathBuf]) {
    let _lock = updating().then(|| DOC_FILES.lock().unwrap_or_else(|e| e.into_inner()));
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in paths {
        let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.strip_prefix(root()).unwrap_or(path).display().to_string();
        let (count, fresh) = check_document(&name, &doc, &mut problems);
        checked += count;
        if updating() && fresh != doc {
            std::fs::write(path, &fresh).unwrap_or_else(|e| panic!("rewrite {name}: {e}"));
            eprintln!("rewrote the checked blocks of {name}");
        }
    }
    assert!(checked > 0, "no ```console block in {paths:?}: has the convention changed?");
    if updating() {
        // Rewritten: review the diff rather than fail.
        for p in &problems {
            eprintln!("refreshed {}", p.lines().next().unwrap_or_default());
        }
        return;
    }
    assert!(
        problems.is_empty(),
        "{} command example(s) no longer show what `exp` prints (run `EXP_UPDATE_DOCS=1 cargo test -p exp-engine --test e2e tour` and review the diff):\n\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Checks one document's blocks: how many were checked, and the document with every
/// checked block refreshed.
fn check_document(name: &str, doc: &str, problems: &mut Vec<String>) -> (usize, String) {
    let fences = fences(doc);
    let named: Vec<(&str, &str)> =
        fences.iter().filter_map(|f| Some((f.info.strip_prefix("med ")?.trim(), &doc[f.body.clone()]))).collect();
    let mut shown: Option<&str> = None;
    let mut replacements = Vec::new();
    let mut count = 0;
    for fence in &fences {
        match fence.info.as_str() {
            "med" => shown = Some(&doc[fence.body.clone()]),
            "console" => {
                count += 1;
                let steps = steps(&doc[fence.body.clone()])
                    .unwrap_or_else(|e| panic!("{name}:{}: a ```console block {e}", fence.line));
                let scratch = Scratch::new(name, &named, shown.take(), &steps);
                let mut body = String::new();
                for (i, step) in steps.iter().enumerate() {
                    body.push_str(&format!("$ {}\n", step.command));
                    let lines = if step.command.starts_with('#') {
                        step.expected.clone()
                    } else {
                        let printed = scratch.run(&step.command);
                        let actual: Vec<String> = trimmed(printed.lines().map(str::to_string).collect());
                        if !matches(&step.expected, &actual) {
                            problems.push(mismatch(name, fence.line, step, &actual));
                        }
                        refresh(&step.expected, &actual)
                    };
                    for l in &lines {
                        body.push_str(l);
                        body.push('\n');
                    }
                    if step.gap && i + 1 < steps.len() {
                        body.push('\n');
                    }
                }
                replacements.push((fence.body.clone(), body));
            }
            _ => {}
        }
    }
    let mut fresh = doc.to_string();
    for (range, body) in replacements.into_iter().rev() {
        fresh.replace_range(range, &body);
    }
    (count, fresh)
}

fn mismatch(doc: &str, line: usize, step: &Step, actual: &[String]) -> String {
    let expected = step.expected.join("\n") + "\n";
    let actual = actual.join("\n") + "\n";
    let diff = similar::TextDiff::from_lines(&expected, &actual);
    format!(
        "{doc}:{line}: `$ {}`\n{}",
        step.command,
        diff.unified_diff().context_radius(3).header("shown in the document", "printed by exp")
    )
}

// ---------------------------------------------------------------------------------------
// Documents: fenced blocks and the steps of a console block.

struct Fence {
    /// The info string: `console`, `med`, `med lib/y.med`, …
    info: String,
    /// The line of the opening fence, from 1.
    line: usize,
    /// The body's bytes, up to the closing fence.
    body: Range<usize>,
}

/// The fenced blocks that open in column 0 (indented ones, inside list items, are shown
/// text only).
fn fences(doc: &str) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, usize)> = None;
    let mut offset = 0;
    for (i, line) in doc.split_inclusive('\n').enumerate() {
        let text = line.trim_end();
        match &open {
            None => {
                if let Some(info) = text.strip_prefix("```") {
                    open = Some((info.trim().to_string(), i + 1, offset + line.len()));
                }
            }
            Some((info, at, start)) => {
                if text == "```" {
                    out.push(Fence { info: info.clone(), line: *at, body: *start..offset });
                    open = None;
                }
            }
        }
        offset += line.len();
    }
    out
}

#[derive(Debug, PartialEq)]
struct Step {
    command: String,
    /// What it prints, trailing blank lines left out.
    expected: Vec<String>,
    /// A blank line follows the output, before the next command.
    gap: bool,
}

fn steps(body: &str) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    for line in body.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step { command: command.trim().to_string(), expected: Vec::new(), gap: false });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.to_string());
        } else {
            return Err(format!("must start with a `$ ` command line, not `{line}`"));
        }
    }
    for step in &mut steps {
        let before = step.expected.len();
        step.expected = trimmed(std::mem::take(&mut step.expected));
        step.gap = step.expected.len() < before;
    }
    if steps.is_empty() {
        return Err("has no `$ ` command".to_string());
    }
    Ok(steps)
}

/// Without trailing blank lines.
fn trimmed(mut lines: Vec<String>) -> Vec<String> {
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

// ---------------------------------------------------------------------------------------
// Running a block.

struct Scratch {
    dir: tempfile::TempDir,
    store: tempfile::TempDir,
}

impl Scratch {
    /// The folder a block of document `doc` runs in (see the module's comment).
    fn new(doc: &str, named: &[(&str, &str)], shown: Option<&str>, steps: &[Step]) -> Scratch {
        let scratch = Scratch {
            dir: tempfile::tempdir().expect("a scratch folder"),
            store: tempfile::tempdir().expect("a store folder"),
        };
        let dir = scratch.dir.path();
        if doc == "README.md" {
            for entry in std::fs::read_dir(root()).expect("the repository root").flatten() {
                let name = entry.file_name();
                let skip = name.to_str().is_none_or(|n| n.starts_with('.') || n == "target");
                if !skip {
                    std::os::unix::fs::symlink(entry.path(), dir.join(&name)).expect("link into the scratch folder");
                }
            }
        } else {
            copy_tree(&root().join("experiments"), dir);
            copy_tree(&root().join("tests/fixtures/invalid"), dir);
            copy_tree(&root().join("tests/fixtures/warnings"), dir);
        }
        for (file, text) in named {
            write(&dir.join(file), text);
        }
        if let (Some(text), Some(file)) = (shown, steps.first().and_then(|s| first_med(&s.command))) {
            write(&dir.join(file), text);
        }
        scratch
    }

    /// What `command` prints, with this folder's paths as the document writes them.
    fn run(&self, command: &str) -> String {
        let exp = Path::new(env!("CARGO_BIN_EXE_exp"));
        let bin = exp.parent().expect("the binary's folder");
        let path = std::env::join_paths(
            std::iter::once(bin.to_path_buf())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .expect("a PATH");
        let mut log = tempfile::tempfile().expect("a temporary file");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("EXP_STORE", self.store.path())
            .env("CUDA_VISIBLE_DEVICES", "")
            .env("LC_ALL", "C")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log"))
            .stderr(log.try_clone().expect("the log"))
            .spawn()
            .expect("sh runs");
        let start = Instant::now();
        while child.try_wait().expect("wait for sh").is_none() {
            if start.elapsed() > COMMAND_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{command}` ran longer than {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut printed = String::new();
        log.rewind().expect("rewind the log");
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes).expect("read the log");
        printed.push_str(&String::from_utf8_lossy(&bytes));
        self.as_documented(&printed, command)
    }

    /// The store as the default store of the command's file, the scratch folder and the
    /// repository root as `…`.
    fn as_documented(&self, printed: &str, command: &str) -> String {
        let default_store = match first_med(command).and_then(|f| Path::new(f).parent()) {
            Some(p) if !p.as_os_str().is_empty() => p.join(".exp").display().to_string(),
            _ => ".exp".to_string(),
        };
        let mut text = printed.to_string();
        let forms = |p: &Path| {
            let mut v = vec![p.display().to_string()];
            if let Ok(c) = p.canonicalize() {
                v.push(c.display().to_string());
            }
            v
        };
        for s in forms(self.store.path()) {
            text = text.replace(&s, &default_store);
        }
        for s in forms(self.dir.path()).into_iter().chain(forms(&root())) {
            text = text.replace(&s, ELIDED);
        }
        text
    }
}

/// The first argument of `command` that names a `.med` file.
fn first_med(command: &str) -> Option<&str> {
    command.split_whitespace().find(|w| !w.starts_with('-') && w.ends_with(".med"))
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("a folder in the scratch folder");
    }
    std::fs::write(path, text).expect("write into the scratch folder");
}

/// Copies the files under `from` into `to`, leaving out hidden ones (a store, `.exp/`).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a folder in the scratch folder");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())).flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if source.is_dir() {
            copy_tree(&source, &target);
        } else {
            std::fs::copy(&source, &target).expect("copy into the scratch folder");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Comparing: normalisation, excerpts, refreshing.

fn is_elided(line: &str) -> bool {
    line.trim() == ELIDED
}

/// A line without what varies between runs and machines: trailing spaces, durations,
/// byte sizes and the machine's description.
fn volatile(line: &str) -> String {
    let mut out = quantities(line.trim_end());
    if let Some(at) = out.find("this machine: ") {
        let from = at + "this machine: ".len();
        let to = out[from..].find(';').map_or(out.len(), |e| from + e);
        out.replace_range(from..to, "<machine>");
    }
    out
}

const TIME_UNITS: &[&str] = &["ms", "s", "µs", "min"];
const SIZE_UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];

/// Replaces durations (`2.9s`, `12 ms`) by `<time>` and byte sizes (`49.5 MiB`) by `<size>`.
fn quantities(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !word(chars[i - 1]));
        if starts {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < chars.len() && chars[j] == '.' && chars[j + 1].is_ascii_digit() {
                j += 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
            }
            let spaced = j < chars.len() && chars[j] == ' ';
            let u = if spaced { j + 1 } else { j };
            let mut k = u;
            while k < chars.len() && chars[k].is_alphabetic() {
                k += 1;
            }
            let unit: String = chars[u..k].iter().collect();
            let ends = k == chars.len() || !(chars[k].is_alphanumeric() || chars[k] == '_');
            let placeholder = if !ends {
                None
            } else if TIME_UNITS.contains(&unit.as_str()) {
                Some("<time>")
            } else if spaced && SIZE_UNITS.contains(&unit.as_str()) {
                Some("<size>")
            } else {
                None
            };
            if let Some(p) = placeholder {
                out.push_str(p);
                i = k;
                continue;
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Replaces identities and keys (runs of at least 12 hexadecimal digits, with a letter or
/// of an identity's length) by `<key N>`, numbered in order of appearance, or by `<key>`.
fn keys(lines: &[String], numbered: bool) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    lines
        .iter()
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            let mut out = String::new();
            let mut i = 0;
            while i < chars.len() {
                let boundary = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
                let mut j = i;
                while boundary && j < chars.len() && matches!(chars[j], '0'..='9' | 'a'..='f') {
                    j += 1;
                }
                let ends = j == chars.len() || !(chars[j].is_alphanumeric() || chars[j] == '_');
                let run: String = chars[i..j].iter().collect();
                let hex = run.len() >= 12
                    && ends
                    && (run.bytes().any(|b| b.is_ascii_alphabetic()) || run.len() == 12 || run.len() == 64);
                if hex {
                    if numbered {
                        let n = seen.len() + 1;
                        let n = *seen.entry(run).or_insert(n);
                        out.push_str(&format!("<key {n}>"));
                    } else {
                        out.push_str("<key>");
                    }
                    i = j;
                } else {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            out
        })
        .collect()
}

/// Both sides as compared.
fn normalised(lines: &[String], numbered: bool) -> Vec<String> {
    keys(&lines.iter().map(|l| volatile(l)).collect::<Vec<_>>(), numbered)
}

/// Whether `actual` is what `expected` shows (`…` lines standing for any lines).
fn matches(expected: &[String], actual: &[String]) -> bool {
    let excerpt = expected.iter().any(|l| is_elided(l));
    let (e, a) = (normalised(expected, !excerpt), normalised(actual, !excerpt));
    if excerpt {
        place(&e, &a, false).is_some()
    } else {
        e == a
    }
}

/// The runs of shown lines between `…` lines.
fn segments(pattern: &[String]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, l) in pattern.iter().enumerate() {
        match (is_elided(l), start) {
            (true, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..pattern.len());
    }
    out
}

/// Where each segment of `pattern` lies in `actual`, as (start, length): each where it
/// first fits after the one before, the first at the start unless the pattern starts with
/// `…`, the last at the end unless it ends with one. With `loose`, a segment that fits
/// nowhere is put at its anchor, or at the line most like its first, keeping its length
/// where `actual` has the lines.
fn place(pattern: &[String], actual: &[String], loose: bool) -> Option<Vec<(usize, usize)>> {
    let segs = segments(pattern);
    let lead = pattern.first().is_some_and(|l| is_elided(l));
    let trail = pattern.last().is_some_and(|l| is_elided(l));
    let mut placed = Vec::new();
    let mut cursor = 0;
    for (k, seg) in segs.iter().enumerate() {
        let shown = &pattern[seg.clone()];
        let (first, last) = (k == 0 && !lead, k + 1 == segs.len() && !trail);
        let fits = |at: usize| at >= cursor && actual.get(at..at + shown.len()) == Some(shown);
        let exact = match (first, last) {
            (true, true) => (actual.len() == shown.len() && fits(0)).then_some(0),
            (true, false) => fits(0).then_some(0),
            (false, true) => actual.len().checked_sub(shown.len()).filter(|&at| fits(at)),
            (false, false) => (cursor..actual.len()).find(|&at| fits(at)),
        };
        let at = match exact {
            Some(at) => at,
            None if !loose => return None,
            None if first => 0,
            None if last => actual.len().saturating_sub(shown.len()).max(cursor),
            None => {
                let tokens: Vec<&str> = shown[0].split_whitespace().collect();
                let common = |l: &String| l.split_whitespace().filter(|t| tokens.contains(t)).count();
                let best = (cursor..actual.len()).max_by_key(|&at| (common(&actual[at]), std::cmp::Reverse(at)))?;
                (2 * common(&actual[best]) >= tokens.len().max(1)).then_some(best)?
            }
        };
        let len = if exact.is_some() { shown.len() } else { shown.len().min(actual.len().saturating_sub(at)) };
        placed.push((at, len));
        cursor = at + len;
    }
    Some(placed)
}

/// What a step's expected lines become with `actual`: a line the same up to durations,
/// sizes and the machine stays as written, any other comes from `actual`; an excerpt keeps
/// its `…` lines where the lines around them can be found, else it becomes all of `actual`.
fn refresh(expected: &[String], actual: &[String]) -> Vec<String> {
    let keep = |e: &String, a: &String| if volatile(e) == volatile(a) { e.clone() } else { a.clone() };
    if !expected.iter().any(|l| is_elided(l)) {
        return actual.iter().enumerate().map(|(i, a)| expected.get(i).map_or(a.clone(), |e| keep(e, a))).collect();
    }
    let (e, a) = (normalised(expected, false), normalised(actual, false));
    let Some(placed) = place(&e, &a, true) else {
        eprintln!("an excerpt no longer fits the output: writing it in full");
        return actual.to_vec();
    };
    let mut out = Vec::new();
    let mut segs = segments(expected).into_iter().zip(placed);
    let mut i = 0;
    while i < expected.len() {
        if is_elided(&expected[i]) {
            out.push(expected[i].clone());
            i += 1;
        } else if let Some((seg, (at, len))) = segs.next() {
            // `place` never gives a segment more lines than it shows.
            for j in 0..len {
                out.push(keep(&expected[seg.start + j], &actual[at + j]));
            }
            i = seg.end;
        } else {
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The harness's own rules.

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn durations_sizes_machines_and_keys_are_normalised() {
    assert_eq!(
        volatile("✓ llmjp (sentencepiece, 0.2s, 1.6 MiB)  in 12 ms, wrote 606 B  "),
        "✓ llmjp (sentencepiece, <time>, <size>)  in <time>, wrote <size>"
    );
    assert_eq!(
        volatile("this machine: 16 CPUs, 125.5 GiB, 0 GPUs; exp built without cuda"),
        "this machine: <machine>; exp built without cuda"
    );
    // Counts, budgets and units that are not durations or sizes stay.
    assert_eq!(
        volatile("budget: 44.2B tokens, 20 steps, 3 seqs, 10s2"),
        "budget: 44.2B tokens, 20 steps, 3 seqs, 10s2"
    );
    let shown = lines("- key: 3e02637126a1fb8dc4da8fc1cbfcd3de\n  a 3e02637126a1fb8dc4da8fc1cbfcd3de\n  b 775b33127f1e\n  1000000000000");
    assert_eq!(keys(&shown, true), lines("- key: <key 1>\n  a <key 1>\n  b <key 2>\n  1000000000000"));
    assert_eq!(keys(&shown[2..3], false), ["  b <key>"]);
}

#[test]
fn a_changed_output_fails_and_an_excerpt_matches_any_lines() {
    let actual = lines("plan of `x`\n  run a 775b33127f1e\n  run b 1dd178662870\n  cached c c3083a024747\n2 to run");
    assert!(matches(
        &lines("plan of `x`\n  run a 111111111aaa\n  run b 222222222bbb\n  cached c 333333333ccc\n2 to run"),
        &actual
    ));
    // The same key twice where the output has two keys is a change.
    assert!(!matches(
        &lines("plan of `x`\n  run a 111111111aaa\n  run b 111111111aaa\n  cached c 333333333ccc\n2 to run"),
        &actual
    ));
    assert!(!matches(
        &lines("plan of `x`\n  run a 775b33127f1e\n  cached b 1dd178662870\n  cached c c3083a024747\n2 to run"),
        &actual
    ));
    assert!(matches(&lines("plan of `x`\n…\n  cached c c3083a024747\n…"), &actual));
    assert!(matches(&lines("plan of `x`\n…\n2 to run"), &actual));
    assert!(matches(&lines("…\n  run b 1dd178662870\n…"), &actual));
    assert!(!matches(&lines("plan of `x`\n…\n  cached b c3083a024747\n…"), &actual));
    assert!(!matches(&lines("plan of `x`\n…"), &actual[1..]), "the first shown line is the first printed");
    assert!(!matches(&lines("…\n  run a 775b33127f1e"), &actual), "the last shown line is the last printed");
}

#[test]
fn refreshing_keeps_excerpts_and_what_only_timing_changed() {
    let actual =
        lines("✓ a (jsonl, 0.1s, 2.0 KiB)\n✓ b (mix, 3.0s, 1.0 MiB)\n✓ c (mix, 1.0s, 1.0 MiB)\nrun 1: 3 ran in 4.1s");
    // Only timings changed: the document keeps its own.
    let shown = lines("✓ a (jsonl, 0.0s, 1.0 KiB)\n…\nrun 1: 3 ran in 2.9s");
    assert_eq!(refresh(&shown, &actual), shown);
    // A line that changed otherwise is taken from the output, and the `…` stays.
    let shown = lines("✓ a (jsonl, 0.0s, 1.0 KiB)\n…\n✓ c (tokenize, 1.0s, 1.0 MiB)\n…");
    assert_eq!(refresh(&shown, &actual), lines("✓ a (jsonl, 0.0s, 1.0 KiB)\n…\n✓ c (mix, 1.0s, 1.0 MiB)\n…"));
    // Without an excerpt, the output as printed, line for line.
    assert_eq!(refresh(&actual[..2], &actual), actual);
}

#[test]
fn console_blocks_split_into_commands_and_outputs() {
    let doc = "text\n```console\n$ exp check a.med\nerror\n\na.med: failed\n\n$ exp plan a.med\nplan\n```\n\n```text\n$ exp run a.med\n```\n  ```sh\n  cargo test\n  ```\n";
    let fences = fences(doc);
    assert_eq!(fences.iter().map(|f| (f.info.as_str(), f.line)).collect::<Vec<_>>(), [("console", 2), ("text", 12)]);
    let steps = steps(&doc[fences[0].body.clone()]).expect("a console block");
    assert_eq!(
        steps,
        [
            Step { command: "exp check a.med".into(), expected: lines("error\n\na.med: failed"), gap: true },
            Step { command: "exp plan a.med".into(), expected: lines("plan"), gap: false },
        ]
    );
    assert_eq!(first_med("exp check --profile toy lib/x.med | grep y"), Some("lib/x.med"));
}
