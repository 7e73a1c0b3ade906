//! Table tests of custom sharding: creating and dropping shard keys, their refusals, their
//! shards through transfers, factor changes and snapshots of the state.

use super::*;
use quiver_types::shard_key::ShardingMethod;

fn custom(name: &str) -> Op {
    let mut config = config(1, 2);
    config.params.sharding_method = Some(ShardingMethod::Custom);
    Op::CreateCollection {
        name: name.into(),
        config,
        placement: BTreeMap::new(),
        initial_state: Initializing,
        incarnation: 9,
    }
}

fn create_key(collection: &str, key: impl Into<ShardKey>, placement: &[&[PeerId]], factor: Option<u32>) -> Op {
    Op::CreateShardKey {
        collection: collection.into(),
        shard_key: key.into(),
        placement: placement.iter().map(|peers| peers.to_vec()).collect(),
        replication_factor: factor,
        initial_state: Initializing,
        shard_ids: None,
        pinned: false,
    }
}

fn drop_key(collection: &str, key: impl Into<ShardKey>) -> Op {
    Op::DropShardKey { collection: collection.into(), shard_key: key.into() }
}

fn key_shards(state: &ClusterState, key: impl Into<ShardKey>) -> Vec<ShardId> {
    state.collections["c"].shard_keys.get(&key.into()).map(|k| k.shards.clone()).unwrap_or_default()
}

#[test]
fn shard_keys_are_created_with_fresh_shards_and_refused_when_invalid() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("auto", &[(0, &[1])], Active), Expect::Done),
            (create_key("auto", "a", &[&[1]], None), Expect::BadRequest("cannot be created with Auto sharding")),
            (custom("c"), Expect::Done),
            (alias(vec![create_alias("c", "tenants")]), Expect::Done),
            (create_key("c", "a", &[&[1, 2], &[2, 3]], None), Expect::Done),
            (create_key("tenants", 7, &[&[3]], Some(1)), Expect::Done),
            (create_key("c", "a", &[&[3]], None), Expect::BadRequest("Shard key a already exists")),
            (create_key("c", "b", &[], None), Expect::BadRequest("Shard key b placement cannot be empty")),
            (create_key("c", "b", &[&[1], &[]], None), Expect::BadRequest("placement cannot be empty")),
            (create_key("c", "b", &[&[1, 9]], None), Expect::BadRequest("placement contains unknown peers: [9]")),
            (
                create_key("c", "b", &[&[9], &[9, 8]], None),
                Expect::BadRequest("placement contains unknown peers: [8, 9]"),
            ),
            (create_key("c", "b", &[&[1, 1]], None), Expect::BadInput("Peer 1 is placed twice")),
            (create_key("c", "b", &[&[1]], Some(0)), Expect::BadInput("replication_factor")),
            (create_key("x", "b", &[&[1]], None), Expect::NotFound("Collection `x` doesn't exist!")),
        ],
    );
    assert_eq!(key_shards(&state, "a"), vec![1, 2]);
    assert_eq!(key_shards(&state, 7), vec![3]);
    assert!(key_shards(&state, "7").is_empty(), "a string key is not a number key");
    assert_eq!(replicas(&state, 1), vec![(1, Initializing), (2, Initializing)]);
    assert_eq!(replicas(&state, 3), vec![(3, Initializing)]);
    let c = &state.collections["c"];
    assert_eq!((c.shard_factor(1), c.shard_factor(3)), (2, 1), "the collection's factor, or the key's own");
    assert_eq!(c.shard_key_of(2), Some(&ShardKey::from("a")));
    assert_eq!(c.shard_key_of(0), None);
}

#[test]
fn dropping_a_key_removes_its_shards_and_transfers_and_never_reuses_their_ids() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (custom("c"), Expect::Done),
            (create_key("c", "a", &[&[1], &[2]], None), Expect::Done),
            (create_key("c", "b", &[&[3]], None), Expect::Done),
            (set(2, 2, Active, Some(Initializing)), Expect::Done),
            (start(2, 2, 3, true, Some(TransferMethod::StreamRecords)), Expect::Done),
            (drop_key("c", "zzz"), Expect::BadRequest("Shard key zzz not found")),
            (drop_key("c", "a"), Expect::Done),
            (drop_key("c", "a"), Expect::BadRequest("Shard key a not found")),
            (create_key("c", "a", &[&[1]], None), Expect::Done),
        ],
    );
    let c = &state.collections["c"];
    assert_eq!(c.shards.keys().copied().collect::<Vec<_>>(), vec![3, 4], "shards 1 and 2 went with key a");
    assert!(c.transfers.is_empty(), "the transfer of a dropped shard goes with it");
    assert_eq!(key_shards(&state, "a"), vec![4], "a re-created key gets new shard ids");
    run(
        &mut state,
        &[
            (set(4, 1, Active, Some(Initializing)), Expect::Done),
            (set(1, 1, Active, None), Expect::BadInput("Shard 1 of c does not exist")),
        ],
    );
}

