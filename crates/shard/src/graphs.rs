//! The shard's saved HNSW indexes (design record 020): read and checked at open so the table
//! is loaded with points in the slots the indexes know, attached with the slots changed since
//! marked pending; saved by the indexer thread after a checkpoint once an index has caught up.
//! A missing, damaged or out-of-date file only costs a rebuild: it is never trusted.

use crate::index_config::{IndexConfig, hnsw_params};
use quiver_storage::StorageError;
use quiver_storage::frames::PointFrame;
use quiver_storage::frozen_file;
use quiver_storage::graph_file::{self, GraphKey, SavedGraph};
use quiver_storage::index::{HnswIndex, SavedFile, VectorIndex};
use quiver_storage::mapped::Placement;
use quiver_storage::points::{Placed, PointTable};
use quiver_storage::vectors::VectorSpec;
use quiver_types::PointId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The directory of a shard's saved indexes.
pub(crate) fn graph_dir(shard_dir: &Path) -> PathBuf {
    shard_dir.join("graphs")
}

/// The saved indexes found at open whose records passed their checks.
pub(crate) struct SavedGraphs {
    dir: PathBuf,
    graphs: BTreeMap<String, SavedGraph>,
}

/// A saved index read at open, or why not.
pub(crate) type LoadedIndex = quiver_storage::Result<Arc<dyn VectorIndex>>;

