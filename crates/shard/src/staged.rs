//! The redo record of an in-place restore (design 008, "crash-safe in-place recovery").
//!
//! Replacing a replica's data (`install`) rewrites the checkpoint and then resets the WAL: a
//! crash in between leaves a mix. Before the data is touched, the already-verified shard
//! snapshot is staged durably inside the shard's own directory as `recover.snapshot` (written
//! as `recover.snapshot.part`, fsynced, renamed, directory fsynced). While that file exists the
//! replica's data is to be replaced by it: [`LocalShard::open`] discards a torn `.part`, checks
//! the record whole (CRC frames, end marker), discards it if broken (the old data was never
//! touched), and otherwise wipes the checkpoint and WAL and installs the record again.
//!
//! Once installed, the record is renamed to `recover.done` under the shard's write lock, so no
//! write can land on the new data while the record still says "redo". `recover.done` tells the
//! node that the data is the recovered one but the recovery's state change may not have been
//! proposed; the node removes it when the recovery is finished.

use crate::error::Result;
use crate::shard::LocalShard;
use crate::snapshot::{SnapshotInfo, verify_snapshot};
use quiver_storage::StorageError;
use std::path::Path;

/// The staged snapshot: the replica's data must be replaced by it.
pub const STAGED_FILE: &str = "recover.snapshot";
/// Written first, renamed to [`STAGED_FILE`] once complete and durable.
const STAGING_FILE: &str = "recover.snapshot.part";
/// The staged snapshot was installed; the recovery that staged it has not finished.
pub const RESTORED_FILE: &str = "recover.done";

fn io<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::io(context, path, e)
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("sync shard dir", dir))?;
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove staged snapshot", path)(e).into()),
    }
}

/// Turns the staging file of the shard in `dir` into its redo record (rename, directory
/// fsynced); nothing to do when it is not there (committed already). Also used before the shard
/// is opened, to roll forward a staging of several shards a crash interrupted.
pub fn commit_staging_in(dir: &Path) -> Result<()> {
    let part = dir.join(STAGING_FILE);
    if !part.exists() {
        return Ok(());
    }
    let staged = dir.join(STAGED_FILE);
    std::fs::rename(&part, &staged).map_err(io("stage shard snapshot", &staged))?;
    sync_dir(dir)
}

/// Before a shard in `dir` is opened: the staged snapshot to install again, if one is there and
/// whole. A torn or corrupt one is removed (the data it was to replace is intact). When one is
/// returned the checkpoint and WAL have been removed, since they may be a mix of old and new.
pub(crate) fn take_pending(dir: &Path) -> Result<Option<SnapshotInfo>> {
    remove_if_present(&dir.join(STAGING_FILE))?;
    let staged = dir.join(STAGED_FILE);
    if !staged.exists() {
        return Ok(None);
    }
    let info = match verify_snapshot(&staged) {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "discarding a broken staged shard snapshot");
            remove_if_present(&staged)?;
            sync_dir(dir)?;
            return Ok(None);
        }
    };
    tracing::warn!(dir = %dir.display(), seq = info.seq, points = info.points, "redoing an interrupted restore");
    remove_if_present(&dir.join("points.redb"))?;
    let wal = dir.join("wal");
    if wal.exists() {
        std::fs::remove_dir_all(&wal).map_err(io("remove WAL for a redo", &wal))?;
    }
    sync_dir(dir)?;
    Ok(Some(info))
}

impl LocalShard {
    /// The staged restore in `dir` that opening the replica must redo, if any (see
    /// [`take_pending`]).
    pub(crate) fn take_pending_restore(dir: &Path) -> Result<Option<SnapshotInfo>> {
        take_pending(dir)
    }

    /// Durably copies the verified shard snapshot at `source` into this shard's directory as
    /// its redo record (see the module doc). Nothing else changes.
    pub fn stage_restore(&self, source: &Path) -> Result<()> {
        self.write_staging(source)?;
        commit_staging_in(self.dir())
    }

    /// The first half of [`LocalShard::stage_restore`]: the copy, fsynced under its staging
    /// name, which does not count (it is removed on open) until [`commit_staging_in`].
    pub fn write_staging(&self, source: &Path) -> Result<()> {
        let part = self.dir().join(STAGING_FILE);
        std::fs::copy(source, &part).map_err(io("stage shard snapshot", &part))?;
        std::fs::File::open(&part).and_then(|f| f.sync_all()).map_err(io("sync staged shard snapshot", &part))?;
        Ok(())
    }

    /// Drops a staging that failed before anything was installed (the old data stays).
    pub fn discard_staging(&self) -> Result<()> {
        remove_if_present(&self.dir().join(STAGING_FILE))?;
        remove_if_present(&self.dir().join(STAGED_FILE))?;
        sync_dir(self.dir())
    }

    /// Replaces the replica with the staged snapshot (streamed: nothing changes unless it is
    /// whole) and, under the same write lock, turns the record into the "restored" marker.
    pub fn restore_staged(&self) -> Result<SnapshotInfo> {
        let _order = self.write_lock.lock();
        let (staged, restored) = (self.dir().join(STAGED_FILE), self.dir().join(RESTORED_FILE));
        let info = self.restore_snapshot_locked(&staged)?;
        std::fs::rename(&staged, &restored).map_err(io("mark staged snapshot restored", &restored))?;
        sync_dir(self.dir())?;
        Ok(info)
    }

