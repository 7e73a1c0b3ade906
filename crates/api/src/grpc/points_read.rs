//! Point reads over gRPC: retrieve, scroll, count, search, query and recommend, each through the
//! same node function and checks as its REST twin.

use crate::grpc::convert::{point_id, point_id_out, point_ids, read_settings, record_out, scored_list, shard_key};
use crate::grpc::convert::{with_payload, with_vector};
use crate::grpc::filter::filter_in;
use crate::grpc::query::{discover_request, order_by_in, query_request, recommend_request, search_wire};
use crate::wire::{self, CountWire, ReadSettings, RetrieveWire, ScrollWire};
use crate::wire_query::QueryRequestWire;
use qdrant_client::qdrant as pb;
use quiver_node::Node;
use quiver_node::service::QueryPoints;
use quiver_types::point::ScoredPoint;
use std::time::Instant;
use tonic::Status;

fn elapsed(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

pub async fn get(node: &Node, r: pb::GetPoints) -> Result<pb::GetResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let body = RetrieveWire {
        ids: point_ids(r.ids)?,
        with_payload: with_payload(r.with_payload, true),
        with_vector: with_vector(r.with_vectors),
        shard_key: shard_key(r.shard_key_selector)?,
    };
    let read = node.retrieve_points(
        &r.collection_name,
        body.ids,
        body.with_payload,
        body.with_vector,
        body.shard_key.as_ref(),
    );
    let records = wire::bounded(settings, read).await?;
    Ok(pb::GetResponse { result: records.into_iter().map(record_out).collect(), time: elapsed(started), usage: None })
}

pub async fn scroll(node: &Node, r: pb::ScrollPoints) -> Result<pb::ScrollResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let offset = r.offset.map(|id| point_id(Some(id))).transpose()?;
    let body = ScrollWire {
        offset,
        limit: r.limit.map(|l| l as usize),
        filter: filter_in(r.filter)?,
        with_payload: with_payload(r.with_payload, true),
        with_vector: with_vector(r.with_vectors),
        order_by: r.order_by.map(order_by_in),
        shard_key: shard_key(r.shard_key_selector)?,
    };
    let shard_key = body.shard_key.clone();
    let page = node.scroll_points(&r.collection_name, body.into_request()?, shard_key.as_ref());
    let page = wire::bounded(settings, page).await?;
    Ok(pb::ScrollResponse {
        next_page_offset: page.next_page_offset.map(point_id_out),
        result: page.points.into_iter().map(record_out).collect(),
        time: elapsed(started),
        usage: None,
    })
}

pub async fn count(node: &Node, r: pb::CountPoints) -> Result<pb::CountResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let body = CountWire { filter: filter_in(r.filter)?, exact: r.exact, shard_key: shard_key(r.shard_key_selector)? };
    // Counts are always exact; `exact: false` is answered exactly too.
    let count = node.count_points(&r.collection_name, body.filter, body.shard_key.as_ref());
    let count = wire::bounded(settings, count).await?;
    Ok(pb::CountResponse { result: Some(pb::CountResult { count: count as u64 }), time: elapsed(started), usage: None })
}

async fn search_one(
    node: &Node,
    name: &str,
    settings: ReadSettings,
    r: pb::SearchPoints,
) -> Result<Vec<ScoredPoint>, Status> {
    let request = search_wire(r)?.into_request()?;
    Ok(wire::bounded(settings, node.search_points(name, request)).await?)
}

pub async fn search(node: &Node, r: pb::SearchPoints) -> Result<pb::SearchResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let name = r.collection_name.clone();
    let points = search_one(node, &name, settings, r).await?;
    Ok(pb::SearchResponse { result: scored_list(points), time: elapsed(started), usage: None })
}

pub async fn search_batch(node: &Node, r: pb::SearchBatchPoints) -> Result<pb::SearchBatchResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    batch_items_named("search_points", r.search_points.iter().map(|s| s.collection_name.as_str()))?;
    let requests =
        r.search_points.into_iter().map(|s| Ok(search_wire(s)?.into_request()?)).collect::<Result<Vec<_>, Status>>()?;
    let settings = settings.in_batch(requests.len());
    let name = &r.collection_name;
    let result = node.admitted_batch(name, requests.len(), async {
        let mut result = Vec::with_capacity(requests.len());
        for request in requests {
            let points = wire::bounded(settings, node.search_points(name, request)).await?;
            result.push(pb::BatchResult { result: scored_list(points) });
        }
        Ok::<_, crate::error::ApiError>(result)
    });
    let result = result.await?;
    Ok(pb::SearchBatchResponse { result, time: elapsed(started), usage: None })
}

async fn run_query(
    node: &Node,
    name: &str,
    settings: ReadSettings,
    body: QueryRequestWire,
) -> Result<Vec<ScoredPoint>, Status> {
    let query = body.into_query()?;
    Ok(wire::bounded(settings, node.query_points(name, query)).await?)
}

pub async fn query(node: &Node, r: pb::QueryPoints) -> Result<pb::QueryResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let name = r.collection_name.clone();
    let points = run_query(node, &name, settings, query_request(r)?).await?;
    Ok(pb::QueryResponse { result: scored_list(points), time: elapsed(started), usage: None })
}

