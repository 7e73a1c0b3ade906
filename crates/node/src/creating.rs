//! A standalone node's creations that span many files, marked until complete: a collection
//! (its configuration, then each shard) and a shard key (the key, then each shard). A crash
//! part-way leaves the marker; start-up removes the unfinished collection, or finishes the shard
//! key by creating its missing shards.

use crate::error::{NodeError, Result};
use quiver_collection::Collection;
use std::path::Path;

fn service(context: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Service(format!("{context}: {e}"))
}

/// Makes the directory's entries (a removed marker) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// In a collection directory: its creation (standalone) is not complete yet.
const CREATING_MARKER: &str = "creating";

/// Creates a standalone collection in `dir`, marked while its files are made: a crash part-way
/// (a config without all its shards, which would load as a collection missing shards) leaves
/// the marker, and the next start removes the directory (the create was never acknowledged).
pub(crate) fn create_marked(
    name: &str,
    dir: &Path,
    config: quiver_types::config::CollectionConfig,
) -> Result<Collection> {
    let io = |e: std::io::Error| service("create collection", e);
    std::fs::create_dir_all(dir).map_err(io)?;
    quiver_collection::write_atomic(&dir.join(CREATING_MARKER), b"").map_err(io)?;
    let collection = Collection::create(name, dir, config, None)?;
    std::fs::remove_file(dir.join(CREATING_MARKER)).map_err(io)?;
    sync_dir(dir).map_err(io)?;
    Ok(collection)
}

/// In a collection directory: a shard key's creation (standalone) is not complete yet.
const KEY_MARKER: &str = "creating_shard_key";

/// Standalone: adopts `keys` and creates the local shards `shards` of the new key, marked until
/// every one exists. A crash part-way leaves the marker; the next start creates the key's
/// missing shards (empty: none of their writes was acknowledged), where without the marker they
/// would stay missing for good (every write to the key 503).
pub(crate) fn create_key_marked(
    collection: &Collection,
    dir: &Path,
    keys: &quiver_types::shard_key::ShardKeys,
    shards: &[quiver_types::ShardId],
) -> Result<()> {
    let io = |e: std::io::Error| service("create shard key", e);
    quiver_collection::write_atomic(&dir.join(KEY_MARKER), b"").map_err(io)?;
    collection.set_shard_keys(keys)?;
    shards.iter().try_for_each(|shard_id| collection.add_local_shard(*shard_id))?;
    finish_key_creation(collection, dir)
}

/// Start-up: after a cut-short shard key creation (its marker is there), creates the shards
/// missing from the routing and removes the marker.
pub(crate) fn finish_key_creation(collection: &Collection, dir: &Path) -> Result<()> {
    if !dir.join(KEY_MARKER).exists() {
        return Ok(());
    }
    let io = |e: std::io::Error| service("finish shard key creation", e);
    for set in collection.replica_sets().iter().filter(|set| !set.has_local()) {
        tracing::warn!(
            collection = collection.name(),
            shard_id = set.shard_id,
            "creating a shard whose key's creation was cut short"
        );
        collection.add_local_shard(set.shard_id)?;
    }
    std::fs::remove_file(dir.join(KEY_MARKER)).map_err(io)?;
    sync_dir(dir).map_err(io)
}

/// Whether the collection directory `dir` holds a creation that was cut short.
pub(crate) fn collection_unfinished(dir: &Path) -> bool {
    dir.join(CREATING_MARKER).exists()
}
