//! A SentencePiece unigram tokenizer (the LLM-jp tokenizer's kind), reading the
//! `.model` protobuf and encoding exactly as SentencePiece's `EncodeOptimized` does:
//! whitespace escaped to `▁` with a dummy prefix, Viterbi over the pieces with unknown
//! characters at `min_score - 10`, ties kept by the first candidate, and unknown pieces
//! decomposed into `<0xXX>` byte pieces when the model has byte fallback. Checked against
//! the Python `sentencepiece` package by fixtures in `stages/tests/fixtures/`.
//!
//! Only the normaliser this project's models use is implemented: `identity` (no
//! character map). A model with another normaliser is refused with a clear error rather
//! than encoded differently from SentencePiece.

use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;

/// The part of SentencePiece's `ModelProto` the encoder needs (field numbers from
/// `sentencepiece_model.proto`).
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, repeated, tag = "1")]
    pieces: Vec<PieceProto>,
    #[prost(message, optional, tag = "2")]
    trainer_spec: Option<TrainerSpec>,
    #[prost(message, optional, tag = "3")]
    normalizer_spec: Option<NormalizerSpec>,
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

#[derive(Clone, PartialEq, Message)]
struct TrainerSpec {
    #[prost(int32, optional, tag = "3")]
    model_type: Option<i32>,
    #[prost(bool, optional, tag = "35")]
    byte_fallback: Option<bool>,
    #[prost(int32, optional, tag = "40")]
    unk_id: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
struct NormalizerSpec {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "2")]
    precompiled_charsmap: Option<Vec<u8>>,
    #[prost(bool, optional, tag = "3")]
    add_dummy_prefix: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    remove_extra_whitespaces: Option<bool>,
    #[prost(bool, optional, tag = "5")]
    escape_whitespaces: Option<bool>,
}

/// Piece types of `sentencepiece_model.proto`.
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;
const BYTE: i32 = 6;
/// SentencePiece's penalty for an unknown character, below the lowest piece score.
const UNK_PENALTY: f32 = 10.0;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a SentencePiece model ({source})")]
    Decode { path: String, source: prost::DecodeError },
    #[error("{path}: {message}")]
    Unsupported { path: String, message: String },
}

/// A loaded unigram model.
pub struct SentencePiece {
    pieces: Vec<String>,
    scores: Vec<f32>,
    kinds: Vec<i32>,
    /// The pieces the lattice may use (normal, user-defined, unused), as a byte trie.
    trie: Trie,
    unk_id: u32,
    unk_score: f32,
    user_max_score: f32,
    byte_pieces: Option<[u32; 256]>,
    add_dummy_prefix: bool,
    escape_whitespaces: bool,
}

