//! Collection info over every shard (`info.rs`): a peer counts each shard once, from its own
//! readable replica or else from one readable replica elsewhere, trying the next when one does
//! not answer, leaving out a shard none of whose replicas answers, and asking a peer that
//! predates `Info` for its points; and (sharing these fixtures) a consistent read that replaces a
//! replica that fails, and a read's fan-out past a hung replica.

use crate::collection::Collection;
use crate::context::ClusterPorts;
use crate::error::{CollectionError, Result};
use crate::remote::{BoxFuture, NOT_UNDERSTOOD, ShardRequest, ShardResponse, ShardTransport};
use crate::tests_snapshot_transfer::NoControl;
use quiver_types::config::{Distance, VectorParams, VectorsConfig};
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use quiver_types::replica::ReplicaState::{self, Active, Partial};
use quiver_types::{PeerId, PointId, ShardId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const ME: PeerId = 1;
/// A peer that is down: every call to it fails.
const DOWN: PeerId = 2;
/// A peer that holds a replica of every shard.
const UP: PeerId = 3;
/// A peer that never answers.
const HUNG: PeerId = 0;

/// Another peer as seen through the transport.
enum Remote {
    Down,
    /// Accepts calls and never answers (paused, or cut off without a refusal).
    Hung,
    /// Serves its collection's replicas; refuses `Info` as undecodable when it predates it.
    Serves {
        collection: Collection,
        predates_info: bool,
    },
}

struct Peers {
    remotes: BTreeMap<PeerId, Remote>,
    calls: parking_lot::Mutex<Vec<(PeerId, ShardId)>>,
}

impl ShardTransport for Peers {
    fn call(
        &self,
        peer: PeerId,
        _: &str,
        shard_id: ShardId,
        request: ShardRequest,
        _: Duration,
    ) -> BoxFuture<'_, Result<ShardResponse>> {
        self.calls.lock().push((peer, shard_id));
        Box::pin(async move {
            match self.remotes.get(&peer) {
                None | Some(Remote::Down) => Err(CollectionError::Service("tcp connect error".into())),
                Some(Remote::Hung) => std::future::pending().await,
                Some(Remote::Serves { predates_info: true, .. }) if matches!(request, ShardRequest::Info) => {
                    Err(CollectionError::Service(format!("{NOT_UNDERSTOOD}: unknown variant index")))
                }
                Some(Remote::Serves { collection, .. }) => collection.handle_shard_request(shard_id, request).await,
            }
        })
    }
}

fn config() -> quiver_types::config::CollectionConfig {
    config_with_shards(3)
}

/// A collection of `shard_number` shards of one 2-d `Dot` vector, rf 2.
pub(crate) fn config_with_shards(shard_number: u32) -> quiver_types::config::CollectionConfig {
    let mut config = crate::context::test_config(2);
    config.params.shard_number = shard_number;
    config.params.vectors = VectorsConfig::Single(VectorParams {
        size: 2,
        distance: Distance::Dot,
        hnsw_config: None,
        quantization_config: None,
        on_disk: None,
        datatype: None,
        multivector_config: None,
        memory: None,
    });
    config
}

/// Points `ids`, each with the vector `[1, id]`.
pub(crate) fn upsert(ids: std::ops::Range<u64>) -> UpdateOperation {
    let points = ids
        .map(|i| PointStruct {
            id: PointId::Num(i),
            vectors: NamedVectors::from([(String::new(), Vector::Dense(vec![1.0, i as f32]))]),
            payload: None,
        })
        .collect();
    UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }
}

/// Writes `ids` straight into the local replica of `shard_id`.
fn fill(collection: &Collection, shard_id: ShardId, ids: std::ops::Range<u64>) {
    let local = collection.replica_set(shard_id).unwrap().local().unwrap();
    local.update(&upsert(ids), true).unwrap();
}

