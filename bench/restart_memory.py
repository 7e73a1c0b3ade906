#!/usr/bin/env python3
"""Where a restarted server's anonymous memory goes (design record 041).

Loads ``POINTS`` points of ``scale.py``'s data into one configuration of ``scale.py`` (or
``ondisk-graph``: on-disk originals and graph, no quantization), waits until indexed, measures
recall@10 with rescoring (``oversampling`` 2) at ef 64/128/256, restarts (SIGTERM, start), waits
until green and ``RssAnon`` holds still, measures recall again, and prints ``RssAnon`` growth per
point and the anonymous mappings over 1 MiB from ``/proc/PID/smaps`` (allocator arenas, large
allocations mapped on their own such as the int8 codes).

    /work/ci/bench/.venv/bin/python bench/restart_memory.py BINARY CONFIG POINTS
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import requests  # noqa: E402
import scale  # noqa: E402
from scale import COLLECTION, Server, api, exact_top10, load, make_vectors, proc_memory, search  # noqa: E402
from scale import wait_indexed  # noqa: E402


def anonymous_mappings(pid: int) -> list[dict]:
    out, cur = [], None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if "-" in parts[0] and not parts[0].endswith(":"):
            a, b = parts[0].split("-")
            cur = {"range": parts[0], "name": parts[5] if len(parts) > 5 else "", "size": int(b, 16) - int(a, 16)}
            out.append(cur)
        elif parts[0] == "Anonymous:":
            cur["anon"] = int(parts[1]) * 1024
    return out


def main() -> None:
    binary, name, points = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    configs = dict(scale.CONFIGS)
    configs["ondisk-graph"] = {"vectors": {"on_disk": True}, "hnsw_config": {"on_disk": True}}
    vectors = make_vectors(Path(scale.DEFAULT_DATA), points, 0.3)
    queries = np.load(Path(scale.DEFAULT_DATA) / "query.npy")[:200].astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    truth = exact_top10(vectors, queries)
    with tempfile.TemporaryDirectory(prefix=f"quiver-restart-memory-{name}-") as workdir:
        srv, sess = Server(binary, Path(workdir)), requests.Session()
        try:
            srv.start()
            srv.wait_until(sess, None, 120)
            body = {"vectors": {"size": vectors.shape[1], "distance": "Cosine"}}
            for key, value in configs[name].items():
                body[key] = {**body.get(key, {}), **value}
            api(sess, "PUT", f"{srv.url}/collections/{COLLECTION}", json=body)
            before = proc_memory(srv.proc.pid)
            load(srv, sess, vectors)
            wait_indexed(srv, sess, len(vectors))
            indexed = proc_memory(srv.proc.pid)

            def recall() -> list[float]:
                return [round(search(srv, sess, queries, truth, ef, 2.0)["recall10"], 4) for ef in (64, 128, 256)]

            print("recall@10 with rescoring before the restart", recall(), flush=True)
            srv.sigterm()
            srv.start()
            srv.wait_until(sess, len(vectors), 600)
            wait_indexed(srv, sess, len(vectors))
            after = scale.settled_memory(srv.proc.pid)
            print("recall@10 with rescoring after the restart", recall(), flush=True)
            grown = (after["RssAnon"] - before["RssAnon"]) / points
            print(f"{name} {binary}: indexed {(indexed['RssAnon'] - before['RssAnon']) / points:.0f} bytes/point; "
                  f"after the restart RssAnon {after['RssAnon'] / 2**20:.1f} MiB = {grown:.0f} bytes/point, "
                  f"RssFile {after['RssFile'] / 2**20:.1f} MiB")
            big = sorted((m for m in anonymous_mappings(srv.proc.pid) if m.get("anon", 0) > 1 << 20),
                         key=lambda m: -m["anon"])
            for m in big:
                print(f"  {m['range']} size {m['size'] / 2**20:8.2f} MiB anonymous {m['anon'] / 2**20:8.2f} MiB {m['name']}")
        finally:
            srv.shutdown()


if __name__ == "__main__":
    main()
