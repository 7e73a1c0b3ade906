//! Search and query endpoints (spec §3.3).

use crate::AppState;
use crate::auth_rest::{Caller, check_read};
use crate::error::ApiError;
use crate::extract::{JsonBody, Params, Started};
use crate::inference::Inferred;
use crate::response::{Points, ok};
use crate::wire::{self, ReadParams};
use crate::wire_discover::{DiscoverBatchWire, DiscoverRequestWire};
use crate::wire_groups::{QueryGroupsWire, RecommendGroupsWire, SearchGroupsWire};
use crate::wire_query::{
    QueryBatchWire, QueryRequestWire, RecommendBatchWire, RecommendRequestWire, SearchBatchWire, SearchWire,
};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use quiver_node::service::{GroupBy, QueryPoints};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collections/{name}/points/search", post(search))
        .route("/collections/{name}/points/search/batch", post(search_batch))
        .route("/collections/{name}/points/query", post(query))
        .route("/collections/{name}/points/query/batch", post(query_batch))
        .route("/collections/{name}/points/query/groups", post(query_groups))
        .route("/collections/{name}/points/search/groups", post(search_groups))
        .route("/collections/{name}/points/recommend", post(recommend))
        .route("/collections/{name}/points/recommend/batch", post(recommend_batch))
        .route("/collections/{name}/points/recommend/groups", post(recommend_groups))
        .route("/collections/{name}/points/discover", post(discover))
        .route("/collections/{name}/points/discover/batch", post(discover_batch))
}

type Reply = Result<Response, ApiError>;

/// `query`, once a caller scoped to some collections is found allowed to read every collection
/// it looks examples up in (`lookup_from`).
fn checked(caller: &Caller, query: QueryPoints) -> Result<QueryPoints, ApiError> {
    for collection in query.lookup_collections() {
        check_read(caller, collection)?;
    }
    Ok(query)
}

async fn search(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<SearchWire>,
) -> Reply {
    let timeout = p.check()?;
    Ok(ok(t.0, wire::bounded(timeout, s.node.search_points(&name, body.into_request()?)).await?))
}

async fn search_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<SearchBatchWire>,
) -> Reply {
    let timeout = p.check()?;
    let requests = body.searches.into_iter().map(SearchWire::into_request).collect::<Result<Vec<_>, _>>()?;
    let results = read_batch(&s, &name, timeout, requests, |r| s.node.search_points(&name, r)).await?;
    Ok(ok(t.0, results))
}

async fn query(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    Inferred(body): Inferred<QueryRequestWire>,
) -> Reply {
    let timeout = p.check()?;
    // Qdrant's `QueryRequest` holds its fields in a flattened `internal`.
    let query = checked(&caller, body.into_query().map_err(|e| e.within("internal"))?)?;
    let points = wire::bounded(timeout, s.node.query_points(&name, query)).await?;
    Ok(ok(t.0, Points::of(points)))
}

async fn query_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    Inferred(body): Inferred<QueryBatchWire>,
) -> Reply {
    let timeout = p.check()?;
    let queries =
        body.searches.into_iter().map(|q| checked(&caller, q.into_query()?)).collect::<Result<Vec<_>, _>>()?;
    let results = read_batch(&s, &name, timeout, queries, |q| s.node.query_points(&name, q)).await?;
    Ok(ok(t.0, results.into_iter().map(Points::of).collect::<Vec<_>>()))
}

/// Runs a grouped search; a caller scoped to some collections must be allowed to read the
/// `with_lookup` collection too.
async fn run_groups(
    s: &AppState,
    name: &str,
    (p, caller): (ReadParams, Caller),
    started: Started,
    parts: (QueryPoints, GroupBy),
) -> Reply {
    let timeout = p.check()?;
    let (query, by) = parts;
    if let Some(lookup) = &by.lookup {
        check_read(&caller, &lookup.collection)?;
    }
    let query = checked(&caller, query)?;
    // Boxed as a batch's reads are (`read_batch`): grouping runs a query per round.
    let groups = wire::bounded(timeout, s.node.query_groups(name, query, by)).await?;
    Ok(ok(started.0, Groups { groups }))
}

