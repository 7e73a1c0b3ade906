//! Table tests of the metadata state machine: each test applies a list of (operation, expected
//! outcome) to a fresh 3-peer state, checks that every refused operation left the state
//! unchanged and that every operation has the same effect after a serde round trip, then
//! inspects the final state.

use super::*;
use quiver_types::cluster::TransferMethod;
use quiver_types::config::{CollectionParams, CollectionParamsDiff, HnswConfig, OptimizersConfig, WalConfig};
use serde_json::json;
use std::collections::BTreeSet;

use MetaOperation as Op;
use ReplicaState::{Active, Dead, Initializing, Listener, Partial, Recovery, ReshardingScaleDown};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Done,
    Changed(bool),
    NotFound(&'static str),
    BadInput(&'static str),
    BadRequest(&'static str),
    AlreadyExists(&'static str),
}

fn outcome(result: &Result<MetaResponse, MetaError>) -> (Expect, &str) {
    match result {
        Ok(MetaResponse::Done) => (Expect::Done, ""),
        Ok(MetaResponse::Changed(changed)) => (Expect::Changed(*changed), ""),
        Err(MetaError::NotFound(m)) => (Expect::NotFound(""), m),
        Err(MetaError::BadInput(m)) => (Expect::BadInput(""), m),
        Err(MetaError::BadRequest(m)) => (Expect::BadRequest(""), m),
        Err(MetaError::AlreadyExists(m)) => (Expect::AlreadyExists(""), m),
    }
}

/// Applies the table in order; an expected error carries a substring of its message.
fn run(state: &mut ClusterState, table: &[(Op, Expect)]) {
    for (step, (op, expect)) in table.iter().enumerate() {
        // A log entry decoded from its serde form must have the same effect as the original.
        let decoded: Op = serde_json::from_str(&serde_json::to_string(op).unwrap()).unwrap();
        let (mut replay, before) = (state.clone(), state.clone());
        let result = state.apply(op);
        assert_eq!(replay.apply(&decoded), result, "step {step}: decoded op gives another result");
        assert_eq!(replay, *state, "step {step}: decoded op gives another state");
        let (kind, message) = outcome(&result);
        let (want_kind, want_text) = match *expect {
            Expect::Done | Expect::Changed(_) => (*expect, ""),
            Expect::NotFound(text) => (Expect::NotFound(""), text),
            Expect::BadInput(text) => (Expect::BadInput(""), text),
            Expect::BadRequest(text) => (Expect::BadRequest(""), text),
            Expect::AlreadyExists(text) => (Expect::AlreadyExists(""), text),
        };
        assert_eq!(kind, want_kind, "step {step}: {op:?} gave {result:?}");
        assert!(message.contains(want_text), "step {step}: message {message:?} lacks {want_text:?}");
        if result.is_err() {
            assert_eq!(*state, before, "step {step}: a refused {op:?} changed the state");
        }
    }
}

fn config(shard_number: u32, replication_factor: u32) -> CollectionConfig {
    CollectionConfig {
        params: CollectionParams {
            vectors: Default::default(),
            shard_number,
            sharding_method: None,
            replication_factor,
            write_consistency_factor: 1,
            read_fan_out_factor: None,
            read_fan_out_delay_ms: None,
            on_disk_payload: true,
            payload: None,
            sparse_vectors: BTreeMap::new(),
        },
        hnsw_config: HnswConfig::default(),
        optimizer_config: OptimizersConfig::default(),
        wal_config: WalConfig::default(),
        quantization_config: None,
        strict_mode_config: None,
        metadata: None,
    }
}

fn fresh() -> ClusterState {
    let mut state = ClusterState::default();
    let ops: Vec<(Op, Expect)> =
        (1..=3).map(|p| (Op::AddPeer { peer_id: p, uri: format!("http://node{p}:6335/") }, Expect::Done)).collect();
    run(&mut state, &ops);
    state
}

fn create(name: &str, placement: &[(ShardId, &[PeerId])], initial_state: ReplicaState) -> Op {
    let shard_number = u32::try_from(placement.len()).unwrap();
    let placement = placement.iter().map(|(shard, peers)| (*shard, peers.to_vec())).collect();
    Op::CreateCollection {
        name: name.into(),
        config: config(shard_number, 2),
        placement,
        initial_state,
        incarnation: 7,
    }
}

fn set_in(
    collection: &str,
    shard_id: ShardId,
    peer_id: PeerId,
    state: ReplicaState,
    from_state: Option<ReplicaState>,
) -> Op {
    Op::SetReplicaState { collection: collection.into(), shard_id, peer_id, state, from_state }
}

fn set(shard_id: ShardId, peer_id: PeerId, state: ReplicaState, from_state: Option<ReplicaState>) -> Op {
    Op::SetReplicaState { collection: "c".into(), shard_id, peer_id, state, from_state }
}

fn start(shard_id: ShardId, from: PeerId, to: PeerId, sync: bool, method: Option<TransferMethod>) -> Op {
    Op::StartTransfer {
        collection: "c".into(),
        transfer: ShardTransfer { shard_id, from, to, sync, method },
        limits: None,
    }
}

fn finish(shard_id: ShardId, from: PeerId, to: PeerId) -> Op {
    Op::FinishTransfer { collection: "c".into(), shard_id, from, to, by: None }
}

fn abort(shard_id: ShardId, from: PeerId, to: PeerId) -> Op {
    Op::AbortTransfer { collection: "c".into(), shard_id, from, to, reason: "user request".into() }
}

fn drop_replica(shard_id: ShardId, peer_id: PeerId) -> Op {
    Op::DropReplica { collection: "c".into(), shard_id, peer_id }
}

fn add_replica(shard_id: ShardId, peer_id: PeerId, state: ReplicaState) -> Op {
    Op::AddReplica { collection: "c".into(), shard_id, peer_id, state }
}

fn alias(actions: Vec<AliasAction>) -> Op {
    Op::UpdateAliases { actions }
}

fn create_alias(collection: &str, alias: &str) -> AliasAction {
    AliasAction::CreateAlias { collection_name: collection.into(), alias_name: alias.into() }
}

fn replicas(state: &ClusterState, shard: ShardId) -> Vec<(PeerId, ReplicaState)> {
    state.collections["c"].shards[&shard].iter().map(|(p, s)| (*p, *s)).collect()
}

#[test]
fn placement_spreads_replicas_evenly() {
    for seed in 0..200 {
        let placement = place_shards(&[1, 2, 3], 3, 2, seed);
        assert_eq!(placement.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);
        let mut counts = BTreeMap::new();
        for peers in placement.values() {
            assert_eq!(peers.len(), 2);
            assert_eq!(peers.iter().collect::<BTreeSet<_>>().len(), 2, "a peer twice in a shard");
            for peer in peers {
                *counts.entry(*peer).or_insert(0) += 1;
            }
        }
        assert_eq!(counts.values().sum::<i32>(), 6);
        let (min, max) = (counts.values().min().unwrap(), counts.values().max().unwrap());
        assert!(max - min <= 1, "seed {seed}: uneven {counts:?}");
        assert_eq!(place_shards(&[3, 1, 2, 2], 3, 2, seed), placement, "deterministic, duplicates ignored");
    }
    let capped = place_shards(&[1, 2, 3], 2, 5, 9);
    assert!(capped.values().all(|peers| peers.iter().collect::<BTreeSet<_>>().len() == 3));
    let firsts: BTreeSet<PeerId> = (0..50).map(|seed| place_shards(&[1, 2, 3], 1, 1, seed)[&0][0]).collect();
    assert!(firsts.len() > 1, "the random bias spreads single-shard collections");
    assert!(place_shards(&[], 2, 1, 0).values().all(Vec::is_empty));
}

#[test]
fn placement_spreads_each_peers_partners() {
    // 4 peers, 8 shards, rf 2: each peer holds 4 replicas; their other copies must not all sit
    // on one peer (a lost peer is then re-replicated from several sources at once).
    for seed in 0..100 {
        let placement = place_shards(&[1, 2, 3, 4], 8, 2, seed);
        for peer in 1..=4 {
            let partners: BTreeSet<PeerId> = placement
                .values()
                .filter(|peers| peers.contains(&peer))
                .flat_map(|peers| peers.iter().copied().filter(|p| *p != peer))
                .collect();
            assert_eq!(partners.len(), 3, "seed {seed}: peer {peer} shares shards with {partners:?} only");
        }
    }
    // 3 peers, 6 shards, rf 2: every pair of peers shares exactly two shards.
    let placement = place_shards(&[1, 2, 3], 6, 2, 7);
    let mut pairs: BTreeMap<Vec<PeerId>, u32> = BTreeMap::new();
    for peers in placement.values() {
        let mut pair = peers.clone();
        pair.sort_unstable();
        *pairs.entry(pair).or_insert(0) += 1;
    }
    assert_eq!(pairs.values().copied().collect::<Vec<_>>(), vec![2, 2, 2], "{pairs:?}");
}

#[test]
fn create_and_delete_collections() {
    let mut state = fresh();
    let placement = place_shards(&[1, 2, 3], 3, 2, 42);
    let create_c = Op::CreateCollection {
        name: "c".into(),
        config: config(3, 2),
        placement: placement.clone(),
        initial_state: Initializing,
        incarnation: 1,
    };
    run(
        &mut state,
        &[
            (create_c.clone(), Expect::Done),
            (create_c, Expect::AlreadyExists("c")),
            (alias(vec![create_alias("c", "a")]), Expect::Done),
            (create("a", &[(0, &[1])], Active), Expect::BadInput("Alias with the same name already exists")),
            (create("d", &[(0, &[1, 9])], Active), Expect::BadInput("Peer 9 does not exist")),
            (create("d", &[(0, &[1, 1])], Active), Expect::BadInput("placed twice")),
            (create("d", &[(0, &[])], Active), Expect::BadInput("no replicas")),
            (create("e", &[(0, &[2])], Active), Expect::Done),
            (alias(vec![create_alias("e", "ea")]), Expect::Done),
            (Op::DeleteCollection { name: "nope".into() }, Expect::Changed(false)),
            (Op::DeleteCollection { name: "e".into() }, Expect::Changed(true)),
        ],
    );
    let c = &state.collections["c"];
    assert_eq!(c.shards.values().map(BTreeMap::len).sum::<usize>(), 6);
    assert!(c.shards.values().flat_map(BTreeMap::values).all(|s| *s == Initializing));
    let stored: BTreeMap<ShardId, Vec<PeerId>> =
        c.shards.iter().map(|(shard, set)| (*shard, set.keys().copied().collect())).collect();
    let mut expected = placement;
    expected.values_mut().for_each(|peers| peers.sort_unstable());
    assert_eq!(stored, expected);
    assert_eq!(state.collections.keys().collect::<Vec<_>>(), ["c"]);
    assert_eq!(state.aliases, BTreeMap::from([("a".to_string(), "c".to_string())]));
    assert_eq!(state.resolve_collection("a").map(|(name, _)| name), Some("c"));
    assert_eq!(state.resolve_collection("c").map(|(name, _)| name), Some("c"));
    assert!(state.resolve_collection("ea").is_none());
}

#[test]
fn update_collection_config() {
    let mut state = fresh();
    let update = |name: &str, replication_factor: u32| Op::UpdateCollection {
        name: name.into(),
        update: UpdateCollection {
            params: Some(CollectionParamsDiff { replication_factor: Some(replication_factor), ..Default::default() }),
            ..Default::default()
        },
    };
    let bad_vector = Op::UpdateCollection {
        name: "c".into(),
        update: UpdateCollection {
            vectors: Some(BTreeMap::from([("x".into(), Default::default())])),
            ..Default::default()
        },
    };
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1, 2])], Active), Expect::Done),
            (alias(vec![create_alias("c", "a")]), Expect::Done),
            (update("c", 3), Expect::Done),
            (update("c", 0), Expect::BadInput("replication_factor")),
            (update("x", 1), Expect::NotFound("Collection `x` doesn't exist!")),
            (bad_vector, Expect::BadInput("Not existing vector name error: x")),
            (update("a", 5), Expect::Done),
        ],
    );
    let c = &state.collections["c"];
    assert_eq!(c.config.params.replication_factor, 5);
    assert_eq!(c.shards[&0].len(), 2, "changing replication_factor does not touch replicas");
}

