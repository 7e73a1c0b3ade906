//! A point's content fed to a hasher as it is stored (design record 052): the id, the version,
//! the payload's JSON text streamed into the hasher, and each vector's elements by the saved
//! graphs' vector hash over their bit patterns, without copying the vectors out of their columns.
//! Replicas that applied the same records feed the same values.

use super::PointRef;
use crate::vectors::VectorRef;
use std::hash::{Hash, Hasher};

impl PointRef<'_> {
    /// Feeds this point's id, version, payload and vectors to `state`. Vectors go by kind
    /// (dense, sparse, multi) and, within a kind, in name order; every variable-length part is
    /// preceded by its length, so no two different points feed the same bytes.
    pub fn hash_content<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
        state.write_u64(self.version());
        let mut payload = HashWriter { state, written: 0 };
        // Writing JSON into a hasher cannot fail (the writer never refuses bytes).
        let _ = serde_json::to_writer(&mut payload, &*self.payload());
        let written = payload.written;
        state.write_u64(written);
        for (name, column) in &self.table.dense {
            if let Some(vector) = column.vector(self.slot) {
                hash_name(state, 1, name);
                hash_elements(state, vector);
            }
        }
        for (name, column) in &self.table.sparse {
            if let Some(vector) = column.get(self.slot as usize).and_then(Option::as_ref) {
                hash_name(state, 2, name);
                state.write_usize(vector.indices.len());
                for (index, value) in vector.indices.iter().zip(&vector.values) {
                    state.write_u32(*index);
                    state.write_u32(value.to_bits());
                }
            }
        }
        for name in self.table.multi.keys() {
            if let Some(multi) = self.multi(name) {
                hash_name(state, 3, name);
                state.write_usize(multi.iter().count());
                multi.iter().for_each(|vector| hash_elements(state, vector));
            }
        }
    }
}

fn hash_name<H: Hasher>(state: &mut H, kind: u8, name: &str) {
    state.write_u8(kind);
    state.write_usize(name.len());
    state.write(name.as_bytes());
}

/// The elements' count and their hash (`graph_file::content_hash`: any one element's change
/// changes it).
fn hash_elements<H: Hasher>(state: &mut H, vector: VectorRef<'_>) {
    state.write_usize(vector.len());
    state.write_u64(crate::graph_file::content_hash(vector));
}

/// Streams serialized bytes into a hasher.
struct HashWriter<'a, H: Hasher> {
    state: &'a mut H,
    written: u64,
}

impl<H: Hasher> std::io::Write for HashWriter<'_, H> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.state.write(bytes);
        self.written += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
