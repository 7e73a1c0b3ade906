//! The gRPC side of `auth.rs`: a tower layer in front of the services authenticates each call from
//! its `api-key` (or `authorization: Bearer`) metadata and checks the method's rule before the
//! message is decoded (`Unauthenticated` for a missing or unknown key, `PermissionDenied` for a
//! refused token or operation). Global keys and tokens are decided there; a collection-scoped
//! token is decided there for everything but the collection, which is inside the message: the
//! handler checks it with [`authorized`] once decoded. `qdrant.Qdrant/HealthCheck` and
//! `grpc.health.v1.Health` stay open.

use crate::auth::{Access, Auth, Level, Refusal};
use axum::http::StatusCode;
use qdrant_client::qdrant as pb;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::http;
use tonic::{Request, Status};

/// What a method needs (`None`: open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    Open,
    Authenticated,
    Listing,
    Global(Level),
    /// On the collection the message names (checked by the handler for scoped tokens).
    Collection(Level),
}

/// What the layer granted: the caller's access and the level the method needs.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub access: Access,
    pub level: Level,
}

/// The rule of the gRPC method at `path` (`/package.Service/Method`). Unknown methods need
/// manage access (closed by default).
pub(crate) fn rule(path: &str) -> Rule {
    use Level::{Manage, Read, ReadExtras, WriteExtras};
    use Rule::{Collection, Global, Listing};
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    match (service, method) {
        ("qdrant.Qdrant", "HealthCheck") | ("grpc.health.v1.Health", _) => Rule::Open,
        (s, _) if s.starts_with("grpc.reflection.") => Rule::Authenticated,
        ("qdrant.Collections", "List" | "ListAliases") => Listing,
        ("qdrant.Collections", "UpdateAliases") => Global(Manage),
        ("qdrant.Collections", "Get" | "ListCollectionAliases" | "CollectionClusterInfo" | "CollectionExists")
        | ("qdrant.Collections", "ListShardKeys") => Collection(Read),
        ("qdrant.Collections", _) => Collection(Manage),
        ("qdrant.Snapshots", "ListFull") => Global(Read),
        ("qdrant.Snapshots", "CreateFull" | "DeleteFull") => Global(Manage),
        ("qdrant.Snapshots", "List") => Collection(ReadExtras),
        ("qdrant.Snapshots", "Create" | "Delete") => Collection(WriteExtras),
        ("qdrant.Points", m) => Collection(points_level(m)),
        _ => Global(Manage),
    }
}

fn points_level(method: &str) -> Level {
    match method {
        "Get"
        | "Search"
        | "SearchBatch"
        | "SearchGroups"
        | "Scroll"
        | "Recommend"
        | "RecommendBatch"
        | "RecommendGroups"
        | "Discover"
        | "DiscoverBatch"
        | "Count"
        | "Query"
        | "QueryBatch"
        | "QueryGroups"
        | "Facet"
        | "SearchMatrixPairs"
        | "SearchMatrixOffsets" => Level::Read,
        "Upsert" | "Delete" | "UpdateVectors" | "DeleteVectors" | "SetPayload" | "OverwritePayload"
        | "DeletePayload" | "ClearPayload" | "UpdateBatch" => Level::Write,
        "CreateFieldIndex" | "DeleteFieldIndex" => Level::WriteExtras,
        _ => Level::Manage,
    }
}

fn status_of(refusal: Refusal) -> Status {
    match refusal.status {
        StatusCode::UNAUTHORIZED => Status::unauthenticated(refusal.message),
        StatusCode::FORBIDDEN => Status::permission_denied(refusal.message),
        _ => Status::internal(refusal.message),
    }
}