fn create_key_with_ids(key: &str, placement: &[&[PeerId]], ids: &[ShardId]) -> Op {
    Op::CreateShardKey {
        collection: "c".into(),
        shard_key: key.into(),
        placement: placement.iter().map(|peers| peers.to_vec()).collect(),
        replication_factor: None,
        initial_state: Initializing,
        shard_ids: Some(ids.to_vec()),
        pinned: false,
    }
}

#[test]
fn a_key_may_name_its_shard_ids_only_if_never_used_before() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (custom("c"), Expect::Done),
            (create_key_with_ids("a", &[&[1], &[2]], &[2, 5]), Expect::Done),
            (create_key_with_ids("b", &[&[1]], &[3]), Expect::BadInput("shard id 3 was used before")),
            (create_key_with_ids("b", &[&[1], &[2]], &[7]), Expect::BadInput("1 shard ids named for 2 shards")),
            (create_key_with_ids("b", &[&[1], &[2]], &[8, 8]), Expect::BadInput("a shard id is named twice")),
            (create_key_with_ids("b", &[&[3]], &[9]), Expect::Done),
            (create_key("c", "d", &[&[1]], None), Expect::Done),
        ],
    );
    assert_eq!(key_shards(&state, "a"), vec![2, 5], "the named ids, in order");
    assert_eq!(key_shards(&state, "b"), vec![9]);
    assert_eq!(key_shards(&state, "d"), vec![10], "fresh ids continue after the named ones");
    assert_eq!(replicas(&state, 5), vec![(2, Initializing)]);
}

#[test]
fn keyed_shards_move_and_follow_their_own_factor() {
    let mut state = fresh();
    let update = |replication_factor: u32| Op::UpdateCollection {
        name: "c".into(),
        update: UpdateCollection {
            params: Some(CollectionParamsDiff { replication_factor: Some(replication_factor), ..Default::default() }),
            ..Default::default()
        },
    };
    run(
        &mut state,
        &[
            (custom("c"), Expect::Done),
            (create_key("c", "own", &[&[1, 2, 3]], Some(3)), Expect::Done),
            (create_key("c", "follows", &[&[1, 2, 3]], None), Expect::Done),
            (set(1, 1, Active, None), Expect::Done),
            (set(1, 2, Active, None), Expect::Done),
            (set(1, 3, Active, None), Expect::Done),
            (set(2, 1, Active, None), Expect::Done),
            (set(2, 2, Active, None), Expect::Done),
            (set(2, 3, Active, None), Expect::Done),
            (update(1), Expect::Done),
            (drop_replica(1, 3), Expect::Done),
            (start(1, 2, 3, true, Some(TransferMethod::Snapshot)), Expect::Done),
            (finish(1, 2, 3), Expect::Done),
        ],
    );
    let c = &state.collections["c"];
    assert_eq!(c.shards[&2].len(), 1, "lowering the collection's factor trims the shards that follow it");
    assert_eq!(replicas(&state, 1), vec![(1, Active), (2, Active), (3, Active)], "the key's own factor stays");
    assert_eq!((c.shard_factor(1), c.shard_factor(2)), (3, 1));
}

#[test]
fn shard_keys_survive_serde_round_trips_and_old_states_decode() {
    let mut state = fresh();
    run(&mut state, &[(custom("c"), Expect::Done), (create_key("c", 42, &[&[1]], Some(1)), Expect::Done)]);
    let text = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<ClusterState>(&text).unwrap(), state);
    let bytes = rmp_serde::to_vec_named(&state).unwrap();
    assert_eq!(rmp_serde::from_slice::<ClusterState>(&bytes).unwrap(), state);
    let mut old = serde_json::to_value(&state).unwrap();
    old["collections"]["c"].as_object_mut().unwrap().remove("shard_keys");
    let decoded: ClusterState = serde_json::from_value(old).unwrap();
    assert!(decoded.collections["c"].shard_keys.is_empty(), "a state written before shard keys decodes");
}

#[test]
fn a_placement_replica_is_checked_against_the_keys_own_factor() {
    let mut state = fresh();
    let placement = |shard_id: ShardId, from: PeerId, to: PeerId| Op::StartTransfer {
        collection: "c".into(),
        transfer: ShardTransfer { shard_id, from, to, sync: true, method: Some(TransferMethod::StreamRecords) },
        limits: Some(TransferLimits { incoming: None, outgoing: None, purpose: AutoTransfer::Placement }),
    };
    run(
        &mut state,
        &[
            // The collection's factor is 2; key "wide" keeps 3, key "narrow" 1.
            (custom("c"), Expect::Done),
            (create_key("c", "wide", &[&[1, 2]], Some(3)), Expect::Done),
            (create_key("c", "narrow", &[&[1]], Some(1)), Expect::Done),
            (set(1, 1, Active, None), Expect::Done),
            (set(1, 2, Active, None), Expect::Done),
            (set(2, 1, Active, None), Expect::Done),
            (placement(2, 1, 2), Expect::BadRequest("already has 1 replicas (replication_factor 1)")),
            (placement(1, 1, 3), Expect::Done),
        ],
    );
}
