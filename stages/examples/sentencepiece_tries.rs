//! Which trie the SentencePiece encoder should walk (issue 18): the same unigram Viterbi
//! over the LLM-jp model, once per candidate prefix-search structure, on the same text,
//! each checked to give the ids of `exp_stages::sentencepiece::SentencePiece::encode`.
//! Prints one table: build time, size, common-prefix search alone and whole encodes.
//!
//! Usage: cargo run --release -p exp-stages --example sentencepiece_tries -- MODEL TEXT
//! (TEXT: one document per line; `bench/tokenizer.sh` makes one).

use exp_stages::sentencepiece::SentencePiece;
use prost::Message;
use std::time::Instant;

/// The parts of SentencePiece's `ModelProto` a lattice needs (field numbers from
/// `sentencepiece_model.proto`); the library keeps its own copy private.
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, repeated, tag = "1")]
    pieces: Vec<PieceProto>,
}

#[derive(Clone, PartialEq, Message)]
struct PieceProto {
    #[prost(string, optional, tag = "1")]
    piece: Option<String>,
    #[prost(float, optional, tag = "2")]
    score: Option<f32>,
    #[prost(int32, optional, tag = "3")]
    kind: Option<i32>,
}

const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;
const BYTE: i32 = 6;

/// A common-prefix search: every lattice piece that `rest` starts with, as (id, bytes).
trait Prefixes {
    fn each<F: FnMut(u32, usize)>(&self, rest: &str, f: F);
}

/// The trie `exp` used before issue 18: children as sorted (byte, node) edges, binary
/// searched, the root's 256 children in a table.
struct SortedEdges {
    starts: Vec<u32>,
    edges: Vec<(u8, u32)>,
    values: Vec<u32>,
    root: Vec<u32>,
}

impl SortedEdges {
    fn new(keys: &[(&[u8], u32)]) -> SortedEdges {
        let mut children: Vec<std::collections::BTreeMap<u8, u32>> = vec![Default::default()];
        let mut values = vec![u32::MAX];
        for &(key, id) in keys {
            let mut node = 0usize;
            for &b in key {
                node = match children[node].get(&b) {
                    Some(&n) => n as usize,
                    None => {
                        children.push(Default::default());
                        values.push(u32::MAX);
                        let n = children.len() - 1;
                        children[node].insert(b, n as u32);
                        n
                    }
                };
            }
            values[node] = id;
        }
        let (mut starts, mut edges) = (Vec::new(), Vec::new());
        for c in &children {
            starts.push(edges.len() as u32);
            edges.extend(c.iter().map(|(&b, &n)| (b, n)));
        }
        starts.push(edges.len() as u32);
        let mut root = vec![u32::MAX; 256];
        for (&b, &n) in &children[0] {
            root[b as usize] = n;
        }
        SortedEdges { starts, edges, values, root }
    }
}

impl Prefixes for SortedEdges {
    fn each<F: FnMut(u32, usize)>(&self, rest: &str, mut f: F) {
        let bytes = rest.as_bytes();
        let Some(&first) = bytes.first() else { return };
        let mut node = self.root[first as usize];
        let mut len = 1;
        while node != u32::MAX {
            let id = self.values[node as usize];
            if id != u32::MAX {
                f(id, len);
            }
            let Some(&b) = bytes.get(len) else { return };
            let (a, z) = (self.starts[node as usize] as usize, self.starts[node as usize + 1] as usize);
            let edges = &self.edges[a..z];
            node = match edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => edges[i].1,
                Err(_) => u32::MAX,
            };
            len += 1;
        }
    }
}

struct Yada(yada::DoubleArray<Vec<u8>>);

impl Prefixes for Yada {
    fn each<F: FnMut(u32, usize)>(&self, rest: &str, mut f: F) {
        for (id, len) in self.0.common_prefix_search(rest.as_bytes()) {
            f(id, len);
        }
    }
}

/// crawdad searches characters; a match's byte length is its piece's.
struct Crawdad<'a>(crawdad::Trie, &'a [u32]);

