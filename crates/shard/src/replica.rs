//! The replica side of ordered replication: applying an operation at the sequence number the
//! primary assigned (gaps and duplicates detected), reading WAL records for a lagging replica,
//! and a content digest that is equal on replicas holding the same points.

use crate::apply;
use crate::error::Result;
use crate::shard::{LocalShard, decode_record, encode_record};
use quiver_types::SeqNo;
use quiver_types::ops::UpdateOperation;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

/// What a replica did with `apply_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyOutcome {
    /// Logged (and fsynced when asked) and applied.
    Applied,
    /// Already held (`seq` at or below the last one); nothing done.
    Duplicate,
    /// Records are missing before `seq`; the replica's last seq is given.
    Gap { last: SeqNo },
    /// The replica holds a different operation at `seq` (written by an earlier primary and never
    /// acknowledged): it must be replaced, not patched.
    Diverged,
}

impl LocalShard {
    /// Applies `op` at `seq` as ordered by the shard's primary.
    pub fn apply_at(&self, seq: SeqNo, op: &UpdateOperation, wait: bool) -> Result<ApplyOutcome> {
        let record = encode_record(op)?;
        {
            let _order = self.write_lock.lock();
            let last = self.applied_seq();
            if seq <= last {
                return self.compare_held(seq, &record);
            }
            if seq > last + 1 {
                return Ok(ApplyOutcome::Gap { last });
            }
            self.wal.append_at(seq, &record)?;
            apply::apply(&mut self.table.write(), seq, op);
            self.applied_seq.store(seq, Ordering::Release);
        }
        self.indexer.notify();
        if wait {
            self.wal.sync_through(seq)?;
        }
        Ok(ApplyOutcome::Applied)
    }

    /// A duplicate of `seq`: the same record (a retry) or a different one (divergence). Records
    /// already checkpointed away are trusted as the same.
    fn compare_held(&self, seq: SeqNo, record: &[u8]) -> Result<ApplyOutcome> {
        let mut held = None;
        self.wal.for_each_from(seq, |s, bytes| {
            if s == seq {
                held = Some(bytes.to_vec());
            }
            Ok(())
        })?;
        Ok(match held {
            Some(bytes) if bytes != record => ApplyOutcome::Diverged,
            Some(_) | None => ApplyOutcome::Duplicate,
        })
    }

    /// The operations with `from <= seq <= to` still in the WAL, in order. Fewer than asked if
    /// the WAL no longer holds the start (the caller must then copy the whole shard).
    pub fn wal_records(&self, from: SeqNo, to: SeqNo) -> Result<Vec<(SeqNo, UpdateOperation)>> {
        let mut out = Vec::new();
        self.wal.for_each_from(from, |seq, bytes| {
            if seq <= to {
                let op = decode_record(bytes).map_err(quiver_storage::StorageError::from)?;
                out.push((seq, op));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// An order-independent digest of the shard's points (ids, versions, vectors, payloads).
    pub fn digest(&self) -> u64 {
        let table = self.table.read();
        table
            .iter_slots()
            .map(|p| {
                let mut hasher = siphasher::sip::SipHasher13::new();
                p.id().hash(&mut hasher);
                p.version().hash(&mut hasher);
                serde_json::to_string(p.payload()).unwrap_or_default().hash(&mut hasher);
                for (name, vector) in p.vectors() {
                    name.hash(&mut hasher);
                    serde_json::to_string(&vector).unwrap_or_default().hash(&mut hasher);
                }
                hasher.finish()
            })
            .fold(0u64, |acc, h| acc.wrapping_add(h))
    }
}

impl LocalShard {
    /// A consistent copy of every point with the sequence number it reflects (for a transfer).
    pub fn snapshot_points(&self) -> (SeqNo, Vec<quiver_storage::points::StoredPoint>) {
        let _order = self.write_lock.lock();
        let table = self.table.read();
        let points = table.iter_slots().map(|p| p.to_stored()).collect();
        (self.applied_seq(), points)
    }

    /// Replaces the whole replica with `points` as of `seq` (a transfer target): WAL emptied and
    /// continued at `seq + 1`, table rebuilt, checkpoint rewritten durably.
    pub fn install(&self, seq: SeqNo, points: Vec<quiver_storage::points::StoredPoint>) -> Result<()> {
        let _order = self.write_lock.lock();
        self.install_locked(seq, points)
    }

    /// [`LocalShard::install`] with the write lock already held by the caller.
    pub(crate) fn install_locked(&self, seq: SeqNo, points: Vec<quiver_storage::points::StoredPoint>) -> Result<()> {
        self.replace_checkpoint(seq, &points)?;
        let mut table = quiver_storage::points::PointTable::with_schema(self.config().schema());
        for point in points {
            table.upsert(point);
        }
        table.set_payload_indexes(&self.payload_fields.lock());
        table.take_dirty();
        self.wal.truncate_all_and_reset(seq + 1)?;
        *self.table.write() = table;
        self.applied_seq.store(seq, Ordering::Release);
        self.indexer.notify();
        Ok(())
    }
}
