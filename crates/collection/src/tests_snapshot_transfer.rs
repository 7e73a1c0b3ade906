//! Transfers through the replica sets' own protocol code (design record 019): a `snapshot`
//! source streams its snapshot while it keeps taking writes, and the target ends up holding the
//! state of the snapshot's sequence number; a copy that fails midway leaves the target as it
//! was and no stream behind on the source; `wal_delta` sizes its requests to the records.

use crate::context::{ClusterPorts, CollectionContext};
use crate::error::{CollectionError, Result};
use crate::progress::TransferProgress;
use crate::remote::{BoxFuture, ControlPlane, NOT_UNDERSTOOD, ShardRequest, ShardResponse, ShardTransport};
use crate::replica_set::ReplicaSet;
use crate::transfer::Copied;
use quiver_shard::vectors::VectorSpec;
use quiver_shard::{IndexConfig, LocalShard, ShardConfig};
use quiver_types::cluster::TransferMethod;
use quiver_types::config::Distance;
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, PointId, ShardId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const DIM: usize = 8;

fn shard(dir: &std::path::Path, ids: std::ops::Range<u64>) -> Arc<LocalShard> {
    let config = ShardConfig {
        dense: BTreeMap::from([(String::new(), VectorSpec::plain(DIM, Distance::Dot))]),
        sparse: Default::default(),
        wal_segment_bytes: 1 << 20,
        index: IndexConfig::default(),
    };
    let shard = LocalShard::open(dir, config).unwrap();
    shard.update(&upsert(ids), true).unwrap();
    Arc::new(shard)
}

fn upsert(ids: std::ops::Range<u64>) -> UpdateOperation {
    let points = ids
        .map(|i| PointStruct {
            id: PointId::Num(i),
            vectors: NamedVectors::from([(String::new(), Vector::Dense(vec![i as f32; DIM]))]),
            payload: Some(serde_json::json!({"n": i}).as_object().unwrap().clone()),
        })
        .collect();
    UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }
}

fn replica_set(dir: &std::path::Path, local: Arc<LocalShard>) -> Arc<ReplicaSet> {
    let config = crate::context::test_config(2);
    Arc::new(ReplicaSet::new(0, Some(local), Arc::new(CollectionContext::new("c", dir, config))))
}

/// Calls the source's replica set in-process; writes to the source before each chunk request
/// and fails the chunk requests from `fail_chunk` on.
struct Loopback {
    source: Arc<ReplicaSet>,
    fail_chunk: Option<usize>,
    chunks: parking_lot::Mutex<usize>,
    /// The source's digest when it answered `SnapshotCreate`.
    created: parking_lot::Mutex<Option<u64>>,
    /// The source runs a build that predates `ApplyRecord` and `WalRecordBytes`: it cannot
    /// decode them (counted in `not_understood`).
    predates_records: bool,
    not_understood: parking_lot::Mutex<usize>,
}

impl ShardTransport for Loopback {
    fn call(
        &self,
        _: PeerId,
        _: &str,
        _: ShardId,
        request: ShardRequest,
        _: Duration,
    ) -> BoxFuture<'_, Result<ShardResponse>> {
        Box::pin(async move {
            let local = self.source.local().unwrap();
            let newer = matches!(request, ShardRequest::ApplyRecord { .. } | ShardRequest::WalRecordBytes { .. });
            if self.predates_records && newer {
                *self.not_understood.lock() += 1;
                return Err(CollectionError::Service(format!("{NOT_UNDERSTOOD}: unknown variant index")));
            }
            if let ShardRequest::SnapshotChunk { .. } = request {
                let n = {
                    let mut chunks = self.chunks.lock();
                    *chunks += 1;
                    *chunks
                };
                local.update(&upsert(n as u64 * 10..n as u64 * 10 + 50), true).unwrap();
                if self.fail_chunk.is_some_and(|fail| n >= fail) {
                    return Err(CollectionError::Service("connection reset".into()));
                }
            }
            let create = matches!(request, ShardRequest::SnapshotCreate);
            let answer = self.source.serve(request).await;
            if create {
                *self.created.lock() = Some(local.digest());
            }
            answer
        })
    }
}

pub(crate) struct NoControl;