#[test]
fn aliases_are_atomic() {
    let mut state = fresh();
    let delete = |alias: &str| AliasAction::DeleteAlias { alias_name: alias.into() };
    let rename =
        |old: &str, new: &str| AliasAction::RenameAlias { old_alias_name: old.into(), new_alias_name: new.into() };
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1])], Active), Expect::Done),
            (create("d", &[(0, &[2])], Active), Expect::Done),
            (alias(vec![create_alias("c", "a1"), create_alias("c", "a2")]), Expect::Done),
            (alias(vec![rename("a1", "b1"), delete("a2")]), Expect::Done),
            (alias(vec![create_alias("nope", "z")]), Expect::NotFound("Collection `nope` doesn't exist!")),
            (alias(vec![create_alias("c", "d")]), Expect::AlreadyExists("d")),
            (alias(vec![create_alias("c", "z"), delete("zz")]), Expect::NotFound("Alias zz does not exists!")),
            (alias(vec![rename("zz", "y")]), Expect::NotFound("Alias zz does not exists!")),
            (alias(vec![rename("b1", "d")]), Expect::AlreadyExists("d")),
            (alias(vec![create_alias("d", "b1")]), Expect::Done),
        ],
    );
    assert_eq!(state.aliases, BTreeMap::from([("b1".to_string(), "d".to_string())]));
    assert_eq!(state.aliases_of("d"), ["b1"]);
}

