"""Unit tests of the chaos checker on hand-written histories (no server needed).

Run: .venv/bin/pytest -q tests/chaos/test_checker.py
"""

from __future__ import annotations

import itertools

import pytest

from checker import check
from history import Op

_ids = itertools.count(1000)


def op(f: str, keys, invoke: float, complete: float | None, outcome: str | None = "ok", *,
       id: int | None = None, definite: bool = False, value=None, consistency=None, timeout=10.0,
       status=None) -> Op:
    return Op(id=id if id is not None else next(_ids), process="t", f=f, keys=list(keys), invoke=invoke,
              complete=complete, outcome=outcome, definite=definite, value=value,
              consistency=consistency, timeout=timeout, status=status)


def up(id, keys, t0, t1, outcome="ok", **kw):
    return op("upsert", keys, t0, t1, outcome, id=id, **kw)


def dele(id, keys, t0, t1, outcome="ok", **kw):
    return op("delete", keys, t0, t1, outcome, id=id, **kw)


def setp(id, keys, t0, t1, outcome="ok", **kw):
    return op("set_payload", keys, t0, t1, outcome, id=id, **kw)


def read(keys_values: dict, t0, t1, consistency="all", outcome="ok"):
    return op("read", sorted(keys_values), t0, t1, outcome, value=dict(keys_values), consistency=consistency)


def V(v, p=None):
    return {"v": v, "p": p}


def run(ops, final, keys=(1,), **kw):
    return check(ops, final, list(keys), **kw)


# ---------------------------------------------------------------------------------- final state
def test_empty_history_is_ok():
    v = run([], {1: None})
    assert v.ok, v.evidence


def test_acknowledged_upsert_present_is_ok():
    assert run([up(1, [1], 0, 1)], {1: V(1)}).ok


def test_lost_write_absent():
    v = run([up(1, [1], 0, 1)], {1: None})
    assert v.lost == 1 and not v.ok, v.evidence
    assert "LOST" in v.evidence[0]


def test_lost_update_older_value():
    v = run([up(1, [1], 0, 1), up(2, [1], 2, 3)], {1: V(1)})
    assert v.lost == 1 and v.resurrected == 0, v.evidence


def test_concurrent_acknowledged_upserts_either_value():
    ops = [up(1, [1], 0, 2), up(2, [1], 1, 3)]
    assert run(ops, {1: V(1)}).ok
    assert run(ops, {1: V(2)}).ok
    assert run(ops, {1: None}).lost == 1


def test_resurrected_delete():
    v = run([up(1, [1], 0, 1), dele(2, [1], 2, 3)], {1: V(1)})
    assert v.resurrected == 1 and v.lost == 0, v.evidence
    assert "RESURRECTED" in v.evidence[0]


def test_delete_then_upsert_acknowledged_absent_is_lost():
    v = run([dele(1, [1], 0, 1), up(2, [1], 2, 3)], {1: None})
    assert v.lost == 1


def test_unknown_later_write_is_acceptable_either_way():
    # An acknowledged upsert, then an unknown (timed-out) delete and an unknown upsert.
    ops = [up(1, [1], 0, 1), dele(2, [1], 2, 12, "unknown"), up(3, [1], 3, None, None)]
    for final in (V(1), None, V(3)):
        v = run(ops, {1: final}, now=20, hang_grace=1e9)
        assert v.lost == v.resurrected == 0, (final, v.evidence)


def test_unknown_is_not_a_failure_of_the_last_acked_value():
    # The acknowledged value is still acceptable when a later write timed out.
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 12, "unknown")]
    assert run(ops, {1: V(1)}).ok
    assert run(ops, {1: V(2)}).ok


def test_indefinite_failure_may_have_applied():
    # A 5xx answer: may or may not have taken effect, even after the answer.
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 3, "fail", status=503)]
    assert run(ops, {1: V(1)}).ok
    assert run(ops, {1: V(2)}).ok
    ops = [up(1, [1], 0, 1), dele(2, [1], 2, 3, "fail", status=500)]
    assert run(ops, {1: None}).ok


def test_definite_failure_must_not_appear():
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 3, "fail", definite=True)]
    assert run(ops, {1: V(1)}).ok
    v = run(ops, {1: V(2)})
    assert v.lost == 1 and "failed definitely" in v.evidence[0], v.evidence
    # A definitely failed delete does not excuse a missing key.
    v = run([up(1, [1], 0, 1), dele(2, [1], 2, 3, "fail", definite=True)], {1: None})
    assert v.lost == 1


def test_indefinite_failure_never_makes_a_key_lost_or_resurrected():
    # Acked delete, then a failed (5xx) upsert: present with its value is fine, absent is fine.
    ops = [up(1, [1], 0, 1), dele(2, [1], 2, 3), up(3, [1], 4, 5, "fail", status=500)]
    assert run(ops, {1: V(3)}).ok
    assert run(ops, {1: None}).ok
    assert run(ops, {1: V(1)}).resurrected == 1


