//! Facet counts (`POST /collections/{c}/facet`) and the distance matrix
//! (`POST /collections/{c}/points/search/matrix/pairs` and `…/offsets`); their wire shapes are
//! shared with gRPC.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, Params, Started};
use crate::response::ok;
use crate::wire::{self, ReadParams};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use quiver_node::{DistanceMatrix, FacetParams, MatrixRequest};
use quiver_types::PointId;
use quiver_types::filter::Filter;
use quiver_types::shard_key::ShardKeySelector;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collections/{name}/facet", post(facet))
        .route("/collections/{name}/points/search/matrix/pairs", post(matrix_pairs))
        .route("/collections/{name}/points/search/matrix/offsets", post(matrix_offsets))
}

type Reply = Result<Response, ApiError>;

/// The body of a facet request.
#[derive(Debug, Deserialize)]
pub struct FacetWire {
    pub key: String,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Counts are always exact; `false` is answered exactly too.
    #[serde(default)]
    pub exact: Option<bool>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

/// The body of a distance matrix request.
#[derive(Debug, Deserialize)]
pub struct MatrixWire {
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub sample: Option<usize>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub using: Option<String>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

impl MatrixWire {
    pub fn into_request(self) -> MatrixRequest {
        MatrixRequest {
            filter: self.filter,
            sample: self.sample,
            limit: self.limit,
            using: self.using,
            shard_key: ShardKeySelector::given(self.shard_key),
        }
    }
}

async fn facet(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<FacetWire>,
) -> Reply {
    let _exact = body.exact; // always exact
    let request =
        FacetParams { filter: body.filter, limit: body.limit, shard_key: ShardKeySelector::given(body.shard_key) };
    let hits = wire::bounded(p.check()?, s.node.facet(&name, &body.key, request)).await?;
    let hits: Vec<Value> = hits.into_iter().map(|h| json!({"value": h.value, "count": h.count})).collect();
    Ok(ok(t.0, json!({ "hits": hits })))
}

async fn matrix(s: &AppState, name: &str, p: &ReadParams, body: MatrixWire) -> Result<DistanceMatrix, ApiError> {
    let request = body.into_request();
    wire::bounded(p.check()?, s.node.distance_matrix(name, request)).await
}

async fn matrix_pairs(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<MatrixWire>,
) -> Reply {
    let m = matrix(&s, &name, &p, body).await?;
    let pairs = m.pairs.iter().map(|x| PairWire { a: x.a, b: x.b, score: x.score }).collect();
    Ok(ok(t.0, PairsWire { pairs }))
}

// The matrix bodies are serialized straight from these (not through a `serde_json::Value`,
// which would widen the `f32` scores to `f64` digits).
#[derive(Serialize)]
struct PairWire {
    a: PointId,
    b: PointId,
    score: f32,
}

#[derive(Serialize)]
struct PairsWire {
    pairs: Vec<PairWire>,
}

#[derive(Serialize)]
struct OffsetsWire {
    offsets_row: Vec<u64>,
    offsets_col: Vec<u64>,
    scores: Vec<f32>,
    ids: Vec<PointId>,
}

async fn matrix_offsets(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<MatrixWire>,
) -> Reply {
    let m = matrix(&s, &name, &p, body).await?;
    let (offsets_row, offsets_col, scores) = m.offsets();
    Ok(ok(t.0, OffsetsWire { offsets_row, offsets_col, scores, ids: m.ids }))
}
