//! The in-memory point table of one shard: ids in order, versions, payloads, and vectors kept
//! column-wise per vector name (dense vectors in one contiguous typed array per name, the
//! vectors of multivectors as rows of one) so exact scans stream through memory.

use crate::frame_ref::FrameVector;
use crate::index::VectorIndex;
use crate::mapped::Placement;
use crate::payload_index::PayloadIndex;
use crate::vectors::{VectorRef, VectorSpec};
use quiver_types::config::Datatype;
use quiver_types::point::{NamedVectors, Payload, Vector};
use quiver_types::{PointId, SparseVector};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

mod column;
mod content_hash;
mod frozen;
mod payload_keys;
#[cfg(test)]
mod payload_tests;
mod payloads;
mod persist;
mod quantize;
mod schema;
mod tenants;
use column::MultiColumn;
pub use column::{DenseColumn, MultiRef};
pub use frozen::{FreezePlan, FrozenView, MAX_CHANGED};
pub use payloads::PayloadLog;
pub use persist::{Attached, GraphPlan, Placed};
pub use quantize::QuantizedBuild;
pub use schema::VectorSchema;
pub use tenants::{TenantGraph, TenantKey, TenantPlan, TenantView};

/// A point as it is stored and checkpointed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPoint {
    pub id: PointId,
    pub version: u64,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

/// A batch of work for the indexer: slots with their generation and current vector (`None`:
/// the slot has no vector any more and must leave the index).
pub struct IndexBatch {
    pub index: Arc<dyn VectorIndex>,
    pub items: IndexItems,
}

/// Slots to add to an index: each with its generation and its vector (`None`: remove it).
pub type IndexItems = Vec<(u32, u64, Option<Vec<f32>>)>;

/// What a search needs of a dense column's index.
pub struct DenseIndexView<'a> {
    pub index: &'a Arc<dyn VectorIndex>,
    /// The column's f32 elements, which an index without a copy reads (`VectorIndex::search`).
    pub column: &'a [f32],
    indexed: &'a [bool],
    pending: &'a BTreeSet<u32>,
    /// The frozen graph, when one is worth searching (see `points/frozen.rs`).
    pub frozen: Option<FrozenView<'a>>,
}

impl DenseIndexView<'_> {
    /// Whether the index holds the current vector of `slot`.
    pub fn is_indexed(&self, slot: u64) -> bool {
        self.indexed.get(slot as usize).copied().unwrap_or(false)
    }

    /// Slots whose current vector (or its absence) is not in the index yet.
    pub fn pending(&self) -> impl Iterator<Item = u32> + '_ {
        self.pending.iter().copied()
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

/// Sizes of a dense column, for the indexing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseStats {
    pub dim: usize,
    pub vectors: usize,
    pub pending: usize,
    pub has_index: bool,
    /// Bytes per stored element (4, 2 or 1 by `datatype`).
    pub element_bytes: usize,
}

/// A borrowed view of one stored point.
#[derive(Clone, Copy)]
pub struct PointRef<'a> {
    table: &'a PointTable,
    slot: u32,
}

/// All points of a shard. Slots are reused after deletes; `order` keeps ids sorted.
#[derive(Debug, Default)]
pub struct PointTable {
    order: BTreeMap<PointId, u32>,
    ids: Vec<Option<PointId>>,
    versions: Vec<u64>,
    /// In memory, or encoded in a mapped log with `on_disk_payload` (`points/payloads.rs`).
    payloads: payloads::Payloads,
    dense: BTreeMap<String, DenseColumn>,
    sparse: BTreeMap<String, Vec<Option<SparseVector>>>,
    multi: BTreeMap<String, MultiColumn>,
    free: Vec<u32>,
    dirty: HashSet<PointId>,
    generation: u64,
    payload_index: PayloadIndex,
    /// Inverted index per sparse vector name: dimension → slot → value.
    sparse_index: BTreeMap<String, HashMap<u32, HashMap<u32, f32>>>,
    /// The columns this table is fixed to (`schema.rs`); `None`: created as vectors arrive.
    schema: Option<VectorSchema>,
    /// Per slot, the `clock` of its last change (vector, payload or delete), and the clock.
    stamps: Vec<u64>,
    clock: u64,
    /// Graphs of the big tenants of `is_tenant` indexes (`points/tenants.rs`).
    tenants: tenants::TenantState,
}

