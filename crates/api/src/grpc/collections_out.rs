//! Collection descriptions returned over gRPC: collection info and its cluster view.

use crate::grpc::convert::payload_to_map;
use qdrant_client::qdrant as pb;
use quiver_node::info::{CollectionClusterInfo, CollectionInfo};
use quiver_types::config::{CollectionConfig, Distance, HnswConfig, HnswConfigDiff, OptimizersConfig, VectorParams};
use quiver_types::config::{Datatype, Memory, MultiVectorComparator, SparseVectorParams, VectorsConfig};
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::ShardingMethod;
use serde_json::Value as Json;
use std::collections::BTreeMap;

fn distance_out(d: Distance) -> i32 {
    let d = match d {
        Distance::Cosine => pb::Distance::Cosine,
        Distance::Euclid => pb::Distance::Euclid,
        Distance::Dot => pb::Distance::Dot,
        Distance::Manhattan => pb::Distance::Manhattan,
    };
    d as i32
}

pub(crate) fn memory_out(m: Option<Memory>) -> Option<i32> {
    let m = match m? {
        Memory::Cold => pb::Memory::Cold,
        Memory::Cached => pb::Memory::Cached,
        Memory::Pinned => pb::Memory::Pinned,
    };
    Some(m as i32)
}

fn datatype_out(d: Option<Datatype>) -> Option<i32> {
    let d = match d? {
        Datatype::Float32 => pb::Datatype::Float32,
        Datatype::Uint8 => pb::Datatype::Uint8,
        Datatype::Float16 => pb::Datatype::Float16,
    };
    Some(d as i32)
}

#[allow(deprecated)]
fn hnsw_diff_out(h: &HnswConfigDiff) -> pb::HnswConfigDiff {
    pb::HnswConfigDiff {
        m: h.m.map(|v| v as u64),
        ef_construct: h.ef_construct.map(|v| v as u64),
        full_scan_threshold: h.full_scan_threshold.map(|v| v as u64),
        max_indexing_threads: h.max_indexing_threads.map(|v| v as u64),
        on_disk: h.on_disk,
        payload_m: h.payload_m.map(|v| v as u64),
        inline_storage: h.inline_storage,
        memory: memory_out(h.memory),
    }
}

#[allow(deprecated)]
fn hnsw_out(h: &HnswConfig) -> pb::HnswConfigDiff {
    pb::HnswConfigDiff {
        m: Some(h.m as u64),
        ef_construct: Some(h.ef_construct as u64),
        full_scan_threshold: Some(h.full_scan_threshold as u64),
        max_indexing_threads: Some(h.max_indexing_threads as u64),
        on_disk: h.on_disk,
        payload_m: h.payload_m.map(|v| v as u64),
        inline_storage: h.inline_storage,
        memory: memory_out(h.memory),
    }
}

/// Quantization from its REST JSON form (scalar, product, binary; anything else is omitted).
#[allow(deprecated)]
fn quantization_out(q: Option<&Json>) -> Option<pb::QuantizationConfig> {
    use pb::quantization_config::Quantization as Q;
    let q = q?.as_object()?;
    let (kind, body) = q.iter().next()?;
    let always_ram = body.get("always_ram").and_then(Json::as_bool);
    let memory = memory_out(body.get("memory").and_then(|m| serde_json::from_value::<Memory>(m.clone()).ok()));
    let quantization = match kind.as_str() {
        "scalar" => Q::Scalar(pb::ScalarQuantization {
            r#type: pb::QuantizationType::Int8 as i32,
            quantile: body.get("quantile").and_then(Json::as_f64).map(|f| f as f32),
            always_ram,
            memory,
        }),
        "product" => {
            let ratio = body.get("compression").and_then(Json::as_str).unwrap_or("x4");
            let compression = pb::CompressionRatio::from_str_name(ratio).unwrap_or(pb::CompressionRatio::X4) as i32;
            Q::Product(pb::ProductQuantization { compression, always_ram, memory })
        }
        "binary" => Q::Binary(pb::BinaryQuantization { memory, ..binary_out(body, always_ram) }),
        _ => return None,
    };
    Some(pb::QuantizationConfig { quantization: Some(quantization) })
}

/// Binary quantization with its `encoding` and `query_encoding` as given (unknown names omitted).
#[allow(deprecated)]
fn binary_out(body: &Json, always_ram: Option<bool>) -> pb::BinaryQuantization {
    use pb::binary_quantization_query_encoding::{Setting, Variant};
    let encoding = body.get("encoding").and_then(Json::as_str).and_then(|e| match e {
        "one_bit" => Some(pb::BinaryQuantizationEncoding::OneBit as i32),
        "two_bits" => Some(pb::BinaryQuantizationEncoding::TwoBits as i32),
        "one_and_half_bits" => Some(pb::BinaryQuantizationEncoding::OneAndHalfBits as i32),
        _ => None,
    });
    let setting = body.get("query_encoding").and_then(Json::as_str).and_then(|q| match q {
        "default" => Some(Setting::Default),
        "binary" => Some(Setting::Binary),
        "scalar4bits" => Some(Setting::Scalar4Bits),
        "scalar8bits" => Some(Setting::Scalar8Bits),
        _ => None,
    });
    let query_encoding =
        setting.map(|s| pb::BinaryQuantizationQueryEncoding { variant: Some(Variant::Setting(s as i32)) });
    pb::BinaryQuantization { always_ram, encoding, query_encoding, ..Default::default() }
}

