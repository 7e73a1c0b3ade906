//! Collection and full-storage snapshots (spec §7.1, §7.3): create, list, locate for download,
//! delete. A collection snapshot is a tar of `snapshot.json` (format, collection, peer, shards),
//! `config.json`, `payload_index.json` and one shard snapshot file per local replica
//! (`shards/<id>.snapshot`, the format of `quiver_collection::snapshot`). Its sha256 is stored beside
//! it as `<file>.checksum`. Recovery is in `snapshot_recovery.rs`.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::snapshot_archive;
use crate::telemetry::SnapshotWork;
use quiver_collection::Collection;
use quiver_types::ShardId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Version of the archive layout, in `snapshot.json`.
pub(crate) const SNAPSHOT_FORMAT: u32 = 1;
pub(crate) const MANIFEST_FILE: &str = "snapshot.json";
pub(crate) const CONFIG_FILE: &str = "config.json";
pub(crate) const PAYLOAD_INDEX_FILE: &str = "payload_index.json";
/// The key → shards mapping of a custom-sharded collection (design record 016 §4).
pub(crate) const SHARD_KEYS_FILE: &str = "shard_keys.json";
const SUFFIX: &str = ".snapshot";

/// What `snapshot.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: u32,
    pub collection: String,
    pub peer_id: u64,
    pub shards: Vec<ShardId>,
}

/// `SnapshotDescription` of spec §7.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SnapshotDescription {
    pub name: String,
    /// Naive ISO-8601 (UTC, no zone).
    pub creation_time: Option<String>,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

pub(crate) fn service(context: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Service(format!("{context}: {e}"))
}

fn is_safe_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Snapshot names: letters, digits, `-`, `_`, `.`; 1..=255 bytes; no leading `.`, no `..`.
pub(crate) fn validate_snapshot_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains("..")
        && name.chars().all(is_safe_char);
    match ok {
        true => Ok(()),
        false => Err(NodeError::BadInput(format!(
            "Invalid snapshot name `{name}`: only letters, digits, `-`, `_` and `.` are allowed, not at the start"
        ))),
    }
}

/// A name made of the safe alphabet from any collection name.
fn safe_stem(name: &str) -> String {
    name.chars().map(|c| if is_safe_char(c) { c } else { '_' }).collect::<String>().trim_start_matches('.').to_string()
}

/// The first free `<stem>-<timestamp>[-n].snapshot` in `dir`, reserved for the caller by
/// creating its empty `.<name>.part` file: snapshots created at once (in the same second) get
/// names of their own instead of writing, then renaming, one shared part file.
pub(crate) fn new_snapshot_name(dir: &Path, stem: &str) -> Result<String> {
    let stamp = chrono::Utc::now().format("%Y-%m-%d-%H-%M-%S");
    let base = format!("{}-{stamp}", safe_stem(stem));
    for n in 1.. {
        let name = match n {
            1 => format!("{base}{SUFFIX}"),
            n => format!("{base}-{n}{SUFFIX}"),
        };
        if dir.join(&name).exists() {
            continue;
        }
        let part = dir.join(format!(".{name}.part"));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&part) {
            // Published between the check above and the reservation: that name is taken.
            Ok(_) if dir.join(&name).exists() => {
                let _ = std::fs::remove_file(&part);
            }
            Ok(_) => return Ok(name),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(service("reserve snapshot name", e)),
        }
    }
    unreachable!("the names of a second are not exhausted")
}

fn naive_time(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The description of the snapshot file `dir/name`.
pub(crate) fn describe(dir: &Path, name: &str) -> Result<SnapshotDescription> {
    let path = dir.join(name);
    let meta = std::fs::metadata(&path).map_err(|_| NodeError::NotFound(format!("Snapshot {name}")))?;
    let checksum = std::fs::read_to_string(dir.join(format!("{name}.checksum")))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() == 64);
    Ok(SnapshotDescription {
        name: name.to_string(),
        creation_time: meta.modified().ok().map(naive_time),
        size: meta.len(),
        checksum,
    })
}

/// Every snapshot in `dir` (none if it does not exist), newest last.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<SnapshotDescription>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(service("list snapshots", e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| service("list snapshots", e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if name.ends_with(SUFFIX) && validate_snapshot_name(&name).is_ok() && regular {
            out.push(describe(dir, &name)?);
        }
    }
    out.sort_by(|a, b| (&a.creation_time, &a.name).cmp(&(&b.creation_time, &b.name)));
    Ok(out)
}

/// The path of an existing snapshot `dir/name`. A name outside the snapshot alphabet (a path
/// that would leave the directory) names no snapshot: 404, as Qdrant answers it.
pub(crate) fn existing(dir: &Path, name: &str) -> Result<PathBuf> {
    if validate_snapshot_name(name).is_err() {
        return Err(NodeError::NotFound(format!("Snapshot {name}")));
    }
    let path = dir.join(name);
    // A regular file, not a link (which could point outside the snapshots directory).
    match std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
        true => Ok(path),
        false => Err(NodeError::NotFound(format!("Snapshot {name}"))),
    }
}

