//! `GET /telemetry` (with `details_level` and `anonymize`), `GET /cluster/telemetry`,
//! `GET`/`DELETE /issues` and `GET /collections/{c}/optimizations`.

use crate::AppState;
use crate::auth_rest::{Caller, check_read, is_global};
use crate::error::ApiError;
use crate::extract::{Params, Started};
use crate::response::ok;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/telemetry", get(telemetry))
        .route("/cluster/telemetry", get(cluster_telemetry_route))
        .route("/issues", get(issues).delete(clear_issues))
        .route("/collections/{name}/optimizations", get(optimizations))
}

type Reply = Result<Response, ApiError>;

#[derive(Debug, Deserialize, Default)]
struct TelemetryParams {
    #[serde(default)]
    details_level: Option<usize>,
    #[serde(default)]
    anonymize: Option<bool>,
}

/// What telemetry shows of a collection.
struct View {
    name: String,
    points: usize,
    shards: usize,
    vectors: usize,
    config: Value,
}

/// One collection's entry. At level 1 Qdrant's aggregated form (`vectors`,
/// `optimizers_status`, `params`, no name); from level 2 the full form: the name (hashed when
/// anonymized), size and config.
fn collection_entry(c: &View, level: usize, anonymize: bool) -> Value {
    if level < 2 {
        return json!({"vectors": c.vectors, "optimizers_status": "ok", "params": c.config["params"]});
    }
    let id = match anonymize {
        true => format!("{:016x}", fxhash(&c.name)),
        false => c.name.clone(),
    };
    json!({"id": id, "points_count": c.points, "shards_count": c.shards, "config": c.config})
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

/// `GET /telemetry`. A collection-scoped token sees its collections and the build, not the
/// cluster nor the request counters (as Qdrant collects telemetry for such a token).
async fn telemetry(State(s): State<AppState>, Params(p): Params<TelemetryParams>, caller: Caller, t: Started) -> Reply {
    let level = p.details_level.unwrap_or(0);
    let anonymize = p.anonymize.unwrap_or(false);
    let views: Vec<View> = s
        .node
        .collections()
        .iter()
        .filter(|c| check_read(&caller, c.name()).is_ok())
        .map(|c| View {
            name: c.name().to_string(),
            points: c.points_count(),
            shards: c.replica_sets().len(),
            vectors: c.vector_counts().values().sum(),
            config: serde_json::to_value(c.config()).unwrap_or_default(),
        })
        .collect();
    let mut collections = json!({"number_of_collections": views.len()});
    if level >= 1 {
        collections["collections"] = views.iter().map(|v| collection_entry(v, level, anonymize)).collect();
    }
    let cluster = match s.node.cluster() {
        None => json!({"enabled": false}),
        Some(_) if level >= 1 => cluster_telemetry(&s.node, level)?,
        Some(_) => json!({"enabled": true}),
    };
    let mut result = json!({
        "id": s.node.peer_id().to_string(),
        "app": crate::telemetry_app::app(s.version, &s.app, level),
        "collections": collections,
    });
    if is_global(&caller) {
        result["cluster"] = cluster;
        result["requests"] = s.metrics.telemetry(level);
    }
    Ok(ok(t.0, result))
}

#[derive(Debug, Deserialize, Default)]
struct ClusterTelemetryParams {
    /// Accepted as Qdrant does; Quiver's cluster telemetry has one level of detail.
    #[serde(default)]
    details_level: Option<usize>,
    /// Seconds the peers have to answer (Qdrant: at least 1, default 60).
    #[serde(default)]
    timeout: Option<u64>,
}

/// Qdrant's default `timeout` of `GET /cluster/telemetry`.
const CLUSTER_TELEMETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `GET /cluster/telemetry` (Qdrant's `DistributedTelemetryData`). A collection-scoped token
/// sees its collections and no `cluster` object.
async fn cluster_telemetry_route(
    State(s): State<AppState>,
    Params(p): Params<ClusterTelemetryParams>,
    caller: Caller,
    t: Started,
) -> Reply {
    let _details_level = p.details_level;
    let timeout = crate::wire::seconds(p.timeout)?.unwrap_or(CLUSTER_TELEMETRY_TIMEOUT);
    let mut telemetry = s.node.cluster_telemetry(timeout).await;
    telemetry.collections.retain(|name, _| check_read(&caller, name).is_ok());
    if !is_global(&caller) {
        telemetry.cluster = None;
    }
    Ok(ok(t.0, telemetry))
}

/// `GET /issues`. A collection-scoped token sees the issues of its collections only.
async fn issues(State(s): State<AppState>, caller: Caller, t: Started) -> Reply {
    let mut issues = s.node.issues();
    if !is_global(&caller) {
        issues.retain(|issue| issue_collection(issue).is_some_and(|name| check_read(&caller, name).is_ok()));
    }
    Ok(ok(t.0, json!({ "issues": issues })))
}

/// The collection an issue is about: the second part of its id (`UNINDEXED_FIELD/{collection}/{key}`).
fn issue_collection(issue: &Value) -> Option<&str> {
    issue["id"].as_str()?.split('/').nth(1)
}

async fn clear_issues(State(s): State<AppState>, t: Started) -> Reply {
    s.node.clear_issues();
    Ok(ok(t.0, true))
}

#[derive(Debug, Deserialize, Default)]
struct OptimizationsParams {
    #[serde(default)]
    with: Option<String>,
    #[serde(default)]
    completed_limit: Option<usize>,
}

async fn optimizations(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<OptimizationsParams>,
    t: Started,
) -> Reply {
    let _completed_limit = p.completed_limit; // nothing completed is tracked
    let with: Vec<String> =
        p.with.unwrap_or_default().split(',').map(|w| w.trim().to_string()).filter(|w| !w.is_empty()).collect();
    if let Some(bad) = with.iter().find(|w| !["queued", "completed", "idle_segments"].contains(&w.as_str())) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            format!(
                "Deserialize error in query parameters: unknown variant `{bad}`, expected one of `queued`, `completed`, `idle_segments`"
            ),
        ));
    }
    Ok(ok(t.0, s.node.optimizations(&name, &with)?))
}

/// Telemetry's `cluster` object as Qdrant shapes it (spec §1 `/telemetry`): `status` with the
/// Raft figures from details level 1; `peers` and `metadata` from level 2.
fn cluster_telemetry(node: &quiver_node::Node, level: usize) -> Result<Value, ApiError> {
    let status = node.cluster_status()?;
    let raft = &status.raft_info;
    let mut cluster = json!({
        "enabled": true,
        "status": {
            "number_of_peers": status.peers.len(),
            "term": raft.term,
            "commit": raft.commit,
            "pending_operations": raft.pending_operations,
            "role": raft.role,
            "is_voter": raft.is_voter,
            "peer_id": status.peer_id,
            "consensus_thread_status": status.consensus_thread_status,
        },
    });
    if level >= 2 {
        cluster["peers"] = json!(status.peers);
        let mut metadata = serde_json::Map::new();
        for key in node.cluster_metadata_keys()? {
            let value = node.cluster_metadata_key(&key)?;
            metadata.insert(key, value);
        }
        cluster["metadata"] = Value::Object(metadata);
    }
    Ok(cluster)
}
