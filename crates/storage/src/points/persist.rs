//! A point table and the saved HNSW index of its columns (`crate::graph_file`, design record
//! 020): what to save of a column's index, loading the checkpoint so that points go back to the
//! slots the saved index knows them by, and attaching a loaded index with every slot it cannot
//! vouch for marked pending.

use super::{PointTable, StoredPoint, frozen};
use crate::error::Result;
use crate::frame_ref::{FrameVector, PointFrame};
use crate::graph_file::{SlotRecord, content_hash};
use crate::index::VectorIndex;
use crate::vectors::VectorRef;
use quiver_types::point::{NamedVectors, Payload, Vector};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What to save of a plain dense column's index: the index, a record per slot it holds, and
/// the column's count of index changes when the plan was made.
pub struct GraphPlan {
    pub index: Arc<dyn VectorIndex>,
    pub slots: Vec<SlotRecord>,
    pub changes: u64,
}

/// What [`PointTable::attach_saved_index`] made of a saved index.
pub struct Attached {
    /// Slots taken as indexed.
    pub valid: usize,
    /// The column's count of index changes when the index is exactly its saved file's graph
    /// (every record vouched for, nothing pending): a save at that count would write the same
    /// file again.
    pub unchanged_at: Option<u64>,
}

/// Where [`PointTable::upsert_frame_at`] put a point.
#[must_use]
pub enum Placed {
    /// In its slot, whole.
    Whole,
    /// In its slot, without a vector the table's schema does not hold.
    Trimmed,
    /// Not placed (its slot is taken, or the point already is): for `upsert` later.
    Elsewhere(StoredPoint),
}

impl PointTable {
    /// A plan to save `name`'s index when the index has caught up (nothing pending: it then
    /// holds exactly the indexed slots' current vectors) and changed since `saved_changes`.
    /// Multivector columns are not saved (their rows move between restarts).
    pub fn graph_plan(&self, name: &str, saved_changes: Option<u64>) -> Option<GraphPlan> {
        let column = self.dense.get(name)?;
        let index = column.index.clone()?;
        if !column.pending.is_empty() || saved_changes == Some(column.index_changes) {
            return None;
        }
        let slots = (0..column.indexed.len())
            .filter(|s| column.indexed[*s])
            .filter_map(|s| {
                let id = self.ids.get(s).copied().flatten()?;
                let vector = column.vector(s as u32)?;
                Some(SlotRecord { slot: s as u32, id, hash: content_hash(vector) })
            })
            .collect();
        Some(GraphPlan { index, slots, changes: column.index_changes })
    }

    /// Room for `additional` more slots in every column: a load that knows how many points
    /// come grows each array once.
    pub fn reserve_slots(&mut self, additional: usize) {
        self.ids.reserve(additional);
        self.versions.reserve(additional);
        self.stamps.reserve(additional);
        for column in self.dense.values_mut() {
            column.reserve(additional);
        }
        for column in self.sparse.values_mut() {
            column.reserve(additional);
        }
    }

    /// While loading: puts the point of `frame` in `slot` (growing the table with empty slots)
    /// when the slot is empty and the point not placed yet (not marked changed: it is the
    /// checkpoint's; its payload comes with `set_loaded_payload`); gives it back otherwise. Call
    /// `seal_slots` once every point that has a slot to go to is placed. (Slots come from
    /// checksummed records of slots this table had, or are the next slot.)
    pub fn upsert_frame_at(&mut self, frame: PointFrame<'_>, slot: u32) -> Placed {
        if self.order.contains_key(&frame.id) {
            return Placed::Elsewhere(frame.into_point());
        }
        while self.ids.len() <= slot as usize {
            self.push_slot(None);
        }
        if self.ids[slot as usize].is_some() {
            return Placed::Elsewhere(frame.into_point());
        }
        self.ids[slot as usize] = Some(frame.id);
        self.order.insert(frame.id, slot);
        self.stamp(slot);
        self.versions[slot as usize] = frame.version;
        let mut kept = true;
        for (name, vector) in frame.vectors {
            kept &= self.put_frame_vector(slot, name, vector);
        }
        match kept {
            true => Placed::Whole,
            false => Placed::Trimmed,
        }
    }