impl Prefixes for Crawdad<'_> {
    fn each<F: FnMut(u32, usize)>(&self, rest: &str, mut f: F) {
        for (id, _) in self.0.common_prefix_search(rest.chars()) {
            f(id, self.1[id as usize] as usize);
        }
    }
}

struct CrawdadMp<'a>(crawdad::MpTrie, &'a [u32]);

impl Prefixes for CrawdadMp<'_> {
    fn each<F: FnMut(u32, usize)>(&self, rest: &str, mut f: F) {
        for (id, _) in self.0.common_prefix_search(rest.chars()) {
            f(id, self.1[id as usize] as usize);
        }
    }
}

/// The scores and fallbacks of the lattice, apart from the trie.
struct Model {
    /// Score of each piece id; user-defined pieces at `len × max − 0.1`.
    scores: Vec<f32>,
    /// Byte length of each piece.
    lens: Vec<u32>,
    unk_id: u32,
    unk_score: f32,
    bytes: [u32; 256],
}

type Best = Vec<(f32, u32, u32)>;

impl Model {
    fn normalize(text: &str, out: &mut String) {
        out.clear();
        if text.is_empty() {
            return;
        }
        out.push('▁');
        for (i, part) in text.split(' ').enumerate() {
            if i > 0 {
                out.push('▁');
            }
            out.push_str(part);
        }
    }

    fn viterbi<P: Prefixes>(&self, trie: &P, s: &str, best: &mut Best, ids: &mut Vec<u32>) {
        let n = s.len();
        best.clear();
        best.resize(n + 1, (0.0, u32::MAX, 0));
        best[0].1 = 0;
        let mut start = 0;
        while start < n {
            let char_len = utf8_len(s.as_bytes()[start]);
            let base = best[start].0;
            let mut has_single = false;
            trie.each(&s[start..], |id, len| {
                let score = self.scores[id as usize];
                if score.is_nan() {
                    return;
                }
                let candidate = score + base;
                let target = &mut best[start + len];
                if target.1 == u32::MAX || candidate > target.0 {
                    *target = (candidate, start as u32, id);
                }
                has_single |= len == char_len;
            });
            if !has_single {
                let candidate = self.unk_score + base;
                let target = &mut best[start + char_len];
                if target.1 == u32::MAX || candidate > target.0 {
                    *target = (candidate, start as u32, self.unk_id);
                }
            }
            start += char_len;
        }
        self.backtrack(s, best, ids);
    }

    /// Aho-Corasick gives matches by end, so the lattice is filled by end: the best path
    /// to `end` is the first-by-start best candidate, which is the order SentencePiece's
    /// by-start updates with `>` keep.
    fn viterbi_by_end(
        &self,
        ac: &daachorse::DoubleArrayAhoCorasick<u32>,
        s: &str,
        best: &mut Best,
        ids: &mut Vec<u32>,
    ) {
        let n = s.len();
        best.clear();
        best.resize(n + 1, (0.0, u32::MAX, 0));
        best[0].1 = 0;
        // Collect per end; the overlapping iterator reports by increasing end.
        let mut found: Vec<(u32, u32, u32)> = Vec::new();
        for m in ac.find_overlapping_iter(s.as_bytes()) {
            found.push((m.end() as u32, m.start() as u32, m.value()));
        }
        found.sort_unstable_by_key(|&(e, st, _)| (e, st));
        let mut k = 0;
        let mut end_of_char = 0;
        while end_of_char < n {
            let start = end_of_char;
            let end = start + utf8_len(s.as_bytes()[start]);
            let mut has_single = false;
            while k < found.len() && found[k].0 as usize == end {
                let (_, st, id) = found[k];
                k += 1;
                let score = self.scores[id as usize];
                if score.is_nan() {
                    continue;
                }
                let candidate = score + best[st as usize].0;
                let target = &mut best[end];
                if target.1 == u32::MAX || candidate > target.0 {
                    *target = (candidate, st, id);
                }
                has_single |= st as usize == start;
            }
            if !has_single {
                let candidate = self.unk_score + best[start].0;
                let target = &mut best[end];
                if target.1 == u32::MAX || candidate > target.0 {
                    *target = (candidate, start as u32, self.unk_id);
                }
            }
            end_of_char = end;
        }
        self.backtrack(s, best, ids);
    }