/// The other peer's copy of the collection: 10, 20 and 40 points in shards 0, 1 and 2.
fn remote_collection(dir: &std::path::Path) -> Collection {
    let collection = Collection::create("c", dir, config(), None).unwrap();
    fill(&collection, 0, 0..10);
    fill(&collection, 1, 100..120);
    fill(&collection, 2, 200..240);
    collection
}

/// This peer's collection with local replicas of shards 0 (3 points) and 1 (empty), connected
/// to `remotes`, with the replica `states` of each shard.
fn this_peer(
    dir: &std::path::Path,
    remotes: BTreeMap<PeerId, Remote>,
    states: [&[(PeerId, ReplicaState)]; 3],
) -> (Collection, Arc<Peers>) {
    this_peer_with(config(), dir, remotes, states)
}

fn this_peer_with(
    config: quiver_types::config::CollectionConfig,
    dir: &std::path::Path,
    remotes: BTreeMap<PeerId, Remote>,
    states: [&[(PeerId, ReplicaState)]; 3],
) -> (Collection, Arc<Peers>) {
    let collection = Collection::create("c", dir, config, Some(&[0, 1])).unwrap();
    fill(&collection, 0, 0..3);
    let peers = Arc::new(Peers { remotes, calls: parking_lot::Mutex::new(Vec::new()) });
    let transport: Arc<dyn ShardTransport> = peers.clone();
    collection.attach_cluster(ClusterPorts { me: ME, transport, control: Arc::new(NoControl) });
    for (shard_id, states) in states.into_iter().enumerate() {
        let set = collection.replica_set(shard_id as ShardId).unwrap();
        set.set_states(ME, states.iter().copied().collect(), 1);
    }
    (collection, peers)
}

#[tokio::test]
async fn every_shard_is_counted_once_from_the_local_replica_or_else_a_remote_one() {
    let dir = tempfile::tempdir().unwrap();
    let remotes = BTreeMap::from([
        (DOWN, Remote::Down),
        (UP, Remote::Serves { collection: remote_collection(&dir.path().join("up")), predates_info: false }),
    ]);
    // Shard 0: readable here. Shard 1: held here but Partial (being filled), so read elsewhere:
    // the down peer first, then the one that answers. Shard 2: not held here.
    let states: [&[(PeerId, ReplicaState)]; 3] =
        [&[(ME, Active), (UP, Active)], &[(ME, Partial), (DOWN, Active), (UP, Active)], &[(UP, Active)]];
    let (collection, peers) = this_peer(&dir.path().join("me"), remotes, states);
    let counts = collection.info_counts().await;
    assert_eq!(counts.points, 3 + 20 + 40, "{counts:?}");
    assert_eq!(counts.unreachable_shards, 0);
    assert_eq!(*peers.calls.lock(), vec![(DOWN, 1), (UP, 1), (UP, 2)], "no call for the local shard 0");
}

#[tokio::test]
async fn a_shard_no_replica_of_which_answers_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let remotes = BTreeMap::from([
        (DOWN, Remote::Down),
        (UP, Remote::Serves { collection: remote_collection(&dir.path().join("up")), predates_info: false }),
    ]);
    let states: [&[(PeerId, ReplicaState)]; 3] =
        [&[(ME, Active), (DOWN, Active)], &[(ME, Active), (UP, Active)], &[(DOWN, Active), (UP, Partial)]];
    let (collection, peers) = this_peer(&dir.path().join("me"), remotes, states);
    let counts = collection.info_counts().await;
    // Shard 1 is empty here and readable: its local figures count, not the other peer's 20.
    assert_eq!((counts.points, counts.unreachable_shards), (3, 1), "{counts:?}");
    assert_eq!(*peers.calls.lock(), vec![(DOWN, 2)], "a Partial replica is not asked");
}

#[tokio::test]
async fn a_peer_that_predates_info_is_asked_its_points() {
    let dir = tempfile::tempdir().unwrap();
    let old = Remote::Serves { collection: remote_collection(&dir.path().join("old")), predates_info: true };
    let states: [&[(PeerId, ReplicaState)]; 3] = [&[(ME, Active)], &[(UP, Active)], &[(UP, Active)]];
    let (collection, peers) = this_peer(&dir.path().join("me"), BTreeMap::from([(UP, old)]), states);
    let counts = collection.info_counts().await;
    assert_eq!((counts.points, counts.unreachable_shards), (3 + 20 + 40, 0), "{counts:?}");
    assert_eq!(*peers.calls.lock(), vec![(UP, 1), (UP, 1), (UP, 2), (UP, 2)], "Info, then Count");
}