#[test]
fn payload_indexes_and_metadata() {
    let mut state = fresh();
    let index = |collection: &str, field: &str| Op::CreatePayloadIndex {
        collection: collection.into(),
        field: field.into(),
        schema: json!("keyword"),
    };
    let drop = |field: &str| Op::DropPayloadIndex { collection: "c".into(), field: field.into() };
    let meta = |key: &str, value: Option<serde_json::Value>| Op::SetMetadata { key: key.into(), value };
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1])], Active), Expect::Done),
            (alias(vec![create_alias("c", "a")]), Expect::Done),
            (index("c", "city"), Expect::Done),
            (index("a", "tag"), Expect::Done),
            (index("nope", "city"), Expect::NotFound("Collection `nope` doesn't exist!")),
            (drop("tag"), Expect::Changed(true)),
            (drop("tag"), Expect::Changed(false)),
            (meta("k1", Some(json!({"x": 1}))), Expect::Done),
            (meta("k2", Some(json!(2))), Expect::Done),
            (meta("k2", None), Expect::Changed(true)),
            (meta("k2", None), Expect::Changed(false)),
            (meta("k1", Some(serde_json::Value::Null)), Expect::Changed(true)),
            (meta("k3", Some(json!("v"))), Expect::Done),
        ],
    );
    assert_eq!(state.collections["c"].payload_index, BTreeMap::from([("city".to_string(), json!("keyword"))]));
    assert_eq!(state.metadata, BTreeMap::from([("k3".to_string(), json!("v"))]));
}

