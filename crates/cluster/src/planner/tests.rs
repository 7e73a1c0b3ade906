//! The planner against the state machine: plans are carried out through the real operations
//! (transfers started and finished, replicas trimmed) until nothing is left to do, checking at
//! every step that no shard lost an `Active` replica it needed, and at the end where replicas
//! are.

use super::*;
use crate::state::{AutoTransfer, Drain, MetaOperation, TransferLimits};
use quiver_types::cluster::{ShardTransfer, TransferMethod};
use quiver_types::config::{CollectionConfig, CollectionParams, HnswConfig, OptimizersConfig, WalConfig};
use quiver_types::replica::ReplicaState;

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

fn apply(state: &mut ClusterState, op: MetaOperation) {
    if let Err(e) = state.apply(&op) {
        panic!("{op:?} refused: {e}");
    }
}

/// `peers` peers and collection "c" with `shards` shards at `rf`, placed as at creation.
fn cluster(peers: u64, shards: u32, rf: u32) -> ClusterState {
    let mut state = ClusterState::default();
    for peer in 1..=peers {
        state.peers.insert(peer, PeerInfo::new(format!("http://p{peer}:6335")));
    }
    let ids: Vec<PeerId> = (1..=peers).collect();
    let placement = crate::state::place_shards(&ids, shards, rf, 7);
    let config = config(shards, rf);
    let initial_state = ReplicaState::Active;
    apply(
        &mut state,
        MetaOperation::CreateCollection { name: "c".into(), config, placement, initial_state, incarnation: 1 },
    );
    state
}

/// Carries one step out through the state machine, as the keeper and the transfer would.
fn carry_out(state: &mut ClusterState, step: &Step) {
    let collection = step.collection.clone();
    let shard_id = step.shard_id;
    let (from, to, sync) = match step.action {
        Action::Replicate { from, to } => (from, to, true),
        Action::Move { from, to } => (from, to, false),
        Action::Trim { peer, active_left } => {
            return apply(state, MetaOperation::TrimReplica { collection, shard_id, peer_id: peer, active_left });
        }
    };
    let transfer = ShardTransfer { shard_id, from, to, sync, method: Some(TransferMethod::StreamRecords) };
    let limits = TransferLimits { incoming: Some(1), outgoing: Some(1), purpose: AutoTransfer::Placement };
    apply(state, MetaOperation::StartTransfer { collection: collection.clone(), transfer, limits: Some(limits) });
    apply(state, MetaOperation::FinishTransfer { collection, shard_id, from, to, by: None });
}

fn active(state: &ClusterState, shard: ShardId) -> BTreeSet<PeerId> {
    let replicas = &state.collections["c"].shards[&shard];
    replicas.iter().filter(|(_, s)| is_active(**s)).map(|(p, _)| *p).collect()
}

fn holders(state: &ClusterState, peer: PeerId) -> usize {
    state.collections.values().flat_map(|m| m.shards.values()).filter(|r| r.contains_key(&peer)).count()
}

/// Plans and carries out until the plan is empty; every shard keeps at least `floor` `Active`
/// replicas on peers that are not gone throughout. Returns the steps taken.
fn converge(state: &mut ClusterState, options: &PlanOptions, floor: usize) -> Vec<Step> {
    let mut taken = Vec::new();
    for _ in 0..100 {
        let plan = plan(state, options);
        if plan.steps.is_empty() {
            return taken;
        }
        for step in plan.steps {
            carry_out(state, &step);
            for shard in state.collections["c"].shards.keys() {
                let live = active(state, *shard).into_iter().filter(|p| !state.peers[p].gone).count();
                assert!(live >= floor, "shard {shard} fell to {live} Active replicas after {step:?}");
            }
            taken.push(step);
        }
    }
    panic!("no convergence: {:?}", plan(state, options));
}

fn rebalance() -> PlanOptions {
    PlanOptions { rebalance: true, unreachable: BTreeSet::new() }
}