#[tokio::test]
async fn standalone_every_shard_is_local() {
    let dir = tempfile::tempdir().unwrap();
    let collection = remote_collection(dir.path());
    let counts = collection.info_counts().await;
    let (indexed, indexing) = collection.index_status();
    assert_eq!(counts.points, 70);
    assert_eq!((counts.indexed_vectors, counts.indexing_here, counts.unreachable_shards), (indexed, indexing, 0));
}

#[tokio::test]
async fn a_consistent_read_replaces_a_replica_that_fails_with_the_next_readable_one() {
    let dir = tempfile::tempdir().unwrap();
    let remotes = BTreeMap::from([
        (DOWN, Remote::Down),
        (UP, Remote::Serves { collection: remote_collection(&dir.path().join("up")), predates_info: false }),
    ]);
    // Shard 1 on all three peers: `quorum` needs 2 answers, the local one and the down peer's
    // come first; the down peer (killed, not marked `Dead` yet) is replaced by the third.
    let states: [&[(PeerId, ReplicaState)]; 3] =
        [&[(ME, Active)], &[(ME, Active), (DOWN, Active), (UP, Active)], &[(UP, Active)]];
    let (collection, peers) = this_peer(&dir.path().join("me"), remotes, states);
    let read = crate::replica_read::with_read_consistency(
        quiver_types::query::ReadConsistency::Quorum,
        collection.count(None, None),
    );
    let count = read.await.expect("2 of the 3 replicas of shard 1 answer");
    assert!(count >= 3 + 40, "{count}");
    let calls = peers.calls.lock().clone();
    assert!(calls.contains(&(DOWN, 1)) && calls.contains(&(UP, 1)), "{calls:?}");
}

#[tokio::test]
async fn a_read_of_a_shard_held_elsewhere_asks_two_replicas_at_once_so_a_hung_one_does_not_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let remotes = BTreeMap::from([
        (HUNG, Remote::Hung),
        (UP, Remote::Serves { collection: remote_collection(&dir.path().join("up")), predates_info: false }),
    ]);
    // Shard 2 is not held here; the hung peer comes first in the order of candidates.
    let states: [&[(PeerId, ReplicaState)]; 3] = [&[(ME, Active)], &[(ME, Active)], &[(HUNG, Active), (UP, Active)]];
    let (collection, peers) = this_peer(&dir.path().join("me"), remotes, states);
    let count = tokio::time::timeout(Duration::from_secs(5), collection.count(None, None)).await;
    assert_eq!(count.expect("not held by the hung replica").unwrap(), 3 + 40);
    assert_eq!(*peers.calls.lock(), vec![(HUNG, 2), (UP, 2)], "both asked at once, spec §6.4");
}

#[tokio::test]
async fn extra_reads_wait_the_fan_out_delay() {
    let dir = tempfile::tempdir().unwrap();
    let remotes = BTreeMap::from([
        (HUNG, Remote::Hung),
        (UP, Remote::Serves { collection: remote_collection(&dir.path().join("up")), predates_info: false }),
    ]);
    let mut config = config();
    config.params.read_fan_out_delay_ms = Some(300);
    let states: [&[(PeerId, ReplicaState)]; 3] = [&[(ME, Active)], &[(ME, Active)], &[(HUNG, Active), (UP, Active)]];
    let (collection, _) = this_peer_with(config, &dir.path().join("me"), remotes, states);
    let started = std::time::Instant::now();
    let count = tokio::time::timeout(Duration::from_secs(5), collection.count(None, None)).await;
    assert_eq!(count.expect("answered by the second replica").unwrap(), 3 + 40);
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
}
