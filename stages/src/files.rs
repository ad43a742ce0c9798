//! Input files: expanding a `Path` parameter (a file or glob, relative to the experiment)
//! and reading lines from plain, gzip or zstd files alike.

use crate::stage::StageError;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The files a path or glob names, sorted; a folder stands for every file under it (a
/// model checkpoint is a folder). Matching nothing is an error: a typo in a path must not
/// give an empty corpus.
pub fn expand(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, StageError> {
    let full = root.join(pattern);
    let text = full.to_string_lossy();
    let mut files = Vec::new();
    for path in glob::glob(&text)
        .map_err(|e| StageError::Param(format!("`{pattern}` is not a valid glob: {e}")))?
        .filter_map(Result::ok)
    {
        files_under(&path, &mut files).map_err(StageError::io(&path))?;
    }
    files.sort();
    if files.is_empty() {
        return Err(StageError::Param(format!("`{pattern}` matches no file (looked in {})", root.display())));
    }
    Ok(files)
}

fn files_under(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
    } else if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            files_under(&entry?.path(), out)?;
        }
    }
    Ok(())
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
