"""Filter language (spec §3.4), checked on a small hand-made dataset.

Each case gives a filter (qdrant-client models or raw JSON) and a Python predicate over the
payload (and id) that defines the expected set of ids. Filters are exercised via scroll, count
and query so that every read path applies them.
"""

import pytest
from qdrant_client import models

M = models

# id -> payload
DATA = {
    1: {"color": "red", "count": 1, "active": True, "price": 9.5, "created": "2024-01-01T00:00:00Z",
        "desc": "the quick brown fox", "tags": ["a", "b"], "kind": "x", "meta": {"owner": {"name": "ann"}},
        "items": [{"name": "apple", "qty": 1}, {"name": "pear", "qty": 5}],
        "diet": [{"food": "meat", "likes": True}, {"food": "leaves", "likes": False}]},
    2: {"color": "blue", "count": 2, "active": False, "price": 20.0, "created": "2024-02-15T12:30:00Z",
        "desc": "lazy dog sleeps", "tags": ["b"], "kind": "y", "meta": {"owner": {"name": "bob"}},
        "items": [{"name": "pear", "qty": 2}],
        "diet": [{"food": "meat", "likes": False}, {"food": "leaves", "likes": True}]},
    3: {"color": "green", "count": 3, "active": True, "price": 0.5, "created": "2024-03-01T00:00:00+02:00",
        "desc": "quick quick slow", "tags": [], "kind": "z", "meta": {"owner": {"name": "ann"}},
        "items": [],
        "diet": [{"food": "meat", "likes": True}]},
    4: {"color": None, "count": 4, "active": False, "price": 100.0, "created": "2023-12-31T23:59:59Z",
        "desc": "brown bear", "tags": ["c", "a", "d"], "kind": "x", "meta": {"owner": {"name": "cy"}},
        "items": [{"name": "apple", "qty": 9}],
        "diet": []},
    5: {"count": 5, "active": True, "price": 55.5, "created": "2024-06-30T10:00:00Z",
        "desc": "fox and dog", "kind": "y", "meta": {"owner": {}},
        "diet": [{"food": "leaves", "likes": True}]},
    6: {"color": ["red", "blue"], "count": 6, "active": True, "price": 7.0, "created": "2024-01-10T08:00:00Z",
        "desc": "red fox", "tags": ["a"], "kind": "z", "meta": {"owner": {"name": "dee"}},
        "items": [{"name": "kiwi", "qty": 3}, {"name": "apple", "qty": 4}]},
    7: {"color": "red", "count": 7, "active": False, "price": 33.0, "created": "2025-01-01T00:00:00Z",
        "desc": "nothing here", "tags": ["b", "c"], "kind": "x", "meta": {"owner": {"name": "bob"}},
        "items": [{"name": "pear", "qty": 7}]},
    8: {"kind": "w", "count": 8},
}

ALL_IDS = sorted(DATA)


@pytest.fixture(scope="module")
def fcoll(server):
    """One collection with the dataset, shared by all filter tests (they only read)."""
    from qdrant_client import QdrantClient

    c = QdrantClient(url=server.url, prefer_grpc=False, timeout=30)
    name = "filters_dataset_" + __import__("uuid").uuid4().hex[:8]
    c.create_collection(name, vectors_config=M.VectorParams(size=2, distance=M.Distance.DOT), shard_number=2)
    c.upsert(
        name,
        points=[M.PointStruct(id=i, vector=[1.0, float(i)], payload=p) for i, p in DATA.items()],
        wait=True,
    )
    yield name
    c.delete_collection(name)
    c.close()


def ids_for(client, coll, flt):
    """Apply the filter through scroll, count and query; all must agree."""
    if isinstance(flt, dict):
        flt = M.Filter.model_validate(flt)
    pts, nxt = client.scroll(coll, scroll_filter=flt, limit=100)
    assert nxt is None
    scroll_ids = sorted(p.id for p in pts)
    cnt = client.count(coll, count_filter=flt, exact=True).count
    assert cnt == len(scroll_ids), f"count {cnt} != scroll {scroll_ids}"
    q = client.query_points(coll, query=[1.0, 0.0], query_filter=flt, limit=100).points
    assert sorted(p.id for p in q) == scroll_ids, "query and scroll disagree on the filter"
    return scroll_ids


