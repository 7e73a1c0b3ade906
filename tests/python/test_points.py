"""Point writes and reads (spec §3.1-§3.3)."""

import uuid

import numpy as np
import pytest
from qdrant_client import models

from qhelpers import assert_error, assert_ok_envelope, wait_until


def make_dot(client, name, size=4):
    client.create_collection(name, vectors_config=models.VectorParams(size=size, distance=models.Distance.DOT))


def vec(i, size=4):
    return [float(i), float(i) + 0.5, -float(i), 1.0][:size]


def test_upsert_list_and_retrieve(client, collection_name):
    make_dot(client, collection_name)
    res = client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=vec(i), payload={"i": i, "name": f"p{i}"}) for i in range(10)],
        wait=True,
    )
    assert res.status == models.UpdateStatus.COMPLETED
    # As in Qdrant, a fresh (one-shard) collection numbers its operations from 0.
    assert res.operation_id == 0, res
    again = client.upsert(collection_name, points=[models.PointStruct(id=0, vector=vec(0))], wait=True)
    assert again.operation_id == 1, again
    recs = client.retrieve(collection_name, ids=[3, 7], with_payload=True, with_vectors=True)
    assert sorted(r.id for r in recs) == [3, 7]
    for r in recs:
        assert r.payload == {"i": r.id, "name": f"p{r.id}"}
        assert r.vector == pytest.approx(vec(r.id))
    assert client.count(collection_name).count == 10


def test_upsert_batch_form(client, collection_name):
    make_dot(client, collection_name)
    ids = list(range(100, 110))
    res = client.upsert(
        collection_name,
        points=models.Batch(ids=ids, vectors=[vec(i) for i in ids], payloads=[{"k": i} if i % 2 else {} for i in ids]),
        wait=True,
    )
    assert res.status == models.UpdateStatus.COMPLETED
    recs = {r.id: r for r in client.retrieve(collection_name, ids=ids, with_vectors=True)}
    assert sorted(recs) == ids
    for i in ids:
        assert recs[i].vector == pytest.approx(vec(i))
        if i % 2:
            assert recs[i].payload == {"k": i}
        else:
            assert not recs[i].payload


def test_upsert_batch_named_vectors_raw(rest, collection_name):
    rest.ok(
        "PUT",
        f"/collections/{collection_name}",
        json={"vectors": {"a": {"size": 2, "distance": "Dot"}, "b": {"size": 3, "distance": "Euclid"}}},
    )
    r = rest.put(
        f"/collections/{collection_name}/points?wait=true",
        json={"batch": {"ids": [1, 2], "vectors": {"a": [[1, 2], [3, 4]], "b": [[1, 1, 1], [2, 2, 2]]}, "payloads": [None, {"x": 2}]}},
    )
    assert assert_ok_envelope(r)["status"] == "completed"
    got = rest.ok("POST", f"/collections/{collection_name}/points", json={"ids": [2], "with_vector": True})
    assert got[0]["vector"] == {"a": [3.0, 4.0], "b": [2.0, 2.0, 2.0]}
    assert got[0]["payload"] == {"x": 2}
    got = rest.ok("GET", f"/collections/{collection_name}/points/1")
    assert got["vector"] == {"a": [1.0, 2.0], "b": [1.0, 1.0, 1.0]}
    assert not got.get("payload"), "null payload in batch form means no payload"


def test_upsert_overwrites_existing_point(client, collection_name):
    make_dot(client, collection_name)
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=vec(1), payload={"a": 1, "b": 2})], wait=True)
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=vec(5), payload={"c": 3})], wait=True)
    r = client.retrieve(collection_name, [1], with_vectors=True)[0]
    assert r.payload == {"c": 3}, "upsert replaces the whole payload"
    assert r.vector == pytest.approx(vec(5))
    assert client.count(collection_name).count == 1


