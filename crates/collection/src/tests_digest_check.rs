//! Anti-entropy by content (`digest_check.rs`, design record 052): the primary counts a match
//! with a replica holding the same points at the same sequence number and a mismatch with one
//! holding other data, and leaves out a peer that predates the content digest (it refuses the
//! request as undecodable) instead of comparing its legacy digest with the new one; and when
//! writes keep the replicas at different sequence numbers check after check, the next check
//! holds the shard's writes back until the replicas have caught up and answered.

use crate::collection::Collection;
use crate::context::ClusterPorts;
use crate::digest_check::FENCE_AFTER_SKIPS;
use crate::error::{CollectionError, Result};
use crate::metrics::DIGEST_CHECKS;
use crate::remote::{BoxFuture, NOT_UNDERSTOOD, ShardRequest, ShardResponse, ShardTransport};
use crate::replica_set::ReplicaSet;
use crate::tests_info::{config_with_shards, upsert};
use crate::tests_snapshot_transfer::NoControl;
use quiver_types::replica::ReplicaState::Active;
use quiver_types::{PeerId, ShardId};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// This peer: the shard's primary (the highest `Active` peer id).
const ME: PeerId = 9;
const OTHER: PeerId = 3;

/// The other peer, serving its copy of the collection; `predates` refuses the content digest.
struct Other {
    collection: Collection,
    predates: bool,
    asked: parking_lot::Mutex<usize>,
    /// Answers still to give as a replica one write behind (a write in flight).
    behind: AtomicUsize,
    /// The primary's replica set, to see whether it holds its writes back during a call.
    primary: OnceLock<Arc<ReplicaSet>>,
    /// Calls made while the primary held its order lock.
    fenced: AtomicUsize,
}

impl Other {
    fn new(collection: Collection, predates: bool, behind: usize) -> Other {
        let (asked, behind) = (0.into(), behind.into());
        Other { collection, predates, asked, behind, primary: OnceLock::new(), fenced: 0.into() }
    }
}

/// The answer of a replica that has not applied the primary's write 1 yet.
fn one_write_behind() -> ShardResponse {
    let digest = ShardResponse::Digest { digest: 0, points: 0, last_seq: 0 };
    ShardResponse::Versioned { seq: 0, response: Box::new(digest) }
}

impl ShardTransport for Other {
    fn call(
        &self,
        _: PeerId,
        _: &str,
        shard_id: ShardId,
        request: ShardRequest,
        _: Duration,
    ) -> BoxFuture<'_, Result<ShardResponse>> {
        *self.asked.lock() += 1;
        if self.primary.get().is_some_and(|set| set.order.try_lock().is_err()) {
            self.fenced.fetch_add(1, Ordering::Relaxed);
        }
        let behind = self.behind.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok();
        Box::pin(async move {
            if behind {
                return Ok(one_write_behind());
            }
            let content =
                matches!(&request, ShardRequest::Versioned(inner) if matches!(**inner, ShardRequest::ContentDigest));
            match self.predates && content {
                true => Err(CollectionError::Service(format!("{NOT_UNDERSTOOD}: unknown variant `ContentDigest`"))),
                false => self.collection.handle_shard_request(shard_id, request).await,
            }
        })
    }
}

/// A one-shard collection holding `ids` in one write (sequence number 1).
fn collection(dir: &std::path::Path, ids: std::ops::Range<u64>) -> Collection {
    let collection = Collection::create("c", dir, config_with_shards(1), None).unwrap();
    collection.replica_set(0).unwrap().local().unwrap().update(&upsert(ids), true).unwrap();
    collection
}

/// This peer, primary of shard 0 (30 points) with `other` as its other `Active` replica.
fn primary(dir: &std::path::Path, other: &Arc<Other>) -> (Collection, Arc<ReplicaSet>) {
    let mine = collection(&dir.join("me"), 0..30);
    let transport: Arc<dyn ShardTransport> = other.clone();
    mine.attach_cluster(ClusterPorts { me: ME, transport, control: Arc::new(NoControl) });
    let set = mine.replica_set(0).unwrap();
    set.set_states(ME, BTreeMap::from([(ME, Active), (OTHER, Active)]), 1);
    let _ = other.primary.set(Arc::clone(&set));
    (mine, set)
}

fn count(result: &str) -> u64 {
    DIGEST_CHECKS.with_label_values(&[result]).get()
}

/// The counts of compared digests after this peer checked shard 0 against `other`.
async fn check(dir: &std::path::Path, other: Other) -> (u64, u64, usize) {
    let other = Arc::new(other);
    let (_mine, set) = primary(dir, &other);
    let before = (count("match"), count("mismatch"));
    set.check_digests(Duration::ZERO).await;
    let asked = *other.asked.lock();
    (count("match") - before.0, count("mismatch") - before.1, asked)
}

#[tokio::test]
async fn the_same_points_match_and_other_points_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let same = Other::new(collection(&dir.path().join("same"), 0..30), false, 0);
    assert_eq!(check(&dir.path().join("a"), same).await, (1, 0, 1));
    let other = Other::new(collection(&dir.path().join("other"), 1..31), false, 0);
    assert_eq!(check(&dir.path().join("b"), other).await, (0, 1, 1));
}

#[tokio::test]
async fn a_peer_that_predates_the_content_digest_is_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    // Other data: compared, it would count a mismatch.
    let old = Other::new(collection(&dir.path().join("old"), 1..31), true, 0);
    assert_eq!(check(&dir.path().join("a"), old).await, (0, 0, 1), "asked once, compared never");
}

#[tokio::test]
async fn an_older_peer_is_answered_the_legacy_digest() {
    let dir = tempfile::tempdir().unwrap();
    let collection = collection(dir.path(), 0..30);
    let local = collection.replica_set(0).unwrap().local().unwrap();
    let legacy = collection.handle_shard_request(0, ShardRequest::Digest).await.unwrap().into_digest().unwrap();
    let content = collection.handle_shard_request(0, ShardRequest::ContentDigest).await.unwrap().into_digest().unwrap();
    assert_eq!(legacy, (local.legacy_digest(), 30, 1));
    assert_eq!(content, (local.digest(), 30, 1));
    assert_ne!(legacy.0, content.0);
}

#[tokio::test]
async fn writes_that_keep_replicas_apart_end_in_a_check_that_holds_them_back() {
    let dir = tempfile::tempdir().unwrap();
    // One answer a write behind for each unfenced check, then two while the fenced check waits.
    let behind = FENCE_AFTER_SKIPS as usize + 2;
    let other = Arc::new(Other::new(collection(&dir.path().join("same"), 0..30), false, behind));
    let (_mine, set) = primary(dir.path(), &other);
    let before = count("match");
    for _ in 0..FENCE_AFTER_SKIPS {
        set.check_digests(Duration::ZERO).await;
    }
    assert_eq!(count("match"), before, "replicas at other sequence numbers are not compared");
    assert_eq!(other.fenced.load(Ordering::Relaxed), 0, "writes flow during the ordinary checks");
    set.check_digests(Duration::ZERO).await;
    assert_eq!(count("match"), before + 1, "the fenced check waited for the replica and compared");
    assert_eq!(other.fenced.load(Ordering::Relaxed), 3, "its three asks were made with writes held back");
    assert!(set.order.try_lock().is_ok(), "writes flow again");
    set.check_digests(Duration::ZERO).await;
    assert_eq!((count("match"), other.fenced.load(Ordering::Relaxed)), (before + 2, 3), "the next check is ordinary");
}
