//! Shard snapshots (spec §7.2): the shard snapshot file of one local replica
//! (`quiver_collection::snapshot`, CRC-checked) stored as
//! `<snapshots>/<c>/shards/<id>/<c>-shard-<id>-<timestamp>.snapshot` with its checksum beside it.
//! Recovery checks the file whole, then replaces the replica: standalone through the same
//! build-beside-and-swap as a collection recovery (crash-safe), in a cluster by the priority
//! rules of `snapshot_cluster.rs`.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::snapshot_recovery::{SnapshotPriority, SnapshotSource, Unpacked};
use crate::snapshots::{
    SnapshotDescription, Staging, blocking, existing, list_dir, new_snapshot_name, publish, service,
    validate_snapshot_name,
};
use quiver_types::ShardId;
use std::collections::BTreeMap;
use std::path::PathBuf;

impl Node {
    fn shard_snapshots_dir(&self, name: &str, shard_id: ShardId) -> Result<(String, PathBuf)> {
        let collection = self.resolve(name)?;
        collection.replica_set(shard_id)?;
        let real = collection.name().to_string();
        let dir = self.snapshots_root()?.join(&real).join("shards").join(shard_id.to_string());
        Ok((real, dir))
    }

    fn local_replica(&self, name: &str, shard_id: ShardId) -> Result<std::sync::Arc<quiver_collection::LocalShard>> {
        self.resolve(name)?
            .replica_set(shard_id)?
            .local()
            .ok_or_else(|| NodeError::NotFound(format!("Shard {shard_id} of {name} is not on this peer")))
    }

    /// `POST /collections/{c}/shards/{id}/snapshots`.
    pub async fn create_shard_snapshot(&self, name: &str, shard_id: ShardId) -> Result<SnapshotDescription> {
        let (real, dir) = self.shard_snapshots_dir(name, shard_id)?;
        let local = self.local_replica(name, shard_id)?;
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| service("create snapshots dir", e))?;
            let name = new_snapshot_name(&dir, &format!("{real}-shard-{shard_id}"))?;
            let part = dir.join(format!(".{name}.part"));
            let written = local.write_snapshot(&part).map_err(|e| service("write shard snapshot", e));
            let published = written.and_then(|_| publish(&part, &dir, &name));
            if published.is_err() {
                let _ = std::fs::remove_file(&part);
            }
            published
        })
        .await
    }

    /// `GET /collections/{c}/shards/{id}/snapshots`.
    pub async fn list_shard_snapshots(&self, name: &str, shard_id: ShardId) -> Result<Vec<SnapshotDescription>> {
        let (_, dir) = self.shard_snapshots_dir(name, shard_id)?;
        blocking(move || list_dir(&dir)).await
    }

    /// The file of `GET /collections/{c}/shards/{id}/snapshots/{snapshot}`.
    pub fn shard_snapshot_path(&self, name: &str, shard_id: ShardId, snapshot: &str) -> Result<PathBuf> {
        existing(&self.shard_snapshots_dir(name, shard_id)?.1, snapshot)
    }

    /// `DELETE /collections/{c}/shards/{id}/snapshots/{snapshot}`.
    pub async fn delete_shard_snapshot(&self, name: &str, shard_id: ShardId, snapshot: &str) -> Result<bool> {
        let (_, dir) = self.shard_snapshots_dir(name, shard_id)?;
        let snapshot = snapshot.to_string();
        blocking(move || crate::snapshots::remove(&dir, &snapshot)).await
    }

    /// `GET /collections/{c}/shards/{id}/snapshot`: a fresh snapshot file in a staging
    /// directory (removed when the returned guard is dropped; open the file first).
    pub async fn stream_shard_snapshot(&self, name: &str, shard_id: ShardId) -> Result<(Staging, PathBuf)> {
        let local = self.local_replica(name, shard_id)?;
        let staging = self.snapshot_staging()?;
        let path = staging.path.join(format!("shard-{shard_id}.snapshot"));
        let target = path.clone();
        blocking(move || local.write_snapshot(&target).map_err(|e| service("write shard snapshot", e))).await?;
        Ok((staging, path))
    }

    /// `PUT /collections/{c}/shards/{id}/snapshots/recover` and `…/upload`. A location is an
    /// `http(s)://` URL or the bare name of a snapshot in the shard's snapshot directory.
    pub async fn recover_shard_snapshot(
        &self,
        name: &str,
        shard_id: ShardId,
        source: SnapshotSource,
        priority: SnapshotPriority,
        checksum: Option<String>,
    ) -> Result<bool> {
        let (real, dir) = self.shard_snapshots_dir(name, shard_id)?;
        let job = self.snapshot_staging()?;
        let file = match source {
            SnapshotSource::Uploaded(path) => path,
            SnapshotSource::Location { location, api_key } => {
                let lower = location.to_ascii_lowercase();
                if lower.starts_with("http://") || lower.starts_with("https://") {
                    self.fetch_snapshot(&location, api_key.as_deref(), &job.path).await?
                } else if lower.contains("://") {
                    return Err(NodeError::BadInput(format!(
                        "Invalid snapshot location `{location}`: http(s) URL or snapshot name expected"
                    )));
                } else {
                    // A location that is no snapshot name is the caller's mistake (400), not a
                    // snapshot that is missing.
                    validate_snapshot_name(&location)?;
                    existing(&dir, &location)?
                }
            }
        };
        let checked = file.clone();
        blocking(move || {
            if let Some(expected) = checksum {
                let actual = crate::snapshot_archive::sha256_file(&checked).map_err(|e| service("checksum", e))?;
                if !actual.eq_ignore_ascii_case(&expected) {
                    return Err(NodeError::ChecksumMismatch { expected, actual });
                }
            }
            quiver_collection::verify_snapshot(&checked)
                .map(|_| ())
                .map_err(|e| NodeError::BadInput(format!("Invalid snapshot: {e}")))
        })
        .await?;
        if self.cluster().is_some() {
            let _serialized = self.meta_lock.lock().await;
            self.recover_shards_in_cluster(&real, &BTreeMap::from([(shard_id, file)]), priority).await?;
            return Ok(true);
        }
        let unpacked = {
            // Not held across the swap, which waits for the live collection to be released.
            let collection = self.resolve(&real)?;
            Unpacked {
                config: collection.config(),
                payload_index: collection.payload_index(),
                shards: BTreeMap::from([(shard_id, file)]),
                shard_keys: collection.routing().keys().clone(),
            }
        };
        self.replace_collection(&real, unpacked, job).await
    }
}