impl PointTable {
    /// An empty table with a column per configured dense vector (plain or multivector).
    pub fn new(specs: &BTreeMap<String, VectorSpec>) -> Self {
        let mut table = PointTable::default();
        table.add_columns(&VectorSchema { dense: specs.clone(), ..VectorSchema::default() });
        table
    }

    /// The column holding `name`'s vectors (a multivector's rows), for indexing.
    fn column(&self, name: &str) -> Option<&DenseColumn> {
        self.dense.get(name).or_else(|| self.multi.get(name).map(|m| &m.rows))
    }

    fn column_mut(&mut self, name: &str) -> Option<&mut DenseColumn> {
        match self.dense.get_mut(name) {
            Some(column) => Some(column),
            None => self.multi.get_mut(name).map(|m| &mut m.rows),
        }
    }

    /// Number of live points.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn contains(&self, id: &PointId) -> bool {
        self.order.contains_key(id)
    }

    pub fn get(&self, id: &PointId) -> Option<PointRef<'_>> {
        self.order.get(id).map(|slot| PointRef { table: self, slot: *slot })
    }

    /// Points in id order starting at `from` (inclusive).
    pub fn iter_from(&self, from: Option<PointId>) -> impl Iterator<Item = PointRef<'_>> {
        let range = match from {
            Some(id) => self.order.range(id..),
            None => self.order.range(..),
        };
        range.map(move |(_, slot)| PointRef { table: self, slot: *slot })
    }

    /// Every live slot, in slot order (fast for scans that do not need id order).
    pub fn iter_slots(&self) -> impl Iterator<Item = PointRef<'_>> {
        self.ids
            .iter()
            .enumerate()
            .filter(|(_, id)| id.is_some())
            .map(move |(slot, _)| PointRef { table: self, slot: slot as u32 })
    }

    /// Inserts or replaces a whole point; false if a vector was skipped (a name or shape the
    /// table's schema does not hold).
    pub fn upsert(&mut self, point: StoredPoint) -> bool {
        let slot = match self.order.get(&point.id) {
            Some(slot) => *slot,
            None => self.allocate(point.id),
        };
        self.fill(slot, point)
    }

    /// Writes `point` into its `slot`; false if a vector was skipped (a name or shape the
    /// table's schema does not hold).
    fn fill(&mut self, slot: u32, point: StoredPoint) -> bool {
        self.clear_vectors(slot);
        self.dirty.insert(point.id);
        self.fill_empty(slot, point)
    }

    /// Writes `point` into `slot`, which holds no vector (a slot just made, at load: nothing to
    /// clear, and nothing for the next checkpoint to write).
    fn fill_empty(&mut self, slot: u32, point: StoredPoint) -> bool {
        self.stamp(slot);
        self.versions[slot as usize] = point.version;
        let payload = self.payloads.set(slot, point.payload);
        self.payload_index.update(slot, &payload);
        let mut kept = true;
        for (name, vector) in point.vectors {
            kept &= self.put_vector(slot, name, vector);
        }
        kept
    }

    /// Removes a point; returns whether it existed.
    pub fn delete(&mut self, id: &PointId) -> bool {
        let Some(slot) = self.order.remove(id) else {
            return false;
        };
        self.clear_vectors(slot);
        self.stamp(slot);
        self.ids[slot as usize] = None;
        self.payloads.set(slot, Payload::new());
        self.payload_index.remove(slot);
        self.versions[slot as usize] = 0;
        self.free.push(slot);
        self.dirty.insert(*id);
        true
    }

    /// Changes a point's payload in place and sets its version.
    pub fn update_payload(&mut self, id: &PointId, version: u64, f: impl FnOnce(&mut Payload)) -> bool {
        let Some(slot) = self.order.get(id).copied() else {
            return false;
        };
        let payload = self.payloads.update(slot, f);
        self.payload_index.update(slot, &payload);
        self.stamp(slot);
        self.versions[slot as usize] = version;
        self.dirty.insert(*id);
        true
    }

    /// Sets or replaces some vectors of a point.
    pub fn update_vectors(&mut self, id: &PointId, version: u64, vectors: NamedVectors) -> bool {
        let Some(slot) = self.order.get(id).copied() else {
            return false;
        };
        for (name, vector) in vectors {
            if !self.accepts(&name, &vector) {
                continue;
            }
            self.remove_vector(slot, &name);
            self.put_vector(slot, name, vector);
        }
        self.stamp(slot);
        self.versions[slot as usize] = version;
        self.dirty.insert(*id);
        true
    }

    /// Removes the named vectors of a point.
    pub fn delete_vectors(&mut self, id: &PointId, version: u64, names: &[String]) -> bool {
        let Some(slot) = self.order.get(id).copied() else {
            return false;
        };
        for name in names {
            self.remove_vector(slot, name);
        }
        self.stamp(slot);
        self.versions[slot as usize] = version;
        self.dirty.insert(*id);
        true
    }

    /// Ids changed since the last call, emptied by the call (for checkpoints).
    pub fn take_dirty(&mut self) -> HashSet<PointId> {
        std::mem::take(&mut self.dirty)
    }

    /// Puts ids back into the dirty set (a checkpoint that failed).
    pub fn restore_dirty(&mut self, ids: HashSet<PointId>) {
        self.dirty.extend(ids);
    }

    pub fn dirty_count(&self) -> usize {
        self.dirty.len()
    }

    /// Sizes of the dense column `name` (for a multivector: of its rows).
    pub fn dense_stats(&self, name: &str) -> Option<DenseStats> {
        self.column(name).map(|c| DenseStats {
            dim: c.dim,
            vectors: c.count(),
            pending: c.pending.len(),
            has_index: c.index.is_some(),
            element_bytes: c.data.element_bytes(),
        })
    }

    /// Names of the dense columns (plain and multivector).
    pub fn dense_names(&self) -> Vec<String> {
        self.dense.keys().chain(self.multi.keys()).cloned().collect()
    }

    /// Attaches an (empty) index to the column `name`; every slot becomes pending.
    pub fn attach_index(&mut self, name: &str, index: Arc<dyn VectorIndex>) {
        if let Some(column) = self.column_mut(name) {
            column.indexed.fill(false);
            column.pending = (0..column.present.len() as u32).filter(|s| column.present[*s as usize]).collect();
            column.index = Some(index);
            (column.frozen, column.changed, column.stale) = (None, BTreeSet::new(), frozen::SlotBits::default());
        }
    }

    /// Up to `max` slots of `name` holding a vector from slot `from` on (with their
    /// generations and vectors), for an index rebuilt beside the live one; `None` without that
    /// column.
    pub fn rebuild_batch(&self, name: &str, from: u32, max: usize) -> Option<IndexItems> {
        Some(self.column(name)?.rebuild_items(from, max))
    }

    /// Puts `index`, rebuilt beside the live one from `covered` (slot, generation then), in the
    /// place of the column's index; what changed since stays pending for it.
    pub fn replace_index(&mut self, name: &str, index: Arc<dyn VectorIndex>, covered: &[(u32, u64)]) {
        if let Some(column) = self.column_mut(name) {
            column.replace_index(index, covered);
        }
    }

    /// Up to `max` pending slots of `name` with copies of their vectors.
    pub fn index_batch(&self, name: &str, max: usize) -> Option<IndexBatch> {
        let column = self.column(name)?;
        let index = column.index.clone()?;
        if column.pending.is_empty() {
            return None;
        }
        let items = column
            .pending
            .iter()
            .take(max)
            .map(|slot| {
                let vector = column.vector(*slot).map(|v| v.to_vec());
                (*slot, column.generation[*slot as usize], vector)
            })
            .collect();
        Some(IndexBatch { index, items })
    }

    /// The f32 elements of the column `name` (empty when it holds another type): what an index
    /// that `reads_column` is given while the caller holds the table.
    pub fn dense_elements(&self, name: &str) -> &[f32] {
        self.column(name).map_or(&[], |c| c.data.f32s())
    }

    /// Records that `done` (slot, generation, had a vector) went into `index`: slots whose
    /// vector did not change meanwhile leave `pending`.
    pub fn index_done(&mut self, name: &str, index: &Arc<dyn VectorIndex>, done: &[(u32, u64, bool)]) {
        let Some(column) = self.column_mut(name) else {
            return;
        };
        if !column.index.as_ref().is_some_and(|i| Arc::ptr_eq(i, index)) {
            return; // the index was replaced (the table was reinstalled)
        }
        column.index_changes += 1;
        for (slot, generation, had_vector) in done {
            let s = *slot as usize;
            if s < column.generation.len() && column.generation[s] == *generation {
                column.indexed[s] = *had_vector;
                column.pending.remove(slot);
            }
        }
    }

    /// The index of the dense column `name`, if it has one.
    pub fn dense_index(&self, name: &str) -> Option<DenseIndexView<'_>> {
        let column = self.column(name)?;
        Some(DenseIndexView {
            index: column.index.as_ref()?,
            column: column.data.f32s(),
            indexed: &column.indexed,
            pending: &column.pending,
            frozen: frozen::FrozenView::of(column),
        })
    }

    /// Makes the payload indexes those of `wanted` (new ones are built from the payloads).
    pub fn set_payload_indexes(&mut self, wanted: &BTreeMap<String, quiver_types::index_params::FieldSchema>) {
        // Encoded payloads decode only the keys of the indexes built.
        let keys = self.payload_index.keys_to_build(wanted);
        if keys.is_empty() {
            return self.payload_index.set_fields(wanted, std::iter::empty::<(u32, &Payload)>());
        }
        let (ids, payloads) = (&self.ids, &self.payloads);
        let live =
            (0..ids.len() as u32).filter(|s| ids[*s as usize].is_some()).map(|s| (s, payloads.get_keys(s, &keys)));
        self.payload_index.set_fields(wanted, live);
    }

    /// The payload indexes.
    pub fn payload_index(&self) -> &PayloadIndex {
        &self.payload_index
    }

    /// Dot products of `query` with every stored sparse vector `name` that shares a dimension
    /// with it, by slot, from the inverted index. The sums run in ascending dimension order, as
    /// `distance::sparse_dot` does, so scores are identical to an exact scan.
    pub fn sparse_scores(&self, name: &str, query: &SparseVector) -> HashMap<u32, f32> {
        let mut scores: HashMap<u32, f32> = HashMap::new();
        let Some(postings) = self.sparse_index.get(name) else {
            return scores;
        };
        let query = query.sorted();
        for (dim, q) in query.indices.iter().zip(&query.values) {
            if let Some(list) = postings.get(dim) {
                for (slot, v) in list {
                    *scores.entry(*slot).or_insert(0.0) += q * v;
                }
            }
        }
        scores
    }

    /// Number of stored sparse vectors `name` with a value in dimension `dim`.
    pub fn sparse_df(&self, name: &str, dim: u32) -> usize {
        self.sparse_index.get(name).and_then(|p| p.get(&dim)).map_or(0, HashMap::len)
    }

    /// Number of slots (live or free); slots are `0..slot_count()`.
    pub fn slot_count(&self) -> usize {
        self.ids.len()
    }

    /// The point in `slot`, if the slot is live.
    pub fn by_slot(&self, slot: u32) -> Option<PointRef<'_>> {
        self.ids.get(slot as usize)?.as_ref().map(|_| PointRef { table: self, slot })
    }

    /// The dense vector `name` in `slot` (for a multivector: row `slot`), if it holds one.
    pub fn dense_at(&self, name: &str, slot: u32) -> Option<VectorRef<'_>> {
        self.column(name)?.vector(slot)
    }

    /// The dense column `name` (for a multivector: its rows), looked up once for a loop that
    /// reads many of its vectors (`dense_at` finds the column by name on every call).
    pub fn dense_column(&self, name: &str) -> Option<&DenseColumn> {
        self.column(name)
    }

    /// The point slot owning row `row` of the multivector column `name`.
    pub fn row_owner(&self, name: &str, row: u32) -> Option<u32> {
        self.multi.get(name)?.owner(row)
    }

    /// Whether `name` is a multivector column.
    pub fn is_multi(&self, name: &str) -> bool {
        self.multi.contains_key(name)
    }

    /// `slot` changed: its stamp moves on, and the tenant graphs stop returning it.
    fn stamp(&mut self, slot: u32) {
        self.clock += 1;
        self.stamps[slot as usize] = self.clock;
        self.tenants.touch(slot);
    }

    fn allocate(&mut self, id: PointId) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.ids[slot as usize] = Some(id);
                slot
            }
            None => self.push_slot(Some(id)),
        };
        self.order.insert(id, slot);
        slot
    }

    /// Appends a slot holding `id` (or nothing) to every column.
    fn push_slot(&mut self, id: Option<PointId>) -> u32 {
        let slot = self.ids.len() as u32;
        self.ids.push(id);
        self.versions.push(0);
        self.stamps.push(0);
        self.payloads.push();
        for column in self.dense.values_mut() {
            column.push_slot();
        }
        for column in self.sparse.values_mut() {
            column.push(None);
        }
        for column in self.multi.values_mut() {
            column.push_slot();
        }
        slot
    }

    /// As [`Self::put_vector`], for a vector of a checkpoint's frame: a dense one is copied
    /// from its bytes straight into its column.
    fn put_frame_vector(&mut self, slot: u32, name: &str, vector: FrameVector<'_>) -> bool {
        let values = match vector {
            FrameVector::Dense(values) => values,
            FrameVector::Other(vector) => return self.put_vector(slot, name.to_string(), vector),
        };
        let Some(column) = self.dense.get_mut(name) else {
            return self.put_vector(slot, name.to_string(), Vector::Dense(values.to_vec()));
        };
        if !self.schema.as_ref().is_none_or(|schema| schema.accepts_dense(name, values.len())) {
            return false;
        }
        self.generation += 1;
        column.put_le(slot, values, self.generation);
        true
    }

    /// Stores `vector` as `name` in `slot` unless the schema does not take it (returns false).
    fn put_vector(&mut self, slot: u32, name: String, vector: Vector) -> bool {
        if !self.accepts(&name, &vector) {
            return false;
        }
        let slots = self.ids.len();
        match vector {
            Vector::Dense(values) => {
                self.generation += 1;
                // Validated before the WAL: a column of another kind or dimension cannot occur.
                let column = self.dense.entry(name).or_insert_with(|| {
                    DenseColumn::with_slots(values.len(), Datatype::Float32, &Placement::Memory, slots)
                });
                column.put(slot, &values, self.generation);
            }
            Vector::Sparse(sparse) => {
                let sorted = sparse.sorted();
                let postings = self.sparse_index.entry(name.clone()).or_default();
                for (dim, value) in sorted.indices.iter().zip(&sorted.values) {
                    postings.entry(*dim).or_default().insert(slot, *value);
                }
                let column = self.sparse.entry(name).or_insert_with(|| vec![None; slots]);
                column[slot as usize] = Some(sorted);
            }
            Vector::Multi(vectors) => {
                let dim = vectors.first().map_or(0, Vec::len);
                let column = self
                    .multi
                    .entry(name)
                    .or_insert_with(|| MultiColumn::with_slots(dim, Datatype::Float32, &Placement::Memory, slots));
                column.put(slot, &vectors, &mut self.generation);
            }
        }
        true
    }

    fn remove_vector(&mut self, slot: u32, name: &str) {
        if let Some(column) = self.dense.get_mut(name)
            && column.remove(slot, self.generation + 1)
        {
            self.generation += 1;
        }
        if let Some(column) = self.sparse.get_mut(name)
            && let Some(old) = column[slot as usize].take()
            && let Some(postings) = self.sparse_index.get_mut(name)
        {
            for dim in &old.indices {
                if let Some(list) = postings.get_mut(dim) {
                    list.remove(&slot);
                    if list.is_empty() {
                        postings.remove(dim);
                    }
                }
            }
        }
        if let Some(column) = self.multi.get_mut(name) {
            column.remove(slot, &mut self.generation);
        }
    }

    fn clear_vectors(&mut self, slot: u32) {
        let names: Vec<String> =
            self.dense.keys().chain(self.sparse.keys()).chain(self.multi.keys()).cloned().collect();
        for name in names {
            self.remove_vector(slot, &name);
        }
    }
}

