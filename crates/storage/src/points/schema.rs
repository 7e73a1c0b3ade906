//! The vector columns a shard's table holds, fixed by its collection's configuration
//! (design record 018). A table with a schema keeps exactly the columns it names: vectors of
//! other names, or of another shape, are skipped wherever they come from (a write, WAL replay,
//! a checkpoint written before a vector name was dropped), so records that mention a dropped
//! name always apply. The schema also says which columns keep their elements in a mapped file
//! (`on_disk`, design record 025), and whether payloads are encoded in one (`on_disk_payload`,
//! design record 037).

use super::PointTable;
use super::column::{DenseColumn, MultiColumn};
use crate::mapped::Placement;
use crate::vectors::VectorSpec;
use quiver_types::PointId;
use quiver_types::point::Vector;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

/// The vector names (and dense shapes) a table holds, and where their elements live.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorSchema {
    pub dense: BTreeMap<String, VectorSpec>,
    pub sparse: BTreeSet<String>,
    /// Dense vectors (plain or multivector) whose elements are kept in a memory-mapped scratch
    /// file in `mapped_dir` (`on_disk: true`); in memory when there is no `mapped_dir`.
    pub on_disk: BTreeSet<String>,
    pub mapped_dir: Option<PathBuf>,
    /// Payloads encoded in a mapped scratch file in `mapped_dir` (`on_disk_payload: true`).
    pub on_disk_payload: bool,
}

impl VectorSchema {
    /// Where the elements of the dense vector `name` live.
    pub fn placement(&self, name: &str) -> Placement {
        match &self.mapped_dir {
            Some(dir) if self.on_disk.contains(name) => Placement::Mapped(dir.clone()),
            Some(_) | None => Placement::Memory,
        }
    }

    /// Where the payloads live.
    pub fn payload_placement(&self) -> Placement {
        match &self.mapped_dir {
            Some(dir) if self.on_disk_payload => Placement::Mapped(dir.clone()),
            Some(_) | None => Placement::Memory,
        }
    }

    /// Whether a dense vector of `dim` values named `name` has a column.
    pub fn accepts_dense(&self, name: &str, dim: usize) -> bool {
        self.dense.get(name).is_some_and(|spec| !spec.multivector && spec.dim == dim)
    }

    /// Whether `vector` fits the column `name`.
    pub fn accepts(&self, name: &str, vector: &Vector) -> bool {
        match vector {
            Vector::Dense(values) => self.accepts_dense(name, values.len()),
            Vector::Multi(rows) => self
                .dense
                .get(name)
                .is_some_and(|spec| spec.multivector && rows.iter().all(|row| row.len() == spec.dim)),
            Vector::Sparse(_) => self.sparse.contains(name),
        }
    }
}

impl PointTable {
    /// An empty table holding exactly the columns of `schema`.
    pub fn with_schema(schema: VectorSchema) -> Self {
        let mut table = PointTable::default();
        table.add_columns(&schema);
        table.payloads.place(&schema.payload_placement());
        table.schema = Some(schema);
        table
    }

    /// The columns this table is fixed to (`None`: columns appear as vectors arrive).
    pub fn schema(&self) -> Option<&VectorSchema> {
        self.schema.as_ref()
    }