def expect(pred):
    return sorted(i for i, p in DATA.items() if pred(i, p))


def vals(p, key):
    """Values of a top-level key, arrays flattened (Qdrant semantics for match on arrays)."""
    v = p.get(key)
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


CASES = [
    # ---- match value: keyword / int / bool (arrays match if any element matches)
    ("match_keyword", M.Filter(must=[M.FieldCondition(key="color", match=M.MatchValue(value="red"))]),
     lambda i, p: "red" in vals(p, "color")),
    ("match_int", M.Filter(must=[M.FieldCondition(key="count", match=M.MatchValue(value=3))]),
     lambda i, p: p.get("count") == 3),
    ("match_bool", M.Filter(must=[M.FieldCondition(key="active", match=M.MatchValue(value=True))]),
     lambda i, p: p.get("active") is True),
    ("match_bool_false", M.Filter(must=[M.FieldCondition(key="active", match=M.MatchValue(value=False))]),
     lambda i, p: p.get("active") is False),
    ("match_array_elem", M.Filter(must=[M.FieldCondition(key="tags", match=M.MatchValue(value="a"))]),
     lambda i, p: "a" in vals(p, "tags")),
    # ---- any / except
    ("match_any_kw", M.Filter(must=[M.FieldCondition(key="color", match=M.MatchAny(any=["green", "blue"]))]),
     lambda i, p: bool({"green", "blue"} & set(vals(p, "color")))),
    ("match_any_int", M.Filter(must=[M.FieldCondition(key="count", match=M.MatchAny(any=[1, 5, 7, 42]))]),
     lambda i, p: p.get("count") in (1, 5, 7)),
    ("match_except", M.Filter(must=[M.FieldCondition(key="kind", match=M.MatchExcept(**{"except": ["x", "y"]}))]),
     lambda i, p: p["kind"] not in ("x", "y")),
    ("match_except_int", M.Filter(must=[M.FieldCondition(key="count", match=M.MatchExcept(**{"except": [1, 2, 3]}))]),
     lambda i, p: p["count"] not in (1, 2, 3)),
    # ---- text (single whole words: valid with or without a full-text index)
    ("match_text", M.Filter(must=[M.FieldCondition(key="desc", match=M.MatchText(text="fox"))]),
     lambda i, p: "fox" in p.get("desc", "").split()),
    ("match_text_quick", M.Filter(must=[M.FieldCondition(key="desc", match=M.MatchText(text="quick"))]),
     lambda i, p: "quick" in p.get("desc", "").split()),
    # ---- ranges
    ("range_int", M.Filter(must=[M.FieldCondition(key="count", range=M.Range(gte=3, lt=6))]),
     lambda i, p: 3 <= p["count"] < 6),
    ("range_float", M.Filter(must=[M.FieldCondition(key="price", range=M.Range(gt=7.0, lte=55.5))]),
     lambda i, p: "price" in p and 7.0 < p["price"] <= 55.5),
    ("range_open", M.Filter(must=[M.FieldCondition(key="price", range=M.Range(lt=8))]),
     lambda i, p: "price" in p and p["price"] < 8),
    ("range_datetime", M.Filter(must=[M.FieldCondition(key="created", range=M.DatetimeRange(gte="2024-01-01T00:00:00Z", lt="2024-03-01T00:00:00Z"))]),
     # 3 is 2024-02-29T22:00Z (UTC) -> inside
     lambda i, p: i in (1, 2, 3, 6)),
    ("range_datetime_gt", M.Filter(must=[M.FieldCondition(key="created", range=M.DatetimeRange(gt="2024-06-30T10:00:00Z"))]),
     lambda i, p: i == 7),
    # ---- has_id
    ("has_id", M.Filter(must=[M.HasIdCondition(has_id=[2, 4, 6, 100])]),
     lambda i, p: i in (2, 4, 6)),
    ("must_not_has_id", M.Filter(must_not=[M.HasIdCondition(has_id=[1, 2])]),
     lambda i, p: i not in (1, 2)),
    # ---- is_empty / is_null
    ("is_empty", M.Filter(must=[M.IsEmptyCondition(is_empty=M.PayloadField(key="tags"))]),
     lambda i, p: not p.get("tags")),
    ("not_is_empty", M.Filter(must_not=[M.IsEmptyCondition(is_empty=M.PayloadField(key="color"))]),
     lambda i, p: p.get("color") not in (None, [])),
    ("is_null", M.Filter(must=[M.IsNullCondition(is_null=M.PayloadField(key="color"))]),
     lambda i, p: "color" in p and p["color"] is None),
    # ---- values_count
    ("values_count_gte2", M.Filter(must=[M.FieldCondition(key="tags", values_count=M.ValuesCount(gte=2))]),
     lambda i, p: len(p.get("tags") or []) >= 2),
    ("values_count_lt2", M.Filter(must=[M.FieldCondition(key="tags", values_count=M.ValuesCount(lt=2))]),
     # Qdrant: the condition is checked on the values present; a missing field has 0 values
     lambda i, p: len(p.get("tags") or []) < 2),
    # ---- nested keys
    ("nested_key_obj", M.Filter(must=[M.FieldCondition(key="meta.owner.name", match=M.MatchValue(value="ann"))]),
     lambda i, p: p.get("meta", {}).get("owner", {}).get("name") == "ann"),
    ("nested_key_array", M.Filter(must=[M.FieldCondition(key="items[].name", match=M.MatchValue(value="apple"))]),
     lambda i, p: any(it["name"] == "apple" for it in p.get("items", []))),
    ("nested_key_array_range", M.Filter(must=[M.FieldCondition(key="items[].qty", range=M.Range(gte=5))]),
     lambda i, p: any(it["qty"] >= 5 for it in p.get("items", []))),
    # ---- boolean structure
    ("should", M.Filter(should=[M.FieldCondition(key="count", match=M.MatchValue(value=1)),
                                M.FieldCondition(key="kind", match=M.MatchValue(value="z"))]),
     lambda i, p: p["count"] == 1 or p["kind"] == "z"),
    ("must_not", M.Filter(must_not=[M.FieldCondition(key="color", match=M.MatchValue(value="red"))]),
     # points without the field satisfy must_not
     lambda i, p: "red" not in vals(p, "color")),
    ("must_and_must_not", M.Filter(must=[M.FieldCondition(key="active", match=M.MatchValue(value=True))],
                                   must_not=[M.FieldCondition(key="kind", match=M.MatchValue(value="z"))]),
     lambda i, p: p.get("active") is True and p["kind"] != "z"),
    ("must_should_combo", M.Filter(must=[M.FieldCondition(key="count", range=M.Range(lte=6))],
                                   should=[M.FieldCondition(key="kind", match=M.MatchValue(value="x")),
                                           M.FieldCondition(key="price", range=M.Range(gt=50))]),
     lambda i, p: p["count"] <= 6 and (p["kind"] == "x" or p.get("price", 0) > 50)),
    ("min_should", M.Filter(min_should=M.MinShould(conditions=[
        M.FieldCondition(key="active", match=M.MatchValue(value=True)),
        M.FieldCondition(key="kind", match=M.MatchValue(value="x")),
        M.FieldCondition(key="tags", match=M.MatchValue(value="a")),
    ], min_count=2)),
     lambda i, p: sum([p.get("active") is True, p["kind"] == "x", "a" in vals(p, "tags")]) >= 2),
    ("nested_filter_in_must", M.Filter(must=[
        M.Filter(should=[M.FieldCondition(key="count", match=M.MatchValue(value=2)),
                         M.FieldCondition(key="count", match=M.MatchValue(value=7))]),
        M.FieldCondition(key="kind", match=M.MatchValue(value="x")),
    ]),
     lambda i, p: p["count"] in (2, 7) and p["kind"] == "x"),
    ("nested_filter_in_must_not", M.Filter(must_not=[
        M.Filter(must=[M.FieldCondition(key="kind", match=M.MatchValue(value="x")),
                       M.FieldCondition(key="active", match=M.MatchValue(value=False))]),
    ]),
     lambda i, p: not (p["kind"] == "x" and p.get("active") is False)),
    # ---- nested object condition: both conditions must hold for the SAME array element
    ("nested_condition", M.Filter(must=[M.NestedCondition(nested=M.Nested(key="diet", filter=M.Filter(must=[
        M.FieldCondition(key="food", match=M.MatchValue(value="meat")),
        M.FieldCondition(key="likes", match=M.MatchValue(value=True)),
    ])))]),
     lambda i, p: any(d["food"] == "meat" and d["likes"] for d in p.get("diet", []))),
    # contrast: the same conditions with flattened keys match if ANY element satisfies each one
    ("flattened_not_nested", M.Filter(must=[
        M.FieldCondition(key="diet[].food", match=M.MatchValue(value="meat")),
        M.FieldCondition(key="diet[].likes", match=M.MatchValue(value=True)),
    ]),
     lambda i, p: any(d["food"] == "meat" for d in p.get("diet", [])) and any(d["likes"] for d in p.get("diet", []))),
]


