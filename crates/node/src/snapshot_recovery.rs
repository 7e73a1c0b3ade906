//! Recovering a collection from a snapshot archive (spec §7.1): fetch (`file://` inside the
//! snapshots directory, or `http://` download), verify the checksum, unpack under
//! `<storage>/tmp/<job>` with the archive rules, check every shard file whole, then build the
//! complete new collection beside the live one and swap the directories. A journal
//! (`swap.json`) written once the new directory is complete lets `Node::open` finish a swap that
//! a crash interrupted, so the collection is always either the old one or the new one.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::snapshot_archive::{self, ArchiveError, Limits};
use crate::snapshots::{
    CONFIG_FILE, MANIFEST_FILE, Manifest, PAYLOAD_INDEX_FILE, SHARD_KEYS_FILE, SNAPSHOT_FORMAT, Staging, blocking,
    service,
};
use crate::telemetry::SnapshotWork;
use quiver_collection::Collection;
/// Payload index definitions (`Collection::payload_index`).
type PayloadIndexSchema = BTreeMap<String, serde_json::Value>;
use quiver_types::ShardId;
use quiver_types::config::CollectionConfig;
use quiver_types::shard_key::ShardKeys;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

const SWAP_JOURNAL: &str = "swap.json";
/// How long a recovery waits for requests still using the collection it replaces.
const RETIRE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// The most shard files a snapshot may hold (the archive's entry cap follows from it).
const MAX_SHARDS: usize = 65536;
/// Entries beyond the shard files: directories and the JSON parts.
const EXTRA_ENTRIES: usize = 16;

/// Which copy wins after a recovery in a cluster (spec §7.1 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotPriority {
    NoSync,
    #[default]
    Snapshot,
    Replica,
}

/// Where the snapshot comes from.
#[derive(Debug, Clone)]
pub enum SnapshotSource {
    /// `file://…` or `http(s)://…`, with the `api_key` sent to an HTTP source.
    Location { location: String, api_key: Option<String> },
    /// A file the API layer already stored (upload) inside a staging directory.
    Uploaded(PathBuf),
}

/// A checked, unpacked collection snapshot.
pub(crate) struct Unpacked {
    pub config: CollectionConfig,
    pub payload_index: PayloadIndexSchema,
    pub shards: BTreeMap<ShardId, PathBuf>,
    /// The key → shards mapping of a custom-sharded collection (empty for auto sharding).
    pub shard_keys: ShardKeys,
}

fn archive_error(e: ArchiveError) -> NodeError {
    match e {
        ArchiveError::Invalid(m) => NodeError::BadInput(format!("Invalid snapshot: {m}")),
        ArchiveError::Io(m) => NodeError::Service(m),
    }
}

fn bad_snapshot(message: impl std::fmt::Display) -> NodeError {
    NodeError::BadInput(format!("Invalid snapshot: {message}"))
}

