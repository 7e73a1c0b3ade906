"""The checker: what a history (plus the final state and the convergence result) must satisfy.

Keys are independent registers, so every rule is checked per key over the operations that touch
it. Two parts of a point's state are modelled separately:

* **existence and ``v``** — written only by upserts (``v`` = the upsert's operation id) and
  deletes, both unconditional;
* **``p``** — written by payload updates (by id, or by a filter on ``g``, which selects every
  existing key of that group) and cleared by an upsert (which replaces the whole payload).

Time rules (Jepsen's, conservative):

* an operation *may have taken effect* (``possible``) unless it failed definitely (connection
  refused, or a 4xx answer to a single-key upsert/delete); an unacknowledged write may take
  effect at any time after its invocation (its effective completion is +inf);
* write ``w`` is **superseded** by an acknowledged write ``a`` when ``a`` was invoked after ``w``
  could last have taken effect (``a.invoke > w.eff_complete``): in every linearization ``a``
  comes after ``w``.

Final state (after every fault is healed and the replicas converged):

* ``lost``        — a key's final value is not one a correct system could leave: absent although
  every write that might still define it is an upsert; present with a value superseded by an
  acknowledged upsert; a ``p`` that misses (or is older than) an acknowledged payload update made
  after the current upsert; a value no operation could have written.
* ``resurrected`` — a key shows a value written before an acknowledged delete of it.

Reads (``read`` at ``consistency=all`` and ``majority`` — in Quiver both ask every replica):

* ``stale``       — a read returned a value superseded by a write acknowledged before the read
  was invoked, or one from an operation not yet invoked when the read completed, or one nobody
  wrote (also checked on scroll pages, for values nobody could have written).

Other:

* ``hung``        — an operation (client or cluster operation) that ran longer than its client
  timeout + grace, or never completed;
* ``diverged``    — shards whose replicas were not all ``Active`` with equal digests within 60 s
  after the last fault (computed by the runner and passed in).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from history import Op

INF = float("inf")
HANG_GRACE = 5.0


@dataclass
class Verdict:
    lost: int = 0
    resurrected: int = 0
    stale: int = 0
    diverged: int = 0
    hung: int = 0
    errors: list[str] = field(default_factory=list)  # harness/nemesis problems that fail the schedule
    evidence: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.resurrected or self.stale or self.diverged or self.hung or self.errors)

    def counts(self) -> str:
        return (f"lost={self.lost} resurrected={self.resurrected} stale={self.stale} "
                f"diverged={self.diverged} hung={self.hung}")


class _Index:
    """Per-key views of the write operations of a history."""

    def __init__(self, ops: Iterable[Op]):
        self.exist: dict[int, list[Op]] = defaultdict(list)  # upserts + deletes (possible only)
        self.payload: dict[int, list[Op]] = defaultdict(list)  # payload updates (possible only)
        self.by_id: dict[int, Op] = {}
        for op in ops:
            self.by_id[op.id] = op
            if not op.possible:
                continue
            if op.f in ("upsert", "delete"):
                for k in op.keys:
                    self.exist[k].append(op)
            elif op.f in ("set_payload", "set_payload_filter"):
                for k in op.keys:
                    self.payload[k].append(op)

    def upsert_of(self, key: int, token: Any) -> Op | None:
        op = self.by_id.get(token) if isinstance(token, int) else None
        if op is not None and op.f == "upsert" and key in op.keys:
            return op
        return None

    def payload_update_of(self, key: int, token: Any) -> Op | None:
        op = self.by_id.get(token) if isinstance(token, int) else None
        if op is not None and op.f in ("set_payload", "set_payload_filter") and key in op.keys:
            return op
        return None


def _superseded(w: Op, by: list[Op]) -> Op | None:
    for a in by:
        if a is not w and a.invoke > w.eff_complete:
            return a
    return None


def _fmt(ops: Iterable[Op], t0: float, limit: int = 6) -> str:
    ops = list(ops)
    s = "; ".join(o.describe(t0) for o in ops[:limit])
    return s + (f"; … {len(ops) - limit} more" if len(ops) > limit else "")


def _check_value(idx: _Index, key: int, obs: Any, *, before: float, after: float,
                 t0: float, where: str) -> tuple[str | None, str]:
    """Checks one observed state of `key` against the writes.

    `before`: writes acknowledged before this time are known to have taken effect (for the final
    state: +inf, every acknowledged write). `after`: the observation happened before this time
    (only writes invoked earlier can be seen). Returns (violation kind or None, detail)."""
    exist = idx.exist.get(key, [])
    acked_known = [a for a in exist if a.acked and a.complete is not None and a.complete < before]
    cands = [w for w in exist if w.invoke < after and _superseded(w, acked_known) is None]
    initial_ok = not acked_known

    if obs is None:
        if initial_ok or any(w.f == "delete" for w in cands):
            return None, ""
        return "lost", (f"{where}: key {key} absent, but every write that may define it is an upsert: "
                        f"{_fmt(cands, t0)}")

    if not isinstance(obs, dict):
        return "lost", f"{where}: key {key}: unreadable state {obs!r}"
    token = obs.get("v")
    u = idx.upsert_of(key, token)
    if u is None or not u.possible:
        why = (f"written by {u.describe(t0)}, which failed definitely" if u is not None
               else "written by no upsert of this key")
        return "lost", f"{where}: key {key} has v={token!r}, {why}"
    if u.invoke >= after:
        return "stale", f"{where}: key {key} has v={token} from an upsert invoked later: {u.describe(t0)}"
    if u not in cands:
        acked_after = [a for a in acked_known if a.invoke > u.eff_complete]
        # A value from before an acknowledged delete, where no acknowledged upsert is expected
        # instead, is a resurrection; anything else is a lost update.
        resurrected = (any(a.f == "delete" for a in acked_after)
                       and not any(c.f == "upsert" and c.acked for c in cands))
        kind = "resurrected" if resurrected else "lost"
        return kind, (f"{where}: key {key} has v={token} from {u.describe(t0)}, superseded by "
                      f"acknowledged {_fmt(acked_after, t0, 3)}; acceptable: "
                      f"{'absent; ' if initial_ok else ''}{_fmt(cands, t0)}")

    # The payload field written by payload updates, on the incarnation created by `u`.
    pl = idx.payload.get(key, [])
    acked_p = [s for s in pl if s.acked and s.complete is not None and s.complete < before
               and s.invoke > u.eff_complete]
    q = obs.get("p")
    if q is None:
        if not acked_p:
            return None, ""
        return "lost", (f"{where}: key {key} (v={token}) has no p, but payload updates were acknowledged "
                        f"after its upsert {u.describe(t0)}: {_fmt(acked_p, t0, 3)}")
    s = idx.payload_update_of(key, q)
    if s is None or not s.possible:
        why = (f"written by {s.describe(t0)}, which failed definitely" if s is not None
               else "written by no payload update of this key")
        return "lost", f"{where}: key {key} has p={q!r}, {why}"
    if s.invoke >= after:
        return "stale", f"{where}: key {key} has p={q} from a payload update invoked later: {s.describe(t0)}"
    if s.eff_complete <= u.invoke:
        return "lost", (f"{where}: key {key} has p={q} from {s.describe(t0)}, which ended before its "
                        f"current upsert {u.describe(t0)} began (an upsert replaces the payload)")
    sup = _superseded(s, acked_p)
    if sup is not None:
        return "lost", (f"{where}: key {key} (v={token}) has p={q} from {s.describe(t0)}, superseded by "
                        f"acknowledged {sup.describe(t0)}")
    return None, ""


def check(
    ops: list[Op],
    final: dict[int, Any] | None,
    keys: Iterable[int],
    *,
    diverged: int = 0,
    diverged_detail: Iterable[str] = (),
    errors: Iterable[str] = (),
    t0: float = 0.0,
    hang_grace: float = HANG_GRACE,
    now: float | None = None,
) -> Verdict:
    """Checks a history. `final`: key → None (absent) | {"v", "p"} as read after convergence
    (None if it could not be read: an error). `now`: when the history ended (for operations
    that never completed)."""
    v = Verdict(diverged=diverged, errors=list(errors))
    v.evidence += [f"diverged: {d}" for d in diverged_detail]
    idx = _Index(ops)
    tag = {"lost": "LOST", "resurrected": "RESURRECTED", "stale": "STALE"}

    def record(kind: str | None, detail: str) -> None:
        if kind is None:
            return
        setattr(v, kind, getattr(v, kind) + 1)
        v.evidence.append(f"{tag[kind]} {detail}")

    # Hangs.
    for op in ops:
        if op.f == "final_read":
            continue
        if op.complete is None:
            v.hung += 1
            run = f" (running {now - op.invoke:.1f}s at the end)" if now is not None else ""
            v.evidence.append(f"HUNG never completed{run}: {op.describe(t0)}")
        elif op.complete - op.invoke > op.timeout + hang_grace:
            v.hung += 1
            v.evidence.append(f"HUNG ran {op.complete - op.invoke:.1f}s > timeout {op.timeout:.0f}s + "
                              f"{hang_grace:.0f}s: {op.describe(t0)}")

    # Reads during the run.
    for op in ops:
        if op.outcome != "ok" or not isinstance(op.value, dict):
            continue
        if op.f == "read" and op.consistency in ("all", "majority"):
            for k in op.keys:
                kind, detail = _check_value(idx, k, op.value.get(k), before=op.invoke, after=op.complete,
                                            t0=t0, where=f"read {op.describe(t0)}")
                if kind is not None:
                    record("stale", detail if kind == "stale" else f"({kind} at read time) {detail}")
        elif op.f == "scroll":
            # Only values nobody could have written (scroll reads one replica per shard).
            for k, obs in op.value.items():
                if not isinstance(obs, dict):
                    continue
                u = idx.upsert_of(k, obs.get("v"))
                bad = u is None or u.invoke >= op.complete
                q = obs.get("p")
                if q is not None:
                    s = idx.payload_update_of(k, q)
                    bad = bad or s is None or s.invoke >= op.complete
                if bad:
                    record("stale", f"scroll {op.describe(t0)}: key {k} = {obs} was written by no operation "
                                    f"invoked before the scroll completed")

    # Final state.
    if final is not None:
        for k in keys:
            kind, detail = _check_value(idx, k, final.get(k), before=INF, after=INF, t0=t0, where="final")
            if kind == "stale":  # cannot happen with after=inf; keep the evidence anyway
                kind = "lost"
            record(kind, detail)
    return v
