//! Confirming a local replica current when its primary cannot answer (design record 003 §8):
//! a replica this process confirmed before, unconfirmed only by a lost contact, is confirmed
//! again by the consensus read barrier; one never confirmed in this process, one that left
//! `Active` since, or one the barrier shows `Dead`, is not. A replica's checkpoints wait while
//! it is `Dead` or being recovered.

use crate::collection::Collection;
use crate::context::ClusterPorts;
use crate::error::{CollectionError, Result};
use crate::remote::{BoxFuture, ControlPlane, ShardRequest, ShardResponse, ShardTransport};
use crate::replica_set::ReplicaSet;
use crate::tests_info::{config_with_shards, upsert};
use quiver_types::replica::ReplicaState::{self, Active, Dead, Initializing, Partial};
use quiver_types::{PeerId, ShardId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const ME: PeerId = 1;
/// The shard's primary (the highest peer id): killed, not marked `Dead` yet.
const PRIMARY: PeerId = 5;

/// Every call to another peer fails as a connection to a dead process does.
struct DeadPeers;

impl ShardTransport for DeadPeers {
    fn call(
        &self,
        _: PeerId,
        _: &str,
        _: ShardId,
        _: ShardRequest,
        _: Duration,
    ) -> BoxFuture<'_, Result<ShardResponse>> {
        Box::pin(async { Err(CollectionError::Service("tcp connect error: connection refused".into())) })
    }
}

/// A control plane in contact with the quorum whose read barrier counts its calls and, when
/// `reveals_dead`, applies a committed `Dead` mark of this peer's replica (as catching up would).
#[derive(Default)]
struct Barrier {
    calls: AtomicUsize,
    reveals_dead: AtomicBool,
    set: parking_lot::Mutex<Option<Arc<ReplicaSet>>>,
    /// Out of contact since this long ago, until `back_at` (none: in contact).
    lost: parking_lot::Mutex<Option<(Duration, std::time::Instant)>>,
}

impl ControlPlane for Barrier {
    fn mark_dead(&self, _: &str, _: ShardId, _: PeerId, _: ReplicaState) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(CollectionError::Service("not in this test".into())) })
    }

    fn finish_transfer(&self, _: &str, _: ShardId, _: PeerId, _: PeerId) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(CollectionError::Service("not in this test".into())) })
    }

    fn catch_up_metadata(&self) -> BoxFuture<'_, Result<()>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.reveals_dead.load(Ordering::SeqCst) {
            let set = self.set.lock().clone().expect("replica set registered");
            set.set_states(ME, BTreeMap::from([(ME, Dead), (PRIMARY, Active)]), 9);
        }
        Box::pin(async { Ok(()) })
    }

    fn is_connected(&self) -> bool {
        self.lost.lock().is_none_or(|(_, back_at)| std::time::Instant::now() >= back_at)
    }

    fn since_contact(&self) -> Option<Duration> {
        Some(self.lost.lock().map_or(Duration::ZERO, |(since, _)| since))
    }

    fn is_indispensable(&self) -> bool {
        false
    }
}

/// This peer's collection: one shard with 7 points, replicated on `PRIMARY`, both `Active`.
fn this_peer(dir: &std::path::Path) -> (Collection, Arc<ReplicaSet>, Arc<Barrier>) {
    let collection = Collection::create("c", dir, config_with_shards(1), Some(&[0])).unwrap();
    let set = collection.replica_set(0).unwrap();
    set.local().unwrap().update(&upsert(0..7), true).unwrap();
    let barrier = Arc::new(Barrier::default());
    *barrier.set.lock() = Some(Arc::clone(&set));
    let control: Arc<dyn ControlPlane> = barrier.clone();
    collection.attach_cluster(ClusterPorts { me: ME, transport: Arc::new(DeadPeers), control });
    set.set_states(ME, BTreeMap::from([(ME, Active), (PRIMARY, Active)]), 1);
    (collection, set, barrier)
}

#[tokio::test]
async fn a_replica_confirmed_before_a_lost_contact_is_confirmed_again_by_the_barrier() {
    let dir = tempfile::tempdir().unwrap();
    let (collection, set, barrier) = this_peer(dir.path());
    set.set_verified(true);
    set.unverify(); // contact lost while the election after the primary's death ran
    assert_eq!(collection.count(None, None).await.unwrap(), 7, "served from the local replica");
    assert_eq!(barrier.calls.load(Ordering::SeqCst), 1);
    assert!(set.is_verified());
    assert_eq!(collection.count(None, None).await.unwrap(), 7);
    assert_eq!(barrier.calls.load(Ordering::SeqCst), 1, "confirmed once, not on every read");
}