#[test]
fn replica_states_and_the_last_active_rule() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1, 2]), (1, &[1, 2])], Initializing), Expect::Done),
            (set(0, 1, Active, Some(Initializing)), Expect::Done),
            (set(0, 2, Active, Some(Dead)), Expect::BadInput("has state Initializing, but expected Dead")),
            (set(0, 1, Dead, None), Expect::BadInput("Cannot deactivate the last active replica 1 of shard 0")),
            (set(0, 2, Dead, Some(Initializing)), Expect::Done),
            // A replica that may have missed writes turns Active only through a transfer's end.
            (set(0, 2, Active, Some(Dead)), Expect::BadInput("only the end of a transfer makes it Active")),
            (start(0, 1, 2, true, Some(TransferMethod::StreamRecords)), Expect::Done),
            (set(0, 2, Active, Some(Partial)), Expect::BadInput("only the end of a transfer makes it Active")),
            (finish(0, 1, 2), Expect::Done),
            (set(0, 1, Dead, Some(Active)), Expect::Done),
            (set(0, 2, Partial, None), Expect::BadInput("Cannot deactivate the last active replica 2 of shard 0")),
            (set(0, 2, ReshardingScaleDown, None), Expect::Done),
            (set(0, 2, Dead, None), Expect::BadInput("Cannot deactivate the last active replica 2")),
            (set(0, 2, Active, Some(ReshardingScaleDown)), Expect::Done),
            (set(0, 2, Active, None), Expect::Done),
            // No active replica in shard 1: an Initializing/Listener one counts as the last one.
            (set(1, 2, Listener, Some(Initializing)), Expect::Done),
            (set(1, 1, Dead, None), Expect::Done),
            (set(1, 2, Dead, None), Expect::BadInput("Cannot deactivate the last active replica 2 of shard 1")),
            (set(1, 1, Active, Some(Dead)), Expect::BadInput("only the end of a transfer makes it Active")),
            (
                set(1, 2, Dead, Some(Listener)),
                Expect::BadInput("Cannot deactivate the last active replica 2 of shard 1"),
            ),
            (set(0, 3, Active, None), Expect::BadInput("does not exist")),
            // A shard's only replica, Partial with no transfer (a key created Partial and
            // filled by `replicate_points`), may turn Active.
            (create("p", &[(5, &[1])], Partial), Expect::Done),
            (set_in("p", 5, 1, Active, Some(Partial)), Expect::Done),
            (set(7, 1, Active, None), Expect::BadInput("Shard 7 of c does not exist")),
            (
                Op::SetReplicaState {
                    collection: "x".into(),
                    shard_id: 0,
                    peer_id: 1,
                    state: Active,
                    from_state: None,
                },
                Expect::NotFound("Collection `x` doesn't exist!"),
            ),
        ],
    );
    assert_eq!(replicas(&state, 0), [(1, Dead), (2, Active)]);
    assert_eq!(replicas(&state, 1), [(1, Dead), (2, Listener)]);
}