/// `{"groups": […]}`, serialized straight from the hits so that scores keep their `f32` form
/// (through a `serde_json::Value` they would be widened to `f64` digits, unequal to the same
/// score of an ungrouped query).
#[derive(serde::Serialize)]
struct Groups {
    groups: Vec<quiver_node::service::PointGroup>,
}

async fn query_groups(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    Inferred(body): Inferred<QueryGroupsWire>,
) -> Reply {
    run_groups(&s, &name, (p, caller), t, body.into_parts()?).await
}

async fn search_groups(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    JsonBody(body): JsonBody<SearchGroupsWire>,
) -> Reply {
    run_groups(&s, &name, (p, caller), t, body.into_parts()?).await
}

async fn recommend_groups(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    JsonBody(body): JsonBody<RecommendGroupsWire>,
) -> Reply {
    run_groups(&s, &name, (p, caller), t, body.into_parts()?).await
}

/// Legacy `…/points/recommend`: the universal query's recommend, answered as a plain list.
async fn recommend(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    JsonBody(body): JsonBody<RecommendRequestWire>,
) -> Reply {
    let timeout = p.check()?;
    let query = checked(&caller, body.into_query()?)?;
    Ok(ok(t.0, wire::bounded(timeout, s.node.query_points(&name, query)).await?))
}

async fn recommend_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    JsonBody(body): JsonBody<RecommendBatchWire>,
) -> Reply {
    let timeout = p.check()?;
    let queries =
        body.searches.into_iter().map(|q| checked(&caller, q.into_query()?)).collect::<Result<Vec<_>, _>>()?;
    let results = read_batch(&s, &name, timeout, queries, |q| s.node.query_points(&name, q)).await?;
    Ok(ok(t.0, results))
}

/// Legacy `…/points/discover`: the universal query's discover (or context), as a plain list.
async fn discover(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    JsonBody(body): JsonBody<DiscoverRequestWire>,
) -> Reply {
    let timeout = p.check()?;
    let query = checked(&caller, body.into_query()?)?;
    Ok(ok(t.0, wire::bounded(timeout, s.node.query_points(&name, query)).await?))
}

async fn discover_batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    caller: Caller,
    t: Started,
    JsonBody(body): JsonBody<DiscoverBatchWire>,
) -> Reply {
    let timeout = p.check()?;
    let queries =
        body.searches.into_iter().map(|q| checked(&caller, q.into_query()?)).collect::<Result<Vec<_>, _>>()?;
    let results = read_batch(&s, &name, timeout, queries, |q| s.node.query_points(&name, q)).await?;
    Ok(ok(t.0, results))
}

/// The reads of a batch, one after the other, each bounded by the batch's settings; the rate
/// limiter admits the batch as one request costing its size.
async fn read_batch<R, T, F>(
    s: &AppState,
    name: &str,
    settings: wire::ReadSettings,
    reads: Vec<R>,
    read: impl Fn(R) -> F,
) -> Result<Vec<T>, ApiError>
where
    F: std::future::Future<Output = Result<T, quiver_node::NodeError>>,
{
    let settings = settings.in_batch(reads.len());
    let size = reads.len();
    // Boxed: the chain of a query's futures is deep, and a batch's is on the heap rather than
    // on the caller's stack (the handler's tests run it on a 2 MiB test thread).
    let batch = Box::pin(async {
        let mut results = Vec::with_capacity(size);
        for r in reads {
            results.push(Box::pin(wire::bounded(settings, read(r))).await?);
        }
        Ok::<_, ApiError>(results)
    });
    s.node.admitted_batch(name, size, batch).await
}
