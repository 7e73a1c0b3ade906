//! Quantized copies of a table's dense columns (`crate::quantized`, design record 020): the
//! quantization each column should have, and the copy built in the background (by the shard's
//! indexer thread, under the read lock so searches go on) then installed with the vectors that
//! changed meanwhile encoded again. Until it is installed, searches use the original vectors.

use super::PointTable;
use crate::quantized::{QuantizationKind, QuantizedVectors};
use quiver_types::config::Distance;

/// Values sampled from a column to set an int8 range.
const SAMPLE_VALUES: usize = 1 << 20;

/// A quantized copy built from a column, and the table's change counter when it was built.
pub struct QuantizedBuild {
    store: QuantizedVectors,
    generation: u64,
}

impl PointTable {
    /// Sets the quantization the dense column `name` should have; a copy of another kind is
    /// dropped (searches use the originals until the new one is built).
    pub fn set_quantization(&mut self, name: &str, kind: Option<QuantizationKind>) {
        if let Some(column) = self.dense.get_mut(name) {
            if column.quantized.as_ref().map(|q| q.kind()) != kind {
                column.quantized = None;
            }
            column.quantization = kind;
        }
    }

    /// Whether the column `name` waits for a quantized copy: it has an HNSW index (as Qdrant
    /// quantizes indexed segments: the range is fitted on the data then, not on the first few
    /// vectors) and no copy, or one fitted when it held less than half its vectors.
    pub fn quantization_due(&self, name: &str) -> bool {
        let Some(column) = self.dense.get(name) else { return false };
        if column.quantization.is_none() || column.index.is_none() {
            return false;
        }
        column.quantized.as_ref().is_none_or(|q| column.count() >= 2 * q.fitted_on().max(1))
    }

    /// Builds the quantized copy `name` should have (call under the read lock).
    pub fn build_quantized(&self, name: &str, distance: Distance) -> Option<QuantizedBuild> {
        let column = self.dense.get(name)?;
        let kind = column.quantization?;
        let slots: Vec<u32> = (0..column.present.len() as u32).filter(|s| column.present[*s as usize]).collect();
        let step = (slots.len() * column.dim / SAMPLE_VALUES).max(1);
        let mut sample: Vec<f32> = Vec::with_capacity(SAMPLE_VALUES.min(slots.len() * column.dim));
        for slot in slots.iter().step_by(step) {
            if let Some(v) = column.vector(*slot) {
                sample.extend(v.to_vec());
            }
        }
        let mut store = QuantizedVectors::new(kind, distance, column.dim, &sample, slots.len());
        store.reserve_slots(column.present.len());
        for slot in slots {
            if let Some(v) = column.vector(slot) {
                store.put(slot, v);
            }
        }
        Some(QuantizedBuild { store, generation: self.generation })
    }

    /// Installs a built copy if the column still wants that kind (replacing an older one),
    /// encoding again the vectors that changed since it was built.
    pub fn install_quantized(&mut self, name: &str, build: QuantizedBuild) {
        let Some(column) = self.dense.get_mut(name) else { return };
        if column.quantization != Some(build.store.kind()) {
            return;
        }
        let mut store = build.store;
        for s in 0..column.present.len() {
            if column.generation[s] > build.generation
                && let Some(v) = column.vector(s as u32)
            {
                store.put(s as u32, v);
            }
        }
        column.quantized = Some(store);
    }

    /// Bytes held by the quantized copy of `name`.
    pub fn quantized_bytes(&self, name: &str) -> usize {
        self.dense.get(name).and_then(|c| c.quantized.as_ref()).map_or(0, QuantizedVectors::memory_bytes)
    }
}
