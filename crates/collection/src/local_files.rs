//! On-disk facts of a local collection that a peer checks against the cluster state (design
//! record 009): the collection's incarnation, and markers of local replicas whose data was lost.

use crate::collection::{Collection, write_atomic};
use crate::error::{CollectionError, Result};
use quiver_types::ShardId;
use std::path::{Path, PathBuf};

const INCARNATION_FILE: &str = "incarnation";

/// The incarnation recorded in a collection directory, if any.
pub fn read_incarnation(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join(INCARNATION_FILE)).ok().and_then(|s| s.trim().parse().ok())
}

/// Records the collection's incarnation in its directory (durably).
pub fn write_incarnation(dir: &Path, incarnation: u64) -> std::io::Result<()> {
    write_atomic(&dir.join(INCARNATION_FILE), incarnation.to_string().as_bytes())
}

fn lost_marker(dir: &Path, shard_id: ShardId) -> PathBuf {
    dir.join(format!("shard_{shard_id}.lost"))
}

/// Marks the local replica of `shard_id` as holding none of the data the cluster expects of it
/// (durably, before its empty directory is created).
pub fn mark_lost(dir: &Path, shard_id: ShardId) -> std::io::Result<()> {
    write_atomic(&lost_marker(dir, shard_id), b"")
}

fn failed(context: &str, e: std::io::Error) -> CollectionError {
    CollectionError::Service(format!("{context}: {e}"))
}

impl Collection {
    /// The incarnation recorded on disk, if any.
    pub fn incarnation(&self) -> Option<u64> {
        read_incarnation(self.dir())
    }

    /// Records the incarnation on disk.
    pub fn set_incarnation(&self, incarnation: u64) -> Result<()> {
        write_incarnation(self.dir(), incarnation).map_err(|e| failed("write the collection's incarnation", e))
    }

    /// Whether the local replica of `shard_id` is marked lost.
    pub fn is_replica_lost(&self, shard_id: ShardId) -> bool {
        lost_marker(self.dir(), shard_id).exists()
    }

    /// Marks the local replica of `shard_id` lost.
    pub fn mark_replica_lost(&self, shard_id: ShardId) -> Result<()> {
        mark_lost(self.dir(), shard_id).map_err(|e| failed("mark a replica lost", e))
    }

    /// Removes the lost marker of `shard_id` (the cluster state no longer counts on its data).
    pub fn clear_replica_lost(&self, shard_id: ShardId) -> Result<()> {
        match std::fs::remove_file(lost_marker(self.dir(), shard_id)) {
            Ok(()) => std::fs::File::open(self.dir())
                .and_then(|dir| dir.sync_all())
                .map_err(|e| failed("sync the collection directory", e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed("clear a lost marker", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incarnation_and_markers_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_incarnation(dir.path()), None);
        write_incarnation(dir.path(), 42).unwrap();
        assert_eq!(read_incarnation(dir.path()), Some(42));
        assert!(!lost_marker(dir.path(), 3).exists());
        mark_lost(dir.path(), 3).unwrap();
        assert!(lost_marker(dir.path(), 3).exists());
        assert!(!lost_marker(dir.path(), 2).exists());
    }
}
