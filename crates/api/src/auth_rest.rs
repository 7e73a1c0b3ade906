//! The REST side of `auth.rs`: a middleware that runs after routing and before anything reads the
//! body. It authenticates the caller from the headers (401 / 403 in plain text, as Qdrant's
//! middleware answers), checks the route's [`Rule`] (403 in the error envelope) and leaves the
//! caller's [`Access`] in the request's extensions for the listings that filter by it.
//! `/`, `/healthz`, `/livez`, `/readyz` and the dashboard's assets stay open. A route missing from the table needs
//! manage access (closed by default).

use crate::auth::{Access, Auth, Level, Refusal};
use crate::error::ApiError;
use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// No key needed.
    Open,
    /// Any valid key (unknown paths: they answer 404 / 405 once the caller is known).
    Authenticated,
    /// Any valid key; the answer shows only the collections the caller may read (the listings of
    /// collections and aliases, telemetry, issues).
    Listing,
    /// An operation on no collection in particular.
    Global(Level),
    /// An operation on the collection of the path's `{name}`.
    Collection(Level),
}

/// The rule of `method` on the route `path` (axum's matched pattern).
pub(crate) fn rule(method: &Method, path: Option<&str>) -> Rule {
    use Level::{Manage, Read};
    use Rule::{Collection, Global};
    let Some(path) = path else { return Rule::Authenticated };
    let read = method == Method::GET || method == Method::HEAD;
    let rest = path.strip_prefix("/collections/{name}");
    match (path, rest) {
        ("/" | "/healthz" | "/livez" | "/readyz" | "/dashboard" | "/dashboard/{asset}", _) => Rule::Open,
        ("/collections" | "/aliases" | "/telemetry" | "/cluster/telemetry", _) => Rule::Listing,
        ("/issues", _) if read => Rule::Listing,
        ("/metrics" | "/cluster" | "/cluster/map" | "/cluster/metadata/keys", _) => Global(Read),
        ("/locks" | "/logger", _) if read => Global(Read),
        ("/collections/{name}/truncate_unapplied_wal", _) => Global(Manage),
        (
            "/cluster/metadata/keys/{key}" | "/cluster/peer/{peer_id}/drain" | "/snapshots" | "/snapshots/{snapshot}",
            _,
        ) if read => Global(Read),
        (_, Some("" | "/cluster")) if read => Collection(Read),
        (_, Some("" | "/cluster")) => Collection(Manage),
        (_, Some(rest)) => collection_rule(method, rest),
        _ => Global(Manage),
    }
}

fn collection_rule(method: &Method, rest: &str) -> Rule {
    use Level::{Manage, Read, ReadExtras, Write, WriteExtras};
    let read = method == Method::GET || method == Method::HEAD;
    let level = match rest {
        "/snapshots/recover"
        | "/snapshots/upload"
        | "/shards/{shard_id}/snapshots/recover"
        | "/shards/{shard_id}/snapshots/upload" => Manage,
        "/snapshots"
        | "/snapshots/{snapshot}"
        | "/shards/{shard_id}/snapshots"
        | "/shards/{shard_id}/snapshots/{snapshot}" => {
            if read {
                ReadExtras
            } else {
                WriteExtras
            }
        }
        // Streaming a shard's snapshot needs what creating one does (Qdrant's table: write).
        "/shards/{shard_id}/snapshot" | "/index" | "/index/{field}" => WriteExtras,
        "/shards" if read => Read,
        "/points" if method == Method::PUT => Write,
        "/points/delete"
        | "/points/vectors"
        | "/points/vectors/delete"
        | "/points/payload"
        | "/points/payload/delete"
        | "/points/payload/clear"
        | "/points/batch" => Write,
        "/shards/{shard_id}/cleanup" => Write,
        "/exists"
        | "/aliases"
        | "/shards/{shard_id}/digest"
        | "/points"
        | "/points/{id}"
        | "/points/scroll"
        | "/points/count"
        | "/shards/{shard_id}/points"
        | "/shards/{shard_id}/points/scroll"
        | "/shards/{shard_id}/points/count"
        | "/facet"
        | "/optimizations"
        | "/points/search/matrix/pairs"
        | "/points/search/matrix/offsets"
        | "/points/search"
        | "/points/search/batch"
        | "/points/search/groups"
        | "/points/query"
        | "/points/query/batch"
        | "/points/query/groups"
        | "/points/recommend"
        | "/points/recommend/batch"
        | "/points/recommend/groups"
        | "/points/discover"
        | "/points/discover/batch" => Read,
        _ => Manage,
    };
    Rule::Collection(level)
}

/// A refused authentication as Qdrant's middleware answers it: the status and a plain-text body.
fn refuse(refusal: Refusal) -> Response {
    (refusal.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], refusal.message).into_response()
}