impl<'a> PointRef<'a> {
    pub fn slot(&self) -> u32 {
        self.slot
    }

    pub fn id(&self) -> PointId {
        self.table.ids[self.slot as usize].unwrap_or(PointId::Num(0))
    }

    pub fn version(&self) -> u64 {
        self.table.versions[self.slot as usize]
    }

    /// The point's payload: borrowed from memory, or decoded from its mapped bytes with
    /// `on_disk_payload`.
    pub fn payload(&self) -> Cow<'a, Payload> {
        self.table.payloads.get(self.slot)
    }

    /// The payload's entries under the top-level `keys` (from memory: the whole payload).
    pub fn payload_keys(&self, keys: &BTreeSet<String>) -> Cow<'a, Payload> {
        self.table.payloads.get_keys(self.slot, keys)
    }

    /// The dense vector `name`, if the point has it.
    pub fn dense(&self, name: &str) -> Option<VectorRef<'a>> {
        self.table.dense.get(name)?.vector(self.slot)
    }

    /// The multivector `name`, if the point has one.
    pub fn multi(&self, name: &str) -> Option<MultiRef<'a>> {
        let column = self.table.multi.get(name)?;
        column.has(self.slot).then(|| column.vectors(self.slot))
    }

    pub fn sparse(&self, name: &str) -> Option<&'a SparseVector> {
        self.table.sparse.get(name)?.get(self.slot as usize)?.as_ref()
    }

    pub fn has_vector(&self, name: &str) -> bool {
        self.dense(name).is_some() || self.sparse(name).is_some() || self.multi(name).is_some()
    }

    /// All vectors of the point by name.
    pub fn vectors(&self) -> NamedVectors {
        let mut out = NamedVectors::new();
        for name in self.table.dense.keys() {
            if let Some(v) = self.dense(name) {
                out.insert(name.clone(), Vector::Dense(v.to_vec()));
            }
        }
        for name in self.table.sparse.keys() {
            if let Some(v) = self.sparse(name) {
                out.insert(name.clone(), Vector::Sparse(v.clone()));
            }
        }
        for name in self.table.multi.keys() {
            if let Some(v) = self.multi(name) {
                out.insert(name.clone(), Vector::Multi(v.to_vecs()));
            }
        }
        out
    }

    /// An owned copy of the point.
    pub fn to_stored(&self) -> StoredPoint {
        StoredPoint {
            id: self.id(),
            version: self.version(),
            vectors: self.vectors(),
            payload: self.payload().into_owned(),
        }
    }
}