#[allow(deprecated)]
fn vector_params_out(p: &VectorParams) -> pb::VectorParams {
    pb::VectorParams {
        size: p.size,
        distance: distance_out(p.distance),
        hnsw_config: p.hnsw_config.as_ref().map(hnsw_diff_out),
        quantization_config: quantization_out(p.quantization_config.as_ref()),
        on_disk: p.on_disk,
        datatype: datatype_out(p.datatype),
        multivector_config: p.multivector_config.map(|m| pb::MultiVectorConfig {
            comparator: match m.comparator {
                MultiVectorComparator::MaxSim => pb::MultiVectorComparator::MaxSim as i32,
            },
        }),
        memory: memory_out(p.memory),
    }
}

fn vectors_out(v: &VectorsConfig) -> pb::VectorsConfig {
    use pb::vectors_config::Config;
    let config = match v {
        VectorsConfig::Single(p) => Config::Params(vector_params_out(p)),
        VectorsConfig::Multi(map) => Config::ParamsMap(pb::VectorParamsMap {
            map: map.iter().map(|(k, p)| (k.clone(), vector_params_out(p))).collect(),
        }),
    };
    pb::VectorsConfig { config: Some(config) }
}

fn sparse_out(map: &BTreeMap<String, SparseVectorParams>) -> Option<pb::SparseVectorConfig> {
    if map.is_empty() {
        return None;
    }
    let modifier = |m: &Option<String>| {
        m.as_deref().map(|m| if m == "idf" { pb::Modifier::Idf as i32 } else { pb::Modifier::None as i32 })
    };
    let map = map
        .iter()
        .map(|(k, p)| {
            let index = p.index.as_ref().map(sparse_index_out);
            (k.clone(), pb::SparseVectorParams { index, modifier: modifier(&p.modifier) })
        })
        .collect();
    Some(pb::SparseVectorConfig { map })
}

/// A sparse vector's index settings from their REST JSON form (`full_scan_threshold`, `on_disk`,
/// `datatype`, `memory`).
#[allow(deprecated)]
fn sparse_index_out(index: &Json) -> pb::SparseIndexConfig {
    let datatype = index.get("datatype").and_then(|d| serde_json::from_value::<Datatype>(d.clone()).ok());
    pb::SparseIndexConfig {
        full_scan_threshold: index.get("full_scan_threshold").and_then(Json::as_u64),
        on_disk: index.get("on_disk").and_then(Json::as_bool),
        datatype: datatype_out(datatype),
        memory: memory_out(index.get("memory").and_then(|m| serde_json::from_value::<Memory>(m.clone()).ok())),
    }
}

fn optimizers_out(o: &OptimizersConfig) -> pb::OptimizersConfigDiff {
    let threads = o
        .max_optimization_threads
        .map(|n| pb::MaxOptimizationThreads { variant: Some(pb::max_optimization_threads::Variant::Value(n as u64)) });
    pb::OptimizersConfigDiff {
        deleted_threshold: Some(o.deleted_threshold),
        vacuum_min_vector_number: Some(o.vacuum_min_vector_number as u64),
        default_segment_number: Some(o.default_segment_number as u64),
        max_segment_size: o.max_segment_size.map(|v| v as u64),
        memmap_threshold: o.memmap_threshold.map(|v| v as u64),
        indexing_threshold: o.indexing_threshold.map(|v| v as u64),
        flush_interval_sec: Some(o.flush_interval_sec),
        deprecated_max_optimization_threads: None,
        max_optimization_threads: threads,
        prevent_unoptimized: o.prevent_unoptimized,
    }
}

#[allow(deprecated)]
fn config_out(c: &CollectionConfig) -> pb::CollectionConfig {
    let p = &c.params;
    let sharding_method = p.sharding_method.map(|m| match m {
        ShardingMethod::Custom => pb::ShardingMethod::Custom as i32,
        ShardingMethod::Auto => pb::ShardingMethod::Auto as i32,
    });
    let params = pb::CollectionParams {
        shard_number: p.shard_number,
        on_disk_payload: p.on_disk_payload,
        vectors_config: Some(vectors_out(&p.vectors)),
        replication_factor: Some(p.replication_factor),
        write_consistency_factor: Some(p.write_consistency_factor),
        read_fan_out_factor: p.read_fan_out_factor,
        read_fan_out_delay_ms: p.read_fan_out_delay_ms,
        sharding_method,
        sparse_vectors_config: sparse_out(&p.sparse_vectors),
        ..Default::default()
    };
    let wal = &c.wal_config;
    pb::CollectionConfig {
        params: Some(params),
        hnsw_config: Some(hnsw_out(&c.hnsw_config)),
        optimizer_config: Some(optimizers_out(&c.optimizer_config)),
        wal_config: Some(pb::WalConfigDiff {
            wal_capacity_mb: Some(wal.wal_capacity_mb as u64),
            wal_segments_ahead: Some(wal.wal_segments_ahead as u64),
            wal_retain_closed: Some(wal.wal_retain_closed as u64),
        }),
        quantization_config: quantization_out(c.quantization_config.as_ref()),
        strict_mode_config: super::strict_mode::strict_mode_out(c.strict_mode_config.as_ref()),
        metadata: c.metadata.clone().map(payload_to_map).unwrap_or_default(),
    }
}