/// Collection "k" (custom sharding, no shards) on peers 1..=3 with key "free" (placed by the
/// planner's choice) and key "mine" (the user's `placement`: pinned), each 3 shards at rf 1, all
/// on peer 1.
fn keyed_cluster() -> ClusterState {
    let mut state = ClusterState::default();
    for peer in 1..=3 {
        state.peers.insert(peer, PeerInfo::new(format!("http://p{peer}:6335")));
    }
    let mut config = config(1, 1);
    config.params.sharding_method = Some(quiver_types::shard_key::ShardingMethod::Custom);
    let (initial_state, placement) = (ReplicaState::Active, BTreeMap::new());
    apply(
        &mut state,
        MetaOperation::CreateCollection { name: "k".into(), config, placement, initial_state, incarnation: 1 },
    );
    for (key, pinned) in [("free", false), ("mine", true)] {
        apply(
            &mut state,
            MetaOperation::CreateShardKey {
                collection: "k".into(),
                shard_key: key.into(),
                placement: vec![vec![1]; 3],
                replication_factor: None,
                initial_state: ReplicaState::Active,
                shard_ids: None,
                pinned,
            },
        );
    }
    state
}

#[test]
fn rebalancing_leaves_the_shards_of_a_key_placed_by_the_user() {
    let mut state = keyed_cluster();
    state.rebalance_pending = true;
    let meta = &state.collections["k"];
    let pinned: BTreeSet<ShardId> = meta.shards.keys().copied().filter(|s| meta.shard_pinned(*s)).collect();
    assert_eq!(pinned.len(), 3);
    let plan = plan(&state, &rebalance());
    assert!(!plan.steps.is_empty(), "the free key's shards are spread");
    for step in &plan.steps {
        assert_eq!(step.reason, Reason::Rebalance);
        assert!(!pinned.contains(&step.shard_id), "a pinned shard moved: {step:?}");
    }
}

#[test]
fn a_settled_cluster_needs_nothing() {
    let state = cluster(3, 6, 2);
    assert_eq!(plan(&state, &rebalance()), Plan::default());
}

#[test]
fn a_raised_factor_gets_new_replicas_spread_over_the_peers() {
    let mut state = cluster(3, 6, 1);
    let update = serde_json::from_value(serde_json::json!({"params": {"replication_factor": 2}})).unwrap();
    apply(&mut state, MetaOperation::UpdateCollection { name: "c".into(), update });
    assert!(state.rebalance_pending);
    let steps = converge(&mut state, &rebalance(), 1);
    assert_eq!(steps.iter().filter(|s| s.reason == Reason::BelowFactor).count(), 6, "{steps:?}");
    for shard in 0..6 {
        assert_eq!(active(&state, shard).len(), 2, "shard {shard}");
    }
    assert_eq!((1..=3).map(|p| holders(&state, p)).collect::<Vec<_>>(), vec![4, 4, 4]);
}

#[test]
fn replicas_of_a_gone_peer_are_replaced_then_dropped() {
    let mut state = cluster(4, 4, 2);
    let lost: Vec<ShardId> = (0..4).filter(|s| state.collections["c"].shards[s].contains_key(&4)).collect();
    assert!(!lost.is_empty());
    for shard in &lost {
        let op = MetaOperation::SetReplicaState {
            collection: "c".into(),
            shard_id: *shard,
            peer_id: 4,
            state: ReplicaState::Dead,
            from_state: None,
        };
        apply(&mut state, op);
    }
    apply(&mut state, MetaOperation::MarkPeerGone { peer_id: 4, gone: true });
    let steps = converge(&mut state, &PlanOptions::default(), 1);
    assert!(steps.iter().all(|s| s.reason == Reason::PeerGone), "{steps:?}");
    assert_eq!(holders(&state, 4), 0);
    for shard in 0..4 {
        assert_eq!(active(&state, shard).len(), 2, "shard {shard}");
    }
}

/// An operator's `drop_replica` stands: the shard stays under its factor (nothing planned for
/// it) until an event calls for balance again (a peer joins, goes, returns or drains; a factor
/// changes); then it is brought back to its factor.
#[test]
fn a_dropped_replica_stays_dropped_until_the_next_event() {
    let mut state = cluster(3, 3, 2);
    let holder = *state.collections["c"].shards[&0].keys().next().unwrap();
    apply(&mut state, MetaOperation::DropReplica { collection: "c".into(), shard_id: 0, peer_id: holder });
    assert_eq!(state.collections["c"].shards[&0].len(), 1);
    for options in [PlanOptions::default(), rebalance()] {
        assert!(plan(&state, &options).steps.iter().all(|s| s.shard_id != 0), "{:?}", plan(&state, &options));
    }
    // A peer joins: the event calls for balance, and the shard gets its second replica back.
    apply(&mut state, MetaOperation::AddPeer { peer_id: 4, uri: "http://p4:6335".into() });
    converge(&mut state, &rebalance(), 1);
    assert_eq!(active(&state, 0).len(), 2);
    // Held again; then another peer goes: that event brings the held shard back too.
    let holder = *state.collections["c"].shards[&0].keys().next().unwrap();
    apply(&mut state, MetaOperation::DropReplica { collection: "c".into(), shard_id: 0, peer_id: holder });
    let left = *state.collections["c"].shards[&0].keys().next().unwrap();
    let other = (1..=4).find(|p| *p != left && *p != holder).unwrap();
    apply(&mut state, MetaOperation::MarkPeerGone { peer_id: other, gone: true });
    converge(&mut state, &PlanOptions::default(), 1);
    assert_eq!(active(&state, 0).len(), 2, "a call for balance brings the held shard back");
}