impl ControlPlane for NoControl {
    fn mark_dead(&self, _: &str, _: ShardId, _: PeerId, _: ReplicaState) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(CollectionError::Service("no control plane in this test".into())) })
    }

    fn finish_transfer(&self, _: &str, _: ShardId, _: PeerId, _: PeerId) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(CollectionError::Service("no control plane in this test".into())) })
    }

    fn catch_up_metadata(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn is_connected(&self) -> bool {
        true
    }

    fn is_indispensable(&self) -> bool {
        false
    }
}

/// A source of 3,000 points and a target of 5 other points, connected by a [`Loopback`].
fn peers(dir: &std::path::Path, fail_chunk: Option<usize>) -> (Arc<ReplicaSet>, Arc<ReplicaSet>, Arc<Loopback>) {
    let source = replica_set(&dir.join("a"), shard(&dir.join("a/0"), 0..3000));
    let target = replica_set(&dir.join("b"), shard(&dir.join("b/0"), 9000..9005));
    connect(source, target, fail_chunk)
}

fn connect(
    source: Arc<ReplicaSet>,
    target: Arc<ReplicaSet>,
    fail_chunk: Option<usize>,
) -> (Arc<ReplicaSet>, Arc<ReplicaSet>, Arc<Loopback>) {
    connect_to(source, target, fail_chunk, false)
}

fn connect_to(
    source: Arc<ReplicaSet>,
    target: Arc<ReplicaSet>,
    fail_chunk: Option<usize>,
    predates_records: bool,
) -> (Arc<ReplicaSet>, Arc<ReplicaSet>, Arc<Loopback>) {
    let loopback = Arc::new(Loopback {
        source: Arc::clone(&source),
        fail_chunk,
        chunks: parking_lot::Mutex::new(0),
        created: parking_lot::Mutex::new(None),
        predates_records,
        not_understood: parking_lot::Mutex::new(0),
    });
    let transport: Arc<dyn ShardTransport> = loopback.clone();
    target.ctx.attach(ClusterPorts { me: 2, transport, control: Arc::new(NoControl) });
    (source, target, loopback)
}

#[tokio::test]
async fn a_snapshot_copy_holds_the_source_as_of_its_sequence_number_while_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target, loopback) = peers(dir.path(), None);
    let seq = source.local().unwrap().applied_seq();
    let copied = target.copy_from(1, TransferMethod::Snapshot, &TransferProgress::new(), &|| true).await.unwrap();
    assert!(matches!(copied, Copied::Done { points: 3000, .. }), "{copied:?}");
    let (source_local, target_local) = (source.local().unwrap(), target.local().unwrap());
    assert!(*loopback.chunks.lock() >= 1);
    assert!(source_local.applied_seq() > seq, "the source took writes during the copy");
    assert_eq!(target_local.applied_seq(), seq, "the copy is the snapshot's sequence number");
    assert_eq!(Some(target_local.digest()), *loopback.created.lock());
    assert_ne!(target_local.digest(), source_local.digest());
    assert!(source.snapshot_stream.lock().is_none(), "the target released the stream");
}

#[tokio::test]
async fn a_copy_that_fails_midway_leaves_the_target_and_releases_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target, _) = peers(dir.path(), Some(1));
    let before = target.local().unwrap().digest();
    let copy = target.copy_from(1, TransferMethod::Snapshot, &TransferProgress::new(), &|| true).await;
    assert!(copy.is_err());
    assert_eq!(target.local().unwrap().digest(), before);
    assert!(!target.is_awaiting_copy());
    assert!(source.snapshot_stream.lock().is_none(), "the target released the stream");
}

#[tokio::test]
async fn a_new_stream_replaces_the_old_one_and_a_released_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _, _) = peers(dir.path(), None);
    let create = || async { source.serve(ShardRequest::SnapshotCreate).await.unwrap() };
    let ShardResponse::SnapshotFile { token: first, .. } = create().await else { panic!("not a snapshot") };
    let old = Arc::clone(&source.snapshot_stream.lock().as_ref().unwrap().stream);
    let ShardResponse::SnapshotFile { token: second, bytes, .. } = create().await else { panic!("not a snapshot") };
    let chunk = |token| source.serve(ShardRequest::SnapshotChunk { token, offset: 0, len: 1 << 20 });
    let err = chunk(first).await.unwrap_err();
    assert!(err.to_string().contains("no snapshot"), "{err}");
    assert!(old.read(0, 10, Duration::from_secs(1)).is_err(), "the replaced stream was closed");
    assert_eq!(chunk(second).await.unwrap().into_bytes().unwrap().len() as u64, bytes);
    source.serve(ShardRequest::SnapshotEnd { token: second }).await.unwrap();
    assert!(chunk(second).await.is_err());
}