def test_unknown_value_is_lost():
    v = run([up(1, [1], 0, 1)], {1: V(999)})
    assert v.lost == 1


def test_multi_key_write_per_key():
    ops = [up(1, [1, 2], 0, 1), dele(2, [2], 2, 3)]
    assert run(ops, {1: V(1), 2: None}, keys=(1, 2)).ok
    v = run(ops, {1: V(1), 2: V(1)}, keys=(1, 2))
    assert v.resurrected == 1


# ---------------------------------------------------------------------------------- payload field
def test_payload_update_acknowledged_must_survive():
    ops = [up(1, [1], 0, 1), setp(2, [1], 2, 3)]
    assert run(ops, {1: V(1, 2)}).ok
    v = run(ops, {1: V(1, None)})
    assert v.lost == 1, v.evidence


def test_payload_update_before_upsert_is_cleared():
    ops = [up(1, [1], 0, 1), setp(2, [1], 2, 3), up(3, [1], 4, 5)]
    assert run(ops, {1: V(3)}).ok
    v = run(ops, {1: V(3, 2)})
    assert v.lost == 1, v.evidence


def test_payload_update_unknown_or_concurrent_is_acceptable():
    ops = [up(1, [1], 0, 1), setp(2, [1], 2, 3), setp(3, [1], 4, 14, "unknown")]
    assert run(ops, {1: V(1, 2)}).ok
    assert run(ops, {1: V(1, 3)}).ok
    assert run(ops, {1: V(1, None)}).lost == 1
    # Two concurrent acknowledged payload updates: either.
    ops = [up(1, [1], 0, 1), setp(2, [1], 2, 4), setp(3, [1], 3, 5)]
    assert run(ops, {1: V(1, 2)}).ok and run(ops, {1: V(1, 3)}).ok
    # An older one after a newer acknowledged one: lost update.
    ops = [up(1, [1], 0, 1), setp(2, [1], 2, 3), setp(3, [1], 4, 5)]
    assert run(ops, {1: V(1, 2)}).lost == 1


def test_payload_update_by_filter_covers_group_keys():
    f = op("set_payload_filter", [1, 5], 2, 3, id=2)
    ops = [up(1, [1, 5], 0, 1), f]
    assert run(ops, {1: V(1, 2), 5: V(1, 2)}, keys=(1, 5)).ok
    assert run(ops, {1: V(1, 2), 5: V(1, None)}, keys=(1, 5)).lost == 1
    # A key deleted before the filter update and upserted again after: no p.
    ops = [up(1, [1], 0, 1), dele(3, [1], 1.5, 1.8), f, up(4, [1], 4, 5)]
    assert run(ops, {1: V(4)}, keys=(1,)).ok


def test_payload_update_of_an_unknown_upsert_is_not_required():
    # The upsert is unknown: an acknowledged payload update may have preceded it.
    ops = [up(1, [1], 0, 9, "unknown"), setp(2, [1], 2, 3)]
    assert run(ops, {1: V(1, None)}).ok
    assert run(ops, {1: V(1, 2)}).ok


# ---------------------------------------------------------------------------------- reads
def test_stale_read_older_value():
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 3), read({1: V(1)}, 4, 5)]
    v = run(ops, {1: V(2)})
    assert v.stale == 1 and v.lost == 0, v.evidence
    assert "STALE" in v.evidence[0]


def test_read_concurrent_with_write_may_see_either():
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 5), read({1: V(1)}, 3, 4), read({1: V(2)}, 3, 4)]
    assert run(ops, {1: V(2)}).ok


def test_read_started_before_ack_is_not_stale():
    # The read began before the write was acknowledged (though it ended after): either value.
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 3), read({1: V(1)}, 2.5, 4)]
    assert run(ops, {1: V(2)}).ok


def test_stale_read_missing_key_and_resurrected_at_read():
    ops = [up(1, [1], 0, 1), read({1: None}, 2, 3)]
    assert run(ops, {1: V(1)}).stale == 1
    ops = [up(1, [1], 0, 1), dele(2, [1], 2, 3), read({1: V(1)}, 4, 5)]
    assert run(ops, {1: None}).stale == 1


def test_read_from_the_future_is_stale():
    ops = [up(1, [1], 0, 1), read({1: V(2)}, 2, 3), up(2, [1], 4, 5)]
    assert run(ops, {1: V(2)}).stale == 1


def test_read_sees_unknown_write_is_fine():
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 12, "unknown"), read({1: V(2)}, 3, 4), read({1: V(1)}, 5, 6)]
    assert run(ops, {1: V(2)}).ok


def test_majority_reads_checked_and_default_not():
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 3), read({1: V(1)}, 4, 5, consistency="majority")]
    assert run(ops, {1: V(2)}).stale == 1
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 3), read({1: V(1)}, 4, 5, consistency=None)]
    assert run(ops, {1: V(2)}).ok


def test_failed_or_unknown_reads_are_not_checked():
    ops = [up(1, [1], 0, 1), up(2, [1], 2, 3), read({1: V(1)}, 4, 5, outcome="fail"),
           read({1: V(1)}, 4, 5, outcome="unknown")]
    assert run(ops, {1: V(2)}).ok