/// `shards/<id>.snapshot` → `id`.
fn shard_entry(name: &str) -> Option<ShardId> {
    name.strip_prefix("shards/")?.strip_suffix(".snapshot")?.parse().ok()
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<T> {
    let bytes = std::fs::read(dir.join(file)).map_err(|_| bad_snapshot(format!("`{file}` is missing")))?;
    serde_json::from_slice(&bytes).map_err(|e| bad_snapshot(format!("`{file}` is malformed: {e}")))
}

/// Verifies the checksum, unpacks `archive` into `dest` and checks every part.
pub(crate) fn unpack_collection(
    archive: &Path,
    dest: &Path,
    checksum: Option<&str>,
    max_bytes: u64,
) -> Result<Unpacked> {
    if let Some(expected) = checksum {
        let actual = snapshot_archive::sha256_file(archive).map_err(|e| service("checksum snapshot", e))?;
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(NodeError::ChecksumMismatch { expected: expected.to_string(), actual });
        }
    }
    let limits = Limits { max_entries: MAX_SHARDS + EXTRA_ENTRIES, max_total_bytes: max_bytes };
    let allowed = |name: &str| {
        [MANIFEST_FILE, CONFIG_FILE, PAYLOAD_INDEX_FILE, SHARD_KEYS_FILE].contains(&name) || shard_entry(name).is_some()
    };
    std::fs::create_dir_all(dest).map_err(|e| service("create staging dir", e))?;
    let names = snapshot_archive::unpack(archive, dest, limits, &allowed).map_err(archive_error)?;
    let manifest: Manifest = read_json(dest, MANIFEST_FILE)?;
    if manifest.format != SNAPSHOT_FORMAT {
        return Err(bad_snapshot(format!("unsupported snapshot format {}", manifest.format)));
    }
    let config: CollectionConfig = read_json(dest, CONFIG_FILE)?;
    let payload_index: PayloadIndexSchema = read_json(dest, PAYLOAD_INDEX_FILE)?;
    let shard_keys = match config.params.is_custom_sharding() {
        true => checked_shard_keys(read_json(dest, SHARD_KEYS_FILE)?)?,
        false => ShardKeys::default(),
    };
    let mut shards = BTreeMap::new();
    if let Some(missing) = manifest.shards.iter().find(|s| !names.contains(&format!("shards/{s}.snapshot"))) {
        return Err(bad_snapshot(format!("shard {missing} listed in `{MANIFEST_FILE}` is missing")));
    }
    for shard_id in names.iter().filter_map(|n| shard_entry(n)) {
        let known = match config.params.is_custom_sharding() {
            true => shard_keys.key_of(shard_id).is_some(),
            false => shard_id < config.params.shard_number,
        };
        if !known {
            return Err(bad_snapshot(format!("shard {shard_id} is not a shard of the snapshot's collection")));
        }
        let path = dest.join("shards").join(format!("{shard_id}.snapshot"));
        quiver_collection::verify_snapshot(&path).map_err(|e| bad_snapshot(format!("shard {shard_id}: {e}")))?;
        shards.insert(shard_id, path);
    }
    Ok(Unpacked { config, payload_index, shards, shard_keys })
}

/// The snapshot's key mapping rebuilt in order, refused if a key has no shard or a shard is in
/// two keys.
fn checked_shard_keys(parsed: ShardKeys) -> Result<ShardKeys> {
    let mut keys = ShardKeys::default();
    let mut seen = std::collections::BTreeSet::new();
    for entry in parsed.keys() {
        if entry.shards.is_empty() || !entry.shards.iter().all(|id| seen.insert(*id)) {
            return Err(bad_snapshot(format!("`{SHARD_KEYS_FILE}` maps shard key {} badly", entry.key)));
        }
        keys.insert(entry.clone());
    }
    Ok(keys)
}

/// 400 unless every shard key of the snapshot exists in the live collection with the same shards
/// (a key's ring hashes point ids over its shard ids).
pub(crate) fn check_keys_compatible(live: &ShardKeys, snapshot: &ShardKeys) -> Result<()> {
    match snapshot.keys().find(|k| live.get(&k.key).is_none_or(|l| l.shards != k.shards)) {
        Some(k) => Err(NodeError::BadInput(format!(
            "Snapshot is not compatible with existing collection: shard key {} differs (snapshot shards {:?})",
            k.key, k.shards
        ))),
        None => Ok(()),
    }
}

/// 400 unless a snapshot of `snapshot` may replace the data of a collection configured `live`.
pub(crate) fn check_compatible(live: &CollectionConfig, snapshot: &CollectionConfig) -> Result<()> {
    let (l, s) = (&live.params, &snapshot.params);
    let vectors = |c: &CollectionConfig| serde_json::to_value(&c.params.vectors).unwrap_or_default();
    let sparse = |c: &CollectionConfig| serde_json::to_value(&c.params.sparse_vectors).unwrap_or_default();
    let problem = if vectors(live) != vectors(snapshot) {
        Some(format!("vectors config differs: collection {}, snapshot {}", vectors(live), vectors(snapshot)))
    } else if sparse(live) != sparse(snapshot) {
        Some("sparse vectors config differs".to_string())
    } else if l.shard_number != s.shard_number {
        Some(format!("shard number differs: collection {}, snapshot {}", l.shard_number, s.shard_number))
    } else {
        None
    };
    match problem {
        Some(p) => Err(NodeError::BadInput(format!("Snapshot is not compatible with existing collection: {p}"))),
        None => Ok(()),
    }
}

