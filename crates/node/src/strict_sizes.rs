//! Strict mode's size limits of writes: vectors per multivector and indices per sparse vector
//! (`multivector_config`, `sparse_config`), the collection's points, vector and payload bytes
//! (`max_points_count`, `max_collection_vector_size_bytes`, `max_collection_payload_size_bytes`:
//! refused once reached, as Qdrant does, from this peer's replicas), and the process's resident
//! memory (`max_resident_memory_percent`). Deletes are never refused by a size limit.

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_collection::Collection;
use quiver_types::ops::UpdateOperation;
use quiver_types::point::{NamedVectors, Vector};
use quiver_types::strict_mode::{
    StrictModeConfig, memory_limit_reached, multivector_exceeded, points_limit_reached, sparse_exceeded,
    storage_limit_reached,
};

fn bad(message: String) -> NodeError {
    NodeError::BadRequest(message)
}

/// `multivector_config.<name>.max_vectors` and `sparse_config.<name>.max_length`.
pub(crate) fn check_vector_limits(strict: &StrictModeConfig, op: &UpdateOperation) -> Result<()> {
    let points: Vec<&NamedVectors> = match op {
        UpdateOperation::Upsert { points, .. } => points.iter().map(|p| &p.vectors).collect(),
        UpdateOperation::UpdateVectors { points, .. } => points.iter().map(|p| &p.vectors).collect(),
        UpdateOperation::Delete { .. }
        | UpdateOperation::SetPayload { .. }
        | UpdateOperation::OverwritePayload { .. }
        | UpdateOperation::DeletePayload { .. }
        | UpdateOperation::ClearPayload { .. }
        | UpdateOperation::DeleteVectors { .. } => return Ok(()),
    };
    for (name, vector) in points.into_iter().flatten() {
        match vector {
            Vector::Multi(rows) => {
                let limit = strict.multivector_config.as_ref().and_then(|m| m.get(name)?.max_vectors);
                if let Some(max) = limit.filter(|max| rows.len() > *max) {
                    return Err(bad(multivector_exceeded(name, max, rows.len())));
                }
            }
            Vector::Sparse(sparse) => {
                let limit = strict.sparse_config.as_ref().and_then(|s| s.get(name)?.max_length);
                let len = sparse.indices.len().max(sparse.values.len());
                if let Some(max) = limit.filter(|max| len > *max) {
                    return Err(bad(sparse_exceeded(name, max, len)));
                }
            }
            Vector::Dense(_) => {}
        }
    }
    Ok(())
}

/// The refusal for `rss_bytes` resident out of `available_bytes`, if above `limit_percent`.
pub(crate) fn memory_refusal(rss_bytes: u64, available_bytes: u64, limit_percent: usize) -> Option<String> {
    if available_bytes == 0 {
        return None;
    }
    let percent = rss_bytes as f64 * 100.0 / available_bytes as f64;
    (percent >= limit_percent as f64).then(|| memory_limit_reached(percent, limit_percent))
}

/// `max_resident_memory_percent`: this process's resident memory against the memory it may use
/// (the cgroup's limit where one is set, else the machine's). Not checked where `/proc` cannot
/// be read.
pub(crate) fn check_resident_memory(strict: &StrictModeConfig) -> Result<()> {
    let Some(limit) = strict.max_resident_memory_percent else { return Ok(()) };
    let Some((rss, available)) = resident_and_available() else { return Ok(()) };
    match memory_refusal(rss, available, limit) {
        Some(message) => Err(bad(message)),
        None => Ok(()),
    }
}

fn kilobytes(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn resident_and_available() -> Option<(u64, u64)> {
    let rss = kilobytes(&std::fs::read_to_string("/proc/self/status").ok()?, "VmRSS:")?;
    let total = kilobytes(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemTotal:")?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse::<u64>().ok());
    Some((rss, cgroup.map_or(total, |limit| limit.min(total))))
}

impl Node {
    /// `max_points_count`, `max_collection_vector_size_bytes`, `max_collection_payload_size_bytes`.
    pub(crate) async fn check_collection_size(
        &self,
        collection: &Collection,
        strict: &StrictModeConfig,
        op: &UpdateOperation,
    ) -> Result<()> {
        if let (Some(max), UpdateOperation::Upsert { points, .. }) = (strict.max_points_count, op) {
            let existing = collection.count(None, None).await?;
            let ids: Vec<_> = points.iter().map(|p| p.id).collect();
            let present = collection.point_versions(&ids).await?.len();
            let new = ids.iter().collect::<std::collections::HashSet<_>>().len().saturating_sub(present);
            if existing + new > max {
                return Err(bad(points_limit_reached(max)));
            }
        }
        let (vector_limit, payload_limit) =
            (strict.max_collection_vector_size_bytes, strict.max_collection_payload_size_bytes);
        if vector_limit.is_none() && payload_limit.is_none() {
            return Ok(());
        }
        let shards: Vec<_> = collection.replica_sets().iter().filter_map(|set| set.local()).collect();
        let sizes = tokio::task::spawn_blocking(move || {
            let vectors = shards.iter().map(|s| s.memory_report().vectors).sum::<usize>();
            let payloads = shards.iter().map(|s| s.payload_bytes()).sum::<usize>();
            (vectors, payloads)
        });
        let (vectors, payloads) = sizes.await.map_err(|e| NodeError::Service(format!("size task: {e}")))?;
        if let Some(max) = vector_limit.filter(|max| vectors >= *max) {
            return Err(bad(storage_limit_reached("vector", max)));
        }
        if let Some(max) = payload_limit.filter(|max| payloads >= *max) {
            return Err(bad(storage_limit_reached("payload", max)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_refused_at_the_limit() {
        assert_eq!(memory_refusal(50, 100, 51), None);
        let refusal = memory_refusal(51, 100, 51).unwrap();
        assert!(refusal.starts_with("Resident memory usage 51.0% exceeds the limit of 51%"), "{refusal}");
        assert_eq!(memory_refusal(1, 0, 1), None, "nothing known of the memory: not refused");
    }

    #[test]
    fn proc_values_are_read_in_bytes() {
        assert_eq!(kilobytes("Name:\tq\nVmRSS:\t  2048 kB\n", "VmRSS:"), Some(2048 * 1024));
        assert_eq!(kilobytes("MemTotal:       16384 kB\n", "MemTotal:"), Some(16384 * 1024));
        assert!(resident_and_available().is_some_and(|(rss, available)| rss > 0 && available >= rss));
    }
}
