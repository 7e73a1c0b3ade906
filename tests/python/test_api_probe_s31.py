"""Differences from Qdrant found by the fourth probe, a sweep over the public methods of
`qdrant_client.QdrantClient` over REST and gRPC: a facet counts only the values its index holds
(strings under a keyword index, integers under an integer index, UUIDs, written hyphenated in
lower case, under a uuid index), not every value at the key; a new collection named like an alias
is refused with Qdrant's message, and one beyond `storage.max_collections` with Qdrant's 400
`Bad request` naming the limit."""

import grpc
import pytest
import requests
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from qhelpers import assert_error


def _dot(size=2):
    return models.VectorParams(size=size, distance=models.Distance.DOT)


def test_facet_counts_only_values_the_index_holds(both, collection_name):
    rest_client, _ = both
    rest_client.create_collection(collection_name, vectors_config=_dot())
    payloads = [
        {"kw": "a", "n": 3, "u": "550E8400E29B41D4A716446655440000"},
        {"kw": 5, "n": "x", "u": "550e8400-e29b-41d4-a716-446655440000"},
        {"kw": ["a", True], "n": [4, 4.5], "u": "not-a-uuid"},
    ]
    points = [models.PointStruct(id=i, vector=[1, 0], payload=p) for i, p in enumerate(payloads, 1)]
    rest_client.upsert(collection_name, points, wait=True)
    rest_client.create_payload_index(collection_name, "kw", models.PayloadSchemaType.KEYWORD)
    rest_client.create_payload_index(collection_name, "n", models.PayloadSchemaType.INTEGER)
    rest_client.create_payload_index(collection_name, "u", models.PayloadSchemaType.UUID)
    for client in both:
        got = {key: [(h.value, h.count) for h in client.facet(collection_name, key).hits] for key in ("kw", "n", "u")}
        assert got == {
            "kw": [("a", 2)],
            "n": [(3, 1), (4, 1)],
            "u": [("550e8400-e29b-41d4-a716-446655440000", 2)],
        }, client


def test_collection_named_like_an_alias_is_refused_with_qdrants_message(both, collection_name, unique):
    rest_client, grpc_client = both
    rest_client.create_collection(collection_name, vectors_config=_dot())
    alias = unique("alias")
    rest_client.update_collection_aliases(
        [models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection_name, alias_name=alias))]
    )
    message = f"Wrong input: Can't create collection with name {alias}. Alias with the same name already exists"
    with pytest.raises(UnexpectedResponse) as refused:
        rest_client.create_collection(alias, vectors_config=_dot())
    assert refused.value.status_code == 400
    assert message in refused.value.content.decode()
    with pytest.raises(grpc.RpcError) as refused_grpc:
        grpc_client.create_collection(alias, vectors_config=_dot())
    assert refused_grpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in refused_grpc.value.details()
    assert rest_client.get_collection(alias).config.params.vectors.size == 2, "the alias still names the collection"


def test_collections_beyond_max_collections_are_a_bad_request(server_factory):
    srv = server_factory(env={"QDRANT__STORAGE__MAX_COLLECTIONS": "1"})
    client = QdrantClient(url=srv.url, timeout=30, check_compatibility=False)
    client.create_collection("first", vectors_config=_dot())
    r = requests.put(f"{srv.url}/collections/second", json={"vectors": {"size": 2, "distance": "Dot"}}, timeout=30)
    assert_error(r, 400, "Bad request: Can't create collection with name second. Max collections limit reached: 1")
    # The existing collection is still the conflict it was, not the limit.
    r = requests.put(f"{srv.url}/collections/first", json={"vectors": {"size": 2, "distance": "Dot"}}, timeout=30)
    assert r.status_code == 409, r.text
    assert not client.collection_exists("second")
    client.close()


ZERO_LIMITS = [
    ("strict_mode_config", "max_query_limit"),
    ("strict_mode_config", "max_timeout"),
    ("strict_mode_config", "read_rate_limit"),
    ("strict_mode_config", "write_rate_limit"),
    ("strict_mode_config", "max_points_count"),
    ("optimizers_config", "max_segment_size"),
]


@pytest.mark.parametrize("section,field", ZERO_LIMITS)
def test_limits_of_zero_are_a_validation_error(both, rest, collection_name, section, field):
    issue = f"{section}.{field}: value 0 invalid, must be 1 or larger"
    body = {"vectors": {"size": 2, "distance": "Dot"}, section: {field: 0}}
    assert_error(rest.put(f"/collections/{collection_name}", json=body), 422, issue)
    rest_client, grpc_client = both
    rest_client.create_collection(collection_name, vectors_config=_dot())
    assert_error(rest.patch(f"/collections/{collection_name}", json={section: {field: 0}}), 422, issue)
    diff = {"strict_mode_config": models.StrictModeConfig(**{field: 0})} if section == "strict_mode_config" else {
        "optimizers_config": models.OptimizersConfigDiff(**{field: 0})
    }
    with pytest.raises(grpc.RpcError) as refused:
        grpc_client.update_collection(collection_name, **diff)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert issue in refused.value.details()
    # One is a valid limit, and nothing of the refused changes was kept.
    assert rest_client.update_collection(collection_name, **{k: type(v)(**{field: 1}) for k, v in diff.items()})
    config = rest_client.get_collection(collection_name).config
    shown = config.strict_mode_config if section == "strict_mode_config" else config.optimizer_config
    assert getattr(shown, field) == 1