/// The middleware (`axum::middleware::from_fn_with_state(auth, authorize)`).
pub(crate) async fn authorize(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let rule = rule(request.method(), path.as_deref());
    if rule == Rule::Open {
        return next.run(request).await;
    }
    let access = match auth.authenticate(request.headers()).await {
        Ok(access) => access,
        Err(refusal) => return refuse(refusal),
    };
    let (mut parts, body) = request.into_parts();
    let decided = match rule {
        Rule::Open | Rule::Authenticated | Rule::Listing => Ok(()),
        Rule::Global(level) => access.check_global(level),
        Rule::Collection(level) => match Path::<HashMap<String, String>>::from_request_parts(&mut parts, &()).await {
            Ok(Path(params)) => match params.get("name") {
                Some(name) => access.check_collection(name, level),
                None => access.check_global(Level::Manage),
            },
            Err(e) => Err(ApiError::new(e.status(), e.body_text())),
        },
    };
    if let Err(denied) = decided {
        return denied.into_response();
    }
    parts.extensions.insert(access);
    next.run(Request::from_parts(parts, body)).await
}

/// The caller's access as the middleware left it (`None`: no key is configured).
pub(crate) type Caller = Option<axum::Extension<Access>>;

/// Whether the caller's access is global (no key configured, a key, a global token): what a
/// collection-scoped token may not see of the process and the cluster is left out for it.
pub(crate) fn is_global(caller: &Caller) -> bool {
    match caller {
        Some(axum::Extension(access)) => access.check_global(Level::Read).is_ok(),
        None => true,
    }
}

/// Whether the caller may read collection `name` (listings, `with_lookup`).
pub(crate) fn check_read(caller: &Caller, name: &str) -> Result<(), ApiError> {
    match caller {
        Some(axum::Extension(access)) => access.check_collection(name, Level::Read),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::{Manage, Read, ReadExtras, Write, WriteExtras};
    use Rule::{Collection, Global, Listing, Open};

    #[test]
    fn rules() {
        let get = &Method::GET;
        let post = &Method::POST;
        let put = &Method::PUT;
        let cases = [
            (get, "/", Open),
            (get, "/readyz", Open),
            (get, "/metrics", Global(Read)),
            (get, "/dashboard", Open),
            (get, "/dashboard/{asset}", Open),
            (get, "/cluster/map", Global(Read)),
            (get, "/collections", Listing),
            (get, "/aliases", Listing),
            (post, "/collections/aliases", Global(Manage)),
            (put, "/collections/{name}", Collection(Manage)),
            (get, "/collections/{name}", Collection(Read)),
            (post, "/collections/{name}/cluster", Collection(Manage)),
            (put, "/collections/{name}/points", Collection(Write)),
            (post, "/collections/{name}/points", Collection(Read)),
            (post, "/collections/{name}/points/query", Collection(Read)),
            (post, "/collections/{name}/points/payload", Collection(Write)),
            (put, "/collections/{name}/index", Collection(WriteExtras)),
            (post, "/collections/{name}/snapshots", Collection(WriteExtras)),
            (get, "/collections/{name}/snapshots/{snapshot}", Collection(ReadExtras)),
            (put, "/collections/{name}/snapshots/recover", Collection(Manage)),
            (post, "/collections/{name}/snapshots/upload", Collection(Manage)),
            (get, "/snapshots", Global(Read)),
            (post, "/snapshots", Global(Manage)),
            (get, "/cluster", Global(Read)),
            (get, "/cluster/telemetry", Listing),
            (get, "/telemetry", Listing),
            (get, "/issues", Listing),
            (&Method::DELETE, "/issues", Global(Manage)),
            (get, "/collections/{name}/shards/{shard_id}/snapshot", Collection(WriteExtras)),
            (get, "/collections/{name}/shards/{shard_id}/snapshots", Collection(ReadExtras)),
            (get, "/collections/{name}/optimizations", Collection(Read)),
            (post, "/cluster/recover", Global(Manage)),
            (get, "/cluster/peer/{peer_id}/drain", Global(Read)),
            (post, "/cluster/peer/{peer_id}/drain", Global(Manage)),
            (&Method::DELETE, "/cluster/peer/{peer_id}", Global(Manage)),
            (put, "/cluster/metadata/keys/{key}", Global(Manage)),
            (post, "/debug/partition", Global(Manage)),
            (post, "/collections/{name}/shards/{shard_id}/points", Collection(Read)),
            (post, "/collections/{name}/shards/{shard_id}/points/scroll", Collection(Read)),
            (post, "/collections/{name}/shards/{shard_id}/points/count", Collection(Read)),
            (post, "/collections/{name}/shards/{shard_id}/cleanup", Collection(Write)),
            (post, "/collections/{name}/truncate_unapplied_wal", Global(Manage)),
            (get, "/logger", Global(Read)),
            (post, "/logger", Global(Manage)),
            (get, "/stacktrace", Global(Manage)),
            (get, "/profiler/slow_requests", Global(Manage)),
            (get, "/debugger", Global(Manage)),
            (&Method::PATCH, "/debugger", Global(Manage)),
            (post, "/audit/logs", Global(Manage)),
            (post, "/collections/{name}/something/new", Collection(Manage)),
            (post, "/something/new", Global(Manage)),
        ];
        for (method, path, expected) in cases {
            assert_eq!(rule(method, Some(path)), expected, "{method} {path}");
        }
        assert_eq!(rule(get, None), Rule::Authenticated);
    }
}
