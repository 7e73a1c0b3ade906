"""Every query kind within a request's shard key (custom sharding, design record 016), with the
official `qdrant-client` over REST and gRPC: recommend, discover, context, prefetches fused by
RRF, MMR, random samples, grouped queries, facets and distance matrices only see the key's
points; examples given by id are looked up within the key (an id of another key is not found);
`lookup_from` reads the other collection within its own `shard_key`.

Run: .venv/bin/pytest -q tests/python/test_shard_key_queries.py
"""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient, models

from test_shard_keys import clients, custom_collection, error_text, points

A_IDS = range(0, 30)
B_IDS = range(100, 130)


@pytest.fixture
def keyed(server, unique, request):
    """A custom collection with keys "a" (ids 0..29) and "b" (ids 100..129) of the same vectors,
    and a lookup collection whose point 7 is in key "x" only."""
    client = dict(clients(server))[request.param]
    name, lookups = unique("skq"), unique("skq_lookup")
    custom_collection(client, name)
    custom_collection(client, lookups)
    for key in ("a", "b"):
        assert client.create_shard_key(name, key)
    for key in ("x", "y"):
        assert client.create_shard_key(lookups, key)
    client.upsert(name, points(A_IDS, "a"), shard_key_selector="a", wait=True)
    client.upsert(name, points(B_IDS, "b"), shard_key_selector="b", wait=True)
    client.upsert(lookups, [models.PointStruct(id=7, vector=[4.0, 1.0, 1.0, 0.5])], shard_key_selector="x", wait=True)
    yield client, name, lookups
    client.close()


def ids_of(hits) -> list[int]:
    return [h.id for h in hits]


def in_a(hits) -> bool:
    return bool(hits) and all(h in A_IDS for h in ids_of(hits))


@pytest.mark.parametrize("keyed", ["rest", "grpc"], indirect=True)
def test_every_query_kind_stays_within_the_key(keyed):
    client, name, _ = keyed
    queries = {
        "recommend": models.RecommendQuery(recommend=models.RecommendInput(positive=[3], negative=[4])),
        "recommend best_score": models.RecommendQuery(
            recommend=models.RecommendInput(positive=[3], strategy=models.RecommendStrategy.BEST_SCORE)
        ),
        "discover": models.DiscoverQuery(
            discover=models.DiscoverInput(target=5, context=[models.ContextPair(positive=6, negative=7)])
        ),
        "context": models.ContextQuery(context=[models.ContextPair(positive=6, negative=7)]),
        "mmr": models.NearestQuery(nearest=[1.0, 1.0, 1.0, 1.0], mmr=models.Mmr(diversity=0.5)),
        "sample": models.SampleQuery(sample=models.Sample.RANDOM),
    }
    for kind, query in queries.items():
        hits = client.query_points(name, query=query, limit=10, shard_key_selector="a").points
        assert in_a(hits), f"{kind}: {ids_of(hits)}"
        everywhere = client.query_points(name, query=query, limit=60).points
        assert any(h >= 100 for h in ids_of(everywhere)), f"{kind} without a key reaches key b"
    fused = client.query_points(
        name,
        prefetch=[
            models.Prefetch(query=[1.0, 1.0, 1.0, 1.0], limit=20),
            models.Prefetch(query=models.RecommendQuery(recommend=models.RecommendInput(positive=[8])), limit=20),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=20,
        shard_key_selector="a",
    ).points
    assert in_a(fused) and len(fused) == 20, ids_of(fused)
    groups = client.query_points_groups(
        name, group_by="tenant", query=models.RecommendQuery(recommend=models.RecommendInput(positive=[3])),
        limit=5, group_size=2, shard_key_selector="a",
    ).groups
    assert [g.id for g in groups] == ["a"], groups
    everywhere = client.query_points_groups(name, group_by="tenant", query=[1.0, 1.0, 1.0, 1.0], limit=5)
    assert sorted(g.id for g in everywhere.groups) == ["a", "b"]


@pytest.mark.parametrize("keyed", ["rest", "grpc"], indirect=True)
def test_examples_by_id_are_looked_up_within_the_key(keyed):
    client, name, lookups = keyed
    recommend_b = models.RecommendQuery(recommend=models.RecommendInput(positive=[103]))
    with pytest.raises(Exception) as refused:
        client.query_points(name, query=recommend_b, limit=5, shard_key_selector="a")
    assert "No point with id 103 found" in error_text(refused.value)
    hits = client.query_points(name, query=recommend_b, limit=5, shard_key_selector="b").points
    assert hits and all(h in B_IDS and h != 103 for h in ids_of(hits)), ids_of(hits)

    # lookup_from reads the other collection within the lookup's own shard key.
    from_x = models.LookupLocation(collection=lookups, shard_key="x")
    hits = client.query_points(name, query=7, lookup_from=from_x, limit=5, shard_key_selector="a").points
    assert in_a(hits), ids_of(hits)
    assert hits[0].id in (14, 29), "nearest by dot to point 7 of the lookup collection, [4, 1, 1, 0.5]"
    with pytest.raises(Exception) as refused:
        client.query_points(
            name, query=7, lookup_from=models.LookupLocation(collection=lookups, shard_key="y"), limit=5
        )
    assert "No point with id 7 found" in error_text(refused.value)


@pytest.mark.parametrize("keyed", ["rest", "grpc"], indirect=True)
def test_facets_and_distance_matrices_stay_within_the_key(keyed):
    client, name, _ = keyed
    client.create_payload_index(name, "tenant", models.PayloadSchemaType.KEYWORD, wait=True)
    counts = lambda **kw: [(h.value, h.count) for h in client.facet(name, "tenant", **kw).hits]  # noqa: E731
    assert counts() == [("a", 30), ("b", 30)]
    assert counts(shard_key_selector="a") == [("a", 30)]
    assert counts(shard_key_selector=["a", "b"]) == [("a", 30), ("b", 30)]
    pairs = client.search_matrix_pairs(name, sample=10, limit=2, shard_key_selector="b").pairs
    assert len(pairs) == 20 and all(p.a in B_IDS and p.b in B_IDS for p in pairs), pairs
    offsets = client.search_matrix_offsets(name, sample=10, limit=1, shard_key_selector="a")
    assert len(offsets.ids) == 10 and all(i in A_IDS for i in offsets.ids), offsets.ids
    with pytest.raises(Exception) as refused:
        client.facet(name, "tenant", shard_key_selector="nope")
    assert "nope" in error_text(refused.value)
