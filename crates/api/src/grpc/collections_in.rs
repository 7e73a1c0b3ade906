//! Collection requests over gRPC → the domain `CreateCollection` / `UpdateCollection` /
//! `VectorNameConfig` that the REST bodies deserialize into; the node validates both the same way.

use crate::grpc::convert::map_to_json;
use qdrant_client::qdrant as pb;
use quiver_types::config::{
    CollectionParamsDiff, CreateCollection, Datatype, Distance, HnswConfigDiff, Memory, MultiVectorComparator,
    MultiVectorConfig, OptimizersConfigDiff, PayloadStorageParams, SparseVectorParams, UpdateCollection, VectorParams,
    VectorParamsDiff, VectorsConfig, WalConfigDiff,
};
use quiver_types::shard_key::ShardingMethod;
use quiver_types::vector_name::{DenseVectorConfig, SparseVectorConfig, VectorNameConfig};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use tonic::Status;

fn bad(message: String) -> Status {
    Status::invalid_argument(format!("Wrong input: {message}"))
}

fn distance(d: i32) -> Result<Distance, Status> {
    match pb::Distance::try_from(d) {
        Ok(pb::Distance::Cosine) => Ok(Distance::Cosine),
        Ok(pb::Distance::Euclid) => Ok(Distance::Euclid),
        Ok(pb::Distance::Dot) => Ok(Distance::Dot),
        Ok(pb::Distance::Manhattan) => Ok(Distance::Manhattan),
        Ok(pb::Distance::UnknownDistance) | Err(_) => Err(bad(format!("unknown distance {d}"))),
    }
}

pub(crate) fn memory(m: Option<i32>) -> Option<Memory> {
    match pb::Memory::try_from(m?) {
        Ok(pb::Memory::Cold) => Some(Memory::Cold),
        Ok(pb::Memory::Cached) => Some(Memory::Cached),
        Ok(pb::Memory::Pinned) => Some(Memory::Pinned),
        Ok(pb::Memory::Unknown) | Err(_) => None,
    }
}

fn datatype(d: Option<i32>) -> Option<String> {
    let name = match pb::Datatype::try_from(d?) {
        Ok(pb::Datatype::Float32) => "float32",
        Ok(pb::Datatype::Uint8) => "uint8",
        Ok(pb::Datatype::Float16) => "float16",
        Ok(pb::Datatype::Turbo4) => "turbo4",
        Ok(pb::Datatype::Turbo8) => "turbo8",
        Ok(pb::Datatype::Turbo16) => "turbo16",
        Ok(pb::Datatype::Default) | Err(_) => return None,
    };
    Some(name.into())
}

/// The element type of a dense vector (`turbo*` types are not stored by Quiver).
fn dense_datatype(d: Option<i32>) -> Result<Option<Datatype>, Status> {
    match d.map(pb::Datatype::try_from) {
        None | Some(Ok(pb::Datatype::Default)) => Ok(None),
        Some(Ok(pb::Datatype::Float32)) => Ok(Some(Datatype::Float32)),
        Some(Ok(pb::Datatype::Float16)) => Ok(Some(Datatype::Float16)),
        Some(Ok(pb::Datatype::Uint8)) => Ok(Some(Datatype::Uint8)),
        Some(Ok(other @ (pb::Datatype::Turbo4 | pb::Datatype::Turbo8 | pb::Datatype::Turbo16))) => {
            Err(Status::invalid_argument(format!("datatype {} is not supported", other.as_str_name())))
        }
        Some(Err(_)) => Err(Status::invalid_argument("unknown datatype")),
    }
}

fn multivector_in(comparator: i32) -> Result<MultiVectorConfig, Status> {
    match pb::MultiVectorComparator::try_from(comparator) {
        Ok(pb::MultiVectorComparator::MaxSim) => Ok(MultiVectorConfig { comparator: MultiVectorComparator::MaxSim }),
        Err(_) => Err(Status::invalid_argument("unknown multivector comparator")),
    }
}