fn schema_type(data_type: Option<&str>) -> i32 {
    let t = match data_type.unwrap_or_default() {
        "keyword" => pb::PayloadSchemaType::Keyword,
        "integer" => pb::PayloadSchemaType::Integer,
        "float" => pb::PayloadSchemaType::Float,
        "geo" => pb::PayloadSchemaType::Geo,
        "text" => pb::PayloadSchemaType::Text,
        "bool" => pb::PayloadSchemaType::Bool,
        "datetime" => pb::PayloadSchemaType::Datetime,
        "uuid" => pb::PayloadSchemaType::Uuid,
        _ => pb::PayloadSchemaType::UnknownType,
    };
    t as i32
}

pub fn info_out(info: CollectionInfo) -> pb::CollectionInfo {
    let status = match info.status {
        "green" => pb::CollectionStatus::Green,
        "yellow" => pb::CollectionStatus::Yellow,
        "red" => pb::CollectionStatus::Red,
        _ => pb::CollectionStatus::Grey,
    };
    let payload_schema = info
        .payload_schema
        .iter()
        .map(|(field, entry)| {
            let schema = pb::PayloadSchemaInfo {
                data_type: schema_type(entry.get("data_type").and_then(Json::as_str)),
                params: super::index_params::params_out(entry.get("params")),
                points: entry.get("points").and_then(Json::as_u64),
            };
            (field.clone(), schema)
        })
        .collect();
    pb::CollectionInfo {
        status: status as i32,
        optimizer_status: Some(pb::OptimizerStatus { ok: info.optimizer_status == "ok", error: String::new() }),
        segments_count: info.segments_count as u64,
        config: Some(config_out(&info.config)),
        payload_schema,
        points_count: Some(info.points_count as u64),
        indexed_vectors_count: Some(info.indexed_vectors_count as u64),
        warnings: info.warnings.into_iter().map(|w| pb::CollectionWarning { message: w.message }).collect(),
        update_queue: Some(pb::UpdateQueueInfo { length: info.update_queue.length as u64, deferred_points: None }),
        created_at: None,
    }
}

fn replica_state_out(s: ReplicaState) -> i32 {
    let s = match s {
        ReplicaState::Active => pb::ReplicaState::Active,
        ReplicaState::Dead => pb::ReplicaState::Dead,
        ReplicaState::Partial => pb::ReplicaState::Partial,
        ReplicaState::Initializing => pb::ReplicaState::Initializing,
        ReplicaState::Listener => pb::ReplicaState::Listener,
        ReplicaState::PartialSnapshot => pb::ReplicaState::PartialSnapshot,
        ReplicaState::Recovery => pb::ReplicaState::Recovery,
        ReplicaState::Resharding => pb::ReplicaState::Resharding,
        ReplicaState::ReshardingScaleDown => pb::ReplicaState::ReshardingScaleDown,
        ReplicaState::ActiveRead => pb::ReplicaState::ActiveRead,
        ReplicaState::ManualRecovery => pb::ReplicaState::ManualRecovery,
    };
    s as i32
}

pub fn cluster_info_out(info: CollectionClusterInfo, time: f64) -> pb::CollectionClusterInfoResponse {
    let transfer = |t: &Json| pb::ShardTransferInfo {
        shard_id: t.get("shard_id").and_then(Json::as_u64).unwrap_or_default() as u32,
        to_shard_id: None,
        from: t.get("from").and_then(Json::as_u64).unwrap_or_default(),
        to: t.get("to").and_then(Json::as_u64).unwrap_or_default(),
        sync: t.get("sync").and_then(Json::as_bool).unwrap_or_default(),
    };
    pb::CollectionClusterInfoResponse {
        peer_id: info.peer_id,
        shard_count: info.shard_count as u64,
        local_shards: info
            .local_shards
            .iter()
            .map(|s| pb::LocalShardInfo {
                shard_id: s.shard_id,
                points_count: s.points_count as u64,
                state: replica_state_out(s.state),
                shard_key: s.shard_key.as_ref().map(crate::grpc::shard_keys::key_out),
            })
            .collect(),
        remote_shards: info
            .remote_shards
            .iter()
            .map(|s| pb::RemoteShardInfo {
                shard_id: s.shard_id,
                peer_id: s.peer_id,
                state: replica_state_out(s.state),
                shard_key: s.shard_key.as_ref().map(crate::grpc::shard_keys::key_out),
            })
            .collect(),
        shard_transfers: info.shard_transfers.iter().map(transfer).collect(),
        resharding_operations: Vec::new(),
        time,
    }
}
