//! One seed's run: a cluster shape, a collection, clients, a schedule of faults drawn from the
//! seed, healing, and the checks.

use crate::check::{Violation, check_final, check_history, latest_state, replicas_of};
use crate::net::Chaos;
use crate::workload::{COLLECTION, Client, History, Outcome, Shared, Targets};
use crate::world::World;
use quiver_cluster::state::{MetaOperation, place_shards};
use quiver_types::cluster::{ClusterOperation, DropReplicaRequest, TransferShardRequest};
use quiver_types::config::CreateCollection;
use quiver_types::replica::ReplicaState;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long (simulated) the cluster may take to heal after the last fault.
const HEAL_WITHIN: Duration = Duration::from_secs(120);

/// The outcome of one seed.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub seed: u64,
    pub peers: usize,
    pub replication_factor: u32,
    pub shards: u32,
    /// Custom sharding: every point in one shard key's shards.
    pub keyed: bool,
    pub faults: Vec<String>,
    pub ops: usize,
    pub ok: usize,
    pub unknown: usize,
    /// Operations the server did not answer within the client's timeout.
    pub hung: usize,
    pub violations: Vec<Violation>,
    pub simulated: Duration,
    /// The operations, for replaying a failure.
    pub history: Vec<crate::workload::Op>,
    /// When each fault was injected (simulated time since the start).
    pub fault_times: Vec<Duration>,
    /// The metadata operations applied, in log order.
    pub metadata_log: Vec<String>,
    /// For keys named by violations found before the final check: the WAL records touching
    /// them on each replica.
    pub wal_of_keys: Vec<String>,
}

impl SeedReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// One line: `seed=S peers=… faults=… ops=… ok=… unknown=… violations=… verdict=…`.
    pub fn line(&self) -> String {
        format!(
            "seed={} peers={} rf={} shards={} sharding={} faults={} ops={} ok={} unknown={} hung={} violations={} simulated={}s verdict={}",
            self.seed,
            self.peers,
            self.replication_factor,
            self.shards,
            if self.keyed { "custom" } else { "auto" },
            self.faults.len(),
            self.ops,
            self.ok,
            self.unknown,
            self.hung,
            self.violations.len(),
            self.simulated.as_secs(),
            if self.passed() { "ok" } else { "FAIL" }
        )
    }
}

/// Runs seed `seed` on a fresh single-threaded runtime with a paused clock.
pub fn run_seed(seed: u64) -> SeedReport {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => return failed_setup(seed, format!("runtime: {e}")),
    };
    let base = std::path::Path::new("/dev/shm");
    let dir = match base.is_dir() {
        true => tempfile::tempdir_in(base),
        false => tempfile::tempdir(),
    };
    let dir = match dir {
        Ok(dir) => dir,
        Err(e) => return failed_setup(seed, format!("temp dir: {e}")),
    };
    let report = runtime.block_on(Scenario::new(seed).run(dir.path()));
    runtime.shutdown_timeout(Duration::from_secs(5));
    report
}

fn failed_setup(seed: u64, detail: String) -> SeedReport {
    SeedReport {
        seed,
        peers: 0,
        replication_factor: 0,
        shards: 0,
        keyed: false,
        faults: Vec::new(),
        ops: 0,
        ok: 0,
        unknown: 0,
        hung: 0,
        violations: vec![Violation::NotHealed { detail }],
        simulated: Duration::ZERO,
        history: Vec::new(),
        fault_times: Vec::new(),
        metadata_log: Vec::new(),
        wal_of_keys: Vec::new(),
    }
}

struct Scenario {
    seed: u64,
    rng: StdRng,
    peers: usize,
    rf: u32,
    shards: u32,
    wcf: u32,
    /// A custom-sharded collection whose one shard key holds every point (design record 016).
    keyed: bool,
    faults: Vec<String>,
    fault_times: Vec<Duration>,
    origin: Instant,
}

