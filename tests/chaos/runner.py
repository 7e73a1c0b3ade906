"""Chaos runner: randomized fault schedules on real quiver processes, checked like Jepsen.

    .venv/bin/python tests/chaos/runner.py --seed S --schedules N     (bash scripts/chaos.sh ...)
    .venv/bin/python tests/chaos/runner.py --regressions              (replay tests/chaos/regressions.txt)
    .venv/bin/python tests/chaos/runner.py --short                    (CI: regressions + 6 schedules)

Schedule i uses seed S + i. Per schedule one line on stdout:

    seed=S faults=… ops=… ok=… unknown=… lost=0 resurrected=0 stale=0 diverged=0 hung=0 verdict=ok

and at the end a summary line of the same form. Progress and evidence go to stderr (lines
starting with ``#``). A failing schedule writes ``target/chaos/<seed>/`` (history.jsonl,
schedule.json, verdict.txt, each peer's quiver.log) and its seed is appended to
``tests/chaos/regressions.txt``. Exit status 1 if any schedule failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO / "tests" / "python"))

import requests  # noqa: E402

from checker import HANG_GRACE, Verdict, check  # noqa: E402
from cluster_harness import Cluster  # noqa: E402
from history import History, Op  # noqa: E402
from nemesis import Nemesis  # noqa: E402
from schedules import Schedule, generate  # noqa: E402
from workload import Targets, Workload, read_state  # noqa: E402

COLLECTION = "chaos"
CLIENT_TIMEOUT = 10.0
CONVERGE_SECONDS = 60.0
ARTIFACTS = REPO / "target" / "chaos"
REGRESSIONS = HERE / "regressions.txt"
SHORT_SCHEDULES = 6
STORAGE_COPY_LIMIT = 256 * 1024 * 1024


def err(msg: str) -> None:
    for line in str(msg).splitlines() or [""]:
        print(f"# {line}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- cluster views
def _view(url: str) -> dict:
    r = requests.get(f"{url}/collections/{COLLECTION}/cluster", timeout=3)
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code} {r.text[:200]}")
    info = r.json()["result"]
    states: dict[int, dict[int, str]] = {}
    for s in info["local_shards"]:
        states.setdefault(s["shard_id"], {})[info["peer_id"]] = s["state"]
    for s in info["remote_shards"]:
        states.setdefault(s["shard_id"], {})[s["peer_id"]] = s["state"]
    return {"states": states, "transfers": info.get("shard_transfers", [])}


def _digest(url: str, shard: int) -> dict:
    r = requests.get(f"{url}/collections/{COLLECTION}/shards/{shard}/digest", timeout=3)
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code} {r.text[:200]}")
    return r.json()["result"]


def converge(cluster: Cluster, timeout: float) -> tuple[int, list[str], float, dict]:
    """Waits until every peer sees the same replica set, all Active, no transfer, and each
    shard's replicas have equal digests and point counts. Returns (diverged shards, problems,
    seconds it took, {shard: {peer id: (digest, points, last_seq)}})."""
    t = time.monotonic()
    deadline = t + timeout
    while True:
        snapshot: dict[int, dict] = {}
        problems: dict[Any, list[str]] = {}
        views: dict[int, dict] = {}
        for p in cluster.peers:
            try:
                views[p.peer_id] = _view(p.url)
            except Exception as e:  # noqa: BLE001
                problems.setdefault("peers", []).append(f"peer {p.index} (id {p.peer_id}) cluster info: {e}")
        ref = next(iter(views.values()), None)
        if ref is not None:
            for pid, v in views.items():
                if v["states"] != ref["states"]:
                    problems.setdefault("peers", []).append(f"peer id {pid} sees {v['states']}, another sees "
                                                            f"{ref['states']}")
                if v["transfers"]:
                    problems.setdefault("transfers", []).append(f"peer id {pid} lists transfers {v['transfers']}")
            by_id = {p.peer_id: p for p in cluster.peers}
            for sid, reps in sorted(ref["states"].items()):
                if not reps:
                    problems.setdefault(sid, []).append(f"shard {sid} has no replica")
                bad = {pid: st for pid, st in reps.items() if st != "Active"}
                if bad:
                    problems.setdefault(sid, []).append(f"shard {sid} replicas not Active: {bad}")
                    continue
                digests = {}
                for pid in reps:
                    try:
                        d = _digest(by_id[pid].url, sid)
                        digests[pid] = (d["digest"], d["points_count"], d.get("last_seq"))
                    except Exception as e:  # noqa: BLE001
                        problems.setdefault(sid, []).append(f"shard {sid} digest on peer id {pid}: {e}")
                if len({(d[0], d[1]) for d in digests.values()}) > 1:
                    problems.setdefault(sid, []).append(f"shard {sid} digests differ: {digests}")
                snapshot[sid] = digests
        else:
            problems.setdefault("peers", []).append("no peer answered")
        if not problems:
            return 0, [], time.monotonic() - t, snapshot
        if time.monotonic() >= deadline:
            shards = [k for k in problems if isinstance(k, int)]
            return (max(1, len(shards)), [m for ms in problems.values() for m in ms], time.monotonic() - t,
                    snapshot)
        time.sleep(0.5)


def settle(cluster: Cluster, history: History, keys: list[int], timeout: float
           ) -> tuple[int, list[str], float, dict | None]:
    """Converged and quiet: replicas converged, every peer reads the same final state, and the
    digests (with last sequence numbers) did not change meanwhile. A write the client gave up on
    may still be applied by the server after the load stopped (it waits for a lost reply up to
    the p2p call timeout), so a snapshot that changes under the reads is taken again.
    Returns (diverged, problems, seconds, final state)."""
    t = time.monotonic()
    deadline = t + timeout
    while True:
        div, problems, _, snap1 = converge(cluster, max(0.0, deadline - time.monotonic()))
        if div:
            return div, problems, time.monotonic() - t, None
        final, read_problems = final_state(cluster, history, keys)
        div2, problems2, _, snap2 = converge(cluster, 0.0)
        if final is not None and not read_problems and not div2 and snap1 == snap2:
            return 0, [], time.monotonic() - t, final
        if time.monotonic() >= deadline:
            why = read_problems + problems2 + ([f"digests changed during the final reads: {snap1} -> {snap2}"]
                                               if snap1 != snap2 else [])
            n = 1 + sum(1 for m in read_problems if m.startswith("final reads disagree"))
            return n, why, time.monotonic() - t, final
        time.sleep(1.0)


def final_state(cluster: Cluster, history: History, keys: list[int]) -> tuple[dict | None, list[str]]:
    """Reads every key through every peer (consistency=all, retried for 5 s). Returns the first
    answer and the problems (peers that disagree: evidence of divergence)."""
    answers: dict[int, dict] = {}
    problems: list[str] = []
    for p in cluster.peers:
        deadline = time.monotonic() + 5
        last = ""
        while time.monotonic() < deadline:
            op = Op(id=history.next_id(), process="final", f="final_read", keys=keys, url=p.url,
                    consistency="all")
            history.invoke(op)
            try:
                state = read_state(p.url, COLLECTION, keys, "all", timeout=CLIENT_TIMEOUT)
                history.complete(op, "ok", status=200, value=state)
                answers[p.index] = state
                break
            except Exception as e:  # noqa: BLE001
                last = str(e)[:300]
                history.complete(op, "fail", error=last)
                time.sleep(0.5)
        else:
            problems.append(f"final read through peer {p.index} failed for 5 s: {last}")
    if not answers:
        return None, problems
    first_idx, first = next(iter(answers.items()))
    for idx, st in answers.items():
        diff = [k for k in keys if st.get(k) != first.get(k)]
        if diff:
            problems.append(f"final reads disagree: peer {first_idx} vs peer {idx} on keys {diff[:10]}: "
                            + ", ".join(f"{k}: {first.get(k)} / {st.get(k)}" for k in diff[:5]))
    return first, problems


# ---------------------------------------------------------------------------------- one schedule
def line_for(seed: Any, faults: str, ops: int, ok: int, unknown: int, v: Verdict) -> str:
    return (f"seed={seed} faults={faults or '-'} ops={ops} ok={ok} unknown={unknown} {v.counts()} "
            f"verdict={'ok' if v.ok else 'fail'}")


def run_schedule(seed: int, keep: bool = False) -> tuple[str, Verdict, dict]:
    sched: Schedule = generate(seed)
    err(f"seed={seed}: {sched.peers} peers, rf {sched.rf}, {sched.shards} shards, {sched.keys} keys, "
        f"{sched.threads} clients, load {sched.load_seconds}s, faults "
        + ", ".join(f"{f.kind}@{f.at}s/{f.duration}s" for f in sched.faults))
    t_begin = time.monotonic()
    history = History()
    errors: list[str] = []
    notes: list[str] = []
    div, div_detail, conv_secs = 0, [], 0.0
    final: dict | None = None
    nemesis: Nemesis | None = None
    workload: Workload | None = None
    cluster = Cluster(sched.peers, start=False, keep_dirs=False)
    keys = list(range(1, sched.keys + 1))
    ops: list[Op] = []
    now = time.monotonic()
    try:
        cluster.start()
        p0 = cluster.peer(0)
        body = {"vectors": {"size": 4, "distance": "Dot"}, "shard_number": sched.shards,
                "replication_factor": sched.rf}
        r = p0.put(f"/collections/{COLLECTION}", json=body)
        if r.status_code != 200:
            raise RuntimeError(f"create collection: HTTP {r.status_code} {r.text[:300]}")
        n_replicas = sched.shards * sched.rf

        def all_active() -> bool:
            for p in cluster.peers:
                st = _view(p.url)["states"]
                reps = [s for shard in st.values() for s in shard.values()]
                if len(reps) != n_replicas or any(s != "Active" for s in reps):
                    return False
            return True

        cluster.wait_until(all_active, timeout=30, desc="collection replicas Active everywhere")
        targets = Targets({p.index: p.url for p in cluster.peers})
        workload = Workload(COLLECTION, targets, history, seed=seed, keys=sched.keys,
                            threads=sched.threads, timeout=CLIENT_TIMEOUT)
        nemesis = Nemesis(cluster, COLLECTION, sched, targets, history, err)
        history.set_start()
        t_start = history.t0
        workload.start()
        nemesis.start(t_start)
        time.sleep(max(0.0, t_start + sched.load_seconds - time.monotonic()))
        if not nemesis.join(timeout=180):
            errors.append("nemesis: fault threads still running 180 s after the load's planned end")
            nemesis.abort()
        # Some load after the last fault, then stop it.
        time.sleep(max(0.0, nemesis.last_fault_end + 2.0 - time.monotonic()))
        stuck = workload.stop(join_timeout=CLIENT_TIMEOUT + HANG_GRACE + 2.0)
        if stuck:
            notes.append(f"client threads still running at the end: {stuck}")
        now = time.monotonic()
        ops = [o for o in history.snapshot() if o.f != "final_read"]
        nemesis.heal()
        err(f"seed={seed}: load stopped at {now - t_start:.1f}s; healed; waiting for convergence")
        div, div_detail, conv_secs, final = settle(cluster, history, keys, CONVERGE_SECONDS)
        err(f"seed={seed}: convergence {'ok' if not div else 'FAILED'} after {conv_secs:.1f}s")
        if final is None and not div:
            errors.append("final state could not be read")
        if final is None and div:
            # Diverged: still check what one peer answers, marked as such in the evidence.
            final, _ = final_state(cluster, history, keys)
        errors += nemesis.errors
        notes += nemesis.notes
        for p in cluster.peers:
            if p.exited_unexpectedly():
                errors.append(f"peer {p.index} (id {p.peer_id}) exited unexpectedly, rc {p.proc.returncode}\n"
                              f"--- log tail ---\n{p.log_tail(40)}")
    except Exception as e:  # noqa: BLE001
        errors.append(f"harness: {type(e).__name__}: {e}\n{traceback.format_exc()}")
        if nemesis is not None:
            nemesis.abort()
            errors += nemesis.errors
        if workload is not None:
            workload.stop(join_timeout=CLIENT_TIMEOUT + HANG_GRACE + 2.0)
        ops = [o for o in history.snapshot() if o.f != "final_read"]
        now = time.monotonic()
    v = check(ops, final, keys, diverged=div, diverged_detail=div_detail, errors=errors,
              t0=history.t0, now=now)
    faults = ",".join(nemesis.fault_names() if nemesis else sched.fault_names())
    n_ok = sum(1 for o in ops if o.outcome == "ok")
    n_unknown = sum(1 for o in ops if o.outcome in ("unknown", None))
    line = line_for(seed, faults, len(ops), n_ok, n_unknown, v)
    stats = {"ops": len(ops), "ok": n_ok, "unknown": n_unknown, "faults": len(sched.faults),
             "seconds": time.monotonic() - t_begin, "converge_seconds": conv_secs}
    if not v.ok or keep:
        for p in cluster.peers:  # stop them first: a consistent copy of their storage
            p.kill()
        try:
            write_artifacts(seed, sched, nemesis, history, cluster, line, v, notes, stats)
        except Exception as e:  # noqa: BLE001
            err(f"could not write artifacts: {e}")
    if not v.ok:
        for m in v.errors:
            err("ERROR " + m)
        for m in v.evidence[:30]:
            err(m)
        if len(v.evidence) > 30:
            err(f"… {len(v.evidence) - 30} more in {ARTIFACTS / str(seed) / 'verdict.txt'}")
    cluster.close()
    stats["seconds"] = time.monotonic() - t_begin
    err(f"seed={seed}: took {stats['seconds']:.1f}s")
    return line, v, stats


def write_artifacts(seed: int, sched: Schedule, nemesis: Nemesis | None, history: History,
                    cluster: Cluster, line: str, v: Verdict, notes: list[str], stats: dict) -> None:
    d = ARTIFACTS / str(seed)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    history.write_jsonl(d / "history.jsonl")
    info = {
        "schedule": sched.to_json(),
        "executed": nemesis.executed if nemesis else [],
        "peers": [{"index": p.index, "peer_id": p.peer_id, "url": p.url, "uri": p.uri,
                   "workdir": str(p.workdir)} for p in cluster.peers],
        "stats": stats,
        "binary": binary_info(),
    }
    (d / "schedule.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    with open(d / "verdict.txt", "w") as fh:
        fh.write(line + "\n\n")
        fh.write(f"times below are seconds after the load started at {history.wall(history.t0)} UTC "
                 f"(the peers' logs are in UTC)\n\n")
        if v.errors:
            fh.write("errors:\n" + "\n".join(v.errors) + "\n\n")
        fh.write("evidence:\n" + ("\n".join(v.evidence) if v.evidence else "(none)") + "\n\n")
        if notes:
            fh.write("notes:\n" + "\n".join(notes) + "\n\n")
        try:
            import re

            from hashring import shard_of

            keys = sorted({int(k) for e in v.evidence for k in re.findall(r"key (\d+)", e)})
            if keys:
                fh.write("shards of the keys above: "
                         + ", ".join(f"{k}→{shard_of(k, sched.shards)}" for k in keys) + "\n")
        except Exception as e:  # noqa: BLE001
            fh.write(f"(key → shard not computed: {e})\n")
    for p in cluster.peers:
        if p.log_path.exists():
            shutil.copy(p.log_path, d / f"peer{p.index}-{p.peer_id}.quiver.log")
    # The peers' storage (WAL, checkpoints, Raft log) for a post-mortem, when small enough.
    size = sum(f.stat().st_size for p in cluster.peers for f in p.storage.rglob("*") if f.is_file())
    if size <= STORAGE_COPY_LIMIT:
        for p in cluster.peers:
            if p.storage.exists():
                shutil.copytree(p.storage, d / f"peer{p.index}-storage", ignore_dangling_symlinks=True,
                                dirs_exist_ok=True)
        try:
            import re

            import postmortem

            named = {int(m) for e in v.evidence for m in re.findall(r"op#(\d+)", e)}
            wal = postmortem.report(d, named, {o.id: o for o in history.snapshot()}, history.t0, sched.shards)
            with open(d / "verdict.txt", "a") as fh:
                fh.write("\nWAL of each shard (copied storage; see tests/chaos/postmortem.py):\n"
                         + "\n".join(wal) + "\n")
            for line in [w for w in wal if "ORDERED AFTER" in w][:10]:
                err("WAL " + line.strip())
        except Exception as e:  # noqa: BLE001 - best effort
            with open(d / "verdict.txt", "a") as fh:
                fh.write(f"\nWAL not decoded: {type(e).__name__}: {e}\n")
    else:
        (d / "storage-not-copied.txt").write_text(f"peers' storage is {size} bytes (limit {STORAGE_COPY_LIMIT})\n")


def binary_info() -> dict:
    import hashlib
    import subprocess

    from quiver_server import quiver_bin

    b = quiver_bin()
    info: dict[str, Any] = {"path": str(b)}
    try:
        st = b.stat()
        info["mtime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime))
        info["size"] = st.st_size
        h = hashlib.sha256()
        with open(b, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        info["sha256"] = h.hexdigest()
    except OSError as e:
        info["error"] = str(e)
    try:
        info["git_head"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                          text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates"], cwd=REPO, capture_output=True,
                               text=True, timeout=5).stdout
        info["crates_dirty"] = bool(dirty.strip())
    except Exception as e:  # noqa: BLE001
        info["git_error"] = str(e)
    return info


# ---------------------------------------------------------------------------------- CLI
def read_regressions() -> list[int]:
    if not REGRESSIONS.exists():
        return []
    out = []
    for raw in REGRESSIONS.read_text().splitlines():
        s = raw.split("#", 1)[0].strip()
        if s:
            out.append(int(s.split()[0]))
    return out


def record_regression(seed: int, line: str) -> None:
    if seed in read_regressions():
        return
    with open(REGRESSIONS, "a") as fh:
        fh.write(f"{seed}  # {time.strftime('%Y-%m-%d')}: {line}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=None, help="first schedule's seed (default: 1 with --short, "
                                                           "else time-based)")
    ap.add_argument("--schedules", type=int, default=None, help="number of schedules (seeds S, S+1, ...)")
    ap.add_argument("--short", action="store_true", help=f"CI mode: the regressions, then {SHORT_SCHEDULES} "
                                                         "schedules")
    ap.add_argument("--regressions", action="store_true", help="replay the seeds of tests/chaos/regressions.txt")
    ap.add_argument("--keep", action="store_true", help="write artifacts for passing schedules too")
    ap.add_argument("--no-record", action="store_true", help="do not append failing seeds to regressions.txt")
    a = ap.parse_args(argv)

    seeds: list[int] = []
    if a.regressions or a.short:
        seeds += read_regressions()
    if a.short or a.seed is not None or a.schedules is not None or not a.regressions:
        first = a.seed if a.seed is not None else (1 if a.short else int(time.time()) % 1_000_000)
        n = a.schedules if a.schedules is not None else (SHORT_SCHEDULES if a.short else 1)
        seeds += [s for s in range(first, first + n) if s not in seeds]
    err(f"quiver chaos: {len(seeds)} schedule(s): seeds {seeds[:20]}{' …' if len(seeds) > 20 else ''}")

    t0 = time.monotonic()
    total = Verdict()
    failed: list[int] = []
    n_ops = n_ok = n_unknown = n_faults = 0
    for seed in seeds:
        try:
            line, v, st = run_schedule(seed, keep=a.keep)
        except KeyboardInterrupt:
            from quiver_server import ALL_SERVERS

            for srv in list(ALL_SERVERS):  # no quiver process outlives the runner
                try:
                    srv.kill()
                except Exception:  # noqa: BLE001
                    pass
            err("interrupted")
            return 130
        print(line, flush=True)
        n_ops += st["ops"]
        n_ok += st["ok"]
        n_unknown += st["unknown"]
        n_faults += st["faults"]
        for k in ("lost", "resurrected", "stale", "diverged", "hung"):
            setattr(total, k, getattr(total, k) + getattr(v, k))
        if not v.ok:
            total.errors.append(str(seed))
            failed.append(seed)
            if not a.no_record:
                record_regression(seed, line)
    label = (f"{seeds[0]}..{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else
             ",".join(map(str, seeds))) if seeds else "-"
    print(f"seed={label} faults={n_faults} ops={n_ops} ok={n_ok} unknown={n_unknown} {total.counts()} "
          f"verdict={'ok' if not failed else 'fail'} schedules={len(seeds)} failed={len(failed)}"
          + (f" failed_seeds={','.join(map(str, failed))}" if failed else ""), flush=True)
    err(f"total {time.monotonic() - t0:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