#[tokio::test]
async fn a_replica_never_confirmed_in_this_process_waits_for_its_primary() {
    let dir = tempfile::tempdir().unwrap();
    let (collection, set, barrier) = this_peer(dir.path());
    // A restarted process: its replica may have missed writes acknowledged while it was down
    // (a 2-peer cluster acknowledges without a peer whose process is not running).
    let refused = collection.count(None, None).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(barrier.calls.load(Ordering::SeqCst), 0, "the barrier proves nothing for it");
    assert!(!set.is_verified());
}

#[tokio::test]
async fn a_replica_that_left_active_since_its_confirmation_is_not_confirmed_by_the_barrier() {
    let dir = tempfile::tempdir().unwrap();
    let (collection, set, barrier) = this_peer(dir.path());
    set.set_verified(true);
    set.set_states(ME, BTreeMap::from([(ME, Dead), (PRIMARY, Active)]), 2);
    set.set_states(ME, BTreeMap::from([(ME, Active), (PRIMARY, Active)]), 3);
    assert!(collection.count(None, None).await.is_err());
    assert_eq!(barrier.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_replica_the_barrier_shows_dead_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let (collection, set, barrier) = this_peer(dir.path());
    set.set_verified(true);
    set.unverify();
    barrier.reveals_dead.store(true, Ordering::SeqCst);
    assert!(collection.count(None, None).await.is_err(), "deactivated while this peer was out of contact");
    assert_eq!(barrier.calls.load(Ordering::SeqCst), 1);
    assert!(!set.is_verified());
    assert!(!set.confirmed_in_process());
}

#[tokio::test]
async fn a_read_during_an_election_waits_for_contact_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let (collection, set, barrier) = this_peer(dir.path());
    set.set_verified(true);
    set.unverify();
    let started = std::time::Instant::now();
    *barrier.lost.lock() = Some((Duration::from_millis(2100), started + Duration::from_millis(300)));
    assert_eq!(collection.count(None, None).await.unwrap(), 7);
    assert!(started.elapsed() >= Duration::from_millis(300), "served only once back in contact");
    assert_eq!(barrier.calls.load(Ordering::SeqCst), 1, "and confirmed by the barrier first");
}

#[tokio::test]
async fn a_peer_cut_off_for_long_does_not_wait_and_serves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (collection, set, barrier) = this_peer(dir.path());
    set.set_verified(true);
    set.unverify();
    let started = std::time::Instant::now();
    *barrier.lost.lock() = Some((Duration::from_secs(30), started + Duration::from_secs(3600)));
    assert!(collection.count(None, None).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2), "no wait: {:?}", started.elapsed());
    assert_eq!(barrier.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_replica_created_or_filled_by_a_transfer_in_this_process_is_confirmed_by_the_barrier() {
    for before in [Initializing, Partial] {
        let dir = tempfile::tempdir().unwrap();
        let (collection, set, barrier) = this_peer(dir.path());
        set.set_states(ME, BTreeMap::from([(ME, before), (PRIMARY, Active)]), 2);
        assert!(!set.confirmed_in_process());
        set.set_states(ME, BTreeMap::from([(ME, Active), (PRIMARY, Active)]), 3);
        assert!(set.confirmed_in_process(), "{before:?} -> Active");
        assert_eq!(collection.count(None, None).await.unwrap(), 7);
        assert_eq!(barrier.calls.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn a_replica_is_checkpointed_only_while_its_data_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let (collection, set, _) = this_peer(dir.path());
    let local = set.local().unwrap();
    for (view, waiting) in [(2, Dead), (3, Partial), (4, ReplicaState::Recovery)] {
        set.set_states(ME, BTreeMap::from([(ME, waiting), (PRIMARY, Active)]), view);
        collection.checkpoint_due_shards(0, true).unwrap();
        assert!(local.checkpoint_due(0, true), "{waiting:?}: a transfer may replace the data");
    }
    set.set_states(ME, BTreeMap::from([(ME, Active), (PRIMARY, Active)]), 5);
    collection.checkpoint_due_shards(0, true).unwrap();
    assert!(!local.checkpoint_due(0, true), "checkpointed once Active again");
}
