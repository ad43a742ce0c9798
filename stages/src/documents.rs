//! The documents artifact: what every source, filter and mixture writes. One folder with
//! `documents.jsonl`, one [`Document`] per line, streamed in and out so memory stays
//! bounded whatever the corpus size.

use crate::stage::StageError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

pub const FILE: &str = "documents.jsonl";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub text: String,
    /// `en`, `ja`, `mixed` (parallel text), or `und` when not known yet.
    pub lang: String,
    /// Where the document came from (file and line, or the upstream id).
    pub source: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

/// Writes documents and counts them.
pub struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    pub documents: u64,
    pub chars: u64,
}

impl Writer {
    pub fn create(dir: &Path) -> Result<Writer, StageError> {
        let path = dir.join(FILE);
        let file = File::create(&path).map_err(StageError::io(&path))?;
        Ok(Writer { out: BufWriter::new(file), path, documents: 0, chars: 0 })
    }

    pub fn write(&mut self, doc: &Document) -> Result<(), StageError> {
        let line = serde_json::to_string(doc)
            .map_err(|e| StageError::BadRecord { at: doc.id.clone(), message: e.to_string() })?;
        self.out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(StageError::io(&self.path))?;
        self.documents += 1;
        self.chars += doc.text.chars().count() as u64;
        Ok(())
    }

    /// Flushes and syncs the file: the engine publishes the folder right after.
    pub fn finish(mut self) -> Result<(u64, u64), StageError> {
        self.out.flush().map_err(StageError::io(&self.path))?;
        self.out.get_ref().sync_all().map_err(StageError::io(&self.path))?;
        Ok((self.documents, self.chars))
    }
}

/// Reads the documents of an artifact folder, one at a time.
pub fn read(dir: &Path) -> Result<impl Iterator<Item = Result<Document, StageError>>, StageError> {
    let path = dir.join(FILE);
    let file = File::open(&path).map_err(StageError::io(&path))?;
    Ok(BufReader::new(file).lines().enumerate().map(move |(i, line)| {
        let line = line.map_err(StageError::io(&path))?;
        serde_json::from_str(&line)
            .map_err(|e| StageError::BadRecord { at: format!("{}:{}", path.display(), i + 1), message: e.to_string() })
    }))
}