def test_uuid_ids_round_trip_canonical(client, rest, collection_name):
    make_dot(client, collection_name)
    u1 = uuid.uuid4()
    u2 = uuid.uuid4()
    # send one upper-case and one in simple (no hyphens) form, plus an integer id
    rest.ok(
        "PUT",
        f"/collections/{collection_name}/points?wait=true",
        json={
            "points": [
                {"id": str(u1).upper(), "vector": vec(1), "payload": {"n": 1}},
                {"id": u2.hex, "vector": vec(2), "payload": {"n": 2}},
                {"id": 42, "vector": vec(3), "payload": {"n": 3}},
            ]
        },
    )
    pts, _ = client.scroll(collection_name, limit=10)
    ids = {p.id for p in pts}
    assert ids == {str(u1), str(u2), 42}, ids
    # lookup by any form of the uuid
    got = rest.ok("GET", f"/collections/{collection_name}/points/{str(u1).upper()}")
    assert got["id"] == str(u1)
    assert got["payload"] == {"n": 1}
    got = client.retrieve(collection_name, [str(u2)])
    assert [g.id for g in got] == [str(u2)]


def test_wait_false_acknowledged(rest, collection_name):
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    r = rest.put(
        f"/collections/{collection_name}/points?wait=false",
        json={"points": [{"id": i, "vector": vec(i)} for i in range(20)]},
    )
    res = assert_ok_envelope(r)
    assert res["status"] == "acknowledged", res
    assert "operation_id" in res
    # default (no wait param) is also wait=false
    r = rest.put(f"/collections/{collection_name}/points", json={"points": [{"id": 99, "vector": vec(9)}]})
    assert assert_ok_envelope(r)["status"] == "acknowledged"
    wait_until(
        lambda: rest.ok("POST", f"/collections/{collection_name}/points/count", json={"exact": True})["count"] == 21,
        what="acknowledged points to become visible",
    )
    r = rest.put(f"/collections/{collection_name}/points?wait=true", json={"points": [{"id": 100, "vector": vec(1)}]})
    assert assert_ok_envelope(r)["status"] == "completed"


def test_get_point_by_id(rest, client, collection_name):
    make_dot(client, collection_name)
    client.upsert(collection_name, points=[models.PointStruct(id=5, vector=vec(5), payload={"a": [1, 2]})], wait=True)
    got = rest.ok("GET", f"/collections/{collection_name}/points/5")
    assert got["id"] == 5
    assert got["payload"] == {"a": [1, 2]}
    assert got["vector"] == pytest.approx(vec(5))
    r = rest.get(f"/collections/{collection_name}/points/6")
    assert_error(r, 404, "Not found: Point with id 6 does not exists!")
    r = rest.get("/collections/no_such_collection_getpt/points/1")
    assert_error(r, 404, "Not found: Collection `no_such_collection_getpt` doesn't exist!")


def test_retrieve_many_skips_missing(rest, client, collection_name):
    make_dot(client, collection_name)
    client.upsert(collection_name, points=[models.PointStruct(id=i, vector=vec(i), payload={"i": i}) for i in range(5)], wait=True)
    got = client.retrieve(collection_name, ids=[0, 2, 77, 4, 1000], with_payload=True)
    assert sorted(r.id for r in got) == [0, 2, 4]
    # raw: defaults with_payload=true, with_vector=false
    raw = rest.ok("POST", f"/collections/{collection_name}/points", json={"ids": [1, 123]})
    assert len(raw) == 1 and raw[0]["id"] == 1
    assert raw[0]["payload"] == {"i": 1}
    assert raw[0].get("vector") is None