#[test]
fn replicate_and_move_transfers() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1]), (1, &[2])], Active), Expect::Done),
            (start(0, 1, 2, true, Some(TransferMethod::StreamRecords)), Expect::Done),
            (
                start(0, 1, 2, true, Some(TransferMethod::StreamRecords)),
                Expect::BadInput("already involved in transfer 1 -> 2"),
            ),
            (start(0, 1, 3, true, None), Expect::BadInput("Shard 0 is already involved in transfer 1 -> 2")),
            (start(0, 2, 3, false, None), Expect::BadInput("Shard 0 is not active on peer 2")),
            (start(1, 2, 3, true, Some(TransferMethod::Snapshot)), Expect::Done),
            (start(1, 2, 2, true, None), Expect::BadInput("to itself")),
            (start(1, 2, 9, true, None), Expect::BadInput("Peer 9 does not exist")),
            (start(5, 1, 2, true, None), Expect::BadInput("Shard 5 of c does not exist")),
            (finish(0, 1, 2), Expect::Done),
            (finish(0, 1, 2), Expect::NotFound("Shard transfer 1 -> 2 for collection c:0 does not exist")),
            (abort(0, 1, 2), Expect::NotFound("Shard transfer 1 -> 2 for collection c:0 does not exist")),
        ],
    );
    assert_eq!(replicas(&state, 0), [(1, Active), (2, Active)], "replication keeps the source");
    assert_eq!(replicas(&state, 1), [(2, Active), (3, Recovery)]);
    assert_eq!(state.collections["c"].transfers.len(), 1);
    run(
        &mut state,
        &[
            (finish(1, 2, 3), Expect::Done),
            (start(0, 1, 3, false, Some(TransferMethod::WalDelta)), Expect::Done),
            (start(1, 2, 1, false, None), Expect::Done),
        ],
    );
    assert_eq!(replicas(&state, 0), [(1, Active), (2, Active), (3, Recovery)]);
    assert_eq!(replicas(&state, 1), [(1, Partial), (2, Active), (3, Active)]);
    run(&mut state, &[(finish(0, 1, 3), Expect::Done), (finish(1, 2, 1), Expect::Done)]);
    assert_eq!(replicas(&state, 0), [(2, Active), (3, Active)], "a move drops the source");
    assert_eq!(replicas(&state, 1), [(1, Active), (3, Active)]);
    assert!(state.collections["c"].transfers.is_empty());
}

