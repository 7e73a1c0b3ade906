"""Executes a schedule's faults against a running `Cluster` (one thread per fault).

Rules kept at run time:
* a peer is in at most one fault at a time (`busy`); at most `max_down` peers are *victims* at
  once (killed, paused, isolated, restarting, or the sending side of a one-way cut);
* ``delete_collection_dir`` is exclusive: it starts only when no other fault or cluster
  operation runs and every replica is ``Active`` with no transfer (so another ``Active`` replica
  holds every acknowledged write of the shards it loses), and nothing else starts until the
  victim's replicas are ``Active`` again;
* a peer that is down is removed from the workload's targets and put back (with its new URL if it
  moved) once it is ready; partition rules live in the processes, so they are pushed again to a
  peer after it restarts or resumes;
* every fault is undone before its thread ends; `heal()` undoes anything left (SIGCONT, start,
  clear every partition).

A fault that cannot find an eligible victim within a few seconds is skipped (recorded). A peer
that does not come back (start-up error, not ready in time) or a graceful stop that does not
finish is recorded as an error: the schedule fails with the peer's log tail as evidence.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from typing import Any, Callable

import requests

from history import History, Op
from schedules import Fault, Schedule
from workload import Targets, request

STOP_TIMEOUT = 20.0  # graceful stop: SIGKILL after this (recorded as an error)
CLUSTER_OP_TIMEOUT = 30.0


class Nemesis:
    def __init__(self, cluster, collection: str, schedule: Schedule, targets: Targets, history: History,
                 log: Callable[[str], None]):
        self.c = cluster
        self.coll = collection
        self.s = schedule
        self.targets = targets
        self.history = history
        self.log = log
        self.lock = threading.RLock()
        self.busy: dict[int, str] = {}  # peer index → fault label
        self.victims: set[int] = set()
        self.paused: set[int] = set()
        self.rules: dict[str, dict[int, dict[str, set[int]]]] = {}  # fault label → peer index → rules
        self.exclusive = False
        self.active = 0  # faults/cluster operations holding peers or running
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.executed: list[dict[str, Any]] = []
        self.last_fault_end = 0.0
        self._threads: list[threading.Thread] = []
        self._abort = threading.Event()
        self.t_start = 0.0

    # ------------------------------------------------------------------ driving
    def start(self, t_start: float) -> None:
        self.t_start = t_start
        for i, f in enumerate(self.s.faults):
            rec: dict[str, Any] = {"kind": f.kind, "planned_at": f.at, "duration": f.duration,
                                   "params": f.params}
            self.executed.append(rec)
            t = threading.Thread(target=self._run, args=(i, f, rec), name=f"nemesis-{i}", daemon=True)
            self._threads.append(t)
            t.start()

    def abort(self) -> None:
        """Stops every fault thread at its next step (no more starts, signals or rules)."""
        self._abort.set()

    def _sleep(self, seconds: float) -> None:
        self._abort.wait(max(0.0, seconds))

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def fault_names(self) -> list[str]:
        out = []
        for rec in self.executed:
            k = rec["kind"]
            if rec.get("skipped"):
                k += "(skipped)"
            elif rec.get("error"):
                k += "(error)"
            out.append(k)
        return out

    def _rel(self) -> float:
        return round(time.monotonic() - self.t_start, 2)

    def _run(self, i: int, f: Fault, rec: dict) -> None:
        self._sleep(self.t_start + f.at - time.monotonic())
        if self._abort.is_set():
            return
        rng = random.Random(f"{self.s.seed}-fault-{i}")
        label = f"{f.kind}#{i}"
        rec["at"] = self._rel()
        try:
            getattr(self, "_f_" + f.kind)(f, rng, label, rec)
        except Exception as e:  # noqa: BLE001 - a harness bug must fail the schedule, not hang it
            rec["error"] = f"{type(e).__name__}: {e}"
            self.errors.append(f"nemesis {label}: {type(e).__name__}: {e}")
        finally:
            rec["end"] = self._rel()
            with self.lock:
                self.last_fault_end = max(self.last_fault_end, time.monotonic())
            self.history.event("nemesis", "info", f.kind + ":end", {k: v for k, v in rec.items() if k != "params"})

    # ------------------------------------------------------------------ peer selection
    def _order(self, prefer: int) -> list:
        n = len(self.c.peers)
        return [self.c.peers[(prefer + j) % n] for j in range(n)]

    def _acquire(self, label: str, prefer: int, n: int = 1, require: Callable[[Any], bool] | None = None,
                 exclusive: bool = False, timeout: float = 8.0) -> list | None:
        """Reserves `n` victims (preferred first); None if impossible within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self._abort.is_set():
            with self.lock:
                if not self.exclusive and (not exclusive or self.active == 0):
                    free = [p for p in self._order(prefer)
                            if p.index not in self.busy and p.is_running() and p.index not in self.paused
                            and (require is None or require(p))]
                    room = self.s.max_down - len(self.victims)
                    if room >= n and len(free) >= n:
                        got = free[:n]
                        for p in got:
                            self.busy[p.index] = label
                            self.victims.add(p.index)
                        self.active += 1
                        if exclusive:
                            self.exclusive = True
                        return got
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)
        return None

    def _release(self, peers: list, exclusive: bool = False) -> None:
        with self.lock:
            for p in peers:
                self.busy.pop(p.index, None)
                self.victims.discard(p.index)
            self.active -= 1
            if exclusive:
                self.exclusive = False

    def _free_peers(self) -> list:
        with self.lock:
            return [p for p in self.c.peers if p.is_running() and p.index not in self.busy
                    and p.index not in self.paused]

    # ------------------------------------------------------------------ peer actions
    def _down(self, p, graceful: bool, rec: dict) -> None:
        self.targets.remove(p.index)
        self.history.event("nemesis", "info", "stop" if graceful else "kill",
                           {"peer": p.index, "peer_id": p.peer_id, "url": p.url})
        if graceful:
            t = time.monotonic()
            p.stop(timeout=STOP_TIMEOUT)
            took = time.monotonic() - t
            rc = p.proc.returncode if p.proc is not None else None
            rec.setdefault("stops", []).append({"peer": p.index, "seconds": round(took, 2), "rc": rc})
            if rc == -signal.SIGKILL:
                self.errors.append(f"peer {p.index} (id {p.peer_id}) did not stop within {STOP_TIMEOUT:.0f}s "
                                   f"of SIGTERM (killed)\n--- log tail ---\n{p.log_tail(30)}")
        else:
            p.kill()

    def _up(self, p, rec: dict) -> bool:
        if self._abort.is_set():
            return False
        t = time.monotonic()
        try:
            p.start(wait_ready=True)
        except Exception as e:  # noqa: BLE001
            msg = f"peer {p.index} (id {p.peer_id}) did not come back: {type(e).__name__}: {str(e)[:2000]}"
            self.errors.append(msg)
            rec["error"] = msg[:300]
            self.history.event("nemesis", "info", "start-failed", {"peer": p.index, "error": str(e)[:300]})
            return False
        rec.setdefault("ready_after", []).append(round(time.monotonic() - t, 2))
        with self.lock:
            self._push(p)
        self.targets.set(p.index, p.url)
        self.history.event("nemesis", "info", "started", {"peer": p.index, "peer_id": p.peer_id, "url": p.url})
        return True

    def _signal(self, p, sig: int) -> None:
        if self._abort.is_set() and sig != signal.SIGCONT:
            return
        if p.proc is not None and p.proc.poll() is None:
            os.kill(p.proc.pid, sig)

    # ------------------------------------------------------------------ partition rules
    def _rules_of(self, index: int) -> dict[str, list[int]]:
        out: dict[str, set[int]] = {"blocked": set(), "outgoing": set(), "incoming": set()}
        for per_peer in self.rules.values():
            for k, ids in per_peer.get(index, {}).items():
                out[k] |= ids
        return {k: sorted(v) for k, v in out.items()}

    def _push(self, p) -> None:
        """Sends peer `p` its current rules (caller holds the lock). Skips peers that are down
        or paused: they get their rules when they are back."""
        if not p.is_running() or p.index in self.paused or self._abort.is_set():
            return
        body = self._rules_of(p.index)
        last = ""
        for _ in range(2):
            try:
                r = requests.post(p.url + "/debug/partition", json=body, timeout=5)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                last = f"{type(e).__name__}: {e}"
            if not p.is_running() or p.index in self.paused:
                return
        # Not fatal (the fault is only weaker than planned), but worth knowing.
        self.notes.append(f"{self._rel()}s: POST /debug/partition {body} on peer {p.index} failed: {last}")

    def _set_rules(self, label: str, rules: dict[int, dict[str, set[int]]] | None) -> None:
        with self.lock:
            touched = set(self.rules.get(label, {}))
            if rules is None:
                self.rules.pop(label, None)
            else:
                self.rules[label] = rules
                touched |= set(rules)
            for idx in sorted(touched):
                self._push(self.c.peers[idx])

    # ------------------------------------------------------------------ cluster views
    def _states(self) -> tuple[dict[int, dict[int, str]], list] | None:
        """({shard: {peer_id: state}}, transfers) from a free peer."""
        for p in self._free_peers():
            try:
                r = requests.get(f"{p.url}/collections/{self.coll}/cluster", timeout=2)
                if r.status_code != 200:
                    continue
                info = r.json()["result"]
            except (requests.RequestException, ValueError, KeyError):
                continue
            out: dict[int, dict[int, str]] = {}
            for s in info["local_shards"]:
                out.setdefault(s["shard_id"], {})[info["peer_id"]] = s["state"]
            for s in info["remote_shards"]:
                out.setdefault(s["shard_id"], {})[s["peer_id"]] = s["state"]
            return out, info.get("shard_transfers", [])
        return None

    def _leader(self) -> int | None:
        votes: dict[int, int] = {}
        for p in self._free_peers():
            try:
                lid = p.raft(timeout=2)["leader"]
            except Exception:  # noqa: BLE001
                continue
            if lid is not None:
                votes[lid] = votes.get(lid, 0) + 1
        return max(votes, key=lambda k: votes[k]) if votes else None

    def _quiescent(self) -> bool:
        st = self._states()
        if st is None:
            return False
        states, transfers = st
        return not transfers and all(s == "Active" for reps in states.values() for s in reps.values())

    def _wait(self, pred: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if pred():
                    return True
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.25)
        return False

    # ------------------------------------------------------------------ faults
    def _skip(self, rec: dict, why: str) -> None:
        rec["skipped"] = why
        self.history.event("nemesis", "info", "skip", {"kind": rec["kind"], "why": why})

    def _crash_restart(self, f: Fault, rec: dict, label: str, graceful: bool, victims: list | None = None,
                       new_address: bool = False) -> None:
        got = victims or self._acquire(label, f.prefer)
        if not got:
            return self._skip(rec, "no eligible peer")
        p = got[0]
        rec["peer"], rec["peer_id"] = p.index, p.peer_id
        try:
            self._down(p, graceful, rec)
            if new_address:
                old = p.url
                p.move_to_new_ports()
                rec["moved"] = f"{old} -> {p.url}"
            self._sleep(f.duration)
            self._up(p, rec)
        finally:
            self._release(got)

    def _f_kill(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        self._crash_restart(f, rec, label, graceful=False)

    def _f_graceful_restart(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        self._crash_restart(f, rec, label, graceful=True)

    def _f_restart_new_address(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        self._crash_restart(f, rec, label, graceful=bool(f.params.get("graceful")), new_address=True)

    def _f_kill_leader(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        deadline = time.monotonic() + 8
        got = None
        while time.monotonic() < deadline and not got:
            lid = self._leader()
            if lid is not None:
                got = self._acquire(label, 0, require=lambda p: p.peer_id == lid, timeout=0.5)
            if not got:
                time.sleep(0.3)
        if not got:
            return self._skip(rec, "leader unknown or not eligible")
        self._crash_restart(f, rec, label, graceful=False, victims=got)

    def _f_pause(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        got = self._acquire(label, f.prefer)
        if not got:
            return self._skip(rec, "no eligible peer")
        p = got[0]
        rec["peer"], rec["peer_id"] = p.index, p.peer_id
        try:
            with self.lock:
                self.paused.add(p.index)
            self.history.event("nemesis", "info", "sigstop", {"peer": p.index, "peer_id": p.peer_id})
            self._signal(p, signal.SIGSTOP)
            self._sleep(f.duration)
            self._signal(p, signal.SIGCONT)
            self.history.event("nemesis", "info", "sigcont", {"peer": p.index, "peer_id": p.peer_id})
            with self.lock:
                self.paused.discard(p.index)
                self._push(p)
        finally:
            self._release(got)

    def _f_partition(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        size = int(f.params.get("size", 1))
        got = None
        while size >= 1 and not got:
            got = self._acquire(label, f.prefer, n=size, timeout=8.0 if size == 1 else 2.0)
            size -= 0 if got else 1
        if not got:
            return self._skip(rec, "no eligible peer")
        victims = {p.index for p in got}
        rest = [p for p in self.c.peers if p.index not in victims]
        rec["isolated"] = sorted(victims)
        rules: dict[int, dict[str, set[int]]] = {}
        for p in got:
            rules[p.index] = {"blocked": {q.peer_id for q in rest}}
        for q in rest:
            rules[q.index] = {"blocked": {p.peer_id for p in got}}
        try:
            self.history.event("nemesis", "info", "partition", {"isolated": sorted(victims)})
            self._set_rules(label, rules)
            self._sleep(f.duration)
        finally:
            self._set_rules(label, None)
            self.history.event("nemesis", "info", "heal", {"isolated": sorted(victims)})
            self._release(got)

    def _f_partition_oneway(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        got = self._acquire(label, f.prefer)
        if not got:
            return self._skip(rec, "no eligible peer")
        a = got[0]
        mode = f.params.get("mode", "pair")
        others = [p for p in self.c.peers if p.index != a.index]
        if mode == "pair":
            partner = int(f.params.get("partner", 0)) % len(self.c.peers)
            cands = [p for p in self._order(partner) if p.index != a.index]
            with self.lock:
                free = [p for p in cands if p.index not in self.busy]
            others = [(free or cands)[0]]
        rules: dict[int, dict[str, set[int]]] = {}
        if mode == "in_all":  # a receives nothing from the others
            rules[a.index] = {"incoming": {q.peer_id for q in others}}
            for q in others:
                rules[q.index] = {"outgoing": {a.peer_id}}
            desc = f"{[q.index for q in others]} -x-> {a.index}"
        else:  # what a sends to the others is lost
            rules[a.index] = {"outgoing": {q.peer_id for q in others}}
            for q in others:
                rules[q.index] = {"incoming": {a.peer_id}}
            desc = f"{a.index} -x-> {[q.index for q in others]}"
        rec["cut"] = desc
        try:
            self.history.event("nemesis", "info", "partition_oneway", {"cut": desc})
            self._set_rules(label, rules)
            self._sleep(f.duration)
        finally:
            self._set_rules(label, None)
            self.history.event("nemesis", "info", "heal", {"cut": desc})
            self._release(got)

    def _f_delete_collection_dir(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        if not self._wait(self._quiescent, 20.0):
            return self._skip(rec, "replicas not all Active within 20 s")
        st0 = self._states()
        holders = {pid for reps in st0[0].values() for pid in reps} if st0 else set()
        got = self._acquire(label, f.prefer, require=lambda p: p.peer_id in holders, exclusive=True,
                            timeout=15.0)
        if not got:
            return self._skip(rec, "no eligible peer (exclusive)")
        p = got[0]
        rec["peer"], rec["peer_id"] = p.index, p.peer_id
        try:
            # Every shard the victim holds must have another Active replica, with nothing in flight.
            st = self._states()
            ok = st is not None and not st[1] and all(
                s == "Active" for reps in st[0].values() for s in reps.values()) and all(
                len(reps) >= 2 for reps in st[0].values() if p.peer_id in reps)
            if not ok:
                return self._skip(rec, f"victim's shards not safely replicated: {st}")
            self._down(p, False, rec)
            d = p.collection_dir(self.coll)
            rec["deleted"] = str(d) if d.exists() else f"{d} (absent)"
            shutil.rmtree(d, ignore_errors=True)
            self.history.event("nemesis", "info", "delete_collection_dir", {"peer": p.index, "dir": str(d)})
            self._sleep(f.duration)
            if self._up(p, rec):
                def victim_active() -> bool:
                    st2 = self._states()
                    return st2 is not None and all(
                        reps.get(p.peer_id, "Active") == "Active" for reps in st2[0].values())
                rec["recovered"] = self._wait(victim_active, 40.0)
        finally:
            self._release(got, exclusive=True)

    # ------------------------------------------------------------------ cluster operations
    def _cluster_op(self, f: Fault, rng: random.Random, label: str, rec: dict, kind: str) -> None:
        deadline = time.monotonic() + 30
        while True:
            with self.lock:
                if not self.exclusive:
                    self.active += 1
                    break
            if time.monotonic() >= deadline:
                return self._skip(rec, "an exclusive fault ran")
            time.sleep(0.2)
        try:
            st = self._states()
            if st is None:
                return self._skip(rec, "no peer answered the collection's cluster info")
            states, _ = st
            ids = sorted(p.peer_id for p in self.c.peers)
            shards = sorted(states)
            first = int(f.params.get("shard", 0)) % max(1, len(shards))
            shards = shards[first:] + shards[:first]
            body = None
            for sid in shards:
                reps = states[sid]
                holders = sorted(reps)
                active = [pid for pid in holders if reps[pid] == "Active"]
                others = [pid for pid in ids if pid not in reps]
                if kind in ("replicate_shard", "move_shard"):
                    if not active or not others:
                        continue
                    body = {kind: {"shard_id": sid, "from_peer_id": rng.choice(active),
                                   "to_peer_id": rng.choice(others)}}
                else:
                    if len(holders) < 2:
                        continue
                    body = {"drop_replica": {"shard_id": sid, "peer_id": rng.choice(holders)}}
                break
            if body is None:
                return self._skip(rec, f"no shard fits ({states})")
            url = self.targets.pick(rng)
            if url is None:
                return self._skip(rec, "no target peer")
            op = Op(id=self.history.next_id(), process="nemesis", f="cluster", url=url, body=body)
            rec["body"] = body
            request(self.history, op, "POST", f"/collections/{self.coll}/cluster", json=body,
                    timeout=CLUSTER_OP_TIMEOUT)
            rec["outcome"] = op.outcome + (f" {op.status}" if op.status else "") + (
                f" {op.error[:160]}" if op.error else "")
        finally:
            with self.lock:
                self.active -= 1

    def _f_replicate_shard(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        self._cluster_op(f, rng, label, rec, "replicate_shard")

    def _f_move_shard(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        self._cluster_op(f, rng, label, rec, "move_shard")

    def _f_drop_replica(self, f: Fault, rng: random.Random, label: str, rec: dict) -> None:
        self._cluster_op(f, rng, label, rec, "drop_replica")

    # ------------------------------------------------------------------ end
    def heal(self) -> None:
        """Undo everything left: resume paused peers, start stopped ones, clear partitions."""
        with self.lock:
            for idx in sorted(self.paused):
                self._signal(self.c.peers[idx], signal.SIGCONT)
            self.paused.clear()
            self.rules.clear()
        for p in self.c.peers:
            if not p.is_running():
                rec: dict[str, Any] = {}
                self.history.event("nemesis", "info", "heal-start", {"peer": p.index})
                self._up(p, rec)
        with self.lock:
            for p in self.c.peers:
                self._push(p)
        for p in self.c.peers:
            if p.is_running():
                self.targets.set(p.index, p.url)
        self.history.event("nemesis", "info", "healed")
