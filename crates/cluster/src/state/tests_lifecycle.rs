//! Table tests of the operations of design record 009: lost replicas, transfer limits of
//! automatic transfers, and collection incarnations.

use super::*;

fn lost(shard_id: ShardId, peer_id: PeerId) -> Op {
    Op::ReplicaLost { collection: "c".into(), shard_id, peer_id }
}

fn start_limited(shard_id: ShardId, from: PeerId, to: PeerId, incoming: usize, outgoing: usize) -> Op {
    Op::StartTransfer {
        collection: "c".into(),
        transfer: ShardTransfer { shard_id, from, to, sync: true, method: Some(TransferMethod::WalDelta) },
        limits: Some(TransferLimits {
            incoming: Some(incoming),
            outgoing: Some(outgoing),
            purpose: AutoTransfer::Recovery,
        }),
    }
}

#[test]
fn a_lost_replica_turns_dead_even_when_it_is_the_last_active_one() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1]), (1, &[1, 2])], Active), Expect::Done),
            // The last-active rule protects the only copy from an ordinary state change...
            (set(0, 1, Dead, Some(Active)), Expect::BadInput("Cannot deactivate the last active replica")),
            // ...but not from the report that its data is gone.
            (lost(0, 1), Expect::Changed(true)),
            (lost(0, 1), Expect::Changed(false)),
            (lost(0, 3), Expect::BadInput("does not exist")),
            (start(1, 1, 3, true, Some(TransferMethod::StreamRecords)), Expect::Done),
            // A transfer's target is not counted on for data: left alone, its transfer runs on.
            (lost(1, 3), Expect::Changed(false)),
            // A lost source aborts the transfer (its target turns Dead).
            (lost(1, 1), Expect::Changed(true)),
        ],
    );
    assert_eq!(replicas(&state, 0), vec![(1, Dead)]);
    assert_eq!(replicas(&state, 1), vec![(1, Dead), (2, Active), (3, Dead)]);
    assert!(state.collections["c"].transfers.is_empty());
}

#[test]
fn automatic_transfers_respect_the_limits_user_transfers_do_not() {
    let mut state = fresh();
    let placement: &[(ShardId, &[PeerId])] = &[(0, &[1, 2]), (1, &[1, 2]), (2, &[1, 3]), (3, &[2, 3])];
    run(
        &mut state,
        &[
            (create("c", placement, Active), Expect::Done),
            (set(0, 2, Dead, Some(Active)), Expect::Done),
            (set(1, 2, Dead, Some(Active)), Expect::Done),
            (set(2, 3, Dead, Some(Active)), Expect::Done),
            (start_limited(0, 1, 2, 1, 1), Expect::Done),
            // Recovering a replica that is not Dead (or was dropped): refused.
            (start_limited(3, 2, 1, 5, 5), Expect::BadRequest("is not Dead")),
            (start_limited(3, 3, 2, 5, 5), Expect::BadRequest("is not Dead")),
            // Into peer 2 again: over its incoming limit.
            (start_limited(1, 1, 2, 1, 5), Expect::BadRequest("incoming_shard_transfers_limit")),
            // Out of peer 1 again (into peer 3): over its outgoing limit.
            (start_limited(2, 1, 3, 5, 1), Expect::BadRequest("outgoing_shard_transfers_limit")),
            // Higher limits admit it; a user's transfer carries none.
            (start_limited(1, 1, 2, 2, 2), Expect::Done),
            (start(3, 2, 1, true, Some(TransferMethod::Snapshot)), Expect::Done),
            // The target is Partial now, not Dead: an automatic transfer has nothing to do.
            (start_limited(3, 2, 1, 5, 5), Expect::BadRequest("is not Dead")),
        ],
    );
    assert_eq!(state.collections["c"].transfers.len(), 3);
}

#[test]
fn a_recreated_collection_has_a_new_incarnation() {
    let mut state = fresh();
    let with = |incarnation: u64| Op::CreateCollection {
        name: "c".into(),
        config: config(1, 1),
        placement: BTreeMap::from([(0, vec![1])]),
        initial_state: Initializing,
        incarnation,
    };
    run(&mut state, &[(with(11), Expect::Done)]);
    assert_eq!(state.collections["c"].incarnation, 11);
    run(&mut state, &[(Op::DeleteCollection { name: "c".into() }, Expect::Changed(true)), (with(12), Expect::Done)]);
    assert_eq!(state.collections["c"].incarnation, 12);
    // An entry written before incarnations existed decodes with 0 (unknown).
    let old = json!({"CreateCollection": {"name": "d", "config": config(1, 1), "placement": {"0": [1]},
                     "initial_state": "Active"}});
    let op: Op = serde_json::from_value(old).unwrap();
    run(&mut state, &[(op, Expect::Done)]);
    assert_eq!(state.collections["d"].incarnation, 0);
}

#[test]
fn only_the_current_primary_finishes_a_transfer() {
    let mut state = fresh();
    let finish_by =
        |by: PeerId| Op::FinishTransfer { collection: "c".into(), shard_id: 0, from: 2, to: 3, by: Some(by) };
    run(
        &mut state,
        &[
            (create("c", &[(0, &[1, 2, 3])], Active), Expect::Done),
            (set(0, 3, Dead, Some(Active)), Expect::Done),
            (start(0, 2, 3, true, Some(TransferMethod::WalDelta)), Expect::Done),
            // Peer 1 is not the primary (peer 2 is: the highest Active replica).
            (finish_by(1), Expect::BadRequest("no longer the primary of shard 0")),
            (set(0, 2, Dead, Some(Active)), Expect::Done),
            // Peer 2 lost the role meanwhile (its transfer was aborted with it).
            (finish_by(2), Expect::BadRequest("no longer the primary")),
        ],
    );
    assert_eq!(replicas(&state, 0), vec![(1, Active), (2, Dead), (3, Dead)]);
    run(
        &mut state,
        &[
            (start(0, 1, 3, true, Some(TransferMethod::WalDelta)), Expect::Done),
            (Op::FinishTransfer { collection: "c".into(), shard_id: 0, from: 1, to: 3, by: Some(1) }, Expect::Done),
        ],
    );
    assert_eq!(replicas(&state, 0), vec![(1, Active), (2, Dead), (3, Active)]);
}

fn placement_transfer(shard_id: ShardId, from: PeerId, to: PeerId, sync: bool) -> Op {
    Op::StartTransfer {
        collection: "c".into(),
        transfer: ShardTransfer { shard_id, from, to, sync, method: Some(TransferMethod::StreamRecords) },
        limits: Some(TransferLimits { incoming: None, outgoing: None, purpose: AutoTransfer::Placement }),
    }
}

#[test]
fn a_placement_replica_planned_before_the_factor_was_lowered_is_refused() {
    let mut state = fresh();
    run(
        &mut state,
        &[
            // Factor 2: shard 0 is at it, shard 1 below it.
            (create("c", &[(0, &[1, 2]), (1, &[1])], Active), Expect::Done),
            (placement_transfer(0, 1, 3, true), Expect::BadRequest("already has 2 replicas")),
            (placement_transfer(1, 1, 3, true), Expect::Done),
            // A move keeps the count: allowed at the factor.
            (placement_transfer(0, 2, 3, false), Expect::Done),
        ],
    );
}