/// Runs the queries of a batch one after the other (as REST's `…/query/batch`).
async fn batch(
    node: &Node,
    name: &str,
    settings: ReadSettings,
    queries: Vec<QueryPoints>,
) -> Result<Vec<pb::BatchResult>, Status> {
    let settings = settings.in_batch(queries.len());
    let result = node.admitted_batch(name, queries.len(), async {
        let mut result = Vec::with_capacity(queries.len());
        for query in queries {
            let points = wire::bounded(settings, node.query_points(name, query)).await?;
            result.push(pb::BatchResult { result: scored_list(points) });
        }
        Ok::<_, crate::error::ApiError>(result)
    });
    Ok(result.await?)
}

pub async fn query_batch(node: &Node, r: pb::QueryBatchPoints) -> Result<pb::QueryBatchResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    batch_items_named("query_points", r.query_points.iter().map(|q| q.collection_name.as_str()))?;
    let queries =
        r.query_points.into_iter().map(|q| Ok(query_request(q)?.into_query()?)).collect::<Result<Vec<_>, Status>>()?;
    let result = batch(node, &r.collection_name, settings, queries).await?;
    Ok(pb::QueryBatchResponse { result, time: elapsed(started), usage: None })
}

pub async fn recommend(node: &Node, r: pb::RecommendPoints) -> Result<pb::RecommendResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let name = r.collection_name.clone();
    let (body, wanted) = legacy_recommend(r)?;
    let points = run_query(node, &name, settings, body).await?;
    Ok(pb::RecommendResponse { result: scored_list(wanted.keep(points)), time: elapsed(started), usage: None })
}

/// Whether a legacy recommend asked for any point. Qdrant checks no `limit` of a gRPC
/// `RecommendPoints` (proto3's default 0 included, as its `basic_grpc_test.sh` sends): a limit of
/// 0 is answered with no points, after the request was checked and run like any other.
#[derive(Clone, Copy)]
enum Wanted {
    Points,
    NoPoints,
}

impl Wanted {
    fn keep(self, points: Vec<ScoredPoint>) -> Vec<ScoredPoint> {
        match self {
            Wanted::Points => points,
            Wanted::NoPoints => Vec::new(),
        }
    }
}

fn legacy_recommend(r: pb::RecommendPoints) -> Result<(QueryRequestWire, Wanted), Status> {
    let wanted = if r.limit == 0 { Wanted::NoPoints } else { Wanted::Points };
    let mut body = recommend_request(r)?;
    if let Wanted::NoPoints = wanted {
        body.limit = Some(1);
    }
    Ok((body, wanted))
}

/// Qdrant validates every request of a gRPC batch as a message of its own: each must name its
/// collection (the batch's name is the one used), or the batch is refused.
fn batch_items_named<'a>(field: &str, names: impl Iterator<Item = &'a str>) -> Result<(), Status> {
    match names.enumerate().find(|(_, name)| name.is_empty()) {
        Some((i, _)) => Err(Status::invalid_argument(format!(
            "Validation error in body: [{field}[{i}].collection_name: must be 1..255 characters]"
        ))),
        None => Ok(()),
    }
}

pub async fn discover(node: &Node, r: pb::DiscoverPoints) -> Result<pb::DiscoverResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let name = r.collection_name.clone();
    let points = run_query(node, &name, settings, discover_request(r)?.into_query_wire()?).await?;
    Ok(pb::DiscoverResponse { result: scored_list(points), time: elapsed(started), usage: None })
}

pub async fn discover_batch(node: &Node, r: pb::DiscoverBatchPoints) -> Result<pb::DiscoverBatchResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    batch_items_named("discover_points", r.discover_points.iter().map(|d| d.collection_name.as_str()))?;
    let queries = r
        .discover_points
        .into_iter()
        .map(|q| Ok(discover_request(q)?.into_query()?))
        .collect::<Result<Vec<_>, Status>>()?;
    let result = batch(node, &r.collection_name, settings, queries).await?;
    Ok(pb::DiscoverBatchResponse { result, time: elapsed(started), usage: None })
}

pub async fn recommend_batch(node: &Node, r: pb::RecommendBatchPoints) -> Result<pb::RecommendBatchResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    batch_items_named("recommend_points", r.recommend_points.iter().map(|q| q.collection_name.as_str()))?;
    let (queries, wanted): (Vec<_>, Vec<_>) = r
        .recommend_points
        .into_iter()
        .map(|q| {
            let (body, wanted) = legacy_recommend(q)?;
            Ok((body.into_query()?, wanted))
        })
        .collect::<Result<Vec<_>, Status>>()?
        .into_iter()
        .unzip();
    let mut result = batch(node, &r.collection_name, settings, queries).await?;
    for (answer, wanted) in result.iter_mut().zip(wanted) {
        if let Wanted::NoPoints = wanted {
            answer.result.clear();
        }
    }
    Ok(pb::RecommendBatchResponse { result, time: elapsed(started), usage: None })
}
