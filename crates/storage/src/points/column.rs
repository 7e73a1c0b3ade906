//! The vector columns of a point table: a dense column holds one `dim`-vector per slot in one
//! flat typed array; a multivector column holds every vector of every point as a *row* of a
//! dense column of its own, with each point's rows listed (design record 013), so the rows get
//! an HNSW index through the same machinery as plain vectors.

use super::frozen::SlotBits;
use crate::frame_ref::LeF32s;
use crate::graph::FrozenGraph;
use crate::index::VectorIndex;
use crate::mapped::Placement;
use crate::quantized::{QuantizationKind, QuantizedVectors};
use crate::vectors::{Elements, VectorRef};
use quiver_types::config::Datatype;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Dense vectors of one name: `dim` elements per slot, and the state of their ANN index.
///
/// Every change of a slot's vector bumps its generation, clears its `indexed` bit and puts it in
/// `pending`; the background indexer adds pending slots to the index (under the table's read
/// lock when the index reads `data`, design record 023; from copies without the lock when it
/// keeps its own), and marks a slot indexed only if its generation did not move meanwhile
/// (`index_done`). So `indexed[slot]` means "the index holds this slot's current vector".
/// `frozen` is a search copy of the index's graph (`points/frozen.rs`); `changed` holds the
/// slots whose vector changed since it was taken.
#[derive(Default)]
pub struct DenseColumn {
    pub(super) dim: usize,
    pub(super) data: Elements,
    pub(super) present: Vec<bool>,
    pub(super) generation: Vec<u64>,
    pub(super) indexed: Vec<bool>,
    pub(super) pending: BTreeSet<u32>,
    pub(super) index: Option<Arc<dyn VectorIndex>>,
    pub(super) frozen: Option<Arc<FrozenGraph>>,
    pub(super) changed: BTreeSet<u32>,
    pub(super) stale: SlotBits,
    /// Counts the batches the index took (a saved graph is current while it does not move).
    pub(super) index_changes: u64,
    /// The quantization asked for, and the quantized copy once built (`points/quantize.rs`).
    pub(super) quantization: Option<QuantizationKind>,
    pub(super) quantized: Option<QuantizedVectors>,
}

impl std::fmt::Debug for DenseColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseColumn")
            .field("dim", &self.dim)
            .field("slots", &self.present.len())
            .field("pending", &self.pending.len())
            .field("indexed", &self.index.is_some())
            .finish()
    }
}

impl DenseColumn {
    pub(super) fn with_slots(dim: usize, datatype: Datatype, placement: &Placement, slots: usize) -> DenseColumn {
        let mut data = Elements::placed(datatype, placement);
        data.resize(dim * slots);
        DenseColumn {
            dim,
            data,
            present: vec![false; slots],
            generation: vec![0; slots],
            indexed: vec![false; slots],
            ..DenseColumn::default()
        }
    }

    pub(super) fn push_slot(&mut self) {
        self.data.resize(self.data.len() + self.dim);
        self.present.push(false);
        self.generation.push(0);
        self.indexed.push(false);
    }

    pub(super) fn touch(&mut self, slot: u32, generation: u64) {
        self.generation[slot as usize] = generation;
        self.indexed[slot as usize] = false;
        self.pending.insert(slot);
        if self.frozen.is_some() {
            self.changed.insert(slot);
            self.stale.set(slot);
        }
    }