impl SavedGraphs {
    /// Reads the records of every plain dense vector's saved index; damaged ones, or ones made
    /// for other settings, are removed (and rebuilt by the indexer).
    pub(crate) fn read(shard_dir: &Path, dense: &BTreeMap<String, VectorSpec>, config: &IndexConfig) -> SavedGraphs {
        let dir = graph_dir(shard_dir);
        let mut graphs = BTreeMap::new();
        for (name, spec) in dense.iter().filter(|(_, spec)| !spec.multivector) {
            let key = GraphKey::new(spec.distance, &hnsw_params(config, name, spec));
            match graph_file::read(&dir, name, &key) {
                Ok(Some(saved)) => _ = graphs.insert(name.clone(), saved),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(vector = %name, error = %e, "saved HNSW index not usable; rebuilding it");
                    graph_file::remove(&dir, name);
                }
            }
        }
        SavedGraphs { dir, graphs }
    }

    /// Where each point was when the largest saved index was taken.
    fn slot_hints(&self) -> HashMap<PointId, u32> {
        let largest = self.graphs.values().max_by_key(|g| g.slots.len());
        largest.map(|g| g.slots.iter().map(|r| (r.id, r.slot)).collect()).unwrap_or_default()
    }

    /// Loads the checkpoint's points through `load` into `table`, each in the slot the saved
    /// indexes know it by where possible, with its payload as the checkpoint encoded it
    /// (`PointTable::set_loaded_payload`, design record 037).
    pub(crate) fn load_table(
        &self,
        table: &mut PointTable,
        count: usize,
        load: impl FnOnce(&mut dyn FnMut(PointFrame<'_>) -> quiver_storage::Result<()>) -> quiver_storage::Result<()>,
    ) -> quiver_storage::Result<HashSet<PointId>> {
        // Points stored with vectors of names dropped since (design record 018).
        let mut trimmed = HashSet::new();
        let hints = self.slot_hints();
        table.reserve_slots(hints.values().max().map_or(0, |s| *s as usize + 1).max(count));
        let mut elsewhere = Vec::new();
        load(&mut |frame| {
            let (id, payload) = (frame.id, frame.payload);
            // Without saved slots, each point takes the next slot (as `upsert` would: the
            // table has no free slot while it loads).
            let slot = match hints.is_empty() {
                true => table.slot_count() as u32,
                false => match hints.get(&id) {
                    Some(slot) => *slot,
                    None => {
                        elsewhere.push((frame.into_point(), payload.to_vec()));
                        return Ok(());
                    }
                },
            };
            match table.upsert_frame_at(frame, slot) {
                Placed::Whole => {}
                Placed::Trimmed => _ = trimmed.insert(id),
                Placed::Elsewhere(p) => {
                    elsewhere.push((p, payload.to_vec()));
                    return Ok(());
                }
            }
            table.set_loaded_payload(&id, payload)
        })?;
        table.seal_slots();
        for (p, payload) in elsewhere {
            let id = p.id;
            if !table.upsert(p) {
                trimmed.insert(id);
            }
            table.set_loaded_payload(&id, &payload)?;
        }
        Ok(trimmed)
    }

    /// Reads each saved index whose usearch file passes its checksum (independent of the
    /// table: it runs while the checkpoint loads). Returns each vector's index, or why not.
    pub(crate) fn load_indexes(
        &self,
        dense: &BTreeMap<String, VectorSpec>,
        config: &IndexConfig,
    ) -> BTreeMap<String, LoadedIndex> {
        let load = |name: &String, saved: &SavedGraph| -> LoadedIndex {
            let spec = dense.get(name).ok_or_else(|| StorageError::Index(format!("no dense vector {name:?}")))?;
            let path = saved.index_file()?;
            let capacity = saved.slots.len() + saved.slots.len() / 8;
            let index = HnswIndex::load(spec.distance, hnsw_params(config, name, spec), path, capacity)?;
            // The file holds the index as loaded: the indexer may view it instead (design record 041).
            index.mark_saved(saved.file(), index.change_stamp());
            Ok(Arc::new(index))
        };
        self.graphs.iter().map(|(name, saved)| (name.clone(), load(name, saved))).collect()
    }

    /// Attaches each index `loaded` by `load_indexes` to its column, with every slot it cannot
    /// vouch for pending; the unusable ones are removed (the indexer builds them).
    pub(crate) fn attach(self, table: &mut PointTable, loaded: BTreeMap<String, LoadedIndex>) -> Restored {
        let mut restored = Restored::default();
        for (name, index) in loaded {
            let Some(saved) = self.graphs.get(&name) else { continue };
            match index.and_then(|index| table.attach_saved_index(&name, index, &saved.slots, saved.hash)) {
                Ok(attached) => {
                    tracing::debug!(vector = %name, valid = attached.valid, saved = saved.slots.len(), "saved HNSW index loaded");
                    restored.slots += attached.valid;
                    if let Some(changes) = attached.unchanged_at.filter(|_| saved.current_format) {
                        restored.unchanged.insert(name.clone(), changes);
                    }
                    // A frozen copy saved with this file is the indexer's to read (`load_frozen`).
                    let file = saved.file();
                    if frozen_file::taken_from(&graph_file::frozen_path(&self.dir, &name))
                        == Some((file.bytes, file.crc))
                    {
                        restored.frozen.insert(name.clone(), file);
                    }
                }
                Err(e) => {
                    tracing::warn!(vector = %name, error = %e, "saved HNSW index not usable; rebuilding it");
                    graph_file::remove(&self.dir, &name);
                }
            }
        }
        restored
    }
}

/// What the saved indexes gave a shard at open.
#[derive(Default)]
pub(crate) struct Restored {
    /// Slots taken as indexed.
    pub(crate) slots: usize,
    /// The columns whose index is exactly its saved file's graph in the current record format,
    /// with their count of index changes (the indexer's record of saves starts from it, so an
    /// unchanged graph is not written again).
    pub(crate) unchanged: BTreeMap<String, u64>,
    /// The columns with a frozen copy saved beside their graph file, with that file.
    pub(crate) frozen: BTreeMap<String, SavedFile>,
}

/// Installs the frozen copy saved with `file` as the column `name`'s search copy if the
/// column's index is still that file's graph (design record 026, "The frozen copy saved"): the
/// slots still pending for the index are stale in it (scored exactly until the indexer's next
/// copy). A damaged copy is removed. Runs on the indexer thread (the only one that changes the
/// index) before its first change; returns whether the copy was installed.
pub(crate) fn load_frozen(
    shard_dir: &Path,
    table: &parking_lot::RwLock<PointTable>,
    name: &str,
    file: &SavedFile,
    placement: &Placement,
) -> bool {
    let index = table.read().dense_index(name).map(|view| view.index.clone());
    if index.and_then(|index| index.current_file()).as_ref() != Some(file) {
        return false;
    }
    let path = graph_file::frozen_path(&graph_dir(shard_dir), name);
    let started = std::time::Instant::now();
    let graph = match frozen_file::load(&path, file, placement) {
        Ok(Some(graph)) => graph,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(vector = %name, error = %e, "saved frozen graph not usable; copying the graph again");
            let _ = std::fs::remove_file(&path);
            return false;
        }
    };
    let mut table = table.write();
    // Still that file's graph (the table is not one an install put in place meanwhile).
    let still = table.dense_index(name).and_then(|view| view.index.current_file());
    let Some(plan) = table.loaded_plan(name).filter(|_| still.as_ref() == Some(file)) else { return false };
    table.install_frozen(name, &plan, graph);
    tracing::debug!(vector = %name, ms = started.elapsed().as_millis() as u64, "saved frozen graph loaded");
    true
}