#[test]
fn aborted_transfers() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1]), (1, &[1]), (2, &[1, 2])], Active), Expect::Done),
            (start(0, 1, 2, true, Some(TransferMethod::Snapshot)), Expect::Done),
            (abort(0, 1, 2), Expect::Done),
            (start(1, 1, 3, false, None), Expect::Done),
            (abort(1, 1, 3), Expect::Done),
            // Marking a transfer's target Dead aborts it (a move's target is then removed).
            (start(0, 1, 3, true, None), Expect::Done),
            (set(0, 3, Dead, Some(Partial)), Expect::Done),
            (start(1, 1, 2, false, None), Expect::Done),
            (set(1, 2, Dead, None), Expect::Done),
            // Marking the source Dead aborts too; the sync target becomes Dead.
            (start(2, 1, 3, true, None), Expect::Done),
            (set(2, 1, Dead, None), Expect::Done),
        ],
    );
    assert_eq!(replicas(&state, 0), [(1, Active), (2, Dead), (3, Dead)]);
    assert_eq!(replicas(&state, 1), [(1, Active)]);
    assert_eq!(replicas(&state, 2), [(1, Dead), (2, Active), (3, Dead)]);
    assert!(state.collections["c"].transfers.is_empty());
}

#[test]
fn restarted_transfers() {
    let restart =
        |shard_id, from, to, method| Op::RestartTransfer { collection: "c".into(), shard_id, from, to, method };
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1]), (1, &[1, 2])], Active), Expect::Done),
            (
                restart(0, 1, 2, TransferMethod::Snapshot),
                Expect::NotFound("Shard transfer 1 -> 2 for collection c:0 does not exist"),
            ),
            (start(0, 1, 2, true, Some(TransferMethod::WalDelta)), Expect::Done),
            (restart(0, 1, 2, TransferMethod::WalDelta), Expect::BadInput("its configuration did not change")),
            (restart(0, 1, 2, TransferMethod::StreamRecords), Expect::Done),
            (start(1, 2, 3, false, Some(TransferMethod::StreamRecords)), Expect::Done),
            (restart(1, 2, 3, TransferMethod::Snapshot), Expect::Done),
        ],
    );
    // The method changes, the target takes its initial state, `sync` is kept.
    assert_eq!(replicas(&state, 0), [(1, Active), (2, Partial)]);
    assert_eq!(replicas(&state, 1), [(1, Active), (2, Active), (3, Recovery)]);
    let transfers = &state.collections["c"].transfers;
    assert_eq!(transfers[0].method, Some(TransferMethod::StreamRecords));
    assert!(transfers[0].sync);
    assert_eq!(transfers[1].method, Some(TransferMethod::Snapshot));
    assert!(!transfers[1].sync);
}

