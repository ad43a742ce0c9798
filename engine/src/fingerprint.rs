//! Hashing the files a node reads. Content is hashed with blake3, memory-mapped and
//! multi-threaded for large files. A fingerprint cache in the index (path, size,
//! modification time, inode → hash) spares rehashing unchanged large inputs on every
//! plan; it is trusted only for files last modified well before they were hashed, so a
//! write in the same instant as a hash can never hide a change.

use crate::index::{Fingerprint, Index};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Modification times closer than this to the hashing time are not trusted.
const RACY_NS: i64 = 2_000_000_000;

/// The blake3 hash of a file's bytes.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path)?;
    Ok(hasher.finalize().to_hex().to_string())
}

pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// The hash of a file, from the cache when its fingerprint is unchanged.
pub fn cached_hash(index: &Index, path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)?;
    let key = std::fs::canonicalize(path)?.display().to_string();
    let fingerprint = Fingerprint {
        size: meta.len() as i64,
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        inode: meta.ino() as i64,
    };
    if let Some((known, hash, hashed_at)) = index.fingerprint(&key)? {
        if known == fingerprint && hashed_at - fingerprint.mtime_ns > RACY_NS {
            return Ok(hash);
        }
    }
    let hashed_at = now_ns();
    let hash = hash_file(path)?;
    index.put_fingerprint(&key, &fingerprint, &hash, hashed_at)?;
    Ok(hash)
}