    fn backtrack(&self, s: &str, best: &Best, ids: &mut Vec<u32>) {
        ids.clear();
        let mut end = s.len();
        while end > 0 {
            let (_, start, id) = best[end];
            if id == self.unk_id {
                ids.extend(s.as_bytes()[start as usize..end].iter().rev().map(|&b| self.bytes[b as usize]));
            } else {
                ids.push(id);
            }
            end = start as usize;
        }
        ids.reverse();
    }
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, model_path, text_path] = args.as_slice() else {
        eprintln!("usage: sentencepiece_tries MODEL TEXT");
        std::process::exit(2);
    };
    let bytes = std::fs::read(model_path).expect("the model");
    let proto = ModelProto::decode(bytes.as_slice()).expect("a SentencePiece model");
    let sp = SentencePiece::load(std::path::Path::new(model_path)).expect("the model");
    let text = std::fs::read_to_string(text_path).expect("the text");
    let lines: Vec<&str> = text.lines().collect();
    let mb = text.len() as f64 / 1e6;

    let (mut min, mut max) = (f32::MAX, f32::MIN);
    for p in &proto.pieces {
        if p.kind.unwrap_or(NORMAL) == NORMAL {
            min = min.min(p.score.unwrap_or(0.0));
            max = max.max(p.score.unwrap_or(0.0));
        }
    }
    let mut model = Model { scores: Vec::new(), lens: Vec::new(), unk_id: 0, unk_score: min - 10.0, bytes: [0; 256] };
    let mut keys: Vec<(&[u8], u32)> = Vec::new();
    for (id, p) in proto.pieces.iter().enumerate() {
        let piece = p.piece.as_deref().unwrap_or("");
        let kind = p.kind.unwrap_or(NORMAL);
        model.lens.push(piece.len() as u32);
        model.scores.push(match kind {
            USER_DEFINED => piece.len() as f32 * max - 0.1,
            UNUSED => f32::NAN,
            _ => p.score.unwrap_or(0.0),
        });
        if matches!(kind, NORMAL | USER_DEFINED | UNUSED) {
            keys.push((piece.as_bytes(), id as u32));
        }
        if kind == UNKNOWN {
            model.unk_id = id as u32;
        }
        if kind == BYTE {
            let hex = piece.trim_start_matches("<0x").trim_end_matches('>');
            model.bytes[u8::from_str_radix(hex, 16).expect("a byte piece") as usize] = id as u32;
        }
    }
    keys.sort_unstable();

    // Reference ids and time: the library's encoder.
    let started = Instant::now();
    let reference: Vec<Vec<u32>> = lines.iter().map(|l| sp.encode(l)).collect();
    let exp_seconds = started.elapsed().as_secs_f64();
    let tokens: usize = reference.iter().map(Vec::len).sum();
    println!("{} lines, {mb:.1} MB, {tokens} tokens; one thread", lines.len());
    println!("| structure | build | size | prefix search alone | whole encode | ids |");
    println!("|---|---|---|---|---|---|");
    println!("| `SentencePiece::encode` (the library, as built) | | | | {:.1} MB/s | reference |", mb / exp_seconds);

    let normalized: Vec<String> = lines
        .iter()
        .map(|l| {
            let mut s = String::new();
            Model::normalize(l, &mut s);
            s
        })
        .collect();

    // One row of the table: a bench's arguments, not an interface worth a struct.
    #[allow(clippy::too_many_arguments)]
    fn measure<P: Prefixes>(
        name: &str,
        build: f64,
        size: usize,
        trie: &P,
        model: &Model,
        normalized: &[String],
        lines: &[&str],
        reference: &[Vec<u32>],
        mb: f64,
    ) {
        // Prefix search alone, at every character start (what the lattice asks).
        let started = Instant::now();
        let mut sum = 0u64;
        for s in normalized {
            let mut start = 0;
            while start < s.len() {
                trie.each(&s[start..], |id, len| sum = sum.wrapping_add(id as u64 + len as u64));
                start += utf8_len(s.as_bytes()[start]);
            }
        }
        let search = started.elapsed().as_secs_f64();
        let (mut best, mut ids, mut norm) = (Vec::new(), Vec::new(), String::new());
        let started = Instant::now();
        let mut same = true;
        for (line, want) in lines.iter().zip(reference) {
            Model::normalize(line, &mut norm);
            model.viterbi(trie, &norm, &mut best, &mut ids);
            same &= ids == *want;
        }
        let encode = started.elapsed().as_secs_f64();
        println!(
            "| {name} | {:.0} ms | {:.1} MB | {:.1} MB/s (checksum {sum}) | {:.1} MB/s | {} |",
            build * 1e3,
            size as f64 / 1e6,
            mb / search,
            mb / encode,
            if same { "identical" } else { "DIFFERENT" }
        );
    }

    let started = Instant::now();
    let sorted = SortedEdges::new(&keys);
    let size = sorted.starts.len() * 4 + sorted.edges.len() * 8 + sorted.values.len() * 4 + 1024;
    measure(
        "sorted edges (before)",
        started.elapsed().as_secs_f64(),
        size,
        &sorted,
        &model,
        &normalized,
        &lines,
        &reference,
        mb,
    );

    let started = Instant::now();
    let da = yada::builder::DoubleArrayBuilder::build(&keys).expect("yada builds");
    let size = da.len();
    let yada = Yada(yada::DoubleArray::new(da).expect("a valid double array"));
    measure(
        "yada 0.7 (darts-clone layout)",
        started.elapsed().as_secs_f64(),
        size,
        &yada,
        &model,
        &normalized,
        &lines,
        &reference,
        mb,
    );

    let records: Vec<(&str, u32)> =
        keys.iter().map(|&(k, id)| (std::str::from_utf8(k).expect("UTF-8 piece"), id)).collect();
    let started = Instant::now();
    let trie = crawdad::Trie::from_records(records.iter().copied()).expect("crawdad builds");
    let size = trie.heap_bytes();
    measure(
        "crawdad 0.4 `Trie`",
        started.elapsed().as_secs_f64(),
        size,
        &Crawdad(trie, &model.lens),
        &model,
        &normalized,
        &lines,
        &reference,
        mb,
    );
    let started = Instant::now();
    let trie = crawdad::MpTrie::from_records(records.iter().copied()).expect("crawdad builds");
    let size = trie.heap_bytes();
    measure(
        "crawdad 0.4 `MpTrie`",
        started.elapsed().as_secs_f64(),
        size,
        &CrawdadMp(trie, &model.lens),
        &model,
        &normalized,
        &lines,
        &reference,
        mb,
    );

    let started = Instant::now();
    let ac = daachorse::DoubleArrayAhoCorasick::with_values(keys.iter().copied()).expect("daachorse builds");
    let build = started.elapsed().as_secs_f64();
    let size = ac.heap_bytes();
    let started = Instant::now();
    let mut sum = 0u64;
    for s in &normalized {
        for m in ac.find_overlapping_iter(s.as_bytes()) {
            sum = sum.wrapping_add(m.value() as u64 + (m.end() - m.start()) as u64);
        }
    }
    let search = started.elapsed().as_secs_f64();
    let (mut best, mut ids, mut norm) = (Vec::new(), Vec::new(), String::new());
    let started = Instant::now();
    let mut same = true;
    for (line, want) in lines.iter().zip(&reference) {
        Model::normalize(line, &mut norm);
        model.viterbi_by_end(&ac, &norm, &mut best, &mut ids);
        same &= ids == *want;
    }
    let encode = started.elapsed().as_secs_f64();
    println!(
        "| daachorse 5 (Aho-Corasick, overlapping matches by end) | {:.0} ms | {:.1} MB | {:.1} MB/s (checksum {sum}) | {:.1} MB/s | {} |",
        build * 1e3,
        size as f64 / 1e6,
        mb / search,
        mb / encode,
        if same { "identical" } else { "DIFFERENT" }
    );
}