#[test]
fn add_and_drop_replicas() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1, 2]), (1, &[1, 2])], Active), Expect::Done),
            (add_replica(0, 3, Dead), Expect::Changed(true)),
            (add_replica(0, 3, Dead), Expect::Changed(false)),
            (add_replica(0, 9, Dead), Expect::BadInput("Peer 9 does not exist")),
            (add_replica(4, 3, Dead), Expect::BadInput("Shard 4 of c does not exist")),
            (drop_replica(0, 3), Expect::Done),
            (drop_replica(0, 3), Expect::BadInput("Peer 3 has no replica of shard 0")),
            (drop_replica(0, 1), Expect::Done),
            (drop_replica(0, 2), Expect::BadInput("Shard 0 must have at least one active replica after removing 2")),
            (set(1, 2, Dead, None), Expect::Done),
            (drop_replica(1, 1), Expect::BadInput("Shard 1 must have at least one active replica after removing 1")),
            (drop_replica(1, 2), Expect::Done),
            (drop_replica(1, 1), Expect::BadInput("must have at least one active replica")),
            // Dropping a transfer's source aborts the transfer: the sync target becomes Dead.
            (add_replica(0, 1, Active), Expect::Changed(true)),
            (start(0, 1, 3, true, None), Expect::Done),
            (drop_replica(0, 1), Expect::Done),
            (add_replica(0, 2, Dead), Expect::BadInput("Cannot deactivate the last active replica 2 of shard 0")),
        ],
    );
    assert_eq!(replicas(&state, 0), [(2, Active), (3, Dead)]);
    assert_eq!(replicas(&state, 1), [(1, Active)]);
    assert!(state.collections["c"].transfers.is_empty());
}

#[test]
fn promoting_a_recovered_replica_deactivates_the_others() {
    let mut state = fresh();
    let promote = |shard_id: ShardId, peer_id: PeerId| Op::PromoteReplica { collection: "c".into(), shard_id, peer_id };
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1, 2, 3]), (1, &[1, 2, 3])], Active), Expect::Done),
            (set(0, 1, ReplicaState::ManualRecovery, None), Expect::Done),
            (start(0, 2, 3, true, Some(TransferMethod::Snapshot)), Expect::Done),
            (promote(0, 9), Expect::BadInput("Replica 9 of shard 0 does not exist")),
            (promote(4, 1), Expect::BadInput("Shard 4 of c does not exist")),
            (promote(0, 1), Expect::Done),
            (promote(1, 2), Expect::Done),
        ],
    );
    // Shard 0: peer 2 was active and is now Dead; its transfer to 3 was aborted (3 not active).
    assert_eq!(replicas(&state, 0)[..2], [(1, Active), (2, Dead)]);
    assert!(state.collections["c"].transfers.is_empty());
    // Shard 1 (replication factor 2): one other replica kept `Dead`, the excess dropped.
    assert_eq!(replicas(&state, 1), [(1, Dead), (2, Active)]);
}

#[test]
fn removing_a_peer_clears_its_replicas_and_transfers() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1, 2]), (1, &[1]), (2, &[2, 3])], Active), Expect::Done),
            (start(0, 1, 3, true, None), Expect::Done),
            (start(2, 2, 1, false, None), Expect::Done),
        ],
    );
    assert!(state.peer_has_replicas(1));
    run(
        &mut state,
        &[
            (Op::RemovePeer { peer_id: 1 }, Expect::Changed(true)),
            (Op::RemovePeer { peer_id: 1 }, Expect::Changed(false)),
            (start(0, 2, 1, true, None), Expect::BadInput("Peer 1 does not exist")),
            (Op::AddPeer { peer_id: 4, uri: "http://node4:6335/".into() }, Expect::Done),
            (Op::AddPeer { peer_id: 4, uri: "http://node4b:6335/".into() }, Expect::Done),
        ],
    );
    assert!(!state.peer_has_replicas(1));
    assert_eq!(state.peers.keys().copied().collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(state.peers[&4].uri, "http://node4b:6335/");
    assert_eq!(replicas(&state, 0), [(2, Active), (3, Dead)]);
    assert!(replicas(&state, 1).is_empty(), "even the last replica is removed");
    assert_eq!(replicas(&state, 2), [(2, Active), (3, Active)]);
    assert!(state.collections["c"].transfers.is_empty());
}