#[test]
fn a_gone_peers_replicas_are_copied_from_several_sources_at_once() {
    // 4 peers, 8 shards, rf 2: peer 4's four shards have their other copies on the three other
    // peers (placement at creation), so under limits of one transfer in and one out per peer
    // the keeper starts more than one copy at once.
    let mut state = cluster(4, 8, 2);
    apply(&mut state, MetaOperation::MarkPeerGone { peer_id: 4, gone: true });
    let plan = plan(&state, &PlanOptions::default());
    let (mut busy_in, mut busy_out) = (BTreeSet::new(), BTreeSet::new());
    let mut started = 0;
    for step in &plan.steps {
        let Action::Replicate { from, to } = step.action else { continue };
        assert_ne!(from, 4, "a gone peer is no source");
        if !busy_in.contains(&to) && !busy_out.contains(&from) {
            busy_in.insert(to);
            busy_out.insert(from);
            started += 1;
        }
    }
    assert_eq!(plan.steps.len(), 4, "{plan:?}");
    assert!(started >= 2, "only {started} transfer(s) fit the limits at once: {plan:?}");
}

#[test]
fn a_drained_peer_ends_empty_and_no_shard_goes_under_its_factor() {
    let mut state = cluster(4, 8, 2);
    apply(&mut state, MetaOperation::SetDrain { peer_id: 2, drain: Some(Drain { then_remove: false }) });
    let steps = converge(&mut state, &PlanOptions::default(), 2);
    assert_eq!(holders(&state, 2), 0);
    assert!(steps.iter().all(|s| s.reason == Reason::Draining));
    assert!(steps.iter().all(|s| matches!(s.action, Action::Move { from: 2, .. })), "{steps:?}");
}

#[test]
fn a_drain_that_would_go_under_the_factor_is_blocked() {
    let mut state = cluster(3, 2, 3);
    apply(&mut state, MetaOperation::SetDrain { peer_id: 3, drain: Some(Drain { then_remove: false }) });
    let plan = plan(&state, &PlanOptions::default());
    assert!(plan.steps.is_empty(), "{:?}", plan.steps);
    assert_eq!(plan.blocked.len(), 2);
    assert!(plan.blocked[0].why.contains("replication factor 3"), "{}", plan.blocked[0].why);
}

#[test]
fn the_last_copy_on_a_gone_peer_is_reported_not_dropped() {
    let mut state = cluster(2, 2, 1);
    let shard = *state.collections["c"].shards.iter().find(|(_, r)| r.contains_key(&2)).unwrap().0;
    apply(&mut state, MetaOperation::MarkPeerGone { peer_id: 2, gone: true });
    let plan = plan(&state, &PlanOptions::default());
    assert!(plan.steps.is_empty());
    assert_eq!(
        plan.blocked,
        vec![Blocked { collection: "c".into(), shard_id: shard, why: "no Active replica to copy from".into() }]
    );
}

#[test]
fn a_new_peer_receives_replicas_until_counts_are_within_one() {
    let mut state = cluster(3, 6, 2);
    state.rebalance_pending = false;
    state.peers.insert(4, PeerInfo::new("http://p4:6335"));
    assert!(plan(&state, &rebalance()).steps.is_empty(), "no rebalance unless a peer joined");
    state.rebalance_pending = true;
    assert!(plan(&state, &PlanOptions::default()).steps.is_empty(), "cluster.rebalance off");
    let steps = converge(&mut state, &rebalance(), 2);
    assert!(steps.iter().all(|s| s.reason == Reason::Rebalance));
    assert_eq!((1..=4).map(|p| holders(&state, p)).collect::<Vec<_>>(), vec![3, 3, 3, 3]);
}

