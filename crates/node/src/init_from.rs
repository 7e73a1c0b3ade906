//! `init_from` of a collection's creation (`{"init_from": {"collection": "<source>"}}`): the new
//! collection is filled with the source collection's points and payload index definitions
//! (design record 042). The source must exist (404) and its vectors must fit the new
//! collection's (400): the same layout (one unnamed vector or named ones), and every source
//! vector present with the same size and distance; the new collection may have more vectors.
//! Sparse vectors are checked the same way when the new collection names some.
//!
//! As in Qdrant, the copy runs in the background after the creation answered: the collection
//! is usable at once and its points appear as the copy proceeds. Each page is written through
//! the ordinary write path, so in cluster mode every replica receives it.

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_collection::Collection;
use quiver_types::config::{CollectionConfig, CreateCollection, VectorsConfig};
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::PointStruct;
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use std::sync::Arc;

/// Points copied per page.
const COPY_PAGE: usize = 256;

/// The source collection an `init_from` value names.
fn source_name(init_from: &serde_json::Value) -> Result<String> {
    init_from
        .get("collection")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| NodeError::BadInput("init_from must be an object `{\"collection\": \"<name>\"}`".into()))
}

/// Refuses a new collection whose vectors cannot hold the source's (see the module comment).
fn check_compatible(source: &CollectionConfig, target: &CreateCollection) -> Result<()> {
    let target_vectors = target.vectors.clone().unwrap_or_default();
    let same_layout = matches!(
        (&source.params.vectors, &target_vectors),
        (VectorsConfig::Single(_), VectorsConfig::Single(_)) | (VectorsConfig::Multi(_), VectorsConfig::Multi(_))
    );
    if !same_layout {
        return Err(NodeError::BadInput(
            "Cannot take data from a collection whose vectors are unnamed into one with named vectors, or back".into(),
        ));
    }
    for (name, params) in source.params.vectors.by_name() {
        let Some(other) = target_vectors.get(&name) else {
            return Err(NodeError::BadInput(format!("Vector `{name}` of the source collection is not configured")));
        };
        if other.size != params.size || other.distance != params.distance {
            return Err(NodeError::BadInput(format!(
                "Vector `{name}` is incompatible with the source collection's: size {} and distance {:?} there, \
                 size {} and distance {:?} here",
                params.size, params.distance, other.size, other.distance
            )));
        }
    }
    let unconfigured = target
        .sparse_vectors
        .as_ref()
        .and_then(|target_sparse| source.params.sparse_vectors.keys().find(|name| !target_sparse.contains_key(*name)));
    if let Some(name) = unconfigured {
        return Err(NodeError::BadInput(format!("Sparse vector `{name}` of the source collection is not configured")));
    }
    Ok(())
}

impl Node {
    /// The source of a creation's `init_from`, checked against the requested configuration;
    /// `None` without `init_from`.
    pub(crate) fn init_from_source(&self, request: &CreateCollection) -> Result<Option<Arc<Collection>>> {
        let Some(init_from) = request.init_from.as_ref().filter(|v| !v.is_null()) else { return Ok(None) };
        let source = self.resolve(&source_name(init_from)?)?;
        check_compatible(&source.config(), request)?;
        Ok(Some(source))
    }

    /// Starts copying `source` into the just created collection `target` in the background.
    pub(crate) fn start_init_from(&self, source: Arc<Collection>, target: &str) {
        let node = self.weak_self();
        let target = target.to_string();
        tokio::spawn(async move {
            let Some(node) = node.upgrade() else { return };
            match node.copy_collection(&source, &target).await {
                Ok(copied) => tracing::info!(source = %source.name(), %target, copied, "init_from copy finished"),
                Err(e) => tracing::warn!(source = %source.name(), %target, error = %e, "init_from copy failed"),
            }
        });
    }

    /// Copies the payload index definitions, then every point page by page; the number of points.
    async fn copy_collection(&self, source: &Collection, target: &str) -> Result<usize> {
        for (field, schema) in source.payload_index() {
            self.create_field_index(target, &field, Some(schema), true).await?;
        }
        let target_config = self.resolve(target)?.config();
        let mut offset = None;
        let mut copied = 0;
        loop {
            let request = ScrollRequest {
                offset,
                limit: COPY_PAGE,
                filter: None,
                with_payload: WithPayload::Bool(true),
                with_vector: WithVector::Bool(true),
                order_by: None,
            };
            let page = source.scroll(request, None).await?;
            let points: Vec<PointStruct> = page
                .points
                .into_iter()
                .map(|record| {
                    let mut vectors = record.vector.map(|v| v.into_named()).unwrap_or_default();
                    // Only the vectors the new collection has (it may lack a source's sparse one).
                    vectors.retain(|name, _| {
                        target_config.params.vectors.get(name).is_some()
                            || target_config.params.sparse_vectors.contains_key(name)
                    });
                    PointStruct { id: record.id, vectors, payload: record.payload }
                })
                .collect();
            copied += points.len();
            if !points.is_empty() {
                let op = UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None };
                self.update_points(target, op, None, true).await?;
            }
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(copied),
            }
        }
    }
}