impl Scenario {
    fn new(seed: u64) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);
        let peers = rng.random_range(3..=5);
        let rf = rng.random_range(2..=3u32);
        let shards = rng.random_range(1..=4u32);
        let wcf = if rng.random_bool(0.25) { 2 } else { 1 };
        // Not drawn from `rng`, so that every other seed's schedule stays as it was.
        let keyed = seed % 4 == 3;
        Scenario {
            seed,
            rng,
            peers,
            rf,
            shards,
            wcf,
            keyed,
            faults: Vec::new(),
            fault_times: Vec::new(),
            origin: Instant::now(),
        }
    }

    async fn run(mut self, dir: &std::path::Path) -> SeedReport {
        let origin = self.origin;
        let mut report = failed_setup(self.seed, String::new());
        report.violations.clear();
        (report.peers, report.replication_factor, report.shards) = (self.peers, self.rf, self.shards);
        report.keyed = self.keyed;
        let mut world = match World::start(self.peers, self.seed, dir).await {
            Ok(world) => world,
            Err(e) => return failed_setup(self.seed, e),
        };
        if let Err(e) = self.create_collection(&world).await {
            world.shutdown().await;
            return failed_setup(self.seed, e);
        }
        let history: History = Default::default();
        let shared = Shared {
            targets: Targets::default(),
            history: Arc::clone(&history),
            violations: Default::default(),
            origin,
            write_consistency_factor: self.wcf as usize,
            shard_key: self.keyed.then(crate::history::shard_key_selector),
        };
        refresh_targets(&world, &shared.targets);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let clients: Vec<_> = (0..3u64)
            .map(|c| {
                let keys = (0..3).map(|k| c * 10 + k + 1).collect();
                tokio::spawn(Client::new(c, self.seed, keys, shared.clone()).run(stop_rx.clone()))
            })
            .collect();
        self.inject_faults(&mut world, &shared.targets).await;
        self.heal(&mut world, &shared.targets).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = stop_tx.send(true);
        for client in clients {
            let _ = client.await;
        }
        let healed = self.wait_healed(&world).await;
        let history = history.lock().clone();
        let (models, mut violations) = check_history(&history);
        violations.extend(shared.violations.lock().iter().cloned());
        let nodes = shared.targets.read().clone();
        violations
            .extend(world.log_mismatches.lock().iter().map(|detail| Violation::RaftLog { detail: detail.clone() }));
        report.metadata_log = world
            .log
            .lock()
            .iter()
            .map(|(index, (op, accepted, _))| format!("{index}: {}{op:?}", if *accepted { "" } else { "REFUSED " }))
            .collect();
        match healed {
            Ok(()) => violations.extend(check_final(&nodes, &models)),
            Err(detail) => violations.push(Violation::NotHealed { detail }),
        }
        report.wal_of_keys = wal_touching(&nodes, &violations);
        world.shutdown().await;
        violations.sort();
        violations.dedup();
        report.ops = history.len();
        report.ok = history.iter().filter(|op| matches!(op.outcome, Outcome::Ok | Outcome::Read(_))).count();
        report.unknown = history.iter().filter(|op| matches!(op.outcome, Outcome::Unknown(_))).count();
        report.hung =
            history.iter().filter(|op| op.completed.saturating_sub(op.invoked) >= crate::workload::OP_TIMEOUT).count();
        report.faults = self.faults;
        report.fault_times = self.fault_times;
        report.violations = violations;
        report.history = history;
        report.simulated = origin.elapsed();
        report
    }

    /// Creates the collection with a placement drawn from the seed and waits until it is Active.
    async fn create_collection(&mut self, world: &World) -> Result<(), String> {
        let node = world.live_node(0).ok_or("no live peer")?;
        let request: CreateCollection = serde_json::from_value(serde_json::json!({
            "vectors": {"size": 4, "distance": "Dot"},
            "shard_number": self.shards,
            "replication_factor": self.rf,
            "write_consistency_factor": self.wcf,
            "sharding_method": if self.keyed { "custom" } else { "auto" },
        }))
        .map_err(|e| e.to_string())?;
        let config = node.build_config(request);
        let peers: Vec<u64> = world.peers.iter().map(|p| p.peer_id).collect();
        let placement = place_shards(&peers, self.shards, self.rf, self.rng.random());
        let (auto_placement, key_placement) = match self.keyed {
            true => (Default::default(), placement.into_values().collect()),
            false => (placement, Vec::new()),
        };
        let op = MetaOperation::CreateCollection {
            name: COLLECTION.into(),
            config,
            placement: auto_placement,
            initial_state: ReplicaState::Initializing,
            incarnation: self.rng.random_range(1..u64::MAX),
        };
        let consensus = &node.cluster().ok_or("not in cluster mode")?.consensus;
        consensus.propose(op, Duration::from_secs(30)).await.map_err(|e| format!("create: {e}"))?;
        if self.keyed {
            let op = MetaOperation::CreateShardKey {
                collection: COLLECTION.into(),
                shard_key: crate::history::SHARD_KEY.into(),
                placement: key_placement,
                replication_factor: None,
                initial_state: ReplicaState::Initializing,
                shard_ids: None,
                pinned: false,
            };
            consensus.propose(op, Duration::from_secs(30)).await.map_err(|e| format!("create key: {e}"))?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if all_active(world) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err("collection replicas not Active after 30 s".into())
    }

    /// At most this many peers disrupted at once (crashed, cut off or paused): a quorum and an
    /// `Active` replica of every shard stay reachable.
    fn max_disrupted(&self) -> usize {
        ((self.rf as usize) - 1).min((self.peers - 1) / 2)
    }

    async fn inject_faults(&mut self, world: &mut World, targets: &Targets) {
        let steps = self.rng.random_range(3..=7);
        let mut disrupted: BTreeSet<usize> = BTreeSet::new();
        for _ in 0..steps {
            let pause = self.rng.random_range(500..4000);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let choice = self.rng.random_range(0..100);
            let victim = self.rng.random_range(0..self.peers);
            let fault = match choice {
                0..13 if disrupted.len() < self.max_disrupted() && disrupted.insert(victim) => {
                    forget_target(world, targets, victim);
                    match world.crash(victim).await {
                        Ok(()) => format!("crash(p{})", victim + 1),
                        Err(e) => format!("crash(p{}) failed: {e}", victim + 1),
                    }
                }
                13..20 if disrupted.len() < self.max_disrupted() && disrupted.insert(victim) => {
                    // A graceful stop: the peer hands its shards off, then its process ends.
                    let handed = match world.peers[victim].node.clone() {
                        Some(node) => node.hand_off_replicas(Duration::from_secs(10)).await,
                        None => 0,
                    };
                    forget_target(world, targets, victim);
                    match world.crash(victim).await {
                        Ok(()) => format!("graceful_stop(p{}, {handed} handed off)", victim + 1),
                        Err(e) => format!("graceful_stop(p{}) failed: {e}", victim + 1),
                    }
                }
                20..35 if disrupted.len() < self.max_disrupted() && disrupted.insert(victim) => {
                    self.cut_off(world, victim)
                }
                35..45 if disrupted.len() < self.max_disrupted() && disrupted.insert(victim) => {
                    world.net.pause(world.peers[victim].peer_id);
                    format!("pause(p{})", victim + 1)
                }
                45..70 => self.restore_one(world, &mut disrupted).await,
                70..80 => {
                    let chaos = Chaos {
                        drop: self.rng.random_range(0.0..0.05),
                        duplicate: self.rng.random_range(0.0..0.05),
                        max_delay: Duration::from_millis(self.rng.random_range(0..80)),
                    };
                    world.net.set_chaos(chaos);
                    format!("chaos(drop={:.3},dup={:.3},delay<={:?})", chaos.drop, chaos.duplicate, chaos.max_delay)
                }
                _ => self.cluster_operation(world).await,
            };
            refresh_targets(world, targets);
            self.faults.push(fault);
            self.fault_times.push(self.origin.elapsed());
        }
    }

    /// Cuts peer `victim` off, both ways or one way.
    fn cut_off(&mut self, world: &World, victim: usize) -> String {
        let id = world.peers[victim].peer_id;
        let mode = self.rng.random_range(0..3);
        for other in world.peers.iter().map(|p| p.peer_id).filter(|p| *p != id) {
            if mode != 1 {
                world.net.cut(id, other);
            }
            if mode != 2 {
                world.net.cut(other, id);
            }
        }
        let how = ["both ways", "inbound", "outbound"][mode];
        format!("partition(p{} {how})", victim + 1)
    }

    /// Undoes one disruption: restarts a crashed peer, or heals cuts and pauses.
    async fn restore_one(&mut self, world: &mut World, disrupted: &mut BTreeSet<usize>) -> String {
        let Some(&index) = disrupted.iter().next() else { return "nothing to restore".into() };
        disrupted.remove(&index);
        if !world.peers[index].is_up() {
            return match world.restart(index).await {
                Ok(()) => format!("restart(p{})", index + 1),
                Err(e) => format!("restart(p{}) failed: {e}", index + 1),
            };
        }
        world.net.heal();
        world.net.resume(world.peers[index].peer_id);
        // Healing all cuts also heals the other cut-off peers: re-cut none, forget them.
        disrupted.retain(|i| !world.peers[*i].is_up());
        format!("heal(p{})", index + 1)
    }

    /// A user's cluster operation, valid or not: replicate, move or drop a replica.
    async fn cluster_operation(&mut self, world: &World) -> String {
        let Some(node) = world.live_node(self.rng.random_range(0..self.peers)) else { return "no live peer".into() };
        // A key's shards get the ids 1.. in a fresh custom collection.
        let shard_id = self.rng.random_range(0..self.shards) + u32::from(self.keyed);
        let from = self.rng.random_range(1..=self.peers as u64);
        let to = self.rng.random_range(1..=self.peers as u64);
        let transfer =
            TransferShardRequest { shard_id, from_peer_id: from, to_peer_id: to, method: None, to_shard_id: None };
        let (name, operation) = match self.rng.random_range(0..6) {
            0 => ("replicate_shard", ClusterOperation::ReplicateShard(transfer)),
            1 => ("move_shard", ClusterOperation::MoveShard(transfer)),
            2 => ("drop_replica", ClusterOperation::DropReplica(DropReplicaRequest { shard_id, peer_id: from })),
            _ => return self.placement_operation(&node, from).await,
        };
        let outcome = node.update_collection_cluster(COLLECTION, operation, Some(Duration::from_secs(10))).await;
        let outcome = match outcome {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("refused: {e}"),
        };
        format!("{name}(shard {shard_id}, {from}->{to}: {outcome})")
    }

    /// What the placement keeper acts on (design record 012): a drain started or cancelled, the
    /// replication factor changed (never under the write consistency factor).
    async fn placement_operation(&mut self, node: &quiver_node::Node, peer: u64) -> String {
        let timeout = Some(Duration::from_secs(10));
        let (name, outcome) = match self.rng.random_range(0..3) {
            0 => ("drain", node.drain_peer(peer, false, timeout).await.map(|_| ())),
            1 => ("cancel_drain", node.cancel_drain(peer, timeout).await.map(|_| ())),
            _ => {
                let rf = self.rng.random_range(self.wcf.max(1)..=3);
                let update = serde_json::from_value(serde_json::json!({"params": {"replication_factor": rf}}))
                    .expect("a valid collection update");
                let outcome = node.update_collection(COLLECTION, update, timeout).await.map(|_| ());
                return format!("set_replication_factor({rf}: {})", describe(outcome));
            }
        };
        format!("{name}(p{peer}: {})", describe(outcome))
    }

    async fn heal(&mut self, world: &mut World, targets: &Targets) {
        world.net.heal();
        world.net.resume_all();
        world.net.set_chaos(Chaos::default());
        for index in 0..world.peers.len() {
            if let Err(e) = world.restart(index).await {
                self.faults.push(format!("restart(p{}) failed: {e}", index + 1));
            }
        }
        refresh_targets(world, targets);
    }

    /// Waits until every replica of every shard is `Active` with equal digests everywhere.
    async fn wait_healed(&self, world: &World) -> Result<(), String> {
        let deadline = Instant::now() + HEAL_WITHIN;
        loop {
            let healed = all_active(world) && digests_equal(world);
            if healed {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("not healed {HEAL_WITHIN:?} after the last fault: {}", describe_replicas(world)));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn describe(outcome: Result<(), quiver_node::NodeError>) -> String {
    match outcome {
        Ok(()) => "ok".into(),
        Err(e) => format!("refused: {e}"),
    }
}

fn live_nodes(world: &World) -> std::collections::BTreeMap<u64, Arc<quiver_node::Node>> {
    world.peers.iter().filter_map(|p| p.node.clone().map(|n| (p.peer_id, n))).collect()
}

/// Takes a peer out of the clients' targets before its process ends, so that no answer its
/// leftover tasks give counts as the peer's.
fn forget_target(world: &World, targets: &Targets, index: usize) {
    targets.write().remove(&world.peers[index].peer_id);
}

fn refresh_targets(world: &World, targets: &Targets) {
    *targets.write() = live_nodes(world);
}

/// Every replica of the collection `Active` in every live peer's applied state.
fn all_active(world: &World) -> bool {
    let nodes = live_nodes(world);
    nodes.len() == world.peers.len()
        && nodes.values().all(|node| {
            node.cluster_state().and_then(|s| s.collections.get(COLLECTION).cloned()).is_some_and(|meta| {
                meta.transfers.is_empty()
                    && meta.shards.values().flat_map(|r| r.values()).all(|s| *s == ReplicaState::Active)
            })
        })
}

/// Every shard's replicas hold the same contents.
fn digests_equal(world: &World) -> bool {
    let nodes = live_nodes(world);
    let Some(state) = latest_state(&nodes) else { return false };
    let Some(meta) = state.collections.get(COLLECTION) else { return false };
    meta.shards.iter().all(|(shard_id, states)| {
        let replicas = replicas_of(&nodes, states, *shard_id);
        replicas.len() == states.len()
            && replicas.iter().map(|(_, _, l)| l.digest()).collect::<BTreeSet<_>>().len() == 1
    })
}

/// The WAL records of every replica that touch the keys the violations name.
fn wal_touching(
    nodes: &std::collections::BTreeMap<u64, Arc<quiver_node::Node>>,
    violations: &[Violation],
) -> Vec<String> {
    let mut keys: BTreeSet<u64> = violations
        .iter()
        .filter_map(|v| match v {
            Violation::Lost { key, .. } | Violation::Stale { key, .. } | Violation::Unreplicated { key, .. } => {
                Some(*key)
            }
            Violation::Diverged { .. }
            | Violation::NotHealed { .. }
            | Violation::Forked { .. }
            | Violation::RaftLog { .. } => None,
        })
        .collect();
    if keys.is_empty() {
        keys.extend(1..40);
    }
    let mut out = Vec::new();
    for (peer, node) in nodes {
        let Ok(collection) = node.resolve(COLLECTION) else { continue };
        for set in collection.replica_sets() {
            let Some(local) = set.local() else { continue };
            let records = local.wal_records(local.wal_first_seq().max(1), local.applied_seq()).unwrap_or_default();
            for (seq, op) in records {
                let ids = op.point_ids().unwrap_or_default();
                if ids.iter().any(|id| matches!(id, quiver_types::PointId::Num(n) if keys.contains(n))) {
                    out.push(format!("peer {peer} shard {} seq {seq}: {op:?}", set.shard_id));
                }
            }
        }
    }
    out
}

/// Every replica's state, points, last sequence number and digest, per shard.
fn describe_replicas(world: &World) -> String {
    let nodes = live_nodes(world);
    let Some(meta) = latest_state(&nodes).and_then(|s| s.collections.get(COLLECTION).cloned()) else {
        return "no collection".into();
    };
    let mut out = Vec::new();
    for (shard_id, states) in &meta.shards {
        let replicas: Vec<String> = replicas_of(&nodes, states, *shard_id)
            .iter()
            .map(|(p, s, l)| {
                format!("p{p} {s:?} {} points seq {} digest {:x}", l.points_count(), l.applied_seq(), l.digest())
            })
            .collect();
        out.push(format!("shard {shard_id}: [{}] transfers {:?}", replicas.join("; "), meta.transfers));
    }
    out.join(" | ")
}