    /// Changes the columns to those of `schema`: new names get empty columns, dropped names (or
    /// names whose spec changed) lose theirs with their indexes. Returns the points that lost a
    /// vector (their stored form changed; the caller checkpoints them).
    pub fn set_schema(&mut self, schema: VectorSchema) -> HashSet<PointId> {
        let old = self.schema.take().unwrap_or_default();
        self.tenants.reset();
        let mut touched = HashSet::new();
        let dense_gone: Vec<String> = self
            .dense
            .keys()
            .chain(self.multi.keys())
            .filter(|name| schema.dense.get(*name).is_none_or(|spec| old.dense.get(*name) != Some(spec)))
            .cloned()
            .collect();
        for name in dense_gone {
            if let Some(column) = self.dense.remove(&name) {
                touched.extend(self.owners(column.present.iter().copied()));
            }
            if let Some(column) = self.multi.remove(&name) {
                let slots: Vec<bool> = (0..self.ids.len() as u32).map(|s| column.has(s)).collect();
                touched.extend(self.owners(slots.into_iter()));
            }
        }
        let sparse_gone: Vec<String> = self.sparse.keys().filter(|n| !schema.sparse.contains(*n)).cloned().collect();
        for name in sparse_gone {
            self.sparse_index.remove(&name);
            if let Some(column) = self.sparse.remove(&name) {
                touched.extend(self.owners(column.iter().map(Option::is_some)));
            }
        }
        for name in self.dense_names() {
            if let Some(column) = self.column_mut(&name) {
                column.data.place(&schema.placement(&name));
            }
        }
        self.add_columns(&schema);
        self.payloads.place(&schema.payload_placement());
        self.dirty.extend(touched.iter().copied());
        self.schema = Some(schema);
        touched
    }

    /// Adds an empty column for each dense vector of `schema` the table lacks, placed as the
    /// schema says.
    pub(super) fn add_columns(&mut self, schema: &VectorSchema) {
        let slots = self.ids.len();
        for (name, spec) in &schema.dense {
            if self.dense.contains_key(name) || self.multi.contains_key(name) {
                continue;
            }
            let placement = schema.placement(name);
            match spec.multivector {
                false => {
                    let column = DenseColumn::with_slots(spec.dim, spec.datatype, &placement, slots);
                    self.dense.insert(name.clone(), column);
                }
                true => {
                    let column = MultiColumn::with_slots(spec.dim, spec.datatype, &placement, slots);
                    self.multi.insert(name.clone(), column);
                }
            }
        }
    }

    /// Where the elements of the dense vector `name` live (`None`: no such column).
    pub fn placement(&self, name: &str) -> Option<Placement> {
        self.column(name).map(|column| column.data.placement())
    }

    /// Where the payloads live (a mapped log with `on_disk_payload`).
    pub fn payload_placement(&self) -> Placement {
        self.payloads.placement()
    }

    /// The sizes of the encoded payload log (`None`: payloads in memory).
    pub fn payload_log(&self) -> Option<super::PayloadLog> {
        self.payloads.log()
    }

    /// Ids of the live slots flagged in `present` (slot order).
    fn owners(&self, present: impl Iterator<Item = bool>) -> Vec<PointId> {
        present.zip(&self.ids).filter_map(|(has, id)| if has { *id } else { None }).collect()
    }

