//! Replacing a replica wholesale (transfers, snapshot restores), streamed (design record 019):
//! point frames are decoded one point at a time into a new table and, frame by frame, into a
//! new checkpoint built beside the live one (one redb transaction per frame, written by a thread
//! of its own meanwhile, `install_writer.rs`). Nothing live
//! changes until [`LocalShard::finish_install`]: it swaps the checkpoint in by rename, resets
//! the WAL and swaps the table under the write lock. An install that fails or is dropped on the
//! way leaves the replica as it was.

use crate::error::{Result, ShardError};
use crate::install_writer::{Batch, CheckpointWriter};
use crate::shard::LocalShard;
use quiver_storage::frames::FrameReader;
use quiver_storage::points::{PointTable, StoredPoint};
use quiver_storage::vectors::VectorSpec;
use quiver_types::point::Vector;
use quiver_types::{PointId, SeqNo};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// A replacement of a replica's data being assembled (see the module doc).
pub struct ShardInstall {
    table: PointTable,
    checkpoint: CheckpointWriter,
    dense: BTreeMap<String, VectorSpec>,
    points: usize,
    /// Holds off checkpoints and indexing of the data being replaced until this install ends.
    _replacing: crate::replacing::ReplacingGuard,
}

fn mismatch(id: &PointId, name: &str, what: String) -> ShardError {
    quiver_storage::StorageError::Corrupt(format!("point {id}, vector `{name}`: {what}")).into()
}

impl ShardInstall {
    /// Points added so far.
    pub fn points(&self) -> usize {
        self.points
    }

    /// Decodes one point frame and adds its points, written to the new checkpoint in one
    /// transaction. A frame that does not decode, or whose vectors do not fit the shard's
    /// configuration, is an error (the install must then be dropped); so is a failed write of
    /// an earlier frame.
    pub fn add_frame(&mut self, frame: impl Into<Vec<u8>>) -> Result<usize> {
        let bytes = frame.into();
        let mut spans = Vec::new();
        for item in FrameReader::new(&bytes)? {
            let (point, point_bytes) = item?;
            self.check(&point)?;
            // The reader's slices are slices of `bytes`.
            let start = point_bytes.as_ptr() as usize - bytes.as_ptr() as usize;
            spans.push((point.id, start..start + point_bytes.len()));
            self.table.upsert(point);
        }
        let added = spans.len();
        self.checkpoint.write(Batch::Frame { bytes, spans })?;
        self.points += added;
        Ok(added)
    }

    /// Adds decoded points (a format-1 snapshot frame or an older peer's page).
    pub fn add_points(&mut self, points: Vec<StoredPoint>) -> Result<usize> {
        let mut encoded = Vec::with_capacity(points.len());
        for point in &points {
            self.check(point)?;
            let mut bytes = Vec::new();
            quiver_storage::frames::encode_point(&mut bytes, point)?;
            encoded.push((point.id, bytes));
        }
        self.checkpoint.write(Batch::Encoded(encoded))?;
        let count = points.len();
        points.into_iter().for_each(|p| {
            self.table.upsert(p);
        });
        self.points += count;
        Ok(count)
    }

    /// A point's vectors must have the kind and length the shard's configuration gives their
    /// name (names it does not know are kept as they come, as writes keep them).
    fn check(&self, point: &StoredPoint) -> Result<()> {
        for (name, vector) in &point.vectors {
            let Some(spec) = self.dense.get(name) else {
                if let Vector::Sparse(s) = vector
                    && s.indices.len() != s.values.len()
                {
                    return Err(mismatch(&point.id, name, "sparse lengths differ".into()));
                }
                continue;
            };
            let ok = match (vector, spec.multivector) {
                (Vector::Dense(v), false) => v.len() == spec.dim,
                (Vector::Multi(rows), true) => !rows.is_empty() && rows.iter().all(|r| r.len() == spec.dim),
                _ => false,
            };
            if !ok {
                return Err(mismatch(&point.id, name, format!("does not fit {} × {:?}", spec.dim, spec.datatype)));
            }
        }
        Ok(())
    }
}

impl LocalShard {
    /// Starts replacing this replica's data (see the module doc).
    pub fn begin_install(&self) -> Result<ShardInstall> {
        let replacing = self.replacing.begin();
        let checkpoint = CheckpointWriter::start(self.checkpoint.lock().build_replacement()?)?;
        let config = self.config();
        // The table takes only the vectors the configuration names (design record 018).
        let table = PointTable::with_schema(config.schema(self.dir()));
        Ok(ShardInstall { table, checkpoint, dense: config.dense.clone(), points: 0, _replacing: replacing })
    }

    /// Makes `install` this replica's data as of `seq`: the new checkpoint renamed into place,
    /// the WAL emptied and continued at `seq + 1`, the table swapped, all under the write lock.
    pub fn finish_install(&self, mut install: ShardInstall, seq: SeqNo) -> Result<()> {
        install.checkpoint.wait()?; // the last frames' writes, before the shard's writes wait
        let _order = self.write_lock.lock();
        self.finish_install_locked(install, seq)
    }

    pub(crate) fn finish_install_locked(&self, install: ShardInstall, seq: SeqNo) -> Result<()> {
        let ShardInstall { mut table, checkpoint, _replacing: replacing, .. } = install;
        let built = checkpoint.finish()?.finish(seq)?;
        self.checkpoint.lock().replace_with(built)?;
        table.set_payload_indexes(&self.payload_fields.lock());
        table.take_dirty();
        self.wal.truncate_all_and_reset(seq + 1)?;
        *self.table.write() = table;
        self.applied_seq.store(seq, Ordering::Release);
        self.history.lock().reset(seq);
        drop(replacing); // before the indexer is woken for the new table
        self.indexer.notify();
        Ok(())
    }

    /// A crash in the middle of `finish_install`: the checkpoint swapped in, nothing else.
    #[cfg(test)]
    pub(crate) fn swap_checkpoint_only(&self, install: ShardInstall, seq: SeqNo) {
        let built = install.checkpoint.finish().unwrap().finish(seq).unwrap();
        self.checkpoint.lock().replace_with(built).unwrap();
    }

    /// Replaces the whole replica with `points` as of `seq` (a transfer target): WAL emptied and
    /// continued at `seq + 1`, table rebuilt, checkpoint rewritten durably.
    pub fn install(&self, seq: SeqNo, points: Vec<StoredPoint>) -> Result<()> {
        let mut install = self.begin_install()?;
        install.add_points(points)?;
        self.finish_install(install, seq)
    }
}
