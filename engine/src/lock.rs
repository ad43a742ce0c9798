//! One lock per identity, so two runs sharing a store compute each node once: the second
//! waits, then finds the artifact and reuses it. The locks are advisory file locks held by
//! an open file, so the operating system releases a dead process's locks by itself.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Held while a node is being computed; released on drop.
pub struct NodeLock {
    _file: File,
}

impl NodeLock {
    /// Blocks until the lock on `path` is ours.
    pub fn acquire(path: &Path) -> std::io::Result<NodeLock> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        file.lock()?;
        Ok(NodeLock { _file: file })
    }

    /// Takes the lock if it is free.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<NodeLock>> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(NodeLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}
