//! `Facet`, `SearchMatrixPairs` and `SearchMatrixOffsets` over gRPC, through the same node
//! functions and checks as their REST twins (`routes_analytics.rs`).

use crate::grpc::convert::{point_id_out, read_settings, shard_key};
use crate::grpc::filter::filter_in;
use crate::routes_analytics::MatrixWire;
use crate::wire;
use qdrant_client::qdrant as pb;
use quiver_node::{DistanceMatrix, FacetParams, Node};
use quiver_types::query::FacetValue;
use std::time::Instant;
use tonic::Status;

fn facet_value_out(value: FacetValue) -> pb::FacetValue {
    use pb::facet_value::Variant;
    let variant = match value {
        FacetValue::Bool(b) => Variant::BoolValue(b),
        FacetValue::Integer(i) => Variant::IntegerValue(i),
        FacetValue::Keyword(s) => Variant::StringValue(s),
    };
    pb::FacetValue { variant: Some(variant) }
}

pub async fn facet(node: &Node, r: pb::FacetCounts) -> Result<pb::FacetResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let request = FacetParams {
        filter: filter_in(r.filter)?,
        limit: r.limit.map(|l| l as usize),
        shard_key: shard_key(r.shard_key_selector)?,
    };
    let hits = wire::bounded(settings, node.facet(&r.collection_name, &r.key, request)).await?;
    let hits = hits
        .into_iter()
        .map(|h| pb::FacetHit { value: Some(facet_value_out(h.value)), count: h.count as u64 })
        .collect();
    Ok(pb::FacetResponse { hits, time: started.elapsed().as_secs_f64(), usage: None })
}

async fn matrix(node: &Node, r: pb::SearchMatrixPoints) -> Result<DistanceMatrix, Status> {
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let body = MatrixWire {
        filter: filter_in(r.filter)?,
        sample: r.sample.map(|s| s as usize),
        limit: r.limit.map(|l| l as usize),
        using: r.using,
        shard_key: shard_key(r.shard_key_selector)?,
    };
    Ok(wire::bounded(settings, node.distance_matrix(&r.collection_name, body.into_request())).await?)
}

pub async fn matrix_pairs(node: &Node, r: pb::SearchMatrixPoints) -> Result<pb::SearchMatrixPairsResponse, Status> {
    let started = Instant::now();
    let m = matrix(node, r).await?;
    let pairs = m
        .pairs
        .iter()
        .map(|p| pb::SearchMatrixPair { a: Some(point_id_out(p.a)), b: Some(point_id_out(p.b)), score: p.score })
        .collect();
    let result = Some(pb::SearchMatrixPairs { pairs });
    Ok(pb::SearchMatrixPairsResponse { result, time: started.elapsed().as_secs_f64(), usage: None })
}

pub async fn matrix_offsets(node: &Node, r: pb::SearchMatrixPoints) -> Result<pb::SearchMatrixOffsetsResponse, Status> {
    let started = Instant::now();
    let m = matrix(node, r).await?;
    let (offsets_row, offsets_col, scores) = m.offsets();
    let ids = m.ids.iter().map(|id| point_id_out(*id)).collect();
    let result = Some(pb::SearchMatrixOffsets { offsets_row, offsets_col, scores, ids });
    Ok(pb::SearchMatrixOffsetsResponse { result, time: started.elapsed().as_secs_f64(), usage: None })
}