/// Resolves a `file://` location to a file inside `root` (no `..`, no links out of it), with
/// Qdrant's answers: a host other than `localhost` makes an invalid URI, a path that does not
/// exist is named as such, then a path outside `root` is refused (all 400).
pub(crate) fn file_location(root: &Path, location: &str) -> Result<PathBuf> {
    let rest = location.get("file://".len()..).unwrap_or_default();
    let raw = match rest.find('/') {
        Some(0) => rest,
        Some(i) if rest[..i].eq_ignore_ascii_case("localhost") => &rest[i..],
        Some(_) | None => {
            return Err(NodeError::BadRequest(
                "Invalid snapshot URI, file path must be absolute or on localhost".into(),
            ));
        }
    };
    let path = Path::new(raw);
    let missing = || NodeError::BadRequest(format!("Snapshot file {path:?} does not exist"));
    let outside =
        || NodeError::BadRequest(format!("Snapshot file path must be inside the snapshots directory: `{raw}`"));
    if !path.exists() {
        return Err(missing());
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) || !path.starts_with(root) {
        return Err(outside());
    }
    let real = path.canonicalize().map_err(|_| missing())?;
    if !real.starts_with(root) || !real.is_file() {
        return Err(outside());
    }
    Ok(real)
}

/// Builds the complete new collection in `dir` from `unpacked`; shards the snapshot lacks keep
/// the data of `keep` (the live collection), if any.
fn build_collection(name: &str, dir: &Path, unpacked: &Unpacked, keep: Option<&Collection>) -> Result<()> {
    let collection = Collection::create(name, dir, unpacked.config.clone(), None)?;
    if unpacked.config.params.is_custom_sharding() {
        // The live collection's keys (a superset of the snapshot's, checked), else the snapshot's.
        let keys = keep.map_or_else(|| unpacked.shard_keys.clone(), |k| k.routing().keys().clone());
        collection.set_shard_keys(&keys)?;
        keys.shard_ids().try_for_each(|shard_id| collection.add_local_shard(shard_id))?;
    }
    for (field, schema) in &unpacked.payload_index {
        collection.set_payload_index(field, Some(schema.clone()))?;
    }
    for set in collection.replica_sets() {
        let shard_id = set.shard_id;
        let Some(local) = set.local() else { continue };
        let kept;
        let source = match unpacked.shards.get(&shard_id) {
            Some(path) => path,
            None => match keep.and_then(|k| k.replica_set(shard_id).ok()).and_then(|s| s.local()) {
                Some(old) => {
                    kept = dir.with_extension(format!("keep-{shard_id}"));
                    old.write_snapshot(&kept).map_err(|e| service("copy kept shard", e))?;
                    &kept
                }
                None => continue,
            },
        };
        local.restore_snapshot(source).map_err(|e| service("restore shard", e))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| service("sync dir", e))
}

/// Swaps the complete directory `job/collection` in as `collections/<name>`.
fn swap_in(collections_dir: &Path, job: &Path, name: &str) -> Result<()> {
    let journal = serde_json::json!({"collection": name}).to_string();
    quiver_collection::write_atomic(&job.join(SWAP_JOURNAL), journal.as_bytes())
        .map_err(|e| service("write swap journal", e))?;
    let live = collections_dir.join(name);
    if live.exists() {
        std::fs::rename(&live, job.join("old")).map_err(|e| service("move old collection", e))?;
    }
    std::fs::rename(job.join("collection"), &live).map_err(|e| service("move recovered collection", e))?;
    sync_dir(collections_dir)?;
    sync_dir(job)
}