#[test]
fn state_survives_serde_round_trips() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1, 2]), (1, &[3])], Initializing), Expect::Done),
            (set(1, 3, Active, None), Expect::Done),
            (start(1, 3, 1, true, Some(TransferMethod::WalDelta)), Expect::Done),
            (alias(vec![create_alias("c", "a")]), Expect::Done),
            (
                Op::CreatePayloadIndex { collection: "c".into(), field: "f".into(), schema: json!({"type": "text"}) },
                Expect::Done,
            ),
            (Op::SetMetadata { key: "k".into(), value: Some(json!([1, "two", null])) }, Expect::Done),
        ],
    );
    let text = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<ClusterState>(&text).unwrap(), state);
    let bytes = rmp_serde::to_vec_named(&state).unwrap();
    assert_eq!(rmp_serde::from_slice::<ClusterState>(&bytes).unwrap(), state);
    // Compact `rmp_serde::to_vec` is NOT round-trip safe: `CollectionConfig` skips absent fields.
    let compact = rmp_serde::to_vec(&state).unwrap();
    assert!(rmp_serde::from_slice::<ClusterState>(&compact).is_err());
    assert_eq!(serde_json::from_str::<ClusterState>("{}").unwrap(), ClusterState::default());
}

#[path = "tests_lifecycle.rs"]
mod lifecycle;
#[path = "tests_shard_keys.rs"]
mod shard_keys;

#[test]
fn vector_names_created_and_deleted() {
    use quiver_types::vector_name::VectorNameConfig;
    let mut state = fresh();
    let dense: VectorNameConfig = serde_json::from_value(json!({"dense": {"size": 3, "distance": "Dot"}})).unwrap();
    let sparse: VectorNameConfig = serde_json::from_value(json!({"sparse": {"modifier": "idf"}})).unwrap();
    let create_vector = |collection: &str, name: &str, config: &VectorNameConfig| Op::CreateVectorName {
        collection: collection.into(),
        name: name.into(),
        config: config.clone(),
    };
    let delete_vector =
        |collection: &str, name: &str| Op::DeleteVectorName { collection: collection.into(), name: name.into() };
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1, 2])], Active), Expect::Done),
            (alias(vec![create_alias("c", "a")]), Expect::Done),
            (create_vector("c", "img", &dense), Expect::Done),
            (create_vector("a", "bm25", &sparse), Expect::Done),
            (create_vector("c", "img", &sparse), Expect::BadInput("Vector with name `img` already exists")),
            (create_vector("x", "img", &dense), Expect::NotFound("Collection `x` doesn't exist!")),
            (delete_vector("c", "nope"), Expect::BadInput("Not existing vector name error: nope")),
            (delete_vector("a", "bm25"), Expect::Done),
            // Not while a replica catches up (it would replay older records into the columns).
            (set(0, 2, Dead, Some(Active)), Expect::Done),
            (delete_vector("c", "img"), Expect::BadRequest("the replica of shard 0 on peer 2 is Dead")),
            (start(0, 1, 2, false, Some(TransferMethod::WalDelta)), Expect::Done),
            (create_vector("c", "v", &dense), Expect::BadRequest("shard 0 is being transferred")),
        ],
    );
    let params = &state.collections["c"].config.params;
    assert_eq!(params.vectors.get("img").map(|p| p.size), Some(3));
    assert!(params.sparse_vectors.is_empty());
}