def test_payload_and_vector_selectors(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "image": models.VectorParams(size=2, distance=models.Distance.DOT),
            "text": models.VectorParams(size=3, distance=models.Distance.DOT),
        },
    )
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(
                id=1,
                vector={"image": [1, 2], "text": [3, 4, 5]},
                payload={"a": 1, "b": {"c": 2, "d": 3}, "e": "x"},
            )
        ],
        wait=True,
    )
    r = client.retrieve(collection_name, [1], with_payload=["a", "e"])[0]
    assert r.payload == {"a": 1, "e": "x"}
    r = client.retrieve(collection_name, [1], with_payload=models.PayloadSelectorInclude(include=["b.c"]))[0]
    assert r.payload == {"b": {"c": 2}}
    r = client.retrieve(collection_name, [1], with_payload=models.PayloadSelectorExclude(exclude=["b", "e"]))[0]
    assert r.payload == {"a": 1}
    r = client.retrieve(collection_name, [1], with_payload=False, with_vectors=["text"])[0]
    assert not r.payload
    assert set(r.vector) == {"text"} and r.vector["text"] == pytest.approx([3, 4, 5])
    r = client.retrieve(collection_name, [1], with_vectors=True)[0]
    assert set(r.vector) == {"image", "text"}
    r = client.retrieve(collection_name, [1], with_vectors=False)[0]
    assert r.vector is None
    # same selectors on scroll and query
    pts, _ = client.scroll(collection_name, with_payload=["b"], with_vectors=["image"])
    assert pts[0].payload == {"b": {"c": 2, "d": 3}}
    assert set(pts[0].vector) == {"image"}
    hits = client.query_points(
        collection_name, query=[1, 1], using="image", with_payload=models.PayloadSelectorExclude(exclude=["a"]), with_vectors=["text"]
    ).points
    assert hits[0].payload == {"b": {"c": 2, "d": 3}, "e": "x"}
    assert set(hits[0].vector) == {"text"}


def test_delete_by_ids_and_filter(client, collection_name):
    make_dot(client, collection_name)
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=vec(i), payload={"group": "a" if i < 10 else "b", "i": i}) for i in range(20)],
        wait=True,
    )
    res = client.delete(collection_name, points_selector=models.PointIdsList(points=[0, 1, 2, 555]), wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    assert client.count(collection_name).count == 17
    client.delete(
        collection_name,
        points_selector=models.FilterSelector(
            filter=models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value="b"))])
        ),
        wait=True,
    )
    pts, _ = client.scroll(collection_name, limit=100)
    assert sorted(p.id for p in pts) == list(range(3, 10))
    assert client.retrieve(collection_name, [0, 15]) == []


def test_payload_operations(client, collection_name):
    make_dot(client, collection_name)
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=vec(i), payload={"a": i, "keep": True, "nested": {"b": {"x": 0}, "y": 1}}) for i in range(4)],
        wait=True,
    )

    def payload(pid):
        return client.retrieve(collection_name, [pid], with_payload=True)[0].payload

    # set_payload merges
    r = client.set_payload(collection_name, payload={"a": 100, "new": "v"}, points=[0], wait=True)
    assert r.status == models.UpdateStatus.COMPLETED
    assert payload(0) == {"a": 100, "new": "v", "keep": True, "nested": {"b": {"x": 0}, "y": 1}}
    # set_payload with key: merge at nested path
    client.set_payload(collection_name, payload={"c": 1}, points=[1], key="nested.b", wait=True)
    assert payload(1) == {"a": 1, "keep": True, "nested": {"b": {"x": 0, "c": 1}, "y": 1}}
    # set_payload by filter
    client.set_payload(
        collection_name,
        payload={"flag": "f"},
        points=models.Filter(must=[models.FieldCondition(key="a", match=models.MatchValue(value=2))]),
        wait=True,
    )
    assert payload(2)["flag"] == "f"
    assert "flag" not in payload(3)
    # overwrite replaces
    client.overwrite_payload(collection_name, payload={"only": 1}, points=[2], wait=True)
    assert payload(2) == {"only": 1}
    # delete_payload keys (incl. nested path)
    client.delete_payload(collection_name, keys=["keep", "nested.y"], points=[3], wait=True)
    assert payload(3) == {"a": 3, "nested": {"b": {"x": 0}}}
    # clear_payload
    client.clear_payload(collection_name, points_selector=models.PointIdsList(points=[3]), wait=True)
    assert not payload(3)
    # others untouched
    assert payload(1)["keep"] is True
    # vectors are untouched by payload ops
    assert client.retrieve(collection_name, [2], with_vectors=True)[0].vector == pytest.approx(vec(2))