pub fn hnsw_in(h: pb::HnswConfigDiff) -> HnswConfigDiff {
    #[allow(deprecated)]
    let on_disk = h.on_disk;
    HnswConfigDiff {
        m: h.m.map(|v| v as usize),
        ef_construct: h.ef_construct.map(|v| v as usize),
        full_scan_threshold: h.full_scan_threshold.map(|v| v as usize),
        max_indexing_threads: h.max_indexing_threads.map(|v| v as usize),
        on_disk,
        payload_m: h.payload_m.map(|v| v as usize),
        inline_storage: h.inline_storage,
        memory: memory(h.memory),
    }
}

fn wal_in(w: pb::WalConfigDiff) -> WalConfigDiff {
    WalConfigDiff {
        wal_capacity_mb: w.wal_capacity_mb.map(|v| v as usize),
        wal_segments_ahead: w.wal_segments_ahead.map(|v| v as usize),
        wal_retain_closed: w.wal_retain_closed.map(|v| v as usize),
    }
}

fn optimizers_in(o: pb::OptimizersConfigDiff) -> OptimizersConfigDiff {
    use pb::max_optimization_threads::Variant;
    let threads = match o.max_optimization_threads.and_then(|t| t.variant) {
        Some(Variant::Value(n)) => Some(json!(n)),
        Some(Variant::Setting(_)) => Some(json!("auto")),
        None => o.deprecated_max_optimization_threads.map(|n| json!(n)),
    };
    OptimizersConfigDiff {
        deleted_threshold: o.deleted_threshold,
        vacuum_min_vector_number: o.vacuum_min_vector_number.map(|v| v as usize),
        default_segment_number: o.default_segment_number.map(|v| v as usize),
        max_segment_size: o.max_segment_size.map(|v| v as usize),
        memmap_threshold: o.memmap_threshold.map(|v| v as usize),
        indexing_threshold: o.indexing_threshold.map(|v| v as usize),
        flush_interval_sec: o.flush_interval_sec,
        max_optimization_threads: threads,
        prevent_unoptimized: o.prevent_unoptimized,
    }
}

/// Quantization in its REST JSON form (the domain keeps it as JSON and echoes it).
#[allow(deprecated)]
fn quantization_in(q: pb::quantization_config::Quantization) -> Result<Json, Status> {
    use pb::quantization_config::Quantization as Q;
    let placement = match &q {
        Q::Scalar(s) => memory(s.memory),
        Q::Product(p) => memory(p.memory),
        Q::Binary(b) => memory(b.memory),
        Q::Turboquant(_) => None,
    };
    let mut json = quantization_body(q)?;
    if let (Some(m), Some(body)) = (placement, json.as_object_mut().and_then(|o| o.values_mut().next())) {
        body["memory"] = json!(m);
    }
    Ok(json)
}

#[allow(deprecated)]
fn quantization_body(q: pb::quantization_config::Quantization) -> Result<Json, Status> {
    use pb::quantization_config::Quantization as Q;
    Ok(match q {
        Q::Scalar(s) => json!({"scalar": {"type": "int8", "quantile": s.quantile, "always_ram": s.always_ram}}),
        Q::Product(p) => {
            let ratio = pb::CompressionRatio::try_from(p.compression)
                .map_err(|_| Status::invalid_argument(format!("unknown compression ratio {}", p.compression)))?
                .as_str_name();
            json!({"product": {"compression": ratio, "always_ram": p.always_ram}})
        }
        Q::Binary(b) => {
            use pb::binary_quantization_query_encoding::{Setting, Variant};
            let encoding = b.encoding.map(|e| match pb::BinaryQuantizationEncoding::try_from(e) {
                Ok(pb::BinaryQuantizationEncoding::OneBit) => "one_bit",
                Ok(pb::BinaryQuantizationEncoding::TwoBits) => "two_bits",
                Ok(pb::BinaryQuantizationEncoding::OneAndHalfBits) => "one_and_half_bits",
                Err(_) => "unknown",
            });
            let query_encoding =
                b.query_encoding.and_then(|q| q.variant).map(|Variant::Setting(s)| match Setting::try_from(s) {
                    Ok(Setting::Default) => "default",
                    Ok(Setting::Binary) => "binary",
                    Ok(Setting::Scalar4Bits) => "scalar4bits",
                    Ok(Setting::Scalar8Bits) => "scalar8bits",
                    Err(_) => "unknown",
                });
            let mut binary = json!({"always_ram": b.always_ram});
            if let Some(e) = encoding {
                binary["encoding"] = json!(e);
            }
            if let Some(q) = query_encoding {
                binary["query_encoding"] = json!(q);
            }
            json!({ "binary": binary })
        }
        Q::Turboquant(_) => return Err(bad("turbo quantization is not supported".into())),
    })
}