/// The target logs the source's record bytes as they are; a source that predates
/// `WalRecordBytes` is asked for decoded records instead, with the same outcome.
#[tokio::test]
async fn wal_delta_brings_a_lagging_replica_up_to_date_in_requests_of_any_size() {
    for predates_records in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (source_local, target_local) =
            (shard(&dir.path().join("a/0"), 0..10), shard(&dir.path().join("b/0"), 0..10));
        // 300 records the target missed: single points, then batches of 100.
        for i in 0..200u64 {
            source_local.update(&upsert(i..i + 1), false).unwrap();
        }
        for i in 0..100u64 {
            source_local.update(&upsert(1000 + i * 100..1100 + i * 100), false).unwrap();
        }
        let source = replica_set(&dir.path().join("a"), Arc::clone(&source_local));
        let target = replica_set(&dir.path().join("b"), Arc::clone(&target_local));
        let (_, target, loopback) = connect_to(source, target, None, predates_records);
        let copied = target.copy_from(1, TransferMethod::WalDelta, &TransferProgress::new(), &|| true).await.unwrap();
        assert!(matches!(copied, Copied::Done { .. }), "{copied:?}");
        assert_eq!(target_local.applied_seq(), 301);
        assert_eq!(
            (target_local.applied_seq(), target_local.digest()),
            (source_local.applied_seq(), source_local.digest())
        );
        assert_eq!(target_local.wal_record_bytes(1, 301).unwrap(), source_local.wal_record_bytes(1, 301).unwrap());
        assert_eq!(*loopback.not_understood.lock(), usize::from(predates_records), "asked once, then decoded");
    }
}

/// A primary sends each write as the record it logged, which the replica logs as it is; a
/// replica on a build that predates `ApplyRecord` refuses it as undecodable and is sent the
/// operation instead.
#[tokio::test]
async fn replicas_log_the_primarys_record_and_older_replicas_get_the_operation() {
    for predates_records in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (replica_local, primary_local) =
            (shard(&dir.path().join("a/0"), 0..10), shard(&dir.path().join("b/0"), 0..10));
        let replica = replica_set(&dir.path().join("a"), Arc::clone(&replica_local));
        let primary = replica_set(&dir.path().join("b"), Arc::clone(&primary_local));
        let states = BTreeMap::from([(1, ReplicaState::Active), (2, ReplicaState::Active)]);
        replica.set_states(1, states.clone(), 1);
        primary.set_states(2, states, 1);
        let (_, primary, loopback) = connect_to(replica, primary, None, predates_records);
        for i in 0..20u64 {
            primary.write(upsert(100 + i * 5..105 + i * 5), true).await.unwrap();
        }
        assert_eq!(replica_local.applied_seq(), 21);
        assert_eq!(replica_local.wal_record_bytes(1, 21).unwrap(), primary_local.wal_record_bytes(1, 21).unwrap());
        assert_eq!(replica_local.digest(), primary_local.digest());
        assert_eq!(*loopback.not_understood.lock(), if predates_records { 20 } else { 0 });
    }
}

#[tokio::test(start_paused = true)]
async fn a_frozen_copy_no_target_reads_expires_and_one_being_read_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _, _) = peers(dir.path(), None);
    let begin = || async { source.serve(ShardRequest::SnapshotBegin).await.unwrap() };
    let ShardResponse::Snapshot { token, total, .. } = begin().await else { panic!("not a frozen copy") };
    assert!(total > 0);
    let page = |token| source.serve(ShardRequest::SnapshotFrames { token, offset: 0, limit: 10 });
    // Read every half of the idle time: the copy stays.
    for _ in 0..4 {
        tokio::time::sleep(crate::transfer::FROZEN_IDLE / 2).await;
        page(token).await.expect("a copy being read is kept");
    }
    // No read for longer than the idle time: the copy is dropped and its token refused.
    tokio::time::sleep(crate::transfer::FROZEN_IDLE + Duration::from_secs(1)).await;
    assert!(source.frozen.lock().is_none(), "the idle copy was dropped");
    let err = page(token).await.unwrap_err();
    assert!(err.to_string().contains("no frozen copy"), "{err}");
}