/// At start-up: finishes swaps a crash interrupted, then clears `<storage>/tmp`.
pub(crate) fn finish_interrupted_swaps(storage: &Path) -> Result<()> {
    let tmp = storage.join("tmp");
    let Ok(jobs) = std::fs::read_dir(&tmp) else { return Ok(()) };
    for job in jobs.flatten().map(|e| e.path()) {
        let Ok(bytes) = std::fs::read(job.join(SWAP_JOURNAL)) else { continue };
        let Some(name) = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["collection"].as_str().map(str::to_string))
        else {
            continue;
        };
        let live = storage.join("collections").join(&name);
        if !live.exists() && job.join("collection").is_dir() {
            tracing::warn!(collection = %name, "finishing a snapshot recovery interrupted by a crash");
            std::fs::rename(job.join("collection"), &live).map_err(|e| service("finish snapshot recovery", e))?;
            sync_dir(&storage.join("collections"))?;
        }
    }
    std::fs::remove_dir_all(&tmp).map_err(|e| service("clear storage tmp", e))
}

impl Node {
    /// `PUT /collections/{c}/snapshots/recover` and `POST …/snapshots/upload`.
    pub async fn recover_collection_snapshot(
        &self,
        name: &str,
        source: SnapshotSource,
        priority: SnapshotPriority,
        checksum: Option<String>,
    ) -> Result<bool> {
        crate::service_collections::validate_name(name)?;
        if let Some(c) = checksum.as_deref().filter(|c| c.len() != 64 || !c.chars().all(|c| c.is_ascii_hexdigit())) {
            return Err(NodeError::BadInput(format!("checksum must be 64 hex characters: `{c}`")));
        }
        if self.aliases.target(name).is_some() {
            return Err(crate::service_collections::alias_named(name));
        }
        let _running = self.telemetry.snapshot_running(name, SnapshotWork::Recovering);
        let job = self.snapshot_staging()?;
        let archive = match source {
            SnapshotSource::Uploaded(path) => path,
            SnapshotSource::Location { location, api_key } => {
                self.fetch_snapshot(&location, api_key.as_deref(), &job.path).await?
            }
        };
        let dest = job.path.join("unpacked");
        let max_bytes = self.config.snapshot_max_bytes;
        let unpacked = blocking(move || unpack_collection(&archive, &dest, checksum.as_deref(), max_bytes)).await?;
        if self.cluster().is_some() {
            return self.recover_in_cluster(name, unpacked, priority).await;
        }
        self.replace_collection(name, unpacked, job).await
    }

    /// Standalone: builds the new collection beside the live one and swaps it in.
    pub(crate) async fn replace_collection(&self, name: &str, unpacked: Unpacked, job: Staging) -> Result<bool> {
        let _meta = self.meta_lock.lock().await;
        let live = self.collections.read().get(name).cloned();
        if let Some(live) = &live {
            check_compatible(&live.config(), &unpacked.config)?;
            check_keys_compatible(live.routing().keys(), &unpacked.shard_keys)?;
        } else {
            self.check_room_for(name, self.collections.read().len())?;
        }
        self.swap_collection(name, unpacked, job, live).await?;
        Ok(true)
    }

    /// Builds the new collection in `job` (shards the snapshot lacks copied from `keep`), takes
    /// the live collection (if any) out of the registry, swaps the directories and registers the
    /// reopened collection. The caller holds the metadata lock.
    pub(crate) async fn swap_collection(
        &self,
        name: &str,
        unpacked: Unpacked,
        job: Staging,
        keep: Option<Arc<Collection>>,
    ) -> Result<()> {
        let name_owned = name.to_string();
        let job = blocking(move || {
            build_collection(&name_owned, &job.path.join("collection"), &unpacked, keep.as_deref())?;
            Ok(job)
        })
        .await?;
        let live = self.collections.read().get(name).cloned();
        if let Some(live) = live {
            self.retire(name, live).await?;
        }
        let collections_dir = self.config.storage_path.join("collections");
        let name_owned = name.to_string();
        let collection = blocking(move || {
            swap_in(&collections_dir, &job.path, &name_owned)?;
            drop(job);
            Ok(Collection::open(&name_owned, &collections_dir.join(&name_owned))?)
        })
        .await?;
        self.collections.write().insert(name.to_string(), Arc::new(collection));
        tracing::info!(collection = %name, "collection recovered from a snapshot");
        Ok(())
    }