fn quantization_diff_in(q: Option<pb::QuantizationConfigDiff>) -> Result<Option<Json>, Status> {
    use pb::quantization_config::Quantization as Q;
    use pb::quantization_config_diff::Quantization as D;
    Ok(match q.and_then(|q| q.quantization) {
        None => None,
        Some(D::Disabled(_)) => Some(json!("Disabled")),
        Some(D::Scalar(s)) => Some(quantization_in(Q::Scalar(s))?),
        Some(D::Product(p)) => Some(quantization_in(Q::Product(p))?),
        Some(D::Binary(b)) => Some(quantization_in(Q::Binary(b))?),
        Some(D::Turboquant(t)) => Some(quantization_in(Q::Turboquant(t))?),
    })
}

#[allow(deprecated)]
fn vector_params_in(p: pb::VectorParams) -> Result<VectorParams, Status> {
    let quantization_config = p.quantization_config.and_then(|q| q.quantization).map(quantization_in).transpose()?;
    Ok(VectorParams {
        size: p.size,
        distance: distance(p.distance)?,
        hnsw_config: p.hnsw_config.map(hnsw_in),
        quantization_config,
        on_disk: p.on_disk,
        datatype: dense_datatype(p.datatype)?,
        multivector_config: p.multivector_config.map(|m| multivector_in(m.comparator)).transpose()?,
        memory: memory(p.memory),
    })
}

fn vectors_in(v: Option<pb::VectorsConfig>) -> Result<Option<VectorsConfig>, Status> {
    use pb::vectors_config::Config;
    Ok(match v.and_then(|v| v.config) {
        None => None,
        Some(Config::Params(p)) => Some(VectorsConfig::Single(vector_params_in(p)?)),
        Some(Config::ParamsMap(m)) => Some(VectorsConfig::Multi(
            m.map.into_iter().map(|(k, p)| Ok((k, vector_params_in(p)?))).collect::<Result<_, Status>>()?,
        )),
    })
}

#[allow(deprecated)]
fn sparse_in(s: Option<pb::SparseVectorConfig>) -> Option<BTreeMap<String, SparseVectorParams>> {
    let map = s?.map.into_iter().map(|(name, p)| {
        let index = p.index.map(|i| {
            let (datatype, memory) = (datatype(i.datatype), memory(i.memory));
            json!({"full_scan_threshold": i.full_scan_threshold, "on_disk": i.on_disk, "datatype": datatype, "memory": memory})
        });
        let modifier = p.modifier.map(|m| match pb::Modifier::try_from(m) {
            Ok(pb::Modifier::Idf) => "idf".to_string(),
            Ok(pb::Modifier::None) | Err(_) => "none".to_string(),
        });
        (name, SparseVectorParams { index: index.map(strip_nulls), modifier })
    });
    Some(map.collect())
}

fn strip_nulls(mut v: Json) -> Json {
    if let Json::Object(map) = &mut v {
        map.retain(|_, x| !x.is_null());
    }
    v
}

fn metadata_in(m: HashMap<String, pb::Value>) -> Option<serde_json::Map<String, Json>> {
    (!m.is_empty()).then(|| map_to_json(m))
}