    /// Gives the point `id`, just loaded with an empty payload, its payload from the
    /// checkpoint's MessagePack `bytes` (`CheckpointStore::load_parallel_frames`): with
    /// `on_disk_payload` they go into the log as they are, decoded only for the payload indexes'
    /// keys (design record 037).
    pub fn set_loaded_payload(&mut self, id: &quiver_types::PointId, bytes: &[u8]) -> Result<()> {
        let Some(slot) = self.order.get(id).copied() else {
            return Ok(());
        };
        let corrupt = |e: String| crate::StorageError::Corrupt(format!("payload of point {id}: {e}"));
        self.payloads.set_encoded(slot, bytes).map_err(corrupt)?;
        let keys = self.payload_index.keys();
        if !keys.is_empty() {
            let payload = self.payloads.get_keys(slot, &keys);
            self.payload_index.update(slot, &payload);
        }
        Ok(())
    }

    /// Makes the empty slots left by `upsert_frame_at` free for new points (lowest first).
    pub fn seal_slots(&mut self) {
        self.free = (0..self.ids.len() as u32).rev().filter(|s| self.ids[*s as usize].is_none()).collect();
    }

    /// Attaches `index`, loaded from a saved graph holding `slots`, to the column `name`: a
    /// slot counts as indexed only if it holds the recorded point with a vector of the recorded
    /// hash (by `hash`, the record's); every other slot of the record or holding a vector is pending (the indexer replaces
    /// or removes it). Keys past the table are removed now.
    pub fn attach_saved_index(
        &mut self,
        name: &str,
        index: Arc<dyn VectorIndex>,
        slots: &[SlotRecord],
        hash: fn(VectorRef<'_>) -> u64,
    ) -> Result<Attached> {
        let Some(column) = self.dense.get(name) else { return Ok(Attached { valid: 0, unchanged_at: None }) };
        let ids = &self.ids;
        let vouched = check_records(slots, |record| {
            ids.get(record.slot as usize) == Some(&Some(record.id))
                && column.vector(record.slot).is_some_and(|v| hash(v) == record.hash)
        });
        let Some(column) = self.dense.get_mut(name) else { return Ok(Attached { valid: 0, unchanged_at: None }) };
        let mut indexed = vec![false; column.present.len()];
        let mut pending = BTreeSet::new();
        for (record, vouched) in slots.iter().zip(vouched) {
            let s = record.slot as usize;
            if s >= indexed.len() {
                index.remove(u64::from(record.slot))?;
                continue;
            }
            match vouched {
                true => indexed[s] = true,
                false => _ = pending.insert(record.slot),
            }
        }
        pending.extend((0..indexed.len() as u32).filter(|s| column.present[*s as usize] && !indexed[*s as usize]));
        let valid = indexed.iter().filter(|i| **i).count();
        (column.indexed, column.pending, column.index) = (indexed, pending, Some(index));
        (column.frozen, column.changed, column.stale) = (None, BTreeSet::new(), frozen::SlotBits::default());
        column.index_changes += 1;
        // Every record vouched for (so no key was removed) and nothing else to add: the index
        // is its saved file's graph as it stands.
        let unchanged = valid == slots.len() && column.pending.is_empty();
        Ok(Attached { valid, unchanged_at: unchanged.then_some(column.index_changes) })
    }
}

/// `check` of every record, computed on as many threads as the machine has (hashing every
/// vector is the longest part of attaching a saved index).
fn check_records(slots: &[SlotRecord], check: impl Fn(&SlotRecord) -> bool + Sync) -> Vec<bool> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunk = slots.len().div_ceil(threads).max(4096);
    std::thread::scope(|scope| {
        let check = &check;
        let parts: Vec<_> = slots
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(check).collect::<Vec<bool>>()))
            .collect();
        parts.into_iter().flat_map(|part| part.join().expect("a slot check panicked")).collect()
    })
}

impl PointFrame<'_> {
    /// The point, owning its vectors, with an empty payload.
    pub fn into_point(self) -> StoredPoint {
        let vectors = self
            .vectors
            .into_iter()
            .map(|(name, vector)| {
                let vector = match vector {
                    FrameVector::Dense(values) => Vector::Dense(values.to_vec()),
                    FrameVector::Other(vector) => vector,
                };
                (name.to_string(), vector)
            })
            .collect::<NamedVectors>();
        StoredPoint { id: self.id, version: self.version, vectors, payload: Payload::new() }
    }
}
