//! The wall clock as the store records it. Its own module so that the index (timestamps of
//! runs and nodes) and the fingerprint cache (when a file was hashed) both use it without
//! importing each other's helpers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 for a clock set before it).
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Whole seconds since the Unix epoch: the precision of the index's timestamps.
pub fn now_s() -> i64 {
    now_ns() / 1_000_000_000
}
