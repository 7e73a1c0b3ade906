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


def _refusal(call):
    """The HTTP status (or gRPC code) and text of a refused client call."""
    with pytest.raises((UnexpectedResponse, grpc.RpcError)) as refused:
        call()
    error = refused.value
    if isinstance(error, UnexpectedResponse):
        return error.status_code, error.content.decode()
    return error.code(), error.details()


def test_shard_key_changes_are_refused_with_qdrants_checks(both, rest, collection_name, unique):
    rest_client, _ = both
    rest_client.create_collection(collection_name, vectors_config=_dot(), sharding_method=models.ShardingMethod.CUSTOM)
    auto = unique("auto")
    rest_client.create_collection(auto, vectors_config=_dot())
    rest_client.create_shard_key(collection_name, "a")
    name = collection_name
    for client, bad in zip(both, (400, grpc.StatusCode.INVALID_ARGUMENT)):
        cases = [
            (lambda: client.create_shard_key(name, "p", placement=[123456789]), "Bad request: Peer 123456789 does not exist"),
            (lambda: client.create_shard_key(name, "a"), f"Bad request: Sharding key a already exists for collection {name}"),
            (lambda: client.delete_shard_key(name, "zz"), f"Bad request: Sharding key zz does not exist for collection {name}"),
            (lambda: client.create_shard_key(auto, "a"), "Bad request: Shard Key cannot be created with Auto sharding method"),
            (lambda: client.delete_shard_key(auto, "a"), "Bad request: Shard Key cannot be created with Auto sharding method"),
        ]
        for call, message in cases:
            status, text = _refusal(call)
            assert (status, message in text) == (bad, True), text
    r = rest.put(f"/collections/{name}/shards", json={"shard_key": "d", "initial_state": "Dead"})
    assert_error(r, 400, "Bad request: Initial state cannot be Dead, only Active or Partial are allowed")
    r = rest.put(f"/collections/{name}/shards", json={"shard_key": "e", "placement": []})
    assert_error(r, 400, "Sharding key e placement cannot be empty. If you want to use random placement, do not specify placement")
    # None of the refused keys was made; this peer is a valid placement.
    peer = rest.ok("GET", f"/collections/{name}/cluster")["peer_id"]
    assert rest_client.create_shard_key(name, "p", placement=[peer])
    assert sorted(k.key for k in rest_client.list_shard_keys(name).shard_keys) == ["a", "p"]


def test_payload_index_without_a_schema_is_qdrants_bad_request(both, collection_name):
    rest_client, _ = both
    rest_client.create_collection(collection_name, vectors_config=_dot())
    message = "Bad request: Can't auto-detect field type, please specify `field_schema` in the request"
    for client, bad in zip(both, (400, grpc.StatusCode.INVALID_ARGUMENT)):
        status, text = _refusal(lambda: client.create_payload_index(collection_name, "a"))
        assert (status, message in text) == (bad, True), text
        # A missing collection is named first, as Qdrant looks the collection up before the schema.
        status, text = _refusal(lambda: client.create_payload_index(collection_name + "_missing", "a"))
        assert "doesn't exist" in text, text
    assert rest_client.get_collection(collection_name).payload_schema == {}


def test_an_alias_named_like_a_collection_is_a_conflict(both, collection_name, unique):
    rest_client, _ = both
    other = unique("other")
    rest_client.create_collection(collection_name, vectors_config=_dot())
    rest_client.create_collection(other, vectors_config=_dot())
    fresh = unique("alias")
    actions = [
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection_name, alias_name=fresh)),
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection_name, alias_name=other)),
    ]
    for client, conflict in zip(both, (409, grpc.StatusCode.ALREADY_EXISTS)):
        status, text = _refusal(lambda: client.update_collection_aliases(actions))
        assert (status, f"Wrong input: Collection `{other}` already exists!" in text) == (conflict, True), text
    # Nothing of the batch was applied, and both collections are still themselves.
    assert rest_client.get_collection_aliases(collection_name).aliases == []
    assert rest_client.get_collection_aliases(other).aliases == []
