//! Japanese word segmentation identical to MeCab with the IPA dictionary, which is what
//! SacreBLEU's `ja-mecab` BLEU tokenisation runs (`MeCab.Tagger("-Owakati")`).
//!
//! The dictionary is compiled at run time from the IPA dictionary's *sources* (the
//! EUC-JP `*.csv` lexicon, `matrix.def`, `char.def`, `unk.def`, shipped as the upstream
//! `.tar.xz`) by `vibrato`, a Viterbi analyser that reproduces MeCab's lattice costs.
//! Nothing is downloaded and no C library is linked.

use std::io::Read;
use std::path::Path;

/// A compiled IPA dictionary and its analyser.
pub struct Mecab {
    tokenizer: vibrato::Tokenizer,
}

/// Why the dictionary could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct MecabError {
    pub path: String,
    pub message: String,
}

impl Mecab {
    /// Builds the analyser from the IPA dictionary sources packed as `.tar.xz` (the
    /// upstream `mecab-ipadic-2.7.0-20070801.tar.xz`). Takes a few seconds.
    pub fn from_ipadic_archive(path: &Path) -> Result<Mecab, MecabError> {
        let fail = |message: String| MecabError { path: path.display().to_string(), message };
        let packed = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let mut tar_bytes = Vec::new();
        lzma_rs::xz_decompress(&mut packed.as_slice(), &mut tar_bytes)
            .map_err(|e| fail(format!("not an xz archive: {e:?}")))?;
        let mut sources = Sources::default();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        for entry in archive.entries().map_err(|e| fail(e.to_string()))? {
            let mut entry = entry.map_err(|e| fail(e.to_string()))?;
            let name = entry.path().map_err(|e| fail(e.to_string()))?.to_string_lossy().into_owned();
            let mut raw = Vec::new();
            entry.read_to_end(&mut raw).map_err(|e| fail(format!("{name}: {e}")))?;
            sources.add(&name, &raw);
        }
        sources.lexicon.sort_by(|a, b| a.0.cmp(&b.0));
        let missing: Vec<&str> = [
            ("*.csv", sources.lexicon.is_empty()),
            ("matrix.def", sources.matrix.is_empty()),
            ("char.def", sources.chars.is_empty()),
            ("unk.def", sources.unknown.is_empty()),
        ]
        .iter()
        .filter(|(_, absent)| *absent)
        .map(|(n, _)| *n)
        .collect();
        if !missing.is_empty() {
            return Err(fail(format!("the archive lacks {}", missing.join(", "))));
        }
        let lexicon: String = sources.lexicon.iter().map(|(_, text)| text.as_str()).collect();
        let dict = vibrato::SystemDictionaryBuilder::from_readers(
            lexicon.as_bytes(),
            sources.matrix.as_bytes(),
            sources.chars.as_bytes(),
            sources.unknown.as_bytes(),
        )
        .map_err(|e| fail(format!("cannot compile the dictionary: {e}")))?;
        // MeCab skips spaces and groups at most 24 characters into one unknown word.
        let tokenizer =
            vibrato::Tokenizer::new(dict).ignore_space(true).map_err(|e| fail(e.to_string()))?.max_grouping_len(24);
        Ok(Mecab { tokenizer })
    }

    /// The words of `text` joined by single spaces, as `mecab -Owakati` prints them
    /// (without the trailing space and newline).
    pub fn wakati(&self, text: &str) -> String {
        // A newline is a space to the IPA dictionary (`char.def`), so a segment holding
        // several lines is analysed as MeCab analyses it: as one sentence.
        let mut worker = self.tokenizer.new_worker();
        worker.reset_sentence(text.trim());
        worker.tokenize();
        let words: Vec<&str> = worker.token_iter().map(|t| t.surface()).collect();
        words.join(" ")
    }
}

/// The dictionary's source files, decoded from EUC-JP.
#[derive(Default)]
struct Sources {
    /// (file name, text) of every lexicon file; concatenated in name order.
    lexicon: Vec<(String, String)>,
    matrix: String,
    chars: String,
    unknown: String,
}

impl Sources {
    fn add(&mut self, name: &str, raw: &[u8]) {
        let file = name.rsplit('/').next().unwrap_or(name);
        let (text, _, _) = encoding_rs::EUC_JP.decode(raw);
        let mut text: String = text.chars().map(jis_x_0208).collect();
        if !text.ends_with('\n') && !text.is_empty() {
            text.push('\n');
        }
        match file {
            "matrix.def" => self.matrix = text,
            "char.def" => self.chars = text,
            "unk.def" => self.unknown = text,
            f if f.ends_with(".csv") => self.lexicon.push((f.to_string(), text)),
            _ => {}
        }
    }
}

/// `encoding_rs` decodes EUC-JP as browsers do, with Windows' mapping of six JIS X 0208
/// characters; MeCab's dictionary was converted with iconv's (the standard's) mapping. A
/// text holding `−` (U+2212) must find the dictionary's word, so map them back.
fn jis_x_0208(c: char) -> char {
    match c {
        '\u{FF5E}' => '\u{301C}', // WAVE DASH
        '\u{2225}' => '\u{2016}', // DOUBLE VERTICAL LINE
        '\u{FF0D}' => '\u{2212}', // MINUS SIGN
        '\u{FFE0}' => '\u{00A2}', // CENT SIGN
        '\u{FFE1}' => '\u{00A3}', // POUND SIGN
        '\u{FFE2}' => '\u{00AC}', // NOT SIGN
        c => c,
    }
}
