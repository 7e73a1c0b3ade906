//! Anti-entropy by content (`digest_check.rs`, design record 052): the primary counts a match
//! with a replica holding the same points at the same sequence number and a mismatch with one
//! holding other data, and leaves out a peer that predates the content digest (it refuses the
//! request as undecodable) instead of comparing its legacy digest with the new one.

use crate::collection::Collection;
use crate::context::ClusterPorts;
use crate::error::{CollectionError, Result};
use crate::metrics::DIGEST_CHECKS;
use crate::remote::{BoxFuture, NOT_UNDERSTOOD, ShardRequest, ShardResponse, ShardTransport};
use crate::tests_info::{config_with_shards, upsert};
use crate::tests_snapshot_transfer::NoControl;
use quiver_types::replica::ReplicaState::Active;
use quiver_types::{PeerId, ShardId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// This peer: the shard's primary (the highest `Active` peer id).
const ME: PeerId = 9;
const OTHER: PeerId = 3;

/// The other peer, serving its copy of the collection; `predates` refuses the content digest.
struct Other {
    collection: Collection,
    predates: bool,
    asked: parking_lot::Mutex<usize>,
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
        Box::pin(async move {
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

/// The counts of compared digests after this peer checked shard 0 against `other`.
async fn check(dir: &std::path::Path, other: Other) -> (u64, u64, usize) {
    let mine = collection(&dir.join("me"), 0..30);
    let other = Arc::new(other);
    let transport: Arc<dyn ShardTransport> = other.clone();
    mine.attach_cluster(ClusterPorts { me: ME, transport, control: Arc::new(NoControl) });
    let set = mine.replica_set(0).unwrap();
    set.set_states(ME, BTreeMap::from([(ME, Active), (OTHER, Active)]), 1);
    let count = |result: &str| DIGEST_CHECKS.with_label_values(&[result]).get();
    let before = (count("match"), count("mismatch"));
    set.check_digests(Duration::ZERO).await;
    let asked = *other.asked.lock();
    (count("match") - before.0, count("mismatch") - before.1, asked)
}

#[tokio::test]
async fn the_same_points_match_and_other_points_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let same = Other { collection: collection(&dir.path().join("same"), 0..30), predates: false, asked: 0.into() };
    assert_eq!(check(&dir.path().join("a"), same).await, (1, 0, 1));
    let other = Other { collection: collection(&dir.path().join("other"), 1..31), predates: false, asked: 0.into() };
    assert_eq!(check(&dir.path().join("b"), other).await, (0, 1, 1));
}

#[tokio::test]
async fn a_peer_that_predates_the_content_digest_is_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    // Other data: compared, it would count a mismatch.
    let old = Other { collection: collection(&dir.path().join("old"), 1..31), predates: true, asked: 0.into() };
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
