//! `GET /collections/{c}/optimizations`: Quiver's background work in Qdrant's shape. Each
//! local shard is one segment; the only optimizer is the HNSW indexer, which has work queued
//! while vectors wait to be indexed. Runs are not tracked individually: `running` and the
//! optional `queued`/`completed`/`idle_segments` lists are empty.

use crate::error::Result;
use crate::node::Node;
use serde_json::{Value, json};

impl Node {
    /// The optimizations report; `with` names the optional lists to include.
    pub fn optimizations(&self, name: &str, with: &[String]) -> Result<Value> {
        let collection = self.resolve(name)?;
        let segments = collection.replica_sets().len();
        let (indexed_vectors, indexing) = collection.index_status();
        let dense = collection.config().params.vectors.by_name().len().max(1);
        let queued_points = match indexing {
            true => collection.points_count().saturating_sub(indexed_vectors / dense),
            false => 0,
        };
        let queued = usize::from(indexing).min(segments);
        let mut out = json!({
            "summary": {
                "queued_optimizations": queued,
                "queued_segments": queued,
                "queued_points": queued_points,
                "idle_segments": segments - queued,
            },
            "running": [],
        });
        for field in ["queued", "completed", "idle_segments"] {
            if with.iter().any(|w| w == field) {
                out[field] = json!([]);
            }
        }
        Ok(out)
    }
}