def test_set_payload_unknown_point_404(rest, client, collection_name):
    make_dot(client, collection_name)
    r = rest.post(f"/collections/{collection_name}/points/payload?wait=true", json={"payload": {"a": 1}, "points": [12345]})
    assert_error(r, 404, "12345")


def test_update_and_delete_named_vectors(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "image": models.VectorParams(size=2, distance=models.Distance.DOT),
            "text": models.VectorParams(size=3, distance=models.Distance.DOT),
        },
    )
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector={"image": [i, i], "text": [i, i, i]}, payload={"p": i}) for i in range(1, 4)],
        wait=True,
    )
    res = client.update_vectors(
        collection_name, points=[models.PointVectors(id=1, vector={"image": [9, 8]})], wait=True
    )
    assert res.status == models.UpdateStatus.COMPLETED
    r = client.retrieve(collection_name, [1], with_vectors=True)[0]
    assert r.vector["image"] == pytest.approx([9, 8])
    assert r.vector["text"] == pytest.approx([1, 1, 1])
    assert r.payload == {"p": 1}
    client.delete_vectors(collection_name, vectors=["text"], points=[1, 2], wait=True)
    for pid in (1, 2):
        r = client.retrieve(collection_name, [pid], with_vectors=True)[0]
        assert "text" not in (r.vector or {}), r.vector
        assert "image" in r.vector
    r = client.retrieve(collection_name, [3], with_vectors=True)[0]
    assert set(r.vector) == {"image", "text"}
    # point still exists and is found by the remaining vector, not by the deleted one
    assert client.count(collection_name).count == 3
    hits = client.query_points(collection_name, query=[1, 1, 1], using="text", limit=10).points
    assert sorted(h.id for h in hits) == [3]


def test_batch_update_points(client, collection_name):
    make_dot(client, collection_name)
    client.upsert(collection_name, points=[models.PointStruct(id=i, vector=vec(i), payload={"i": i}) for i in range(5)], wait=True)
    ops = [
        models.UpsertOperation(upsert=models.PointsList(points=[models.PointStruct(id=10, vector=vec(10), payload={"i": 10})])),
        models.DeleteOperation(delete=models.PointIdsList(points=[0])),
        models.SetPayloadOperation(set_payload=models.SetPayload(payload={"s": 1}, points=[1])),
        models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(payload={"o": 2}, points=[2])),
        models.DeletePayloadOperation(delete_payload=models.DeletePayload(keys=["i"], points=[3])),
        models.ClearPayloadOperation(clear_payload=models.PointIdsList(points=[4])),
        models.UpdateVectorsOperation(update_vectors=models.UpdateVectors(points=[models.PointVectors(id=1, vector=vec(7))])),
        models.UpsertOperation(upsert=models.PointsBatch(batch=models.Batch(ids=[11], vectors=[vec(11)], payloads=[{"i": 11}]))),
    ]
    results = client.batch_update_points(collection_name, update_operations=ops, wait=True)
    assert len(results) == len(ops)
    assert all(r.status == models.UpdateStatus.COMPLETED for r in results)
    recs = {r.id: r for r in client.retrieve(collection_name, [0, 1, 2, 3, 4, 10, 11], with_vectors=True)}
    assert set(recs) == {1, 2, 3, 4, 10, 11}
    assert recs[1].payload == {"i": 1, "s": 1}
    assert recs[1].vector == pytest.approx(vec(7))
    assert recs[2].payload == {"o": 2}
    assert not recs[3].payload
    assert not recs[4].payload
    assert recs[10].payload == {"i": 10}
    assert recs[11].payload == {"i": 11}


def test_batch_update_delete_vectors_raw(rest, collection_name):
    rest.ok(
        "PUT",
        f"/collections/{collection_name}",
        json={"vectors": {"a": {"size": 2, "distance": "Dot"}, "b": {"size": 2, "distance": "Dot"}}},
    )
    rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json={"points": [{"id": 1, "vector": {"a": [1, 1], "b": [2, 2]}}]})
    res = rest.ok(
        "POST",
        f"/collections/{collection_name}/points/batch?wait=true",
        json={"operations": [{"delete_vectors": {"points": [1], "vector": ["b"]}}, {"set_payload": {"payload": {"z": 1}, "points": [1]}}]},
    )
    assert isinstance(res, list) and len(res) == 2
    assert all(x["status"] == "completed" for x in res)
    got = rest.ok("GET", f"/collections/{collection_name}/points/1")
    assert got["vector"] == {"a": [1.0, 1.0]}
    assert got["payload"] == {"z": 1}