/// Removes a snapshot and its checksum file.
pub(crate) fn remove(dir: &Path, name: &str) -> Result<bool> {
    let path = existing(dir, name)?;
    std::fs::remove_file(&path).map_err(|e| service("delete snapshot", e))?;
    let _ = std::fs::remove_file(dir.join(format!("{name}.checksum")));
    Ok(true)
}

/// Moves a finished archive `part` to `dir/name` after writing its checksum beside it.
pub(crate) fn publish(part: &Path, dir: &Path, name: &str) -> Result<SnapshotDescription> {
    let checksum = snapshot_archive::sha256_file(part).map_err(|e| service("checksum snapshot", e))?;
    quiver_collection::write_atomic(&dir.join(format!("{name}.checksum")), checksum.as_bytes())
        .map_err(|e| service("write snapshot checksum", e))?;
    std::fs::rename(part, dir.join(name)).map_err(|e| service("store snapshot", e))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| service("sync snapshots dir", e))?;
    describe(dir, name)
}

/// A scratch directory under `<storage>/tmp`, removed when dropped.
pub struct Staging {
    pub path: PathBuf,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes the collection's snapshot archive to `part`.
fn pack_collection(collection: &Collection, peer_id: u64, staging: &Path, part: &Path) -> Result<()> {
    let mut entries = Vec::new();
    let mut shards = Vec::new();
    std::fs::create_dir_all(staging.join("shards")).map_err(|e| service("create staging dir", e))?;
    for set in collection.replica_sets() {
        let Some(local) = set.local() else { continue };
        let path = staging.join("shards").join(format!("{}{SUFFIX}", set.shard_id));
        local.write_snapshot(&path).map_err(|e| service("write shard snapshot", e))?;
        entries.push((format!("shards/{}{SUFFIX}", set.shard_id), path));
        shards.push(set.shard_id);
    }
    let manifest = Manifest { format: SNAPSHOT_FORMAT, collection: collection.name().to_string(), peer_id, shards };
    let config = collection.config();
    let mut json_parts = vec![
        (MANIFEST_FILE, serde_json::to_vec_pretty(&manifest)),
        (CONFIG_FILE, serde_json::to_vec_pretty(&config)),
        (PAYLOAD_INDEX_FILE, serde_json::to_vec_pretty(&collection.payload_index())),
    ];
    if config.params.is_custom_sharding() {
        json_parts.push((SHARD_KEYS_FILE, serde_json::to_vec_pretty(collection.routing().keys())));
    }
    for (file, bytes) in json_parts.into_iter().rev() {
        let path = staging.join(file);
        std::fs::write(&path, bytes.map_err(|e| service("encode snapshot part", e))?)
            .map_err(|e| service("write snapshot part", e))?;
        entries.insert(0, (file.to_string(), path));
    }
    snapshot_archive::pack(part, &entries).map_err(|e| service("pack snapshot", e))?;
    Ok(())
}

impl Node {
    /// The absolute snapshots directory (created if missing).
    pub(crate) fn snapshots_root(&self) -> Result<PathBuf> {
        let root = &self.config.snapshots_path;
        std::fs::create_dir_all(root).map_err(|e| service("create snapshots dir", e))?;
        root.canonicalize().map_err(|e| service("resolve snapshots dir", e))
    }

    fn collection_snapshots_dir(&self, collection: &str) -> Result<PathBuf> {
        Ok(self.snapshots_root()?.join(collection))
    }

    /// A new scratch directory under `<storage>/tmp`.
    pub fn snapshot_staging(&self) -> Result<Staging> {
        let path = self.config.storage_path.join("tmp").join(uuid::Uuid::new_v4().to_string());
        std::fs::create_dir_all(&path).map_err(|e| service("create staging dir", e))?;
        Ok(Staging { path })
    }