/// The decision for one call from its headers and path: the grant to hand to the handler.
async fn decide(auth: &Auth, path: &str, headers: &http::HeaderMap) -> Result<Option<Grant>, Status> {
    let rule = rule(path);
    if rule == Rule::Open {
        return Ok(None);
    }
    let access = auth.authenticate(headers).await.map_err(status_of)?;
    let level = match rule {
        Rule::Open | Rule::Authenticated | Rule::Listing => Level::Read,
        Rule::Global(level) => {
            access.check_global(level)?;
            level
        }
        Rule::Collection(level) => {
            // Global access needs no collection name; a scoped token never manages.
            match &access {
                Access::Global { .. } => access.check_collection("", level)?,
                Access::Collections(_) if level == Level::Manage => access.check_collection("", level)?,
                Access::Collections(_) => {}
            }
            level
        }
    };
    Ok(Some(Grant { access, level }))
}

/// The layer (`Server::builder().layer(AuthLayer { auth })`).
#[derive(Clone)]
pub struct AuthLayer {
    pub auth: Arc<Auth>,
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, auth: Arc::clone(&self.auth) }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Auth>,
}

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Boxed<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service that was polled ready serves this call; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = Arc::clone(&self.auth);
        Box::pin(async move {
            match decide(&auth, request.uri().path(), request.headers()).await {
                Ok(grant) => {
                    if let Some(grant) = grant {
                        request.extensions_mut().insert(grant);
                    }
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// Messages that name the collection they act on, and the other collections they read.
pub(crate) trait Scoped {
    fn collection(&self) -> &str;
    fn lookups(&self) -> Vec<&str> {
        Vec::new()
    }
}

macro_rules! scoped {
    ($($message:ty),* $(,)?) => {
        $(impl Scoped for $message {
            fn collection(&self) -> &str {
                &self.collection_name
            }
        })*
    };
}

scoped!(
    pb::UpsertPoints,
    pb::DeletePoints,
    pb::GetPoints,
    pb::UpdatePointVectors,
    pb::DeletePointVectors,
    pb::SetPayloadPoints,
    pb::DeletePayloadPoints,
    pb::ClearPayloadPoints,
    pb::CreateFieldIndexCollection,
    pb::DeleteFieldIndexCollection,
    pb::SearchPoints,
    pb::SearchBatchPoints,
    pb::ScrollPoints,
    pb::CountPoints,
    pb::FacetCounts,
    pb::SearchMatrixPoints,
    pb::CreateVectorNameRequest,
    pb::DeleteVectorNameRequest,
    pb::UpdateBatchPoints,
    pb::GetCollectionInfoRequest,
    pb::CreateCollection,
    pb::UpdateCollection,
    pb::DeleteCollection,
    pb::ListCollectionAliasesRequest,
    pb::CollectionClusterInfoRequest,
    pb::CollectionExistsRequest,
    pb::UpdateCollectionClusterSetupRequest,
    pb::CreateShardKeyRequest,
    pb::DeleteShardKeyRequest,
    pb::ListShardKeysRequest,
    pb::CreateSnapshotRequest,
    pb::ListSnapshotsRequest,
    pb::DeleteSnapshotRequest,
);

macro_rules! scoped_with_lookup {
    ($($message:ty),* $(,)?) => {
        $(impl Scoped for $message {
            fn collection(&self) -> &str {
                &self.collection_name
            }
            fn lookups(&self) -> Vec<&str> {
                self.with_lookup.iter().map(|l| l.collection.as_str()).collect()
            }
        })*
    };
}

scoped_with_lookup!(pb::SearchPointGroups, pb::RecommendPointGroups);

/// The `lookup_from` collections of a query and its prefetches, at every depth.
fn prefetch_lookups<'a>(
    lookup: &'a Option<pb::LookupLocation>,
    prefetch: &'a [pb::PrefetchQuery],
    out: &mut Vec<&'a str>,
) {
    out.extend(lookup.iter().map(|l| l.collection_name.as_str()));
    for p in prefetch {
        prefetch_lookups(&p.lookup_from, &p.prefetch, out);
    }
}

fn query_lookups(q: &pb::QueryPoints) -> Vec<&str> {
    let mut out = Vec::new();
    prefetch_lookups(&q.lookup_from, &q.prefetch, &mut out);
    out
}

macro_rules! scoped_by {
    ($message:ty, |$m:ident| $lookups:expr) => {
        impl Scoped for $message {
            fn collection(&self) -> &str {
                &self.collection_name
            }
            fn lookups(&self) -> Vec<&str> {
                let $m = self;
                $lookups
            }
        }
    };
}

scoped_by!(pb::QueryPoints, |m| query_lookups(m));
scoped_by!(pb::QueryBatchPoints, |m| m.query_points.iter().flat_map(query_lookups).collect());
scoped_by!(pb::QueryPointGroups, |m| {
    let mut out: Vec<&str> = m.with_lookup.iter().map(|l| l.collection.as_str()).collect();
    prefetch_lookups(&m.lookup_from, &m.prefetch, &mut out);
    out
});
scoped_by!(pb::RecommendPoints, |m| m.lookup_from.iter().map(|l| l.collection_name.as_str()).collect());
scoped_by!(pb::RecommendBatchPoints, |m| {
    m.recommend_points.iter().flat_map(|r| r.lookup_from.iter().map(|l| l.collection_name.as_str())).collect()
});
scoped_by!(pb::DiscoverPoints, |m| m.lookup_from.iter().map(|l| l.collection_name.as_str()).collect());
scoped_by!(pb::DiscoverBatchPoints, |m| {
    m.discover_points.iter().flat_map(|r| r.lookup_from.iter().map(|l| l.collection_name.as_str())).collect()
});

/// The decoded message, once a collection-scoped caller is found allowed on its collection (at
/// the method's level) and on the collections it looks up (read); its collection is noted for
/// the per-collection metrics.
pub(crate) fn authorized<T: Scoped>(request: Request<T>) -> Result<T, Status> {
    let grant = request.extensions().get::<Grant>().cloned();
    let slot = request.extensions().get::<crate::metrics::CollectionSlot>().cloned();
    let message = request.into_inner();
    if let Some(slot) = slot {
        let _ = slot.0.set(message.collection().to_string());
    }
    if let Some(Grant { access, level }) = grant {
        access.check_collection(message.collection(), level)?;
        for lookup in message.lookups() {
            access.check_collection(lookup, Level::Read)?;
        }
    }
    Ok(message)
}

/// Whether the caller of `request` may see collection `name` in a listing.
pub(crate) fn sees<T>(request: &Request<T>, name: &str) -> bool {
    request.extensions().get::<Grant>().is_none_or(|grant| grant.access.sees(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::{Manage, Read, ReadExtras, Write, WriteExtras};
    use Rule::{Collection, Global, Listing, Open};

    #[test]
    fn rules() {
        let cases = [
            ("/qdrant.Qdrant/HealthCheck", Open),
            ("/grpc.health.v1.Health/Check", Open),
            ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", Rule::Authenticated),
            ("/qdrant.Collections/List", Listing),
            ("/qdrant.Collections/Get", Collection(Read)),
            ("/qdrant.Collections/Create", Collection(Manage)),
            ("/qdrant.Collections/UpdateAliases", Global(Manage)),
            ("/qdrant.Collections/UpdateCollectionClusterSetup", Collection(Manage)),
            ("/qdrant.Points/Upsert", Collection(Write)),
            ("/qdrant.Points/Query", Collection(Read)),
            ("/qdrant.Points/CreateVectorName", Collection(Manage)),
            ("/qdrant.Snapshots/Create", Collection(WriteExtras)),
            ("/qdrant.Snapshots/List", Collection(ReadExtras)),
            ("/qdrant.Points/CreateFieldIndex", Collection(WriteExtras)),
            ("/qdrant.Points/Get", Collection(Read)),
            ("/qdrant.Snapshots/CreateFull", Global(Manage)),
            ("/qdrant.Snapshots/ListFull", Global(Read)),
            ("/qdrant.Unknown/Method", Global(Manage)),
        ];
        for (path, expected) in cases {
            assert_eq!(rule(path), expected, "{path}");
        }
    }
}
