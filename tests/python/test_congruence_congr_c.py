"""Congruence with qdrant-client's local mode (the reference implementation) for filters and
point updates: each case runs the same calls on `QdrantClient(":memory:")` and on Quiver, over
REST and gRPC, and compares the answers.
"""

import pytest
from qdrant_client import QdrantClient, models

M = models


def _fill(clients, name, payloads):
    """Creates `name` on every client with one point per payload (ids 1..n)."""
    points = [M.PointStruct(id=i + 1, vector=[0.1, 0.2], payload=p) for i, p in enumerate(payloads)]
    for c in clients:
        c.create_collection(name, vectors_config=M.VectorParams(size=2, distance=M.Distance.DOT))
        c.upsert(name, points, wait=True)


def _ids(client, name, flt):
    records, _ = client.scroll(name, scroll_filter=flt, limit=100, with_payload=False)
    return [r.id for r in records]


# Each value at the key (one per array element for `arr[].x`) is counted on its own and one
# within the bounds suffices; the counts are not summed over the values.
VALUES_COUNT_PAYLOADS = [
    {"nested": [{"n": 1}, {"n": 2}, {"n": 3}]},
    {"nested": [{"n": [1]}, {"n": [1, 2]}, {"n": [1, 2, 3]}]},
    {"nested": [{"n": [None, None]}, {"n": [None, None]}, {"n": [None, None]}]},
    {"nested": [{"n": [234, 33, 22]}, {"n": [11, 22]}]},
    {"nested": [{"n": None}, {"n": None}]},
    {"nested": [{"n": []}, {"n": None}]},
    {"nested": []},
    {"other": 1},
]


@pytest.mark.parametrize(
    "bounds",
    [{"lte": 1}, {"lt": 3}, {"lt": 4}, {"gte": 2}, {"gt": 2}, {"lt": 1}, {"gte": 1}],
    ids=lambda b: "-".join(f"{k}{v}" for k, v in b.items()),
)
def test_values_count_counts_each_value_on_its_own(both, collection_name, bounds):
    local = QdrantClient(":memory:")
    _fill((local, both[0]), collection_name, VALUES_COUNT_PAYLOADS)
    flt = M.Filter(must=[M.FieldCondition(key="nested[].n", values_count=M.ValuesCount(**bounds))])
    expected = _ids(local, collection_name, flt)
    for client in both:
        assert _ids(client, collection_name, flt) == expected, bounds