impl SentencePiece {
    pub fn load(path: &Path) -> Result<SentencePiece, ModelError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: shown.clone(), source })?;
        Self::from_bytes(&bytes, &shown)
    }

    /// A model from the bytes of a `.model` file; `shown` names it in errors.
    pub fn from_bytes(bytes: &[u8], shown: &str) -> Result<SentencePiece, ModelError> {
        let model = ModelProto::decode(bytes).map_err(|source| ModelError::Decode { path: shown.into(), source })?;
        Self::from_proto(model).map_err(|message| ModelError::Unsupported { path: shown.into(), message })
    }

    fn from_proto(model: ModelProto) -> Result<SentencePiece, String> {
        let trainer = model.trainer_spec.unwrap_or_default();
        if trainer.model_type.unwrap_or(1) != 1 {
            return Err(format!("model type {} is not unigram (1)", trainer.model_type.unwrap_or(1)));
        }
        let normalizer = model.normalizer_spec.unwrap_or_default();
        let name = normalizer.name.clone().unwrap_or_else(|| "nmt_nfkc".into());
        let charsmap = normalizer.precompiled_charsmap.as_ref().is_some_and(|c| !c.is_empty());
        if name != "identity" || charsmap {
            return Err(format!("normaliser `{name}` is not supported (only `identity`)"));
        }
        if normalizer.remove_extra_whitespaces.unwrap_or(true) {
            return Err("`remove_extra_whitespaces` is not supported".into());
        }
        let mut sp = SentencePiece {
            pieces: Vec::with_capacity(model.pieces.len()),
            scores: Vec::with_capacity(model.pieces.len()),
            kinds: Vec::with_capacity(model.pieces.len()),
            trie: Trie::default(),
            unk_id: trainer.unk_id.unwrap_or(0).max(0) as u32,
            unk_score: 0.0,
            user_max_score: 0.0,
            byte_pieces: None,
            add_dummy_prefix: normalizer.add_dummy_prefix.unwrap_or(true),
            escape_whitespaces: normalizer.escape_whitespaces.unwrap_or(true),
        };
        let (mut min_score, mut max_score) = (f32::MAX, f32::MIN);
        let mut builder = TrieBuilder::default();
        let mut bytes = [u32::MAX; 256];
        for (id, p) in model.pieces.iter().enumerate() {
            let text = p.piece.clone().unwrap_or_default();
            let kind = p.kind.unwrap_or(NORMAL);
            let score = p.score.unwrap_or(0.0);
            if kind == NORMAL {
                min_score = min_score.min(score);
                max_score = max_score.max(score);
            }
            if matches!(kind, NORMAL | USER_DEFINED | UNUSED) {
                builder.insert(text.as_bytes(), id as u32);
            }
            if kind == UNKNOWN {
                sp.unk_id = id as u32;
            }
            if kind == BYTE {
                if let Some(b) = text
                    .strip_prefix("<0x")
                    .and_then(|h| h.strip_suffix('>'))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    bytes[b as usize] = id as u32;
                }
            }
            sp.pieces.push(text);
            sp.scores.push(score);
            sp.kinds.push(kind);
        }
        sp.trie = builder.build();
        sp.unk_score = min_score - UNK_PENALTY;
        sp.user_max_score = max_score;
        if trainer.byte_fallback.unwrap_or(false) {
            if bytes.contains(&u32::MAX) {
                return Err("byte fallback is on but some `<0xXX>` pieces are missing".into());
            }
            sp.byte_pieces = Some(bytes);
        }
        Ok(sp)
    }

    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    pub fn piece(&self, id: u32) -> &str {
        &self.pieces[id as usize]
    }

    pub fn id_of(&self, piece: &str) -> Option<u32> {
        self.pieces.iter().position(|p| p == piece).map(|i| i as u32)
    }

    /// The text of token ids, as SentencePiece's `DecodeIds` gives it: byte pieces
    /// gathered into UTF-8 (invalid sequences become U+FFFD), control pieces (`<s>`,
    /// `</s>`) dropped, the unknown piece as ` ⁇ `, `▁` as a space and the dummy prefix's
    /// leading space removed.
    pub fn decode(&self, ids: &[u32]) -> String {
        const CONTROL: i32 = 3;
        let mut bytes: Vec<u8> = Vec::new();
        for &id in ids {
            let Some(piece) = self.pieces.get(id as usize) else { continue };
            match self.kinds[id as usize] {
                CONTROL => {}
                UNKNOWN => bytes.extend_from_slice(" \u{2047} ".as_bytes()),
                BYTE => {
                    let hex = piece.trim_start_matches("<0x").trim_end_matches('>');
                    bytes.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                }
                _ => bytes.extend_from_slice(piece.as_bytes()),
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let text = if self.escape_whitespaces { text.replace('▁', " ") } else { text };
        match text.strip_prefix(' ') {
            Some(rest) if self.add_dummy_prefix => rest.to_string(),
            _ => text,
        }
    }

    /// The text as SentencePiece normalises it before segmenting.
    fn normalize(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 3);
        if self.add_dummy_prefix && !text.is_empty() {
            out.push('▁');
        }
        if self.escape_whitespaces {
            out.extend(text.chars().map(|c| if c == ' ' { '▁' } else { c }));
        } else {
            out.push_str(text);
        }
        out
    }

    /// Token ids of `text` (no BOS/EOS).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalize(text);
        let s = normalized.as_str();
        let n = s.len();
        // best[i]: best path ending at byte i: (score, start, piece id); start NONE = none.
        const NONE: u32 = u32::MAX;
        let mut best: Vec<(f32, u32, u32)> = vec![(0.0, NONE, 0); n + 1];
        best[0].1 = 0;
        let mut start = 0;
        while start < n {
            let char_len = utf8_len(s.as_bytes()[start]).min(n - start);
            let base = best[start].0;
            let mut has_single = false;
            // Walk the trie along the bytes from `start`: every node with a piece is a
            // candidate ending there (pieces are whole UTF-8 strings, so they end on
            // character boundaries).
            let mut node = 0u32;
            for (offset, &byte) in s.as_bytes()[start..].iter().enumerate() {
                let Some(next) = self.trie.child(node, byte) else { break };
                node = next;
                let Some(id) = self.trie.piece(node) else { continue };
                let kind = self.kinds[id as usize];
                if kind == UNUSED {
                    continue;
                }
                let len = offset + 1;
                let end = start + len;
                let score = if kind == USER_DEFINED {
                    len as f32 * self.user_max_score - 0.1
                } else {
                    self.scores[id as usize]
                };
                let candidate = score + base;
                let target = &mut best[end];
                if target.1 == NONE || candidate > target.0 {
                    *target = (candidate, start as u32, id);
                }
                if len == char_len {
                    has_single = true;
                }
            }
            if !has_single {
                let candidate = self.unk_score + base;
                let target = &mut best[start + char_len];
                if target.1 == NONE || candidate > target.0 {
                    *target = (candidate, start as u32, self.unk_id);
                }
            }
            start += char_len;
        }
        let mut pieces = Vec::new();
        let mut end = n;
        while end > 0 {
            let (_, start, id) = best[end];
            let start = start as usize;
            pieces.push((start, end, id));
            end = start;
        }
        pieces.reverse();
        let mut ids = Vec::with_capacity(pieces.len());
        for (start, end, id) in pieces {
            match (&self.byte_pieces, id == self.unk_id) {
                (Some(bytes), true) => ids.extend(s[start..end].bytes().map(|b| bytes[b as usize])),
                _ => ids.push(id),
            }
        }
        ids
    }
}