/// `CreateCollection` as the REST body of `PUT /collections/{name}`; returns the name and timeout.
#[allow(deprecated)]
pub fn create_in(r: pb::CreateCollection) -> Result<(String, CreateCollection, Option<u64>), Status> {
    let strict_mode_config = super::strict_mode::strict_mode_in(r.strict_mode_config)?;
    let sharding_method = r.sharding_method.map(|m| match pb::ShardingMethod::try_from(m) {
        Ok(pb::ShardingMethod::Custom) => ShardingMethod::Custom,
        Ok(pb::ShardingMethod::Auto) | Err(_) => ShardingMethod::Auto,
    });
    let quantization_config = r.quantization_config.and_then(|q| q.quantization).map(quantization_in).transpose()?;
    let request = CreateCollection {
        vectors: vectors_in(r.vectors_config)?,
        shard_number: r.shard_number,
        sharding_method,
        replication_factor: r.replication_factor,
        write_consistency_factor: r.write_consistency_factor,
        on_disk_payload: r.on_disk_payload,
        payload: r.payload.map(|p| PayloadStorageParams { memory: memory(p.memory) }),
        hnsw_config: r.hnsw_config.map(hnsw_in),
        wal_config: r.wal_config.map(wal_in),
        optimizers_config: r.optimizers_config.map(optimizers_in),
        quantization_config,
        sparse_vectors: sparse_in(r.sparse_vectors_config),
        strict_mode_config,
        metadata: metadata_in(r.metadata),
        init_from: None,
    };
    Ok((r.collection_name, request, r.timeout))
}

#[allow(deprecated)]
fn vector_diff_in(d: pb::VectorParamsDiff) -> Result<VectorParamsDiff, Status> {
    Ok(VectorParamsDiff {
        hnsw_config: d.hnsw_config.map(hnsw_in),
        quantization_config: quantization_diff_in(d.quantization_config)?,
        on_disk: d.on_disk,
        memory: memory(d.memory),
    })
}

/// `UpdateCollection` as the REST body of `PATCH /collections/{name}`.
#[allow(deprecated)]
pub fn update_in(r: pb::UpdateCollection) -> Result<(String, UpdateCollection, Option<u64>), Status> {
    use pb::vectors_config_diff::Config;
    let strict_mode_config = super::strict_mode::strict_mode_in(r.strict_mode_config)?;
    let vectors = match r.vectors_config.and_then(|v| v.config) {
        None => None,
        Some(Config::Params(p)) => Some(BTreeMap::from([(String::new(), vector_diff_in(p)?)])),
        Some(Config::ParamsMap(m)) => {
            Some(m.map.into_iter().map(|(k, d)| Ok((k, vector_diff_in(d)?))).collect::<Result<_, Status>>()?)
        }
    };
    let params = r.params.map(|p| CollectionParamsDiff {
        replication_factor: p.replication_factor,
        write_consistency_factor: p.write_consistency_factor,
        read_fan_out_factor: p.read_fan_out_factor,
        read_fan_out_delay_ms: p.read_fan_out_delay_ms,
        on_disk_payload: p.on_disk_payload,
        payload: p.payload.map(|s| PayloadStorageParams { memory: memory(s.memory) }),
    });
    let request = UpdateCollection {
        vectors,
        optimizers_config: r.optimizers_config.map(optimizers_in),
        params,
        hnsw_config: r.hnsw_config.map(hnsw_in),
        quantization_config: quantization_diff_in(r.quantization_config)?,
        sparse_vectors: sparse_in(r.sparse_vectors_config),
        strict_mode_config,
        metadata: metadata_in(r.metadata),
    };
    Ok((r.collection_name, request, r.timeout))
}

/// `CreateVectorName` as the REST body of `PUT /collections/{c}/vectors/{name}`.
pub fn vector_name_in(
    config: Option<pb::create_vector_name_request::VectorConfig>,
) -> Result<VectorNameConfig, Status> {
    use pb::create_vector_name_request::VectorConfig;
    match config {
        Some(VectorConfig::DenseConfig(d)) => Ok(VectorNameConfig::Dense(DenseVectorConfig {
            size: d.size,
            distance: distance(d.distance)?,
            multivector_config: d.multivector_config.map(|m| multivector_in(m.comparator)).transpose()?,
            datatype: dense_datatype(d.datatype)?,
        })),
        Some(VectorConfig::SparseConfig(s)) => Ok(VectorNameConfig::Sparse(SparseVectorConfig {
            modifier: s.modifier.map(|m| match pb::Modifier::try_from(m) {
                Ok(pb::Modifier::Idf) => "idf".to_string(),
                Ok(pb::Modifier::None) | Err(_) => "none".to_string(),
            }),
            datatype: dense_datatype(s.datatype)?,
        })),
        None => Err(bad("the new vector's configuration (dense_config or sparse_config) is missing".into())),
    }
}