impl crate::filter::PointView for PointRef<'_> {
    fn id(&self) -> PointId {
        PointRef::id(self)
    }

    fn payload(&self) -> Cow<'_, Payload> {
        PointRef::payload(self)
    }

    fn payload_keys(&self, keys: &BTreeSet<String>) -> Cow<'_, Payload> {
        PointRef::payload_keys(self, keys)
    }

    fn has_vector(&self, name: &str) -> bool {
        PointRef::has_vector(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(id: u64, v: Vec<f32>) -> StoredPoint {
        StoredPoint {
            id: PointId::Num(id),
            version: id,
            vectors: NamedVectors::from([(String::new(), Vector::Dense(v))]),
            payload: Payload::new(),
        }
    }

    #[test]
    fn upsert_delete_reuses_slots_and_keeps_order() {
        let spec = VectorSpec::plain(2, quiver_types::config::Distance::Dot);
        let mut t = PointTable::new(&BTreeMap::from([(String::new(), spec)]));
        t.upsert(point(5, vec![1.0, 2.0]));
        t.upsert(point(1, vec![3.0, 4.0]));
        assert!(t.delete(&PointId::Num(5)));
        t.upsert(point(9, vec![5.0, 6.0]));
        let ids: Vec<_> = t.iter_from(None).map(|p| p.id()).collect();
        assert_eq!(ids, vec![PointId::Num(1), PointId::Num(9)]);
        assert_eq!(t.get(&PointId::Num(9)).unwrap().dense("").unwrap().to_vec(), vec![5.0, 6.0]);
        assert_eq!(t.get(&PointId::Num(9)).unwrap().slot(), 0);
    }

    #[test]
    fn vectors_update_and_delete() {
        let mut t = PointTable::new(&BTreeMap::new());
        t.upsert(point(1, vec![1.0, 2.0, 3.0]));
        let sparse = SparseVector { indices: vec![3, 1], values: vec![0.3, 0.1] };
        t.update_vectors(&PointId::Num(1), 7, NamedVectors::from([("s".into(), Vector::Sparse(sparse))]));
        let p = t.get(&PointId::Num(1)).unwrap();
        assert_eq!(p.sparse("s").unwrap().indices, vec![1, 3]);
        assert_eq!(p.version(), 7);
        t.delete_vectors(&PointId::Num(1), 8, &[String::new()]);
        assert!(t.get(&PointId::Num(1)).unwrap().dense("").is_none());
    }
}
