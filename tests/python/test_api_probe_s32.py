"""Differences from Qdrant found by the fifth probe, which ran Qdrant's other official clients
(the JavaScript REST client `@qdrant/js-client-rest` and the Rust gRPC crate `qdrant-client`)
against Quiver. The CI has no node, so each client's request is reproduced here with raw
`requests` (REST) or qdrant-client over gRPC.

An optional field of a request body given as `null` means what leaving it out means, as in
Qdrant (its bodies are read into `Option` fields): the JavaScript client's `searchPointGroups`
and `recommendPointGroups` send `with_payload: null` and `with_vector: null` on every call."""

import pytest


def _result(r):
    assert r.status_code == 200, f"{r.request.method} {r.request.url} {r.request.body!r} -> {r.status_code}: {r.text}"
    return r.json()["result"]


@pytest.fixture
def grouped(rest, collection_name):
    """Named vectors and a keyword field to group by, as the JavaScript client's README sets up."""
    rest.ok(
        "PUT",
        f"/collections/{collection_name}",
        json={"vectors": {"image": {"size": 4, "distance": "Dot"}}},
    )
    points = [
        {"id": 1, "vector": {"image": [1, 0, 0, 0]}, "payload": {"g": "x"}},
        {"id": 2, "vector": {"image": [0.5, 1, 0, 0]}, "payload": {"g": "y"}},
        {"id": 3, "vector": {"image": [0.9, 0, 1, 0]}, "payload": {"g": "x"}},
    ]
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"points": points})
    return collection_name


def test_js_client_grouped_searches_with_null_selectors(rest, grouped):
    # The bodies exactly as js-client-rest 1.18 sends them (its defaults are `null` / `[]`).
    search = {
        "vector": {"name": "image", "vector": [1, 0, 0, 0]},
        "with_payload": None,
        "with_vector": None,
        "group_by": "g",
        "group_size": 2,
        "limit": 2,
    }
    groups = _result(rest.post(f"/collections/{grouped}/points/search/groups", json=search))["groups"]
    assert [(g["id"], [h["id"] for h in g["hits"]]) for g in groups] == [("x", [1, 3]), ("y", [2])]
    hit = groups[0]["hits"][0]
    assert hit.get("payload") is None and hit.get("vector") is None, "null selects no payload and no vector"

    recommend = {
        "positive": [1],
        "negative": [],
        "with_payload": None,
        "with_vector": None,
        "using": "image",
        "lookup_from": None,
        "group_by": "g",
        "group_size": 1,
        "limit": 2,
    }
    groups = _result(rest.post(f"/collections/{grouped}/points/recommend/groups", json=recommend))["groups"]
    assert [(g["id"], [h["id"] for h in g["hits"]]) for g in groups] == [("x", [3]), ("y", [2])]


@pytest.mark.parametrize(
    "path, body",
    [
        ("points/search", {"vector": {"name": "image", "vector": [1, 0, 0, 0]}, "limit": 3}),
        ("points/query", {"query": [1, 0, 0, 0], "using": "image", "limit": 3}),
        ("points/recommend", {"positive": [1], "using": "image", "limit": 3}),
        ("points/discover", {"target": [1, 0, 0, 0], "context": [{"positive": [1, 0, 1, 0], "negative": [0, 1, 0, 0]}], "using": "image", "limit": 3}),
        ("points/query/groups", {"query": [1, 0, 0, 0], "using": "image", "group_by": "g"}),
    ],
)
def test_null_payload_and_vector_selectors_read_as_left_out(rest, grouped, path, body):
    url = f"/collections/{grouped}/{path}"
    absent = _result(rest.post(url, json=body))
    given = _result(rest.post(url, json=dict(body, with_payload=None, with_vector=None)))
    assert given == absent
    if isinstance(given, list):
        hits = given
    elif "groups" in given:
        hits = given["groups"][0]["hits"]
    else:
        hits = given["points"]
    assert hits and all(h.get("payload") is None and h.get("vector") is None for h in hits), given


def test_null_payload_selector_of_reads_is_the_whole_payload(rest, grouped):
    scrolled = _result(rest.post(f"/collections/{grouped}/points/scroll", json={"with_payload": None}))["points"]
    assert [p["payload"] for p in scrolled] == [{"g": "x"}, {"g": "y"}, {"g": "x"}]
    got = _result(rest.post(f"/collections/{grouped}/points", json={"ids": [2], "with_payload": None}))
    assert got[0]["payload"] == {"g": "y"}


def test_null_group_size_recommend_input_and_lookup_selectors(rest, grouped, unique):
    groups = _result(
        rest.post(
            f"/collections/{grouped}/points/query/groups",
            json={"query": [1, 0, 0, 0], "using": "image", "group_by": "g", "group_size": None, "limit": 1},
        )
    )["groups"]
    assert [h["id"] for h in groups[0]["hits"]] == [1, 3], "null group_size is Qdrant's default of 3"

    recommended = _result(
        rest.post(
            f"/collections/{grouped}/points/query",
            json={"query": {"recommend": {"positive": [1], "negative": None}}, "using": "image"},
        )
    )["points"]
    assert [p["id"] for p in recommended] == [3, 2]

    lookup = unique("lookup")
    rest.ok("PUT", f"/collections/{lookup}", json={"vectors": {"size": 1, "distance": "Dot"}})
    try:
        rest.ok("PUT", f"/collections/{lookup}/points?wait=true", json={"points": [{"id": 7, "vector": [1], "payload": {"k": 1}}]})
        rest.ok("POST", f"/collections/{grouped}/points/payload?wait=true", json={"payload": {"o": 7}, "points": [1, 2, 3]})
        body = {
            "query": [1, 0, 0, 0],
            "using": "image",
            "group_by": "o",
            "with_lookup": {"collection": lookup, "with_payload": None, "with_vectors": None},
        }
        groups = _result(rest.post(f"/collections/{grouped}/points/query/groups", json=body))["groups"]
        assert groups[0]["id"] == 7
        assert groups[0]["lookup"]["payload"] == {"k": 1}, "null reads as the lookup's default: the whole payload"
        assert groups[0]["lookup"].get("vector") is None
    finally:
        rest.delete(f"/collections/{lookup}")


def test_telemetry_level_one_lists_collections_in_the_aggregated_form(rest, collection_name):
    # js-client-rest types a level-1 entry as Qdrant's CollectionsAggregatedTelemetry:
    # `vectors`, `optimizers_status` and `params` required, no name.
    vectors = {f"v{collection_name[-8:]}": {"size": 2, "distance": "Dot"}}  # names this collection's params
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": vectors})
    points = [{"id": i, "vector": {name: [1, i] for name in vectors}} for i in range(1, 4)]
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"points": points})
    level1 = rest.ok("GET", "/telemetry", params={"details_level": 1})["collections"]
    assert len(level1["collections"]) == level1["number_of_collections"]
    for entry in level1["collections"]:
        assert set(entry) == {"vectors", "optimizers_status", "params"}, entry
        assert entry["optimizers_status"] == "ok"
    mine = [e for e in level1["collections"] if e["params"]["vectors"] == vectors]
    assert [e["vectors"] for e in mine] == [3]
    level2 = rest.ok("GET", "/telemetry", params={"details_level": 2})["collections"]["collections"]
    assert [e["config"]["params"]["vectors"] for e in level2 if e["id"] == collection_name] == [vectors]
