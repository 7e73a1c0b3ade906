//! The replica side of ordered replication: applying an operation at the sequence number the
//! primary assigned (gaps and duplicates detected), reading WAL records for a lagging replica,
//! and a content digest that is equal on replicas holding the same points.

use crate::apply;
use crate::error::Result;
use crate::history::{ApplyOutcome, History, Tenure};
use crate::record::{LoggedRecord, decode_record, encode_record};
use crate::shard::LocalShard;
use quiver_storage::points::PointRef;
use quiver_types::SeqNo;
use quiver_types::ops::UpdateOperation;
use siphasher::sip::SipHasher13;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

impl LocalShard {
    /// Applies `op` at `seq`, as a replica catching up or comparing records (see
    /// [`LocalShard::apply_logged_at`] with no tenure).
    pub fn apply_at(&self, seq: SeqNo, op: &UpdateOperation, wait: bool) -> Result<ApplyOutcome> {
        self.apply_record_at(seq, op, &encode_record(op)?, wait, None)
    }

    /// Applies a record as the primary logged it at `seq`. `from`: the tenure that sent it (a
    /// primary's `Apply`); `None` for records a replica fetched itself (catch-up, `wal_delta`).
    pub fn apply_logged_at(
        &self,
        seq: SeqNo,
        record: &LoggedRecord,
        wait: bool,
        from: Option<Tenure>,
    ) -> Result<ApplyOutcome> {
        self.apply_record_at(seq, record.op(), record.bytes(), wait, from)
    }

    fn apply_record_at(
        &self,
        seq: SeqNo,
        op: &UpdateOperation,
        record: &[u8],
        wait: bool,
        from: Option<Tenure>,
    ) -> Result<ApplyOutcome> {
        {
            let _order = self.write_lock.lock();
            let mut history = self.history.lock();
            if let Some(outcome) = history.refuses(from) {
                return Ok(outcome);
            }
            let last = self.applied_seq();
            if seq <= last {
                let outcome = self.compare_held(seq, record, &history, from)?;
                if from.is_some() && outcome == ApplyOutcome::Diverged {
                    history.mark_diverged(seq);
                }
                return Ok(outcome);
            }
            if seq > last + 1 {
                return Ok(ApplyOutcome::Gap { last });
            }
            self.wal.append_at(seq, record)?;
            apply::apply(&mut self.table.write(), seq, op);
            self.applied_seq.store(seq, Ordering::Release);
            history.note_applied(from, seq);
        }
        self.indexer.notify();
        if wait {
            self.wal.sync_through(seq)?;
        }
        Ok(ApplyOutcome::Applied)
    }

    /// A record at `seq` this replica is past: the same record (a retry) or a different one
    /// (divergence). One the WAL no longer holds (checkpointed, or before an install) is the same
    /// only if the same tenure sent it after its first record here; records fetched by the
    /// replica itself (`from` is `None`) are trusted then, as they come from the primary's WAL.
    fn compare_held(&self, seq: SeqNo, record: &[u8], history: &History, from: Option<Tenure>) -> Result<ApplyOutcome> {
        let mut held = None;
        self.wal.for_each_in(seq, seq, |s, bytes| {
            if s == seq {
                held = Some(bytes.to_vec());
            }
            Ok(())
        })?;
        let same = match (held, from) {
            (Some(bytes), _) => bytes == record,
            (None, None) => true,
            (None, Some(from)) => history.vouches(from, seq),
        };
        Ok(if same { ApplyOutcome::Duplicate } else { ApplyOutcome::Diverged })
    }

    /// The operations with `from <= seq <= to` still in the WAL, in order. Fewer than asked if
    /// the WAL no longer holds the start (the caller must then copy the whole shard).
    pub fn wal_records(&self, from: SeqNo, to: SeqNo) -> Result<Vec<(SeqNo, UpdateOperation)>> {
        let mut out = Vec::new();
        self.wal.for_each_in(from, to, |seq, bytes| {
            let op = decode_record(bytes).map_err(quiver_storage::StorageError::from)?;
            out.push((seq, op));
            Ok(())
        })?;
        Ok(out)
    }

    /// [`LocalShard::wal_records`] as the stored record bytes (not decoded), for
    /// [`LoggedRecord::decode`] on the peer that applies them.
    pub fn wal_record_bytes(&self, from: SeqNo, to: SeqNo) -> Result<Vec<(SeqNo, Vec<u8>)>> {
        let mut out = Vec::new();
        self.wal.for_each_in(from, to, |seq, bytes| {
            out.push((seq, bytes.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    /// An order-independent digest of the shard's points (ids, versions, payloads, vectors):
    /// the wrapping sum of each point's SipHash-1-3 over its stored bytes
    /// (`PointRef::hash_content`, design record 052). Replicas that applied the same records
    /// have the same digest; one element's change changes it.
    pub fn digest(&self) -> u64 {
        self.sum_of_point_hashes(|p, hasher| p.hash_content(hasher))
    }

    /// The digest before design record 052 (each vector's JSON text hashed, ≈ 10× the CPU of
    /// [`LocalShard::digest`]): still answered to peers that predate the content digest, so a
    /// rolling upgrade compares like with like.
    pub fn legacy_digest(&self) -> u64 {
        self.sum_of_point_hashes(|p, hasher| {
            p.id().hash(hasher);
            p.version().hash(hasher);
            serde_json::to_string(&p.payload()).unwrap_or_default().hash(hasher);
            for (name, vector) in p.vectors() {
                name.hash(hasher);
                serde_json::to_string(&vector).unwrap_or_default().hash(hasher);
            }
        })
    }

    /// The wrapping sum of `hash` of every point, each into a fresh SipHash-1-3, under the
    /// table's read lock (no write is applied meanwhile).
    fn sum_of_point_hashes(&self, hash: impl Fn(&PointRef<'_>, &mut SipHasher13)) -> u64 {
        let table = self.table.read();
        table
            .iter_slots()
            .map(|p| {
                let mut hasher = SipHasher13::new();
                hash(&p, &mut hasher);
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
        // In id order, so an install's checkpoint receives its keys in order.
        let points = table.iter_from(None).map(|p| p.to_stored()).collect();
        (self.applied_seq(), points)
    }
}
