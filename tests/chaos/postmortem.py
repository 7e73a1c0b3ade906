"""Post-mortem helpers for a failed schedule: read the shards' WALs from the copied storage and
say where the operations of the history were ordered.

Best effort, tied to today's on-disk format (crates/storage/src/wal/segment.rs: a segment is
``QWAL`` + version u32 + first seq u64, then records ``[len u32][crc32 u32][seq u64][payload]``;
crates/shard/src/shard.rs: payload = version byte + MessagePack ``{op: UpdateOperation}``). If the
format changes, the runner notes that the WAL could not be decoded and carries on.

    .venv/bin/python tests/chaos/postmortem.py target/chaos/<seed>      # print the WAL report
"""

from __future__ import annotations

import struct
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


# ---------------------------------------------------------------------------------- MessagePack
def _unpack(b: bytes, i: int) -> tuple[Any, int]:
    t = b[i]
    if t <= 0x7F:
        return t, i + 1
    if 0x80 <= t <= 0x8F:
        return _map(b, i + 1, t & 0x0F)
    if 0x90 <= t <= 0x9F:
        return _arr(b, i + 1, t & 0x0F)
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i + 1:i + 1 + n].decode("utf-8", "replace"), i + 1 + n
    if t >= 0xE0:
        return t - 256, i + 1
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if t in simple:
        return simple[t], i + 1
    fixed = {0xCA: (">f", 4), 0xCB: (">d", 8), 0xCC: (">B", 1), 0xCD: (">H", 2), 0xCE: (">I", 4),
             0xCF: (">Q", 8), 0xD0: (">b", 1), 0xD1: (">h", 2), 0xD2: (">i", 4), 0xD3: (">q", 8)}
    if t in fixed:
        fmt, n = fixed[t]
        return struct.unpack(fmt, b[i + 1:i + 1 + n])[0], i + 1 + n
    lens = {0xD9: (">B", 1, "s"), 0xDA: (">H", 2, "s"), 0xDB: (">I", 4, "s"), 0xC4: (">B", 1, "b"),
            0xC5: (">H", 2, "b"), 0xC6: (">I", 4, "b"), 0xDC: (">H", 2, "a"), 0xDD: (">I", 4, "a"),
            0xDE: (">H", 2, "m"), 0xDF: (">I", 4, "m")}
    if t in lens:
        fmt, w, kind = lens[t]
        n = struct.unpack(fmt, b[i + 1:i + 1 + w])[0]
        j = i + 1 + w
        if kind == "s":
            return b[j:j + n].decode("utf-8", "replace"), j + n
        if kind == "b":
            return b[j:j + n], j + n
        return _arr(b, j, n) if kind == "a" else _map(b, j, n)
    raise ValueError(f"unsupported MessagePack type 0x{t:02x}")


def _arr(b: bytes, i: int, n: int) -> tuple[list, int]:
    out = []
    for _ in range(n):
        v, i = _unpack(b, i)
        out.append(v)
    return out, i


def _map(b: bytes, i: int, n: int) -> tuple[dict, int]:
    out = {}
    for _ in range(n):
        k, i = _unpack(b, i)
        v, i = _unpack(b, i)
        out[k if isinstance(k, (str, int)) else repr(k)] = v
    return out, i


# ---------------------------------------------------------------------------------- WAL
def read_wal(wal_dir: Path) -> list[tuple[int, Any]]:
    """[(seq, operation)] of every complete record in the segments of `wal_dir`."""
    out: list[tuple[int, Any]] = []
    for seg in sorted(wal_dir.glob("wal-*.log")):
        data = seg.read_bytes()
        if data[:4] != b"QWAL":
            raise ValueError(f"{seg}: not a WAL segment")
        i = 16
        while i + 16 <= len(data):
            ln, _crc, seq = struct.unpack_from("<IIQ", data, i)
            if ln == 0 or i + 16 + ln > len(data):
                break
            payload = data[i + 16:i + 16 + ln]
            i += 16 + ln
            rec, _ = _unpack(payload, 1)
            out.append((seq, rec.get("op") if isinstance(rec, dict) else rec))
    return out


def op_label(op: Any) -> tuple[int | None, str]:
    """(history operation id or None, short label) of a WAL operation."""
    if not isinstance(op, dict) or len(op) != 1:
        return None, str(op)[:80]
    (kind, body), = op.items()
    if kind == "Upsert":
        pts = body.get("points", [])
        v = (pts[0].get("payload") or {}).get("v") if pts else None
        return (v if isinstance(v, int) else None), f"upsert op#{v} ids={[p.get('id') for p in pts]}"
    if kind == "SetPayload":
        p = (body.get("payload") or {}).get("p")
        return (p if isinstance(p, int) else None), f"set_payload op#{p} {body.get('selector')}"
    if kind == "Delete":
        return None, f"delete {body.get('selector')}"
    return None, kind


def _delete_ids(op: Any) -> list[int] | None:
    if isinstance(op, dict) and len(op) == 1 and "Delete" in op:
        sel = (op["Delete"] or {}).get("selector") or {}
        ids = sel.get("Ids") if isinstance(sel, dict) else None
        if isinstance(ids, list):
            return sorted(i for i in ids if isinstance(i, int))
    return None


