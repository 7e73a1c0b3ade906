//! The frozen search copy of a dense column's HNSW graph (`crate::graph`, design record 005):
//! when the indexer may take one, how it is installed, and when a search may use it.
//!
//! Invariant: a slot whose current vector is not the one the copy was taken with (changed,
//! deleted, or not in the copy) is in the column's `changed` set and marked in its `stale`
//! bitmap (`touch` adds every change while a copy exists; `install_frozen` adds the changes made
//! while the copy was being taken). Searches of the copy return only slots that are not stale
//! (a bit test on a bitmap small enough to stay in cache), and score `changed` exactly.

use super::{DenseColumn, PointTable};
use crate::graph::FrozenGraph;
use crate::index::VectorIndex;
use crate::quantized::QuantizedVectors;
use crate::vectors::{Elements, VectorRef};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most slots changed since the copy for searches to use it (they are scored exactly; past
/// this, searches go back to the live index until a new copy is taken).
pub const MAX_CHANGED: usize = 1024;

/// A slot's generation in a freeze plan when it is not in the copy.
const ABSENT: u64 = u64::MAX;

/// One bit per slot.
#[derive(Debug, Default, Clone)]
pub(super) struct SlotBits(Vec<u64>);

impl SlotBits {
    pub(super) fn set(&mut self, slot: u32) {
        let (word, bit) = (slot as usize / 64, slot % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    pub(super) fn get(&self, slot: u32) -> bool {
        self.0.get(slot as usize / 64).is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }
}

/// What a search reads of a column's frozen copy.
pub struct FrozenView<'a> {
    pub graph: &'a FrozenGraph,
    /// The column's vectors, `dim` per slot (the copy scores on them).
    vectors: &'a Elements,
    pub dim: usize,
    stale: &'a SlotBits,
    changed: &'a BTreeSet<u32>,
    /// The column's quantized copy, once built (searches may score candidates on it).
    pub quantized: Option<&'a QuantizedVectors>,
}

impl<'a> FrozenView<'a> {
    pub(super) fn of(column: &'a DenseColumn) -> Option<FrozenView<'a>> {
        let graph = column.frozen.as_deref()?;
        (column.changed.len() <= MAX_CHANGED).then_some(FrozenView {
            graph,
            vectors: &column.data,
            dim: column.dim,
            stale: &column.stale,
            changed: &column.changed,
            quantized: column.quantized.as_ref(),
        })
    }

    /// Whether the copy holds `slot`'s current vector (and so the slot holds a live point).
    pub fn is_current(&self, slot: u32) -> bool {
        (slot as usize) < self.graph.slots() && !self.stale.get(slot)
    }

    /// The vector of `slot` in the column.
    pub fn vector(&self, slot: u32) -> Option<VectorRef<'a>> {
        self.vectors.get(slot as usize * self.dim, self.dim)
    }

    /// Slots whose vector changed since the copy was taken.
    pub fn changed(&self) -> impl Iterator<Item = u32> + '_ {
        self.changed.iter().copied()
    }

    /// How many slots changed since the copy was taken.
    pub fn changed_len(&self) -> usize {
        self.changed.len()
    }
}

/// What the indexer needs to take a copy: the index, the slots it holds, their generations.
pub struct FreezePlan {
    pub index: Arc<dyn VectorIndex>,
    pub keys: Vec<u32>,
    pub generation: Vec<u64>,
}

impl PointTable {
    /// A plan for a new copy of `name`'s graph when one is due: the index has caught up
    /// (nothing pending), and there is no copy yet or slots changed since the last one.
    pub fn freeze_plan(&self, name: &str) -> Option<FreezePlan> {
        let column = self.column(name)?;
        if !column.pending.is_empty() || (column.frozen.is_some() && column.changed.is_empty()) {
            return None;
        }
        self.loaded_plan(name)
    }

    /// The plan of a copy of `name`'s graph as its index holds it now, the slots still pending
    /// for it left out (stale in the copy): for the copy saved with the file the index was just
    /// loaded from (design record 026).
    pub fn loaded_plan(&self, name: &str) -> Option<FreezePlan> {
        let column = self.column(name)?;
        let index = column.index.clone()?;
        let indexed = |s: &usize| column.indexed[*s];
        let keys = (0..column.indexed.len()).filter(indexed).map(|s| s as u32).collect();
        let generation =
            (0..column.indexed.len()).map(|s| if column.indexed[s] { column.generation[s] } else { ABSENT }).collect();
        Some(FreezePlan { index, keys, generation })
    }

    /// Installs `graph`, taken per `plan`, unless the column's index was replaced since. Slots
    /// not in the copy or whose vector changed while it was taken are stale, and the live ones
    /// among them go to `changed`.
    pub fn install_frozen(&mut self, name: &str, plan: &FreezePlan, graph: FrozenGraph) {
        let Some(column) = self.column_mut(name) else { return };
        if !column.index.as_ref().is_some_and(|i| Arc::ptr_eq(i, &plan.index)) {
            return;
        }
        let (mut stale, mut changed) = (SlotBits::default(), BTreeSet::new());
        for s in 0..column.generation.len() {
            let taken = plan.generation.get(s).copied().unwrap_or(ABSENT);
            if taken == ABSENT || taken != column.generation[s] {
                stale.set(s as u32);
                if column.present[s] {
                    changed.insert(s as u32);
                }
            }
        }
        (column.stale, column.changed, column.frozen) = (stale, changed, Some(Arc::new(graph)));
    }

    /// Whether the column `name` has a frozen copy holding every vector it has and nothing is
    /// pending for its index: searches run on the copy, and the index's own graph is needed
    /// again only for the next change (design record 041).
    pub fn frozen_current(&self, name: &str) -> bool {
        self.column(name).is_some_and(|c| c.frozen.is_some() && c.changed.is_empty() && c.pending.is_empty())
    }

    /// The frozen copy of `name`'s graph and the index it was taken from, when the copy is
    /// current (`frozen_current`): it is then the graph the index holds.
    pub fn current_frozen(&self, name: &str) -> Option<(Arc<FrozenGraph>, Arc<dyn VectorIndex>)> {
        let column = self.column(name).filter(|_| self.frozen_current(name))?;
        Some((column.frozen.clone()?, column.index.clone()?))
    }

    /// Bytes held by the frozen copy of `name`'s graph.
    pub fn frozen_bytes(&self, name: &str) -> usize {
        self.column(name).and_then(|c| c.frozen.as_ref()).map_or(0, |g| g.memory_bytes())
    }
}