/// The length of the UTF-8 sequence a leading byte starts.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

/// A byte trie flattened into arrays: the children of node `n` are
/// `edges[starts[n]..starts[n + 1]]`, sorted by byte.
#[derive(Default)]
struct Trie {
    starts: Vec<u32>,
    edges: Vec<(u8, u32)>,
    pieces: Vec<u32>,
    /// The root's children by byte (it has the most, and every walk starts there).
    root: Vec<u32>,
}

const NO_PIECE: u32 = u32::MAX;

impl Trie {
    fn child(&self, node: u32, byte: u8) -> Option<u32> {
        if node == 0 {
            return Some(self.root[byte as usize]).filter(|&n| n != NO_PIECE);
        }
        let (a, b) = (self.starts[node as usize] as usize, self.starts[node as usize + 1] as usize);
        let edges = &self.edges[a..b];
        edges.binary_search_by_key(&byte, |e| e.0).ok().map(|i| edges[i].1)
    }

    fn piece(&self, node: u32) -> Option<u32> {
        Some(self.pieces[node as usize]).filter(|&p| p != NO_PIECE)
    }
}

#[derive(Default)]
struct TrieBuilder {
    children: Vec<BTreeMap<u8, u32>>,
    pieces: Vec<u32>,
}

impl TrieBuilder {
    fn insert(&mut self, key: &[u8], id: u32) {
        if self.children.is_empty() {
            self.children.push(BTreeMap::new());
            self.pieces.push(NO_PIECE);
        }
        let mut node = 0usize;
        for &b in key {
            let next = match self.children[node].get(&b) {
                Some(&n) => n as usize,
                None => {
                    let n = self.children.len();
                    self.children.push(BTreeMap::new());
                    self.pieces.push(NO_PIECE);
                    self.children[node].insert(b, n as u32);
                    n
                }
            };
            node = next;
        }
        // SentencePiece refuses a model with a piece twice; keep the first if one slips by.
        if self.pieces[node] == NO_PIECE {
            self.pieces[node] = id;
        }
    }

    fn build(self) -> Trie {
        let mut starts = Vec::with_capacity(self.children.len() + 1);
        let mut edges = Vec::new();
        for c in &self.children {
            starts.push(edges.len() as u32);
            edges.extend(c.iter().map(|(&b, &n)| (b, n)));
        }
        starts.push(edges.len() as u32);
        if self.children.is_empty() {
            starts.push(0);
        }
        let mut root = vec![NO_PIECE; 256];
        if let Some(children) = self.children.first() {
            for (&b, &n) in children {
                root[b as usize] = n;
            }
        }
        Trie { starts, edges, pieces: if self.pieces.is_empty() { vec![NO_PIECE] } else { self.pieces }, root }
    }
}
