"""`on_disk_payload` (issue 19 item 3, design record 037) on a real process: payloads encoded in
a memory-mapped scratch log survive SIGKILL in the middle of writes with every acknowledged
point's payload back after the restart (the log is rebuilt from the checkpoint and the WAL), and
every read path (retrieve, scroll with filters on unindexed fields, count, search with payload,
facets, order_by, groups) answers as a collection with `on_disk_payload: false` and the same
data does, before and after payload updates. PATCH of `on_disk_payload` moves the payloads."""

from __future__ import annotations

import threading
import time

import pytest
from qdrant_client import QdrantClient, models

from qhelpers import mapped_files

DIM = 4
N = 3000
BATCH = 50
CITIES = ["Berlin", "Paris", "Rome", "Oslo", "Lima"]
WORDS = ["river", "granite", "orbit", "lantern", "meadow", "copper", "signal", "harbor"]


def _client(srv) -> QdrantClient:
    return QdrantClient(url=srv.url, timeout=30)


def _payload(i: int) -> dict:
    """About 1 KB of JSON with the kinds filters meet."""
    return {
        "i": i,
        "city": CITIES[i % 5],
        "n": i % 17,
        "price": i / 4,
        "in_stock": i % 3 == 0,
        "tags": [WORDS[i % 8], WORDS[(i // 8) % 8]],
        "nested": [{"k": i % 3}, {"k": "x"}],
        "missing_sometimes": None if i % 4 == 0 else i,
        "text": " ".join(WORDS[(i * 7 + j) % 8] for j in range(110)),
    }


def _vector(i: int) -> list[float]:
    return [float(i % 97), 1.0, (i % 13) / 13.0, -1.0]


def _points(start: int, end: int):
    return [models.PointStruct(id=i, vector=_vector(i), payload=_payload(i)) for i in range(start, end)]


def _create(client: QdrantClient, name: str, on_disk_payload: bool) -> None:
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
        on_disk_payload=on_disk_payload,
    )
    client.create_payload_index(name, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    client.create_payload_index(name, "n", models.PayloadSchemaType.INTEGER, wait=True)


class Writer(threading.Thread):
    """Upserts batches with wait=true, each followed by a set_payload on the batch; keeps what
    the server acknowledged, until the server goes away."""

    def __init__(self, client: QdrantClient, name: str):
        super().__init__(daemon=True)
        self.client, self.name = client, name
        self.expected: dict[int, dict] = {}  # acknowledged payloads
        self.in_flight: dict[int, dict] = {}  # payloads the unacknowledged call would leave
        self.died = False
        self.cond = threading.Condition()

    def _call(self, change: dict[int, dict], call) -> bool:
        with self.cond:
            self.in_flight = change
        try:
            call()
        except Exception:  # the server was killed: any client error ends the writer
            self.died = True
            return False
        with self.cond:
            self.expected.update(change)
            self.in_flight = {}
            self.cond.notify_all()
        return True

    def run(self):
        for start in range(0, N, BATCH):
            ids = list(range(start, start + BATCH))
            upserted = {i: _payload(i) for i in ids}
            if not self._call(upserted, lambda: self.client.upsert(self.name, points=_points(start, start + BATCH))):
                return
            marked = {i: {**upserted[i], "stage": start} for i in ids}
            call = lambda: self.client.set_payload(self.name, payload={"stage": start}, points=ids, wait=True)  # noqa: E731
            if not self._call(marked, call):
                return

    def wait_acked(self, n: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.expected) < n and self.is_alive() and time.monotonic() < deadline:
                self.cond.wait(0.5)
        assert len(self.expected) >= n, f"only {len(self.expected)} points acknowledged"


def _retrieve(client: QdrantClient, name: str, ids: list[int]) -> dict:
    got = {}
    for start in range(0, len(ids), 500):
        for p in client.retrieve(name, ids=ids[start : start + 500], with_payload=True):
            got[p.id] = p.payload
    return got


UNINDEXED = [
    models.Filter(must=[models.FieldCondition(key="tags", match=models.MatchValue(value="orbit"))]),
    models.Filter(must=[models.FieldCondition(key="price", range=models.Range(gte=100, lt=400))]),
    models.Filter(must=[models.IsNullCondition(is_null=models.PayloadField(key="missing_sometimes"))]),
    models.Filter(
        must=[
            models.NestedCondition(
                nested=models.Nested(
                    key="nested",
                    filter=models.Filter(must=[models.FieldCondition(key="k", match=models.MatchValue(value=2))]),
                )
            )
        ],
        must_not=[models.FieldCondition(key="in_stock", match=models.MatchValue(value=True))],
    ),
    models.Filter(
        should=[
            models.FieldCondition(key="text", match=models.MatchText(text="lantern meadow")),
            models.FieldCondition(key="stage", match=models.MatchAny(any=[0, 50])),
        ],
        must=[models.FieldCondition(key="city", match=models.MatchValue(value="Rome"))],
    ),
]


def _scroll_all(client: QdrantClient, name: str, **kwargs) -> list:
    points, offset = [], None
    while True:
        page, offset = client.scroll(name, limit=700, offset=offset, with_payload=True, **kwargs)
        points += [(p.id, p.payload) for p in page]
        if offset is None or "order_by" in kwargs:
            return points


def _reads(client: QdrantClient, name: str) -> list:
    """What each read path answers."""
    out = [_retrieve(client, name, list(range(N)))]
    for f in UNINDEXED:
        out.append(_scroll_all(client, name, scroll_filter=f))
        out.append(client.count(name, count_filter=f, exact=True).count)
        hits = client.query_points(name, query=[1.0, 0.5, 0.25, 0.0], query_filter=f, limit=15, with_payload=True)
        out.append([(p.id, p.score, p.payload) for p in hits.points])
    out.append(sorted((h.value, h.count) for h in client.facet(name, key="city", limit=10).hits))
    out.append(_scroll_all(client, name, order_by=models.OrderBy(key="n", direction=models.Direction.DESC)))
    groups = client.query_points_groups(name, query=[1.0, 0.0, 0.0, 0.0], group_by="tags", limit=8, group_size=3)
    out.append([(g.id, [(p.id, p.payload) for p in g.hits]) for g in groups.groups])
    return out


def _update_payloads(client: QdrantClient, name: str) -> None:
    client.set_payload(name, payload={"extra": "x" * 300}, points=list(range(0, 200)), wait=True)
    client.overwrite_payload(name, payload={"n": 3, "city": "Oslo"}, points=list(range(200, 260)), wait=True)
    client.delete_payload(name, keys=["text", "tags"], points=list(range(260, 400)), wait=True)
    client.clear_payload(name, points_selector=list(range(400, 420)), wait=True)
    odd = models.Filter(must=[models.FieldCondition(key="n", match=models.MatchAny(any=[1, 5]))])
    client.set_payload(name, payload={"deep": 1}, points=odd, key="nested[0]", wait=True)
    client.delete(name, points_selector=list(range(420, 440)), wait=True)


def test_on_disk_payload_survives_sigkill_and_reads_like_ram(server_factory):
    srv = server_factory()
    client = _client(srv)
    _create(client, "disk", on_disk_payload=True)
    _create(client, "ram", on_disk_payload=False)
    assert client.get_collection("disk").config.params.on_disk_payload is True
    writer = Writer(client, "disk")
    writer.start()
    writer.wait_acked(N // 2)
    files = mapped_files(srv)
    assert any("/collections/disk/" in f for f in files) and not any("/collections/ram/" in f for f in files), files
    srv.kill()  # SIGKILL while the writer streams
    writer.join(timeout=40)
    assert writer.died, "the kill did not interrupt the writer"
    srv.start()
    client = _client(srv)
    assert client.get_collection("disk").config.params.on_disk_payload is True
    got = _retrieve(client, "disk", list(range(N)))
    for i, payload in writer.expected.items():
        assert got.get(i) == payload or got.get(i) == writer.in_flight.get(i), f"point {i}: {got.get(i)}"
    assert set(got) <= set(writer.expected) | set(writer.in_flight)
    # Both collections brought to the same data, then compared on every read path.
    for name in ("disk", "ram"):
        for start in range(0, N, 500):
            client.upsert(name, points=_points(start, start + 500), wait=True)
        client.set_payload(name, payload={"stage": 0}, points=list(range(0, N, 7)), wait=True)
    assert _reads(client, "disk") == _reads(client, "ram")
    for name in ("disk", "ram"):
        _update_payloads(client, name)
    before = _reads(client, "ram")
    assert before[0][5]["extra"] == "x" * 300 and 430 not in before[0], "the updates took effect"
    assert _reads(client, "disk") == before
    srv.restart()
    client = _client(srv)
    assert _reads(client, "disk") == before


@pytest.mark.parametrize("first", [False, True])
def test_patching_on_disk_payload_moves_payloads(server, collection_name, first):
    client = _client(server)
    _create(client, collection_name, on_disk_payload=first)
    client.upsert(collection_name, points=_points(0, 1000), wait=True)
    before = _reads(client, collection_name)[:1]
    mine = lambda: any(f"/collections/{collection_name}/" in f for f in mapped_files(server))  # noqa: E731
    assert mine() is first
    client.update_collection(collection_name, collection_params=models.CollectionParamsDiff(on_disk_payload=not first))
    assert client.get_collection(collection_name).config.params.on_disk_payload is (not first)
    assert mine() is (not first)
    assert _reads(client, collection_name)[:1] == before