@pytest.mark.parametrize("name,flt,pred", CASES, ids=[c[0] for c in CASES])
def test_filter_case(client, fcoll, name, flt, pred):
    expected = expect(pred)
    got = ids_for(client, fcoll, flt)
    assert got == expected, f"{name}: filter {flt.model_dump(exclude_none=True, by_alias=True)}"


def test_dataset_sanity():
    # guard against a silly dataset: the nested/flattened contrast must differ
    nested = expect(lambda i, p: any(d["food"] == "meat" and d["likes"] for d in p.get("diet", [])))
    flat = expect(lambda i, p: any(d["food"] == "meat" for d in p.get("diet", [])) and any(d["likes"] for d in p.get("diet", [])))
    assert nested == [1, 3] and flat == [1, 2, 3]


RAW_CASES = [
    # single condition (not a list) is accepted for must/should/must_not
    ({"must": {"key": "kind", "match": {"value": "y"}}}, [2, 5]),
    ({"should": {"key": "count", "range": {"gt": 6}}}, [7, 8]),
    ({"must_not": {"has_id": [1, 2, 3, 4, 5, 6]}}, [7, 8]),
    # is_empty / is_null as field-less condition objects
    ({"must": [{"is_empty": {"key": "items"}}]}, [3, 5, 8]),
    ({"must": [{"is_null": {"key": "color"}}]}, [4]),
    # nested object condition, raw form
    ({"must": [{"nested": {"key": "items", "filter": {"must": [{"key": "name", "match": {"value": "apple"}}, {"key": "qty", "range": {"gte": 4}}]}}}]}, [4, 6]),
    # min_should raw
    ({"min_should": {"conditions": [{"key": "kind", "match": {"value": "x"}}, {"key": "count", "range": {"lt": 3}}], "min_count": 2}}, [1]),
    # empty filter matches everything
    ({}, ALL_IDS),
]


@pytest.mark.parametrize("flt,expected", RAW_CASES, ids=[str(i) for i in range(len(RAW_CASES))])
def test_filter_raw_json(rest, fcoll, flt, expected):
    res = rest.ok("POST", f"/collections/{fcoll}/points/scroll", json={"filter": flt, "limit": 100, "with_payload": False})
    assert sorted(p["id"] for p in res["points"]) == expected, f"filter {flt}"
    cnt = rest.ok("POST", f"/collections/{fcoll}/points/count", json={"filter": flt})
    assert cnt["count"] == len(expected)
    hits = rest.ok("POST", f"/collections/{fcoll}/points/query", json={"query": [1.0, 0.0], "filter": flt, "limit": 100})
    assert sorted(p["id"] for p in hits["points"]) == expected