#[test]
fn unreachable_peers_are_neither_sources_nor_targets() {
    let mut state = cluster(3, 3, 1);
    state.collections.get_mut("c").unwrap().config.params.replication_factor = 2;
    let options = PlanOptions { rebalance: false, unreachable: BTreeSet::from([3]) };
    let plan = plan(&state, &options);
    for step in &plan.steps {
        match step.action {
            Action::Replicate { from, to } | Action::Move { from, to } => assert!(from != 3 && to != 3, "{step:?}"),
            Action::Trim { .. } => panic!("nothing to trim: {step:?}"),
        }
    }
    assert_eq!(plan.steps.len() + plan.blocked.len(), 3);
}

#[test]
fn a_shard_in_transfer_waits() {
    let mut state = cluster(3, 1, 1);
    state.collections.get_mut("c").unwrap().config.params.replication_factor = 2;
    let from = *active(&state, 0).first().unwrap();
    let to = (1..=3).find(|p| *p != from).unwrap();
    let transfer = ShardTransfer { shard_id: 0, from, to, sync: false, method: None };
    apply(&mut state, MetaOperation::StartTransfer { collection: "c".into(), transfer, limits: None });
    assert!(plan(&state, &rebalance()).steps.is_empty());
}

#[test]
fn a_lowered_factor_drops_surplus_replicas_least_complete_first() {
    let mut state = cluster(3, 2, 3);
    let op = MetaOperation::SetReplicaState {
        collection: "c".into(),
        shard_id: 0,
        peer_id: 1,
        state: ReplicaState::Dead,
        from_state: None,
    };
    apply(&mut state, op);
    let update = serde_json::from_value(serde_json::json!({"params": {"replication_factor": 1}})).unwrap();
    apply(&mut state, MetaOperation::UpdateCollection { name: "c".into(), update });
    let shards = &state.collections["c"].shards;
    assert_eq!(shards[&0].len(), 1);
    assert_eq!(shards[&0].get(&3), Some(&ReplicaState::Active), "the Dead replica and the lower id go first");
    assert_eq!(shards[&1].len(), 1);
}

/// Random shapes: peers gone, draining, joined; factors raised and lowered; every plan carried
/// out keeps each shard's `Active` replicas and ends with every shard at its factor on peers
/// that take replicas.
#[test]
fn random_clusters_converge_without_losing_a_copy() {
    let mut seed: u64 = 0x5eed;
    let mut next = |bound: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    for round in 0..300 {
        let peers = 2 + next(5);
        let rf = 1 + next(3) as u32;
        let mut state = cluster(peers, 1 + next(6) as u32, rf);
        let victim = 1 + next(peers);
        match next(3) {
            0 if rf > 1 => apply(&mut state, MetaOperation::MarkPeerGone { peer_id: victim, gone: true }),
            1 => {
                apply(&mut state, MetaOperation::SetDrain { peer_id: victim, drain: Some(Drain { then_remove: true }) })
            }
            _ => {
                state.peers.insert(peers + 1, PeerInfo::new("http://new:6335"));
                state.rebalance_pending = true;
            }
        }
        state.collections.get_mut("c").unwrap().config.params.replication_factor = 1 + next(3) as u32;
        let floor = 1;
        converge(&mut state, &rebalance(), floor);
        let meta = &state.collections["c"];
        let takers: Vec<PeerId> = state.peers.iter().filter(|(_, i)| i.takes_replicas()).map(|(p, _)| *p).collect();
        let want = (meta.config.params.replication_factor as usize).min(takers.len());
        let blocked = plan(&state, &rebalance()).blocked;
        for (shard, replicas) in &meta.shards {
            let on_takers = replicas.keys().filter(|p| takers.contains(p)).count();
            let stuck = blocked.iter().any(|b| b.shard_id == *shard);
            assert!(on_takers >= want || stuck, "round {round}: shard {shard} has {replicas:?}, wants {want}");
            assert!(replicas.len() == on_takers || stuck, "round {round}: shard {shard} left on {replicas:?}");
        }
        if blocked.is_empty() && state.rebalance_pending {
            let counts: Vec<usize> = takers.iter().map(|p| holders(&state, *p)).collect();
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(max - min <= 1, "round {round}: replica counts {counts:?} on {takers:?}");
        }
    }
}
