//! Hashing the files a node reads. Content is hashed with blake3, memory-mapped a window
//! at a time and multi-threaded. A fingerprint cache in the index (path, size,
//! modification time, inode → hash) spares rehashing unchanged large inputs on every
//! plan; it is trusted only for files last modified well before they were hashed, so a
//! write in the same instant as a hash can never hide a change.

use crate::index::{Fingerprint, Index};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::clock::now_ns;

/// Modification times closer than this to the hashing time are not trusted.
const RACY_NS: i64 = 2_000_000_000;

/// Bytes mapped per step when hashing: large enough for blake3's multi-threading to pay,
/// small enough that hashing a huge file keeps little of it resident (a map of the whole
/// file would count all of it in the process's memory).
const WINDOW: u64 = 64 << 20;

/// The blake3 hash of a file's bytes: memory-mapped window by window (no copy into
/// buffers, as fast as `b3sum`) and hashed on every core.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut hasher = blake3::Hasher::new();
    let mut offset = 0;
    while offset < size {
        let len = WINDOW.min(size - offset);
        // SAFETY: the map is read-only and dropped before the next window. If another
        // process truncates the file meanwhile, reading a vanished page would fault; the
        // store only hashes its own finished artifacts and the experiment's input files,
        // which nothing should be rewriting while a plan or run reads them (`b3sum` and
        // blake3's own `update_mmap` take the same stance).
        #[allow(unsafe_code)]
        let window = unsafe { memmap2::MmapOptions::new().offset(offset).len(len as usize).map(&file)? };
        hasher.update_rayon(&window);
        offset += len;
    }
    Ok(hasher.finalize().to_hex().to_string())
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
