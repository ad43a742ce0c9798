//! Input files: expanding a `Path` parameter (a file or glob, relative to the experiment)
//! and reading lines from plain, gzip or zstd files alike; and the one way a stage names
//! a file it writes ([`inside`]).

use crate::stage::StageError;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// `dir/name`, for a file a stage writes under `dir` (its output folder or a folder in
/// it). `name` must be relative and made of plain components (`report.md`,
/// `figures/score_by_task.svg`): a root, `..`, `.`, an empty part or a control character
/// is refused. Every output path built from a name goes through here, so that no
/// parameter, label or record can make a stage write outside its folder.
pub fn inside(dir: &Path, name: &str) -> Result<PathBuf, StageError> {
    let plain = !name.is_empty()
        && !name.chars().any(char::is_control)
        && !name.split('/').any(|part| part.is_empty())
        && Path::new(name).components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(StageError::Param(format!(
            "{name:?} is not a file name inside the output folder {} (it must be relative, without `..`, `.` or empty parts)",
            dir.display()
        )));
    }
    Ok(dir.join(name))
}

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
    decompress(path, file).map_err(StageError::io(path))
}

/// `input` decompressed as `path`'s extension says (`.gz`, `.zst`), or as it is: what
/// [`open`] does to a file, for bytes from anywhere (the fuzz targets give a slice).
pub fn decompress<'a>(path: &Path, input: impl Read + Send + 'a) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Some("zst") => Box::new(zstd::stream::read::Decoder::new(input)?),
        _ => Box::new(input),
    })
}

/// The lines of a (possibly compressed) text file.
pub fn lines(path: &Path) -> Result<impl Iterator<Item = Result<String, StageError>>, StageError> {
    let owned = path.to_path_buf();
    Ok(BufReader::new(open(path)?).lines().map(move |l| l.map_err(StageError::io(&owned))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_joins_plain_relative_names_only() {
        let dir = Path::new("/store/tmp/x/artifact");
        assert_eq!(inside(dir, "report.md").expect("plain"), dir.join("report.md"));
        assert_eq!(inside(dir, "figures/a.svg").expect("nested"), dir.join("figures/a.svg"));
        for bad in ["", "../evil", "../../evil", "/tmp/evil", "a/../../evil", "./a", "a//b", "a/", "a\0b", "a\nb"] {
            let err = inside(dir, bad).expect_err(bad).to_string();
            assert!(err.contains("is not a file name inside the output folder"), "{bad:?}: {err}");
        }
    }
}