def _shards_of(artifacts: Path) -> int | None:
    import json

    try:
        return int(json.loads((artifacts / "schedule.json").read_text())["schedule"]["shards"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def report(artifacts: Path, interesting: set[int] | None = None, ops: dict[int, Any] | None = None,
           t0: float = 0.0, shards: int | None = None) -> list[str]:
    """Lines describing each shard's WAL (from the copied `peer*-storage` dirs): operations
    ordered more than once, where the `interesting` operations were ordered, and — with `ops`
    (history operation id → `history.Op`) — every record **ordered after its operation was
    acknowledged**: a record at a higher seq than the record of an operation invoked after that
    acknowledgement. Replicas apply records in seq order, so such a record takes effect after
    writes that started after its acknowledgement (a lost update or an undone delete).

    Upserts and payload updates name their operation (`v` / `p`); a delete record is matched to
    the history's deletes with the same keys in that shard (all candidates must qualify)."""
    from hashring import shard_of

    lines: list[str] = []
    shards = shards or _shards_of(artifacts)
    ops = ops or {}
    per_shard: dict[str, dict[str, list[tuple[int, Any]]]] = defaultdict(dict)
    for storage in sorted(artifacts.glob("peer*-storage")):
        peer = storage.name.removesuffix("-storage")
        for wal in sorted((storage / "collections").glob("*/*/wal")):
            per_shard[f"{wal.parent.parent.name}/{wal.parent.name}"][peer] = read_wal(wal)
    deletes = [o for o in ops.values() if o.f == "delete"]
    for shard, peers in sorted(per_shard.items()):
        shard_id = int(shard.rsplit("/", 1)[1]) if shard.rsplit("/", 1)[1].isdigit() else None
        distinct: dict[tuple, list[str]] = defaultdict(list)
        by_key: dict[tuple, list[tuple[int, Any]]] = {}
        for peer, recs in peers.items():
            key = tuple((s, op_label(o)[1]) for s, o in recs)
            distinct[key].append(peer)
            by_key[key] = recs
        for key, holders in distinct.items():
            recs = by_key[key]
            seqs_of: dict[int, list[int]] = defaultdict(list)
            label: dict[int, str] = {}
            lines.append(f"shard {shard} WAL on {', '.join(holders)}: seqs "
                         f"{recs[0][0] if recs else None}..{recs[-1][0] if recs else None}")
            latest: Any = None  # the operation with the latest invocation among lower seqs
            flagged = 0
            for seq, op in recs:
                oid, lab = op_label(op)
                cands: list[Any] = []
                if oid is not None:
                    seqs_of[oid].append(seq)
                    label[oid] = lab
                    if oid in ops:
                        cands = [ops[oid]]
                else:
                    ids = _delete_ids(op)
                    if ids is not None and shards and shard_id is not None:
                        cands = [d for d in deletes
                                 if sorted(k for k in d.keys if shard_of(k, shards) == shard_id) == ids]
                        lab += " = " + ("|".join(f"op#{d.id}" for d in cands) if cands else "no history delete")
                if (cands and latest is not None and flagged < 20
                        and all(c.outcome == "ok" and c.complete is not None and c.complete < latest.invoke
                                for c in cands)):
                    flagged += 1
                    c = max(cands, key=lambda x: x.complete)
                    lines.append(f"  ORDERED AFTER ITS ACKNOWLEDGEMENT: seq {seq} {lab[:90]} (acknowledged at "
                                 f"{c.complete - t0:.3f}s) follows the record of op#{latest.id} {latest.f}, "
                                 f"invoked at {latest.invoke - t0:.3f}s")
                for c in cands:
                    if len(cands) == 1 and (latest is None or c.invoke > latest.invoke):
                        latest = c
            for oid, seqs in sorted(seqs_of.items()):
                if len(seqs) > 1 and max(seqs) - min(seqs) > len(seqs) + 2:
                    lines.append(f"  ordered more than once: {label[oid]} at seqs {seqs}")
            for oid in sorted(interesting or ()):
                if oid in seqs_of:
                    lines.append(f"  {label[oid]} at seqs {seqs_of[oid]}")
    return lines


def ops_from_history(path: Path) -> dict[int, Any]:
    """Operations (id → `history.Op`, times relative to the start) from a history.jsonl."""
    import json

    from history import Op

    ops: dict[int, Any] = {}
    for line in path.read_text().splitlines():
        ev = json.loads(line)
        oid = ev.get("op")
        if oid is None:
            continue
        if ev["type"] == "invoke":
            ops[oid] = Op(id=oid, process=ev.get("process", ""), f=ev.get("f", ""), keys=ev.get("keys", []),
                          invoke=ev["time"], url=ev.get("url", ""))
        elif oid in ops:
            ops[oid].complete, ops[oid].outcome = ev["time"], ev["type"]
    return ops


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        hist = Path(arg) / "history.jsonl"
        print("\n".join(report(Path(arg), None, ops_from_history(hist) if hist.exists() else None)))