/// Saves the dense vector `name`'s index when it has caught up and changed since the last
/// save (`saved`: the column's index change count then). Returns false while it has not caught
/// up (the save stays due). Runs on the indexer thread, the only one that changes the index.
pub(crate) fn save_column(
    shard_dir: &Path,
    table: &parking_lot::RwLock<PointTable>,
    name: &str,
    spec: &VectorSpec,
    config: &IndexConfig,
    saved: &mut BTreeMap<String, u64>,
) -> bool {
    if spec.multivector {
        return true;
    }
    let (has_index, pending) = table.read().dense_stats(name).map_or((false, 0), |s| (s.has_index, s.pending));
    if !has_index {
        return true;
    }
    if pending > 0 {
        return false;
    }
    let Some(plan) = table.read().graph_plan(name, saved.get(name).copied()) else { return true };
    let params = hnsw_params(config, name, spec);
    // Built with other parameters than the configured ones (the indexer is rebuilding it): saved
    // under the configured ones it would be trusted at the next open, and never rebuilt.
    if crate::index_config::built_differently(plan.index.as_ref(), &params) {
        return false;
    }
    let key = GraphKey::new(spec.distance, &params);
    let started = std::time::Instant::now();
    match graph_file::save(&graph_dir(shard_dir), name, plan.index.as_ref(), key, plan.slots) {
        Ok(()) => {
            tracing::debug!(vector = %name, ms = started.elapsed().as_millis() as u64, "HNSW index saved");
            saved.insert(name.to_string(), plan.changes);
        }
        Err(e) => tracing::warn!(vector = %name, error = %e, "saving the HNSW index failed; it is rebuilt on restart"),
    }
    true
}

/// Saves the frozen copy of `name`'s graph beside the graph file when the copy is current and
/// the file holds the index as it is (so the copy is that file's graph), unless the copy saved
/// already matches the file (`written`, or the file on disk after a restart). Runs on the
/// indexer thread, the only one that changes the index.
pub(crate) fn save_frozen(
    shard_dir: &Path,
    table: &parking_lot::RwLock<PointTable>,
    name: &str,
    written: &mut BTreeMap<String, SavedFile>,
) {
    let Some((graph, index)) = table.read().current_frozen(name) else { return };
    let Some(file) = index.current_file() else { return };
    if written.get(name) == Some(&file) {
        return;
    }
    let path = graph_file::frozen_path(&graph_dir(shard_dir), name);
    if frozen_file::taken_from(&path).is_some_and(|of| of == (file.bytes, file.crc)) {
        written.insert(name.to_string(), file);
        return;
    }
    let started = std::time::Instant::now();
    match frozen_file::save(&path, &graph, &file) {
        Ok(()) => {
            tracing::debug!(vector = %name, ms = started.elapsed().as_millis() as u64, "frozen graph saved");
            written.insert(name.to_string(), file);
        }
        Err(e) => {
            tracing::warn!(vector = %name, error = %e, "saving the frozen graph failed; it is copied again on restart")
        }
    }
}