    /// Takes the live collection out of the registry and waits until no request or background
    /// task holds it any more, so nothing writes into its directory while it is swapped out
    /// (put back, 503, if it stays busy).
    async fn retire(&self, name: &str, live: Arc<Collection>) -> Result<()> {
        self.collections.write().remove(name);
        let deadline = tokio::time::Instant::now() + RETIRE_WAIT;
        while Arc::strong_count(&live) > 1 {
            if tokio::time::Instant::now() > deadline {
                self.collections.write().insert(name.to_string(), live);
                return Err(NodeError::ShardUnavailable(format!(
                    "collection `{name}` stayed busy; recovery not applied"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        blocking(move || live.sync().map_err(NodeError::from)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_with_new_collection(storage: &Path, job: &str, marker: &str) -> PathBuf {
        let job = storage.join("tmp").join(job);
        std::fs::create_dir_all(job.join("collection")).unwrap();
        std::fs::write(job.join("collection").join("marker"), marker).unwrap();
        job
    }

    #[test]
    fn an_interrupted_swap_finishes_with_the_new_collection_or_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path();
        let collections = storage.join("collections");
        std::fs::create_dir_all(collections.join("kept")).unwrap();
        std::fs::write(collections.join("kept").join("marker"), "old").unwrap();
        // Crash before the journal: the new directory is abandoned, the old one stays.
        job_with_new_collection(storage, "a", "new");
        // Crash after the old directory moved away: rolled forward to the new one.
        let job = job_with_new_collection(storage, "b", "new");
        std::fs::write(job.join(SWAP_JOURNAL), r#"{"collection":"moved"}"#).unwrap();
        // Crash after the journal, before the old directory moved: the old one stays.
        let job = job_with_new_collection(storage, "c", "new");
        std::fs::write(job.join(SWAP_JOURNAL), r#"{"collection":"kept"}"#).unwrap();
        finish_interrupted_swaps(storage).unwrap();
        let marker = |name: &str| std::fs::read_to_string(collections.join(name).join("marker")).unwrap();
        assert_eq!(marker("kept"), "old");
        assert_eq!(marker("moved"), "new");
        assert!(!storage.join("tmp").exists());
        finish_interrupted_swaps(storage).unwrap();
    }

    #[test]
    fn file_locations_stay_inside_the_snapshots_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("snapshots");
        std::fs::create_dir_all(&root).unwrap();
        let root = root.canonicalize().unwrap();
        std::fs::write(root.join("a.snapshot"), "x").unwrap();
        std::fs::write(dir.path().join("outside"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("link.snapshot")).unwrap();
        let at = |p: &str| file_location(&root, &format!("file://{}", p));
        assert!(at(&root.join("a.snapshot").display().to_string()).is_ok());
        assert!(at(&format!("localhost{}", root.join("a.snapshot").display())).is_ok());
        let text = |p: &str| at(p).unwrap_err().to_string();
        for bad in [
            format!("{}/../outside", root.display()),
            format!("{}/link.snapshot", root.display()),
            "/etc/passwd".to_string(),
        ] {
            assert!(matches!(at(&bad), Err(NodeError::BadRequest(_))), "{bad}");
            assert!(text(&bad).contains("Snapshot file path must be inside the snapshots directory"), "{bad}");
        }
        for host in ["relative/a.snapshot", "./etc/passwd", "a.snapshot", "localhost"] {
            assert!(text(host).contains("Invalid snapshot URI, file path must be absolute or on localhost"), "{host}");
        }
        let missing = format!("{}/missing", root.display());
        assert!(text(&missing).contains(&format!("Snapshot file \"{missing}\" does not exist")));
    }
}