    /// Whether a staged snapshot was installed by a recovery that has not finished.
    pub fn restored_marker(&self) -> bool {
        self.dir().join(RESTORED_FILE).exists()
    }

    /// Forgets the staged restore once its recovery is finished.
    pub fn clear_restored_marker(&self) -> Result<()> {
        remove_if_present(&self.dir().join(RESTORED_FILE))?;
        sync_dir(self.dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::ShardConfig;
    use quiver_types::config::Distance;
    use quiver_types::ops::{UpdateMode, UpdateOperation};
    use quiver_types::point::{PointStruct, Vector};
    use std::collections::BTreeMap;

    fn shard(dir: &Path) -> LocalShard {
        let dense = BTreeMap::from([(String::new(), quiver_storage::vectors::VectorSpec::plain(2, Distance::Dot))]);
        let index = crate::IndexConfig::default();
        LocalShard::open(dir, ShardConfig { dense, sparse: Default::default(), wal_segment_bytes: 1 << 16, index })
            .unwrap()
    }

    fn upsert(ids: std::ops::Range<u64>, tag: &str) -> UpdateOperation {
        let points = ids
            .map(|i| PointStruct {
                id: i.into(),
                vectors: BTreeMap::from([(String::new(), Vector::Dense(vec![i as f32, 1.0]))]),
                payload: Some(serde_json::from_value(serde_json::json!({"tag": tag})).unwrap()),
            })
            .collect();
        UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }
    }

    /// A source shard's snapshot file ("new": 300 points at seq 3) and a target ("old": 120
    /// points written in many small records, so its WAL is long and starts past the snapshot's
    /// sequence number once checkpointed).
    fn fixture(dir: &Path) -> (std::path::PathBuf, u64, LocalShard) {
        let source = shard(&dir.join("source"));
        for start in [0, 100, 200] {
            source.update(&upsert(start..start + 100, "new"), true).unwrap();
        }
        let file = dir.join("new.snapshot");
        source.write_snapshot(&file).unwrap();
        let target = shard(&dir.join("target"));
        for i in 0..120 {
            target.update(&upsert(i..i + 1, "old"), true).unwrap();
        }
        target.checkpoint().unwrap();
        target.update(&upsert(500..510, "old"), true).unwrap();
        (file, source.digest(), target)
    }

    #[test]
    fn staged_restore_is_redone_after_a_crash_mid_install() {
        let dir = tempfile::tempdir().unwrap();
        let (file, new, target) = fixture(dir.path());
        target.stage_restore(&file).unwrap();
        assert!(dir.path().join("target").join(STAGED_FILE).exists());
        // The crash: the checkpoint was replaced, the WAL (records past seq 3) was not reset.
        crate::snapshot::crash_after_checkpoint_swap(&target, &file);
        drop(target);
        let reopened = shard(&dir.path().join("target"));
        assert_eq!((reopened.digest(), reopened.applied_seq()), (new, 3));
        assert!(reopened.restored_marker() && !dir.path().join("target").join(STAGED_FILE).exists());
        // Writes go on from the snapshot's sequence number; a second open keeps them.
        reopened.update(&upsert(900..901, "after"), true).unwrap();
        let after = reopened.digest();
        reopened.clear_restored_marker().unwrap();
        drop(reopened);
        let again = shard(&dir.path().join("target"));
        assert_eq!((again.digest(), again.applied_seq(), again.restored_marker()), (after, 4, false));
    }

    #[test]
    fn a_staged_restore_completes_and_leaves_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let (file, new, target) = fixture(dir.path());
        target.stage_restore(&file).unwrap();
        let info = target.restore_staged().unwrap();
        assert_eq!((info.seq, info.points, target.digest()), (3, 300, new));
        assert!(target.restored_marker());
        drop(target);
        let reopened = shard(&dir.path().join("target"));
        assert_eq!((reopened.digest(), reopened.restored_marker()), (new, true));
    }

    #[test]
    fn torn_or_corrupt_staged_files_are_discarded_and_the_old_data_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _, target) = fixture(dir.path());
        let old = target.digest();
        let target_dir = dir.path().join("target");
        let bytes = std::fs::read(&file).unwrap();
        drop(target);
        let mut flipped = bytes.clone();
        flipped[30] ^= 0xff;
        for (name, content) in [
            (STAGING_FILE, bytes.clone()),
            (STAGED_FILE, bytes[..bytes.len() - 4].to_vec()),
            (STAGED_FILE, flipped),
            (STAGED_FILE, Vec::new()),
        ] {
            std::fs::write(target_dir.join(name), &content).unwrap();
            let reopened = shard(&target_dir);
            assert_eq!(reopened.digest(), old, "{name} with {} bytes", content.len());
            assert!(!target_dir.join(name).exists() && !reopened.restored_marker());
        }
    }
}
