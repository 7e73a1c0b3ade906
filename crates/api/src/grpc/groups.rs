//! Grouped searches over gRPC (`query_groups`, `search_groups`, `recommend_groups`): each request
//! is rewritten into its REST body (`wire_groups`) and run by `Node::query_groups`.

use crate::grpc::convert::{read_settings, record_out, scored_list, with_payload, with_vector};
use crate::grpc::query::{query_request, recommend_request, search_wire};
use crate::wire;
use crate::wire_groups::{GroupFieldsWire, QueryGroupsWire, SearchGroupsWire, WithLookupWire};
use qdrant_client::qdrant as pb;
use quiver_node::Node;
use quiver_node::service::{GroupBy, PointGroup, QueryPoints};
use serde_json::Value as Json;
use std::time::Instant;
use tonic::Status;

fn group_fields(group_by: String, group_size: usize, lookup: Option<pb::WithLookup>) -> GroupFieldsWire {
    GroupFieldsWire {
        group_by,
        group_size: Some(group_size),
        with_lookup: lookup.map(|l| WithLookupWire::Options {
            collection: l.collection,
            with_payload: with_payload(l.with_payload, true),
            with_vectors: with_vector(l.with_vectors),
        }),
    }
}

fn group_id(id: Json) -> pb::GroupId {
    use pb::group_id::Kind;
    let kind = match id {
        Json::String(s) => Kind::StringValue(s),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Kind::UnsignedValue(u),
            (None, Some(i)) => Kind::IntegerValue(i),
            (None, None) => Kind::StringValue(n.to_string()),
        },
        other @ (Json::Null | Json::Bool(_) | Json::Array(_) | Json::Object(_)) => Kind::StringValue(other.to_string()),
    };
    pb::GroupId { kind: Some(kind) }
}

fn groups_out(groups: Vec<PointGroup>) -> pb::GroupsResult {
    let groups = groups
        .into_iter()
        .map(|g| pb::PointGroup {
            id: Some(group_id(g.id)),
            hits: scored_list(g.hits),
            lookup: g.lookup.map(record_out),
        })
        .collect();
    pb::GroupsResult { groups }
}

async fn run(
    node: &Node,
    name: &str,
    settings: wire::ReadSettings,
    parts: (QueryPoints, GroupBy),
) -> Result<pb::GroupsResult, Status> {
    let (query, by) = parts;
    Ok(groups_out(wire::bounded(settings, node.query_groups(name, query, by)).await?))
}

pub async fn query_groups(node: &Node, r: pb::QueryPointGroups) -> Result<pb::QueryGroupsResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let name = r.collection_name.clone();
    let group = group_fields(r.group_by.clone(), r.group_size.map_or(3, |s| s as usize), r.with_lookup.clone());
    let query = pb::QueryPoints {
        collection_name: r.collection_name,
        prefetch: r.prefetch,
        query: r.query,
        using: r.using,
        filter: r.filter,
        params: r.params,
        score_threshold: r.score_threshold,
        limit: r.limit,
        with_vectors: r.with_vectors,
        with_payload: r.with_payload,
        lookup_from: r.lookup_from,
        shard_key_selector: r.shard_key_selector,
        ..pb::QueryPoints::default()
    };
    let body = QueryGroupsWire { query: query_request(query)?, group };
    let result = run(node, &name, settings, body.into_parts()?).await?;
    Ok(pb::QueryGroupsResponse { result: Some(result), time: started.elapsed().as_secs_f64(), usage: None })
}

pub async fn search_groups(node: &Node, r: pb::SearchPointGroups) -> Result<pb::SearchGroupsResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let name = r.collection_name.clone();
    let group = group_fields(r.group_by.clone(), r.group_size as usize, r.with_lookup.clone());
    let search = pb::SearchPoints {
        collection_name: r.collection_name,
        vector: r.vector,
        filter: r.filter,
        limit: r.limit.into(),
        with_payload: r.with_payload,
        params: r.params,
        score_threshold: r.score_threshold,
        vector_name: r.vector_name,
        with_vectors: r.with_vectors,
        shard_key_selector: r.shard_key_selector,
        sparse_indices: r.sparse_indices,
        ..pb::SearchPoints::default()
    };
    let body = SearchGroupsWire { search: search_wire(search)?, group };
    let result = run(node, &name, settings, body.into_parts()?).await?;
    Ok(pb::SearchGroupsResponse { result: Some(result), time: started.elapsed().as_secs_f64(), usage: None })
}

pub async fn recommend_groups(node: &Node, r: pb::RecommendPointGroups) -> Result<pb::RecommendGroupsResponse, Status> {
    let started = Instant::now();
    let settings = read_settings(r.read_consistency, r.timeout)?;
    let name = r.collection_name.clone();
    let group = group_fields(r.group_by.clone(), r.group_size as usize, r.with_lookup.clone());
    let recommend = pb::RecommendPoints {
        collection_name: r.collection_name,
        positive: r.positive,
        negative: r.negative,
        filter: r.filter,
        limit: r.limit.into(),
        with_payload: r.with_payload,
        params: r.params,
        score_threshold: r.score_threshold,
        using: r.using,
        with_vectors: r.with_vectors,
        lookup_from: r.lookup_from,
        strategy: r.strategy,
        positive_vectors: r.positive_vectors,
        negative_vectors: r.negative_vectors,
        shard_key_selector: r.shard_key_selector,
        ..pb::RecommendPoints::default()
    };
    let parts = (recommend_request(recommend)?.into_query()?, group.into_group_by()?);
    let result = run(node, &name, settings, parts).await?;
    Ok(pb::RecommendGroupsResponse { result: Some(result), time: started.elapsed().as_secs_f64(), usage: None })
}