def test_update_mode_insert_only_and_update_only(rest, collection_name):
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    base = f"/collections/{collection_name}/points?wait=true"
    rest.ok("PUT", base, json={"points": [{"id": 1, "vector": vec(1), "payload": {"v": "orig"}}]})
    # insert_only: existing point 1 untouched, new point 2 inserted
    r = rest.put(
        base,
        json={
            "points": [
                {"id": 1, "vector": vec(9), "payload": {"v": "changed"}},
                {"id": 2, "vector": vec(2), "payload": {"v": "new"}},
            ],
            "update_mode": "insert_only",
        },
    )
    assert assert_ok_envelope(r)["status"] == "completed"
    p1 = rest.ok("GET", f"/collections/{collection_name}/points/1")
    assert p1["payload"] == {"v": "orig"}
    assert p1["vector"] == pytest.approx(vec(1))
    assert rest.ok("GET", f"/collections/{collection_name}/points/2")["payload"] == {"v": "new"}
    # update_only: existing point 2 updated, new point 3 not inserted
    r = rest.put(
        base,
        json={
            "points": [
                {"id": 2, "vector": vec(5), "payload": {"v": "updated"}},
                {"id": 3, "vector": vec(3), "payload": {"v": "never"}},
            ],
            "update_mode": "update_only",
        },
    )
    assert assert_ok_envelope(r)["status"] == "completed"
    p2 = rest.ok("GET", f"/collections/{collection_name}/points/2")
    assert p2["payload"] == {"v": "updated"}
    assert p2["vector"] == pytest.approx(vec(5))
    assert rest.get(f"/collections/{collection_name}/points/3").status_code == 404
    # batch form with insert_only
    rest.ok(
        "PUT",
        base,
        json={"batch": {"ids": [1, 4], "vectors": [vec(0), vec(4)], "payloads": [{"v": "x"}, {"v": "four"}]}, "update_mode": "insert_only"},
    )
    assert rest.ok("GET", f"/collections/{collection_name}/points/1")["payload"] == {"v": "orig"}
    assert rest.ok("GET", f"/collections/{collection_name}/points/4")["payload"] == {"v": "four"}
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={})["count"] == 3


def test_update_filter_conditional_upsert(rest, collection_name):
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    base = f"/collections/{collection_name}/points?wait=true"
    rest.ok("PUT", base, json={"points": [{"id": 1, "vector": vec(1), "payload": {"ver": 1}}, {"id": 2, "vector": vec(2), "payload": {"ver": 5}}]})
    # only points whose stored payload matches update_filter get updated
    rest.ok(
        "PUT",
        base,
        json={
            "points": [{"id": 1, "vector": vec(1), "payload": {"ver": 3}}, {"id": 2, "vector": vec(2), "payload": {"ver": 3}}],
            "update_filter": {"must": [{"key": "ver", "range": {"lt": 3}}]},
        },
    )
    assert rest.ok("GET", f"/collections/{collection_name}/points/1")["payload"] == {"ver": 3}
    assert rest.ok("GET", f"/collections/{collection_name}/points/2")["payload"] == {"ver": 5}