    /// Whether the table takes `vector` as its vector `name`.
    pub(super) fn accepts(&self, name: &str, vector: &Vector) -> bool {
        self.schema.as_ref().is_none_or(|schema| schema.accepts(name, vector))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::StoredPoint;
    use quiver_types::config::Distance;
    use quiver_types::point::{NamedVectors, Payload};
    use std::collections::BTreeMap;

    fn schema(names: &[(&str, usize)]) -> VectorSchema {
        let dense = names.iter().map(|(n, d)| (n.to_string(), VectorSpec::plain(*d, Distance::Dot))).collect();
        VectorSchema { dense, sparse: BTreeSet::from(["s".to_string()]), ..VectorSchema::default() }
    }

    fn point(id: u64, vectors: &[(&str, Vector)]) -> StoredPoint {
        StoredPoint {
            id: PointId::Num(id),
            version: id,
            vectors: vectors.iter().map(|(n, v)| (n.to_string(), v.clone())).collect::<NamedVectors>(),
            payload: Payload::new(),
        }
    }

    #[test]
    fn vectors_of_unknown_names_or_shapes_are_skipped() {
        let mut table = PointTable::with_schema(schema(&[("a", 2)]));
        let kept = table.upsert(point(
            1,
            &[("a", Vector::Dense(vec![1.0, 2.0])), ("gone", Vector::Dense(vec![1.0])), ("a2", Vector::Dense(vec![]))],
        ));
        assert!(!kept);
        let p = table.get(&PointId::Num(1)).unwrap();
        assert_eq!(p.vectors().keys().collect::<Vec<_>>(), vec!["a"]);
        assert!(!table.upsert(point(2, &[("a", Vector::Dense(vec![1.0, 2.0, 3.0]))])));
        assert!(table.get(&PointId::Num(2)).unwrap().vectors().is_empty());
    }

    #[test]
    fn adding_and_dropping_columns() {
        let mut table = PointTable::with_schema(schema(&[("a", 2)]));
        let sparse = Vector::Sparse(quiver_types::SparseVector { indices: vec![1], values: vec![0.5] });
        table.upsert(point(1, &[("a", Vector::Dense(vec![1.0, 2.0])), ("s", sparse)]));
        table.upsert(point(2, &[]));
        table.take_dirty();
        // A new name: an empty column, no point touched; existing points have no such vector.
        assert!(table.set_schema(schema(&[("a", 2), ("b", 3)])).is_empty());
        assert!(table.get(&PointId::Num(1)).unwrap().dense("b").is_none());
        assert!(table.upsert(point(2, &[("b", Vector::Dense(vec![1.0, 1.0, 1.0]))])));
        assert_eq!(table.dense_stats("b").unwrap().vectors, 1);
        table.take_dirty();
        // Dropping `a` and the sparse vector: the points that held them are touched and dirty.
        let mut next = schema(&[("b", 3)]);
        next.sparse.clear();
        let touched = table.set_schema(next);
        assert_eq!(touched, HashSet::from([PointId::Num(1)]));
        assert_eq!(table.dirty_count(), 1);
        assert!(table.get(&PointId::Num(1)).unwrap().vectors().is_empty());
        assert!(table.dense_stats("a").is_none());
        assert!(
            table.sparse_scores("s", &quiver_types::SparseVector { indices: vec![1], values: vec![1.0] }).is_empty()
        );
        // Re-created with another size: an empty column of the new size.
        assert_eq!(table.set_schema(schema(&[("b", 2)])), HashSet::from([PointId::Num(2)]));
        assert_eq!(
            table.dense_stats("b").unwrap(),
            crate::points::DenseStats { dim: 2, vectors: 0, pending: 0, has_index: false, element_bytes: 4 }
        );
    }

    /// A table with a plain f32, a float16 and a multivector column, each mapped or in memory.
    fn typed_table(mapped_dir: Option<&std::path::Path>) -> PointTable {
        use quiver_types::config::Datatype;
        let half = VectorSpec { datatype: Datatype::Float16, ..VectorSpec::plain(3, Distance::Dot) };
        let multi = VectorSpec { multivector: true, ..VectorSpec::plain(2, Distance::Dot) };
        let dense = BTreeMap::from([
            ("a".into(), VectorSpec::plain(64, Distance::Dot)),
            ("h".into(), half),
            ("m".into(), multi),
        ]);
        let on_disk = dense.keys().cloned().collect();
        let mapped_dir = mapped_dir.map(|d| d.to_path_buf());
        PointTable::with_schema(VectorSchema {
            dense,
            sparse: BTreeSet::new(),
            on_disk,
            mapped_dir,
            on_disk_payload: false,
        })
    }

    fn typed_point(id: u64, round: u64) -> StoredPoint {
        let x = (id * 7 + round) as f32 / 10.0;
        let plain = Vector::Dense((0..64).map(|i| x + i as f32).collect());
        let rows = Vector::Multi((0..1 + id % 3).map(|r| vec![x, r as f32]).collect());
        point(id, &[("a", plain), ("h", Vector::Dense(vec![x, -x, 0.5])), ("m", rows)])
    }

    #[test]
    fn mapped_columns_hold_what_memory_columns_hold() {
        let dir = tempfile::tempdir().unwrap();
        let mut mapped = typed_table(Some(dir.path()));
        let mut memory = typed_table(None);
        for name in ["a", "h", "m"] {
            assert_eq!(mapped.placement(name), Some(Placement::Mapped(dir.path().to_path_buf())), "{name}");
            assert_eq!(memory.placement(name), Some(Placement::Memory), "{name}");
        }
        // 5,000 × 64 f32 = 1.28 MB: the mapped file grows past its first mapping.
        for round in 0..2 {
            for id in 0..5_000 {
                if (id + round) % 5 == 0 {
                    mapped.delete(&PointId::Num(id));
                    memory.delete(&PointId::Num(id));
                } else {
                    mapped.upsert(typed_point(id, round));
                    memory.upsert(typed_point(id, round));
                }
            }
        }
        mapped.delete_vectors(&PointId::Num(3), 9, &["a".to_string()]);
        memory.delete_vectors(&PointId::Num(3), 9, &["a".to_string()]);
        assert_eq!(mapped.len(), 4_000);
        let stored = |t: &PointTable| t.iter_from(None).map(|p| p.to_stored()).collect::<Vec<_>>();
        assert_eq!(stored(&mapped), stored(&memory));
        assert_eq!(mapped.dense_elements("a"), memory.dense_elements("a"));
        // Moved to memory (`on_disk` set to false) and back: nothing changes.
        let mut schema = mapped.schema().unwrap().clone();
        schema.on_disk.clear();
        assert!(mapped.set_schema(schema.clone()).is_empty());
        assert_eq!(mapped.placement("m"), Some(Placement::Memory));
        schema.on_disk.insert("m".into());
        mapped.set_schema(schema);
        assert_eq!(mapped.placement("m"), Some(Placement::Mapped(dir.path().to_path_buf())));
        assert_eq!(stored(&mapped), stored(&memory));
    }

    #[test]
    fn points_loaded_from_frames_equal_points_upserted() {
        use crate::frames::{decode_point_frame, encode_point};
        use crate::points::Placed;
        let dir = tempfile::tempdir().unwrap();
        for mapped_dir in [Some(dir.path()), None] {
            let (mut upserted, mut loaded) = (typed_table(mapped_dir), typed_table(mapped_dir));
            let mut points: Vec<StoredPoint> = (0..3_000).map(|id| typed_point(id, 1)).collect();
            // A vector of a name or shape the schema lacks is left out of both tables alike.
            points[5].vectors.insert("gone".into(), Vector::Dense(vec![1.0]));
            points[6].vectors.insert("a".into(), Vector::Dense(vec![1.0, 2.0]));
            let kept: Vec<bool> = points.iter().map(|p| upserted.upsert(p.clone())).collect();
            loaded.reserve_slots(points.len());
            // Loaded out of order, each into the slot `upsert` gave it.
            for (slot, point) in points.iter().enumerate().rev() {
                let mut bytes = Vec::new();
                encode_point(&mut bytes, point).unwrap();
                let placed = loaded.upsert_frame_at(decode_point_frame(&bytes).unwrap(), slot as u32);
                assert!(matches!(placed, Placed::Whole | Placed::Trimmed), "point {slot} placed");
                assert_eq!(matches!(placed, Placed::Whole), kept[slot], "point {slot} trimmed alike");
            }
            loaded.seal_slots();
            let stored = |t: &PointTable| t.iter_from(None).map(|p| (p.slot(), p.to_stored())).collect::<Vec<_>>();
            assert_eq!(stored(&loaded), stored(&upserted), "same points, vectors and slots");
            assert_eq!(loaded.dense_elements("a"), upserted.dense_elements("a"));
            // A point placed already, or a slot taken, is given back for a later upsert.
            let mut bytes = Vec::new();
            encode_point(&mut bytes, &points[1]).unwrap();
            assert!(matches!(loaded.upsert_frame_at(decode_point_frame(&bytes).unwrap(), 9_999), Placed::Elsewhere(_)));
        }
    }
}
