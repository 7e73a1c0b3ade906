"""The operation history of one chaos schedule (Jepsen style).

Every client operation is one `Op`: it is *invoked* (monotonic `invoke` time, the peer URL it
was sent to) and then completes as

* ``ok``      — the server answered with success (a write: HTTP 200 and
                ``result.status == "completed"``, i.e. acknowledged);
* ``fail``    — the server answered with an error status, or the connection was refused
                (nothing listened: the request never reached a server). ``definite`` tells the
                checker that the operation certainly did not take effect (connection refused, or
                a 4xx answer to a single-key upsert/delete); any other failed write *may* have
                taken effect (a 5xx after the primary applied it, a 4xx from one shard of a
                multi-shard operation while another shard applied its part, ...);
* ``unknown`` — no answer (client timeout, connection reset, unreadable body): may or may not
                have taken effect, and never counted as failed;
* never completed — the client thread is still stuck when the schedule ends (a hang).

Write values are unique: an upsert of key ``k`` by operation ``n`` stores payload
``{"v": n, "g": k % GROUPS}``; a payload update by operation ``n`` sets ``{"p": n}``. So a value
read back names the operation that wrote it.

Nemesis actions are recorded as `events` (``process = "nemesis"``) for the history file only.
All times are ``time.monotonic()``; the history file shows them relative to the schedule start.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WRITE_FS = ("upsert", "delete", "set_payload", "set_payload_filter")
READ_FS = ("read", "scroll", "count")


@dataclass(eq=False)
class Op:
    id: int
    process: str
    f: str  # upsert | delete | set_payload | set_payload_filter | read | scroll | count | cluster | final_read
    keys: list[int] = field(default_factory=list)  # keys written / read (filter update: the group's keys)
    invoke: float = 0.0
    complete: float | None = None
    outcome: str | None = None  # ok | fail | unknown | None (never completed)
    definite: bool = False  # fail only: certainly not applied
    status: int | None = None
    error: str = ""
    url: str = ""
    timeout: float = 10.0
    consistency: str | None = None
    group: int | None = None  # set_payload_filter
    body: Any = None  # cluster ops: the request body
    value: Any = None  # reads: {key: None | {"v": int|None, "p": int|None}}; count: int

    # ----------------------------------------------------------------- checker views
    @property
    def acked(self) -> bool:
        return self.outcome == "ok"

    @property
    def possible(self) -> bool:
        """May have taken effect (acknowledged, unknown, never completed, or failed without
        certainty)."""
        return not (self.outcome == "fail" and self.definite)

    @property
    def eff_complete(self) -> float:
        """The latest time the operation may take effect: its completion if acknowledged,
        otherwise never bounded (an unacknowledged write may still be applied later)."""
        return self.complete if self.outcome == "ok" and self.complete is not None else float("inf")

    def to_events(self, t0: float) -> list[dict]:
        base = {"process": self.process, "f": self.f, "op": self.id}
        if self.keys:
            base["keys"] = self.keys
        if self.group is not None:
            base["group"] = self.group
        if self.consistency:
            base["consistency"] = self.consistency
        if self.body is not None:
            base["body"] = self.body
        inv = dict(base, type="invoke", time=round(self.invoke - t0, 4), url=self.url)
        out = [inv]
        if self.complete is not None:
            done = dict(base, type=self.outcome, time=round(self.complete - t0, 4))
            if self.outcome == "fail":
                done["definite"] = self.definite
            if self.status is not None:
                done["status"] = self.status
            if self.error:
                done["error"] = self.error
            if self.value is not None:
                done["value"] = (
                    {str(k): v for k, v in self.value.items()} if isinstance(self.value, dict) else self.value
                )
            out.append(done)
        return out

    def describe(self, t0: float = 0.0) -> str:
        c = f"{self.complete - t0:.3f}" if self.complete is not None else "never"
        extra = f" status={self.status}" if self.status is not None else ""
        if self.outcome == "fail":
            extra += " definite" if self.definite else " indefinite"
        cons = f" consistency={self.consistency}" if self.consistency else ""
        grp = f" group={self.group}" if self.group is not None else ""
        return (f"op#{self.id} {self.f}{cons}{grp} keys={self.keys if len(self.keys) <= 8 else str(self.keys[:8])[:-1] + ', …]'}"
                f" [{self.invoke - t0:.3f} → {c}] {self.outcome}{extra} via {self.url}"
                + (f" err={self.error[:160]!r}" if self.error else ""))


class History:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.ops: list[Op] = []
        self.events: list[dict] = []  # nemesis and harness events
        self.t0 = time.monotonic()
        self.t0_wall = time.time()

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def invoke(self, op: Op) -> Op:
        op.invoke = time.monotonic()
        with self._lock:
            self.ops.append(op)
        return op

    def complete(self, op: Op, outcome: str, **kw: Any) -> Op:
        op.complete = time.monotonic()
        op.outcome = outcome
        for k, v in kw.items():
            setattr(op, k, v)
        return op

    def set_start(self) -> None:
        """Marks the schedule start: times are relative to it; `t0_wall` maps them to the UTC
        timestamps of the peers' logs."""
        self.t0 = time.monotonic()
        self.t0_wall = time.time()

    def wall(self, t: float) -> str:
        """The UTC wall-clock time (as in quiver.log) of monotonic time `t`."""
        w = self.t0_wall + (t - self.t0)
        return time.strftime("%H:%M:%S", time.gmtime(w)) + f".{int((w % 1) * 1000):03d}"

    def event(self, process: str, type_: str, f: str, value: Any = None) -> None:
        now = time.monotonic()
        ev = {"process": process, "type": type_, "f": f, "time": round(now - self.t0, 4), "wall": self.wall(now)}
        if value is not None:
            ev["value"] = value
        with self._lock:
            self.events.append(ev)

    def snapshot(self) -> list[Op]:
        with self._lock:
            return list(self.ops)

    def write_jsonl(self, path: Path) -> None:
        rows: list[dict] = []
        with self._lock:
            for op in self.ops:
                rows.extend(op.to_events(self.t0))
            rows.extend(self.events)
        rows.sort(key=lambda r: r["time"])
        meta = {"process": "harness", "type": "info", "f": "start", "time": 0.0, "wall": self.wall(self.t0),
                "value": "times are seconds after this start; wall = UTC as in quiver.log"}
        rows.insert(0, meta)
        with open(path, "w") as fh:
            for r in rows:
                fh.write(json.dumps(r, sort_keys=False) + "\n")