    /// The vector in `slot`, if it holds one.
    pub fn vector(&self, slot: u32) -> Option<VectorRef<'_>> {
        let s = slot as usize;
        if !*self.present.get(s)? {
            return None;
        }
        self.data.get(s * self.dim, self.dim)
    }

    /// Stores `values` in `slot` (a length other than `dim` is ignored: validated before).
    pub(super) fn put(&mut self, slot: u32, values: &[f32], generation: u64) {
        if values.len() != self.dim {
            return;
        }
        self.data.write(slot as usize * self.dim, values);
        self.placed(slot, generation);
    }

    /// As [`Self::put`], from a frame's little-endian bytes.
    pub(super) fn put_le(&mut self, slot: u32, values: LeF32s<'_>, generation: u64) {
        if values.len() != self.dim {
            return;
        }
        self.data.write_le(slot as usize * self.dim, values);
        self.placed(slot, generation);
    }

    /// Room for `additional` more slots.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.data.reserve(additional.saturating_mul(self.dim));
        self.present.reserve(additional);
        self.generation.reserve(additional);
        self.indexed.reserve(additional);
    }

    /// `slot` now holds a vector just written.
    fn placed(&mut self, slot: u32, generation: u64) {
        self.present[slot as usize] = true;
        self.touch(slot, generation);
        if let Some(quantized) = self.quantized.as_mut()
            && let Some(vector) = self.data.get(slot as usize * self.dim, self.dim)
        {
            quantized.put(slot, vector);
        }
    }

    /// Removes the vector of `slot`; true if the index must hear of it (`generation` used).
    pub(super) fn remove(&mut self, slot: u32, generation: u64) -> bool {
        let s = slot as usize;
        self.data.clear(s * self.dim, self.dim);
        let touched = self.present[s] || self.indexed[s];
        if touched {
            self.touch(slot, generation);
        }
        self.present[s] = false;
        touched
    }

    /// Number of slots holding a vector.
    pub(super) fn count(&self) -> usize {
        self.present.iter().filter(|p| **p).count()
    }

    /// Up to `max` slots holding a vector from slot `from` on, with their generations and
    /// vectors: the next part of an index rebuilt beside the live one.
    pub(super) fn rebuild_items(&self, from: u32, max: usize) -> super::IndexItems {
        (from as usize..self.present.len())
            .filter(|s| self.present[*s])
            .take(max)
            .map(|s| (s as u32, self.generation[s], self.vector(s as u32).map(|v| v.to_vec())))
            .collect()
    }

    /// Puts `index`, built beside the live one, in its place. `covered`: the slots it was given,
    /// each with its generation then. Those changed since (or removed), and slots that got a
    /// vector since, are pending for it; the frozen copy of the old graph is dropped (the
    /// indexer takes one of the new graph).
    pub(super) fn replace_index(&mut self, index: Arc<dyn VectorIndex>, covered: &[(u32, u64)]) {
        let slots = self.present.len();
        let (mut indexed, mut given) = (vec![false; slots], vec![false; slots]);
        for (slot, generation) in covered {
            let s = *slot as usize;
            if s < slots {
                given[s] = true;
                indexed[s] = self.generation[s] == *generation;
            }
        }
        self.pending =
            (0..slots).filter(|s| !indexed[*s] && (self.present[*s] || given[*s])).map(|s| s as u32).collect();
        self.indexed = indexed;
        self.index = Some(index);
        self.index_changes += 1;
        (self.frozen, self.changed, self.stale) = (None, BTreeSet::new(), SlotBits::default());
    }
}

/// A row not owned by any point.
const FREE_ROW: u32 = u32::MAX;

/// The multivectors of one name: their vectors as rows of `rows`, the rows of each point slot,
/// the owner of each row, and the free rows.
#[derive(Debug, Default)]
pub(super) struct MultiColumn {
    pub(super) rows: DenseColumn,
    of_slot: Vec<Vec<u32>>,
    owner: Vec<u32>,
    free: Vec<u32>,
}

impl MultiColumn {
    pub(super) fn with_slots(dim: usize, datatype: Datatype, placement: &Placement, slots: usize) -> MultiColumn {
        MultiColumn {
            rows: DenseColumn::with_slots(dim, datatype, placement, 0),
            of_slot: vec![Vec::new(); slots],
            ..MultiColumn::default()
        }
    }

    pub(super) fn push_slot(&mut self) {
        self.of_slot.push(Vec::new());
    }

    /// Stores `vectors` as the multivector of `slot` (after `remove`); `generation` is the
    /// table's change counter.
    pub(super) fn put(&mut self, slot: u32, vectors: &[Vec<f32>], generation: &mut u64) {
        let mut rows = Vec::with_capacity(vectors.len());
        for vector in vectors {
            let row = match self.free.pop() {
                Some(row) => row,
                None => {
                    self.rows.push_slot();
                    self.owner.push(FREE_ROW);
                    (self.owner.len() - 1) as u32
                }
            };
            *generation += 1;
            self.rows.put(row, vector, *generation);
            self.owner[row as usize] = slot;
            rows.push(row);
        }
        self.of_slot[slot as usize] = rows;
    }

    /// Removes the multivector of `slot`, freeing its rows.
    pub(super) fn remove(&mut self, slot: u32, generation: &mut u64) {
        for row in std::mem::take(&mut self.of_slot[slot as usize]) {
            *generation += 1;
            self.rows.remove(row, *generation);
            self.owner[row as usize] = FREE_ROW;
            self.free.push(row);
        }
    }

    pub(super) fn has(&self, slot: u32) -> bool {
        self.of_slot.get(slot as usize).is_some_and(|rows| !rows.is_empty())
    }

    /// The vectors of `slot`'s multivector (none if it has none).
    pub(super) fn vectors(&self, slot: u32) -> MultiRef<'_> {
        let rows = self.of_slot.get(slot as usize).map_or(&[][..], Vec::as_slice);
        MultiRef { column: &self.rows, rows }
    }

    /// The point slot owning `row`, if the row is in use.
    pub(super) fn owner(&self, row: u32) -> Option<u32> {
        self.owner.get(row as usize).copied().filter(|o| *o != FREE_ROW)
    }
}

/// A borrowed multivector: its rows in its column.
#[derive(Clone, Copy)]
pub struct MultiRef<'a> {
    column: &'a DenseColumn,
    rows: &'a [u32],
}

impl<'a> MultiRef<'a> {
    /// Its vectors, in the order they were given.
    pub fn iter(&self) -> impl Iterator<Item = VectorRef<'a>> + Clone + 'a {
        let column = self.column;
        self.rows.iter().filter_map(move |row| column.vector(*row))
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The vectors as f32 lists.
    pub fn to_vecs(&self) -> Vec<Vec<f32>> {
        self.iter().map(|v| v.to_vec()).collect()
    }
}
