"""Writes one upsert body (1,000 real 384-d vectors from base.npy) the way each client encodes
it, for bench/json_decode (see bench/run_json_decode.sh):
- orjson.json: orjson with numpy float32 (the shortest float32 text), as bench/upsert_path.py sends;
- python.json: the standard json module over `.tolist()` (float32 widened to float64, up to 17
  digits), as qdrant-client's REST path sends a numpy vector.
"""
import json
import sys
from pathlib import Path

import numpy as np
import orjson


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    vectors = np.ascontiguousarray(np.load(data / "base.npy", mmap_mode="r")[:1000], dtype=np.float32)
    points = [{"id": i, "vector": vectors[i], "payload": {"i": i}} for i in range(len(vectors))]
    (out / "orjson.json").write_bytes(orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY))
    listed = [{"id": p["id"], "vector": p["vector"].tolist(), "payload": p["payload"]} for p in points]
    (out / "python.json").write_text(json.dumps({"points": listed}, separators=(",", ":")))


if __name__ == "__main__":
    main()
