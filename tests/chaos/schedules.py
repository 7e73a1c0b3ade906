"""Deterministic fault schedules: the same seed always gives the same schedule.

A schedule fixes the cluster shape (peers, replication factor, shards), the workload length and
a list of faults with their start offsets (seconds after the load starts), durations and
preferences (which peer, which direction, ...). Which peer a fault finally hits is decided when
it starts (the preferred one if it is eligible, else the next eligible one in index order), since
the run itself is not deterministic.

Faults that impair peers (kill -9, SIGSTOP, partitions, restarts) are laid out in *lanes*: at most
`max_down = min(rf − 1, (peers − 1) // 2)` lanes, one fault at a time per lane, so never more
than rf − 1 peers are impaired at once and a Raft majority always remains. Cluster operations
(`replicate_shard`, `move_shard`, `drop_replica`) impair nobody and may overlap anything.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

# kind → (weight, impairs peers, duration range in s)
FAULTS: dict[str, tuple[int, bool, tuple[float, float]]] = {
    "kill": (3, True, (1.0, 6.0)),  # kill -9, restart on the same address after the duration
    "pause": (2, True, (2.0, 7.0)),  # SIGSTOP, SIGCONT after the duration
    "partition": (2, True, (2.0, 7.0)),  # isolate peer(s) from the rest, both ways
    "partition_oneway": (2, True, (2.0, 7.0)),  # a one-way cut (pair, all outgoing, all incoming)
    "restart_new_address": (2, True, (0.5, 4.0)),  # kill -9 or SIGTERM, come back on new ports
    "delete_collection_dir": (1, True, (0.5, 3.0)),  # kill -9, delete the collection dir, restart
    "kill_leader": (2, True, (1.0, 5.0)),  # kill -9 the Raft leader, restart after the duration
    "graceful_restart": (1, True, (0.2, 2.0)),  # SIGTERM, start again
    "replicate_shard": (1, False, (0.0, 0.0)),
    "move_shard": (1, False, (0.0, 0.0)),
    "drop_replica": (1, False, (0.0, 0.0)),
}
RESTART_ALLOWANCE = 2.0  # rough time a restarted debug peer needs to be ready


@dataclass
class Fault:
    kind: str
    at: float
    duration: float
    lane: int | None  # None: a cluster operation
    prefer: int  # preferred victim peer index (or source peer for cluster operations)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Schedule:
    seed: int
    peers: int
    rf: int
    shards: int
    max_down: int
    load_seconds: float
    keys: int
    threads: int
    faults: list[Fault]

    def to_json(self) -> dict:
        return asdict(self)

    def fault_names(self) -> list[str]:
        return [f.kind for f in self.faults]


def generate(seed: int) -> Schedule:
    rng = random.Random(seed)
    peers = rng.choice([3, 3, 4, 5])
    rf = rng.choice([2, 3]) if peers >= 3 else 2
    rf = min(rf, peers)
    shards = rng.choice([1, 2, 3, 4])
    max_down = max(1, min(rf - 1, (peers - 1) // 2))
    n_faults = rng.randint(2, 4)
    kinds = list(FAULTS)
    weights = [FAULTS[k][0] for k in kinds]
    lanes = [rng.uniform(2.0, 4.0) for _ in range(max_down)]
    faults: list[Fault] = []
    pending_ops: list[str] = []
    for _ in range(n_faults):
        kind = rng.choices(kinds, weights)[0]
        _, impairs, (lo, hi) = FAULTS[kind]
        if not impairs:
            pending_ops.append(kind)
            continue
        lane = min(range(max_down), key=lambda i: lanes[i])
        at = lanes[lane] + rng.uniform(0.5, 3.0)
        if kind == "delete_collection_dir":  # exclusive: after everything planned so far
            at = max(lanes) + rng.uniform(0.5, 3.0)
        duration = round(rng.uniform(lo, hi), 2)
        params: dict[str, Any] = {}
        if kind == "partition":
            params["size"] = rng.randint(1, max_down)  # victims (clamped to free lanes at run time)
        elif kind == "partition_oneway":
            params["mode"] = rng.choice(["pair", "pair", "out_all", "in_all"])
            params["partner"] = rng.randrange(peers)
        elif kind == "restart_new_address":
            params["graceful"] = rng.random() < 0.5
        faults.append(Fault(kind, round(at, 2), duration, lane, rng.randrange(peers), params))
        restarts = kind in ("kill", "restart_new_address", "delete_collection_dir", "kill_leader",
                            "graceful_restart")
        lanes[lane] = at + duration + (RESTART_ALLOWANCE if restarts else 0.5)
        if kind == "delete_collection_dir":
            # Exclusive: the others wait until its peer's replicas are Active again.
            lanes = [max(lanes[lane] + 6.0, x) for x in lanes]
    end = max(lanes + [12.0])
    for kind in pending_ops:
        faults.append(Fault(kind, round(rng.uniform(2.0, max(3.0, end - 2.0)), 2), 0.0, None,
                            rng.randrange(peers), {"shard": rng.randrange(shards), "to": rng.randrange(peers)}))
    faults.sort(key=lambda f: f.at)
    load_seconds = round(max(end + rng.uniform(2.0, 4.0), 15.0), 1)
    return Schedule(seed=seed, peers=peers, rf=rf, shards=shards, max_down=max_down,
                    load_seconds=load_seconds, keys=rng.choice([24, 48, 64]), threads=rng.choice([3, 4, 5]),
                    faults=faults)