    /// `POST /collections/{c}/snapshots`.
    pub async fn create_collection_snapshot(&self, name: &str) -> Result<SnapshotDescription> {
        let collection = self.resolve(name)?;
        let _running = self.telemetry.snapshot_running(collection.name(), SnapshotWork::Creating);
        let dir = self.collection_snapshots_dir(collection.name())?;
        let staging = self.snapshot_staging()?;
        let peer_id = self.peer_id();
        let counted = collection.name().to_string();
        let created = blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| service("create snapshots dir", e))?;
            let name = new_snapshot_name(&dir, &format!("{}-{peer_id}", collection.name()))?;
            let part = dir.join(format!(".{name}.part"));
            let packed = pack_collection(&collection, peer_id, &staging.path, &part);
            let published = packed.and_then(|()| publish(&part, &dir, &name));
            if published.is_err() {
                let _ = std::fs::remove_file(&part);
            }
            published
        })
        .await?;
        self.telemetry.snapshot_created(&counted);
        Ok(created)
    }

    /// `GET /collections/{c}/snapshots`.
    pub async fn list_collection_snapshots(&self, name: &str) -> Result<Vec<SnapshotDescription>> {
        let collection = self.resolve(name)?;
        let dir = self.collection_snapshots_dir(collection.name())?;
        blocking(move || list_dir(&dir)).await
    }

    /// The file of `GET /collections/{c}/snapshots/{snapshot}`.
    pub fn collection_snapshot_path(&self, name: &str, snapshot: &str) -> Result<PathBuf> {
        let collection = self.resolve(name)?;
        existing(&self.collection_snapshots_dir(collection.name())?, snapshot)
    }

    /// `DELETE /collections/{c}/snapshots/{snapshot}`.
    pub async fn delete_collection_snapshot(&self, name: &str, snapshot: &str) -> Result<bool> {
        let collection = self.resolve(name)?;
        let dir = self.collection_snapshots_dir(collection.name())?;
        let snapshot = snapshot.to_string();
        blocking(move || remove(&dir, &snapshot)).await
    }

    /// `POST /snapshots`: every collection's snapshot plus `config.json` with the mapping of
    /// collections to their files and the aliases, in one tar.
    pub async fn create_full_snapshot(&self) -> Result<SnapshotDescription> {
        let root = self.snapshots_root()?;
        let staging = self.snapshot_staging()?;
        let collections: Vec<Arc<Collection>> = self.collections();
        let aliases = match self.cluster_state() {
            Some(state) => state.aliases,
            None => self.aliases.all(),
        };
        let peer_id = self.peer_id();
        blocking(move || {
            let mut entries = Vec::new();
            let mut mapping = serde_json::Map::new();
            let mut used = std::collections::HashSet::new();
            for collection in &collections {
                // Distinct names can share a safe stem (`a b`, `a_b`): number the later ones.
                let stem = safe_stem(collection.name());
                let file = (1..)
                    .map(|n| if n == 1 { format!("{stem}{SUFFIX}") } else { format!("{stem}-{n}{SUFFIX}") })
                    .find(|file| used.insert(file.clone()))
                    .unwrap_or_default();
                let path = staging.path.join(&file);
                let scratch = staging.path.join(format!("{file}.parts"));
                pack_collection(collection, peer_id, &scratch, &path)?;
                mapping.insert(collection.name().to_string(), file.clone().into());
                entries.push((file, path));
            }
            let config = serde_json::json!({"collections_mapping": mapping, "collections_aliases": aliases});
            let config_path = staging.path.join(CONFIG_FILE);
            std::fs::write(&config_path, config.to_string()).map_err(|e| service("write snapshot part", e))?;
            entries.insert(0, (CONFIG_FILE.to_string(), config_path));
            let name = new_snapshot_name(&root, "full-snapshot")?;
            let part = root.join(format!(".{name}.part"));
            let packed = snapshot_archive::pack(&part, &entries).map_err(|e| service("pack snapshot", e));
            let published = packed.and_then(|_| publish(&part, &root, &name));
            if published.is_err() {
                let _ = std::fs::remove_file(&part);
            }
            published
        })
        .await
    }

    /// `GET /snapshots`.
    pub async fn list_full_snapshots(&self) -> Result<Vec<SnapshotDescription>> {
        let root = self.snapshots_root()?;
        blocking(move || list_dir(&root)).await
    }

    /// The file of `GET /snapshots/{snapshot}`.
    pub fn full_snapshot_path(&self, snapshot: &str) -> Result<PathBuf> {
        existing(&self.snapshots_root()?, snapshot)
    }

    /// `DELETE /snapshots/{snapshot}`.
    pub async fn delete_full_snapshot(&self, snapshot: &str) -> Result<bool> {
        let root = self.snapshots_root()?;
        let snapshot = snapshot.to_string();
        blocking(move || remove(&root, &snapshot)).await
    }
}

/// At start-up: removes the hidden `.<name>.part` files that a crash left while a snapshot was
/// being written (in the snapshots directory and the collection and shard directories below it).
pub(crate) fn clear_partial_snapshots(dir: &Path, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_file() && name.starts_with('.') && name.ends_with(".part") {
            let _ = std::fs::remove_file(entry.path());
        } else if kind.is_dir() && depth > 0 {
            clear_partial_snapshots(&entry.path(), depth - 1);
        }
    }
}

/// Runs file work on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| service("snapshot task", e))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_are_restricted() {
        for good in ["c-1-2024-01-01-00-00-00.snapshot", "a.b_c-d", "collé.snapshot"] {
            assert!(validate_snapshot_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "../etc/passwd", "a/b", "a\\b", "x..y", "a b", "nul\0", &"x".repeat(256)] {
            assert!(validate_snapshot_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(safe_stem("my coll/ection"), "my_coll_ection");
    }

    #[test]
    fn partial_snapshots_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("c").join("shards").join("0");
        std::fs::create_dir_all(&shard).unwrap();
        for path in [dir.path().join(".a.snapshot.part"), shard.join(".b.snapshot.part"), shard.join("b.snapshot")] {
            std::fs::write(path, "x").unwrap();
        }
        clear_partial_snapshots(dir.path(), 3);
        assert!(!dir.path().join(".a.snapshot.part").exists() && !shard.join(".b.snapshot.part").exists());
        assert!(shard.join("b.snapshot").exists());
    }
}
