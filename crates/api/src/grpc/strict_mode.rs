//! `StrictModeConfig` between gRPC and the REST JSON the node validates and stores.

use qdrant_client::qdrant as pb;
use quiver_types::strict_mode::{MultivectorLimit, SparseLimit, StrictModeConfig};
use serde_json::Value;
use tonic::Status;

/// The config as REST's JSON.
#[allow(deprecated)]
pub fn strict_mode_in(s: Option<pb::StrictModeConfig>) -> Result<Option<Value>, Status> {
    let Some(s) = s else { return Ok(None) };
    let n = |v: Option<u32>| v.map(|v| v as usize);
    let w = |v: Option<u64>| v.map(|v| v as usize);
    let multivector = s.multivector_config.map(|m| {
        let limits = m.multivector_config.into_iter();
        limits.map(|(name, l)| (name, MultivectorLimit { max_vectors: w(l.max_vectors) })).collect()
    });
    let sparse = s.sparse_config.map(|m| {
        let limits = m.sparse_config.into_iter();
        limits.map(|(name, l)| (name, SparseLimit { max_length: w(l.max_length) })).collect()
    });
    let config = StrictModeConfig {
        enabled: s.enabled,
        max_query_limit: n(s.max_query_limit),
        max_timeout: n(s.max_timeout),
        unindexed_filtering_retrieve: s.unindexed_filtering_retrieve,
        unindexed_filtering_update: s.unindexed_filtering_update,
        search_max_hnsw_ef: n(s.search_max_hnsw_ef),
        search_allow_exact: s.search_allow_exact,
        search_max_oversampling: s.search_max_oversampling.map(f64::from),
        upsert_max_batchsize: w(s.upsert_max_batchsize),
        search_max_batchsize: w(s.search_max_batchsize),
        max_collection_vector_size_bytes: w(s.max_collection_vector_size_bytes),
        read_rate_limit: n(s.read_rate_limit),
        write_rate_limit: n(s.write_rate_limit),
        max_collection_payload_size_bytes: w(s.max_collection_payload_size_bytes),
        filter_max_conditions: w(s.filter_max_conditions),
        condition_max_size: w(s.condition_max_size),
        multivector_config: multivector,
        sparse_config: sparse,
        max_points_count: w(s.max_points_count),
        max_payload_index_count: w(s.max_payload_index_count),
        max_resident_memory_percent: n(s.max_resident_memory_percent),
    };
    serde_json::to_value(config).map(Some).map_err(|e| Status::internal(e.to_string()))
}

/// The stored config for `CollectionConfig.strict_mode_config`.
#[allow(deprecated)] // `max_resident_memory_percent` is deprecated in 1.20 and still served
pub fn strict_mode_out(value: Option<&Value>) -> Option<pb::StrictModeConfig> {
    let c = StrictModeConfig::parse(value?).ok()?;
    let n = |v: Option<usize>| v.map(|v| v as u32);
    let w = |v: Option<usize>| v.map(|v| v as u64);
    Some(pb::StrictModeConfig {
        enabled: c.enabled,
        max_query_limit: n(c.max_query_limit),
        max_timeout: n(c.max_timeout),
        unindexed_filtering_retrieve: c.unindexed_filtering_retrieve,
        unindexed_filtering_update: c.unindexed_filtering_update,
        search_max_hnsw_ef: n(c.search_max_hnsw_ef),
        search_allow_exact: c.search_allow_exact,
        search_max_oversampling: c.search_max_oversampling.map(|v| v as f32),
        upsert_max_batchsize: w(c.upsert_max_batchsize),
        search_max_batchsize: w(c.search_max_batchsize),
        read_rate_limit: n(c.read_rate_limit),
        write_rate_limit: n(c.write_rate_limit),
        filter_max_conditions: w(c.filter_max_conditions),
        max_points_count: w(c.max_points_count),
        max_payload_index_count: w(c.max_payload_index_count),
        max_collection_vector_size_bytes: w(c.max_collection_vector_size_bytes),
        max_collection_payload_size_bytes: w(c.max_collection_payload_size_bytes),
        condition_max_size: w(c.condition_max_size),
        max_resident_memory_percent: n(c.max_resident_memory_percent),
        multivector_config: c.multivector_config.map(|m| pb::StrictModeMultivectorConfig {
            multivector_config: m
                .into_iter()
                .map(|(name, l)| (name, pb::StrictModeMultivector { max_vectors: w(l.max_vectors) }))
                .collect(),
        }),
        sparse_config: c.sparse_config.map(|m| pb::StrictModeSparseConfig {
            sparse_config: m
                .into_iter()
                .map(|(name, l)| (name, pb::StrictModeSparse { max_length: w(l.max_length) }))
                .collect(),
        }),
    })
}
