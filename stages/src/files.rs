//! Input files: expanding a `Path` parameter (a file or glob, relative to the experiment)
//! and reading lines from plain, gzip or zstd files alike.

use crate::stage::StageError;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The files a path or glob names, sorted. Matching nothing is an error: a typo in a path
/// must not give an empty corpus.
pub fn expand(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, StageError> {
    let full = root.join(pattern);
    let text = full.to_string_lossy();
    let mut files: Vec<PathBuf> = glob::glob(&text)
        .map_err(|e| StageError::Param(format!("`{pattern}` is not a valid glob: {e}")))?
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(StageError::Param(format!("`{pattern}` matches no file (looked in {})", root.display())));
    }
    Ok(files)
}

/// Opens a file, decompressing `.gz` and `.zst` by their extension.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, StageError> {
    let file = File::open(path).map_err(StageError::io(path))?;
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Some("zst") => Box::new(zstd::stream::read::Decoder::new(file).map_err(StageError::io(path))?),
        _ => Box::new(file),
    })
}

/// The lines of a (possibly compressed) text file.
pub fn lines(path: &Path) -> Result<impl Iterator<Item = Result<String, StageError>>, StageError> {
    let owned = path.to_path_buf();
    Ok(BufReader::new(open(path)?).lines().map(move |l| l.map_err(StageError::io(&owned))))
}