def test_cosine_vectors_are_stored_normalized(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE))
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=[3.0, 0.0, 4.0])], wait=True)
    v = client.retrieve(collection_name, [1], with_vectors=True)[0].vector
    assert v == pytest.approx([0.6, 0.0, 0.8], abs=1e-5)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_concurrent_upserts_from_many_threads(rest, collection_name):
    """Parallel wait=true writers: every point lands exactly once, no request fails."""
    import concurrent.futures as cf

    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 2})

    def writer(t):
        from qhelpers import Rest as _Rest

        r = _Rest(rest.url)
        for b in range(15):
            base = t * 1000 + b * 10
            res = r.ok(
                "PUT",
                f"/collections/{collection_name}/points?wait=true",
                json={"points": [{"id": base + j, "vector": vec(base + j), "payload": {"t": t}} for j in range(10)]},
            )
            assert res["status"] == "completed"
        return t

    with cf.ThreadPoolExecutor(8) as ex:
        assert sorted(ex.map(writer, range(8))) == list(range(8))
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={})["count"] == 8 * 150
    for t in (0, 7):
        c = rest.ok("POST", f"/collections/{collection_name}/points/count", json={"filter": {"must": [{"key": "t", "match": {"value": t}}]}})
        assert c["count"] == 150


def test_uuid_ids_in_filters_and_deletes(client, collection_name):
    make_dot(client, collection_name)
    ids = [str(uuid.uuid4()) for _ in range(6)]
    client.upsert(collection_name, points=[models.PointStruct(id=u, vector=vec(k), payload={"k": k}) for k, u in enumerate(ids)], wait=True)
    flt = models.Filter(must=[models.HasIdCondition(has_id=[ids[1], ids[4], str(uuid.uuid4())])])
    pts, _ = client.scroll(collection_name, scroll_filter=flt)
    assert sorted(p.id for p in pts) == sorted([ids[1], ids[4]])
    client.delete(collection_name, points_selector=models.PointIdsList(points=[ids[0]]), wait=True)
    client.delete(collection_name, points_selector=models.FilterSelector(filter=flt), wait=True)
    pts, _ = client.scroll(collection_name)
    assert sorted(p.id for p in pts) == sorted([ids[2], ids[3], ids[5]])


def test_payload_json_types_round_trip(client, rest, collection_name):
    make_dot(client, collection_name)
    payload = {
        "str": "héllo wörld ✓ 🚀",
        "empty_str": "",
        "int": 42,
        "neg": -7,
        "big": 9223372036854775807,
        "small": -9223372036854775808,
        "float": 0.1,
        "exp": 1.25e-10,
        "pi": 3.141592653589793,
        "bool_t": True,
        "bool_f": False,
        "null": None,
        "arr": [1, "two", 3.5, None, {"x": [True]}],
        "empty_arr": [],
        "obj": {"a": {"b": {"c": [1, 2, {"d": "deep"}]}}},
        "empty_obj": {},
        "key with spaces": 1,
        "ключ": "значение",
    }
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=vec(1), payload=payload)], wait=True)
    got = rest.ok("GET", f"/collections/{collection_name}/points/1")["payload"]
    assert got == payload
    assert client.retrieve(collection_name, [1])[0].payload == payload


def test_duplicate_ids_in_one_request_last_wins(rest, collection_name):
    rest.ok("PUT", f"/collections/{collection_name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    rest.ok(
        "PUT",
        f"/collections/{collection_name}/points?wait=true",
        json={"points": [{"id": 1, "vector": vec(1), "payload": {"v": "first"}}, {"id": 1, "vector": vec(2), "payload": {"v": "second"}}]},
    )
    got = rest.ok("GET", f"/collections/{collection_name}/points/1")
    assert got["payload"] == {"v": "second"}
    assert got["vector"] == pytest.approx(vec(2))
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={})["count"] == 1


def test_large_single_batch(client, collection_name):
    n = 5000
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=8, distance=models.Distance.EUCLID), shard_number=2)
    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(n, 8)).astype(np.float32)
    client.upsert(collection_name, points=models.Batch(ids=list(range(n)), vectors=vecs.tolist(), payloads=[{"i": i} for i in range(n)]), wait=True)
    assert client.count(collection_name).count == n
    info = client.get_collection(collection_name)
    assert info.points_count == n
    q = rng.normal(size=8).astype(np.float32)
    hits = client.query_points(collection_name, query=q.tolist(), limit=5).points
    exp = np.argsort(np.linalg.norm(vecs - q, axis=1))[:5]
    assert [h.id for h in hits] == exp.tolist()
