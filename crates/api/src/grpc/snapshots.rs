//! `qdrant.Snapshots`: collection and full snapshots through the node functions behind
//! `/collections/{c}/snapshots` and `/snapshots` (recovery and downloads are REST-only, as in
//! Qdrant).

use crate::grpc::GrpcState;
use crate::grpc::auth::authorized;
use crate::grpc::status::from_node;
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::snapshots_server::Snapshots;
use quiver_node::SnapshotDescription;
use std::time::Instant;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;

fn timestamp(naive: Option<&str>) -> Option<prost_types::Timestamp> {
    let time = chrono::NaiveDateTime::parse_from_str(naive?, "%Y-%m-%dT%H:%M:%S%.f").ok()?.and_utc();
    Some(prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 })
}

fn description_out(d: SnapshotDescription) -> pb::SnapshotDescription {
    pb::SnapshotDescription {
        creation_time: timestamp(d.creation_time.as_deref()),
        name: d.name,
        size: i64::try_from(d.size).unwrap_or(i64::MAX),
        checksum: d.checksum,
    }
}

fn created(started: Instant, d: SnapshotDescription) -> Reply<pb::CreateSnapshotResponse> {
    let time = started.elapsed().as_secs_f64();
    Ok(Response::new(pb::CreateSnapshotResponse { snapshot_description: Some(description_out(d)), time }))
}

fn listed(started: Instant, list: Vec<SnapshotDescription>) -> Reply<pb::ListSnapshotsResponse> {
    let snapshot_descriptions = list.into_iter().map(description_out).collect();
    Ok(Response::new(pb::ListSnapshotsResponse { snapshot_descriptions, time: started.elapsed().as_secs_f64() }))
}

fn deleted(started: Instant) -> Reply<pb::DeleteSnapshotResponse> {
    Ok(Response::new(pb::DeleteSnapshotResponse { time: started.elapsed().as_secs_f64() }))
}

#[tonic::async_trait]
impl Snapshots for GrpcState {
    async fn create(&self, request: Request<pb::CreateSnapshotRequest>) -> Reply<pb::CreateSnapshotResponse> {
        let started = Instant::now();
        let name = authorized(request)?.collection_name;
        created(started, self.node.create_collection_snapshot(&name).await.map_err(from_node)?)
    }

    async fn list(&self, request: Request<pb::ListSnapshotsRequest>) -> Reply<pb::ListSnapshotsResponse> {
        let started = Instant::now();
        let name = authorized(request)?.collection_name;
        listed(started, self.node.list_collection_snapshots(&name).await.map_err(from_node)?)
    }

    async fn delete(&self, request: Request<pb::DeleteSnapshotRequest>) -> Reply<pb::DeleteSnapshotResponse> {
        let started = Instant::now();
        let request = authorized(request)?;
        let node = &self.node;
        node.delete_collection_snapshot(&request.collection_name, &request.snapshot_name).await.map_err(from_node)?;
        deleted(started)
    }

    async fn create_full(&self, _request: Request<pb::CreateFullSnapshotRequest>) -> Reply<pb::CreateSnapshotResponse> {
        let started = Instant::now();
        created(started, self.node.create_full_snapshot().await.map_err(from_node)?)
    }

    async fn list_full(&self, _request: Request<pb::ListFullSnapshotsRequest>) -> Reply<pb::ListSnapshotsResponse> {
        let started = Instant::now();
        listed(started, self.node.list_full_snapshots().await.map_err(from_node)?)
    }

    async fn delete_full(&self, request: Request<pb::DeleteFullSnapshotRequest>) -> Reply<pb::DeleteSnapshotResponse> {
        let started = Instant::now();
        self.node.delete_full_snapshot(&request.into_inner().snapshot_name).await.map_err(from_node)?;
        deleted(started)
    }
}
