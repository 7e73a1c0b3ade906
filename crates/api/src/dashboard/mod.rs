//! The web dashboard at `/dashboard` (design record 015): one page of vanilla JavaScript over the
//! REST API — a live cluster map, collections, a point browser, a search console and snapshots.
//! Its three files are embedded in the binary at build time and served with a content security
//! policy that allows nothing but this origin (no CDN, no external fetch). The assets are open;
//! the API calls they make carry the key typed into the page. `GET /cluster/map` (ours) is the
//! cluster map's data.

use crate::AppState;
use crate::extract::Started;
use crate::response::ok;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Only this origin: scripts, styles, API calls; `data:`/`blob:` images (favicon, downloads).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(index))
        .route("/dashboard/{asset}", get(asset))
        .route("/cluster/map", get(cluster_map))
}

fn serve(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (StatusCode::OK, headers, body).into_response()
}

async fn index() -> Response {
    serve("text/html; charset=utf-8", INDEX_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "index.html" => serve("text/html; charset=utf-8", INDEX_HTML),
        "app.js" => serve("text/javascript; charset=utf-8", APP_JS),
        "style.css" => serve("text/css; charset=utf-8", STYLE_CSS),
        _ => crate::error::ApiError::new(StatusCode::NOT_FOUND, format!("Not found: no dashboard asset `{name}`"))
            .into_response(),
    }
}

/// `GET /cluster/map`: peers, replicas per shard with the primary, running transfers.
async fn cluster_map(State(state): State<AppState>, started: Started) -> Response {
    ok(started.0, state.node.cluster_map().await).into_response()
}