def test_stale_payload_in_read():
    ops = [up(1, [1], 0, 1), setp(2, [1], 2, 3), read({1: V(1, None)}, 4, 5)]
    assert run(ops, {1: V(1, 2)}).stale == 1
    ops = [up(1, [1], 0, 1), setp(2, [1], 2, 3), read({1: V(1, None)}, 2.5, 5)]
    assert run(ops, {1: V(1, 2)}).ok


def test_scroll_phantom():
    sc = op("scroll", [], 2, 3, value={1: V(77)})
    v = run([up(1, [1], 0, 1), sc], {1: V(1)})
    assert v.stale == 1
    sc = op("scroll", [], 2, 3, value={1: V(1)})
    assert run([up(1, [1], 0, 1), sc], {1: V(1)}).ok


# ---------------------------------------------------------------------------------- hangs, other
def test_hung_requests():
    ops = [up(1, [1], 0, 16, "unknown", timeout=10), up(2, [1], 0, 14.9, "unknown", timeout=10)]
    v = run(ops, {1: V(1)})
    assert v.hung == 1, v.evidence
    v = run([up(1, [1], 0, None, None)], {1: V(1)}, now=30)
    assert v.hung == 1 and "never completed" in v.evidence[0]


def test_diverged_and_errors_fail_the_verdict():
    v = run([], {1: None}, diverged=2, diverged_detail=["shard 0 digests differ"])
    assert v.diverged == 2 and not v.ok
    v = run([], {1: None}, errors=["peer 1 did not come back"])
    assert not v.ok and v.lost == 0


def test_counts_line():
    v = run([up(1, [1], 0, 1)], {1: None})
    assert v.counts() == "lost=1 resurrected=0 stale=0 diverged=0 hung=0"


@pytest.mark.parametrize("seed", [1, 2, 3, 42])
def test_schedule_generation_is_deterministic(seed):
    from schedules import generate

    a, b = generate(seed), generate(seed)
    assert a.to_json() == b.to_json()
    assert 3 <= a.peers <= 5 and 2 <= a.rf <= 3 and a.max_down <= a.rf - 1
    assert 2 <= len(a.faults) <= 4


# ---------------------------------------------------------------------------------- post-mortem
def _mp(v) -> bytes:
    """A minimal MessagePack encoder (maps, lists, str, small ints, None) for synthetic WALs."""
    import struct

    if v is None:
        return b"\xc0"
    if isinstance(v, int):
        return bytes([v]) if 0 <= v < 128 else b"\xcd" + struct.pack(">H", v)
    if isinstance(v, str):
        b = v.encode()
        return bytes([0xA0 | len(b)]) + b
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(_mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(_mp(k) + _mp(x) for k, x in v.items())
    raise TypeError(v)


def _wal(tmp_path, records):
    import struct

    d = tmp_path / "peer0-storage" / "collections" / "chaos" / "0" / "wal"
    d.mkdir(parents=True)
    data = b"QWAL" + struct.pack("<IQ", 1, 1)
    for seq, op in records:
        payload = b"\x01" + _mp({"op": op})
        data += struct.pack("<IIQ", len(payload), 0, seq) + payload
    (d / "wal-00000000000000000001.log").write_bytes(data)


def _up_op(v, ids):
    return {"Upsert": {"points": [{"id": i, "payload": {"v": v, "g": i % 4}} for i in ids], "mode": "upsert"}}


def test_postmortem_finds_a_write_ordered_again_after_its_ack(tmp_path):
    from postmortem import report

    _wal(tmp_path, [(1, _up_op(10, [1])), (2, _up_op(11, [2])), (3, _up_op(12, [1])), (4, _up_op(13, [3])),
                    (5, {"Delete": {"selector": {"Ids": [3]}}}), (6, _up_op(10, [1])),
                    (7, {"Delete": {"selector": {"Ids": [2]}}})])
    ops = {10: up(10, [1], 0, 1), 11: up(11, [2], 0.5, 1.5), 12: up(12, [1], 2, 3), 13: up(13, [3], 2, 3),
           14: dele(14, [3], 2.5, 3.5), 15: dele(15, [2], 0.2, 0.4)}
    text = "\n".join(report(tmp_path, {12}, ops, shards=1))
    assert "ordered more than once: upsert op#10" in text and "seqs [1, 6]" in text, text
    assert "ORDERED AFTER ITS ACKNOWLEDGEMENT: seq 6 upsert op#10" in text, text
    # A delete is matched by its keys: op#15 (acknowledged at 0.4) ordered at seq 7, after op#14.
    assert "seq 7 delete {'Ids': [2]} = op#15" in text, text
    assert "seq 5" not in text, text
    # A retry before the acknowledgement is not flagged.
    ops[10] = up(10, [1], 0, 10)
    ops[15] = dele(15, [2], 0.2, 10)
    assert "ORDERED AFTER" not in "\n".join(report(tmp_path, None, ops, shards=1))
