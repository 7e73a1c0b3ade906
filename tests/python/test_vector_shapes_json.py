"""Vector shapes in REST JSON bodies and the numeric ranges of collection configs, over real HTTP:
a batch upsert of unnamed multivectors; a multivector of exactly two whole-number rows (which a
lenient reading took for a sparse `(indices, values)` pair) through upsert, update vectors,
query, recommend and the legacy search family; the sparse object form still sparse; and config
values out of Qdrant's ranges refused with 422 and nothing created or changed."""

import numpy as np
import pytest

from qhelpers import assert_error

MAXSIM = {"comparator": "max_sim"}


def create(rest, name, body):
    rest.ok("PUT", f"/collections/{name}", json=body)


def assert_rows(got, expected):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64), rtol=1e-6)


def vectors_of(rest, name, ids):
    points = rest.ok("POST", f"/collections/{name}/points", json={"ids": ids, "with_vector": True})
    return {p["id"]: p["vector"] for p in points}


def test_batch_upsert_of_unnamed_multivectors_then_retrieve(rest, collection_name):
    create(rest, collection_name, {"vectors": {"size": 2, "distance": "Dot", "multivector_config": MAXSIM}})
    mv1 = [[0.5, 1.5], [2.5, 3.5], [1.0, 0.1]]
    mv2 = [[1.0, 2.0]]
    body = {"batch": {"ids": [1, 2], "vectors": [mv1, mv2], "payloads": [{"k": 1}, None]}}
    result = rest.ok("PUT", f"/collections/{collection_name}/points?wait=true", json=body)
    assert result["status"] == "completed"
    got = vectors_of(rest, collection_name, [1, 2])
    assert_rows(got[1], mv1)
    assert_rows(got[2], mv2)
    # The stored multivector is queried by max_sim: [1, 0] against point 1's rows gives 2.5.
    hits = rest.ok("POST", f"/collections/{collection_name}/points/query", json={"query": [[1, 0]]})["points"]
    assert [(h["id"], h["score"]) for h in hits] == [(1, pytest.approx(2.5)), (2, pytest.approx(1.0))]
    # A count that does not match the ids is refused and changes nothing.
    bad = {"batch": {"ids": [3], "vectors": [mv1, mv2]}}
    r = rest.put(f"/collections/{collection_name}/points?wait=true", json=bad)
    assert assert_error(r, 422) == "Validation error in JSON body: [batch: number of ids and vectors must be equal (1 != 2)]"
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={"exact": True})["count"] == 2


def test_batch_upsert_refuses_inference_inputs_by_name(rest, collection_name):
    create(rest, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    body = {"batch": {"ids": [1], "vectors": [{"text": "hello", "model": "some/model"}]}}
    r = rest.put(f"/collections/{collection_name}/points?wait=true", json=body)
    assert assert_error(r, 400).startswith("Bad request: InferenceService is not initialized.")
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={"exact": True})["count"] == 0


def test_two_whole_number_rows_are_a_multivector(rest, collection_name):
    create(
        rest,
        collection_name,
        {
            "vectors": {"mv": {"size": 3, "distance": "Dot", "multivector_config": MAXSIM}},
            "sparse_vectors": {"sp": {}},
        },
    )
    url = f"/collections/{collection_name}/points"
    rows = [[1, 2, 3], [4, 5, 6]]
    rest.ok("PUT", f"{url}?wait=true", json={"points": [{"id": 1, "vector": {"mv": rows, "sp": {"indices": [1, 2], "values": [3, 4]}}}]})
    got = vectors_of(rest, collection_name, [1])[1]
    assert_rows(got["mv"], rows)
    assert got["sp"] == {"indices": [1, 2], "values": pytest.approx([3.0, 4.0])}
    # Update vectors with another two-row multivector.
    new_rows = [[0, 0, 1], [1, 0, 0]]
    rest.ok("PUT", f"{url}/vectors?wait=true", json={"points": [{"id": 1, "vector": {"mv": new_rows}}]})
    rest.ok("PUT", f"{url}?wait=true", json={"points": [{"id": 2, "vector": {"mv": [[1, 1, 1], [2, 2, 2]]}}]})
    assert_rows(vectors_of(rest, collection_name, [1])[1]["mv"], new_rows)
    # Query by a two-row multivector: max_sim of [[1,0,0],[0,0,1]] is 1 + 1 for point 1, 2 + 2 for 2.
    for query in ({"query": [[1, 0, 0], [0, 0, 1]]}, {"query": {"nearest": [[1, 0, 0], [0, 0, 1]]}}):
        hits = rest.ok("POST", f"{url}/query", json={**query, "using": "mv"})["points"]
        assert [(h["id"], h["score"]) for h in hits] == [(2, pytest.approx(4.0)), (1, pytest.approx(2.0))]
    # Recommend with a two-row example: point 2's rows are the most similar to [[2,2,2],[1,1,1]].
    rec = {"query": {"recommend": {"positive": [[[2, 2, 2], [1, 1, 1]]]}}, "using": "mv", "limit": 1}
    assert [h["id"] for h in rest.ok("POST", f"{url}/query", json=rec)["points"]] == [2]
    legacy = {"positive": [[[2, 2, 2], [1, 1, 1]]], "using": "mv", "limit": 1}
    assert [h["id"] for h in rest.ok("POST", f"{url}/recommend", json=legacy)] == [2]
    # The sparse vector is still read from its object form.
    sparse = {"query": {"indices": [2], "values": [1]}, "using": "sp"}
    assert [(h["id"], h["score"]) for h in rest.ok("POST", f"{url}/query", json=sparse)["points"]] == [(1, pytest.approx(4.0))]


def test_two_row_multivector_for_a_sparse_vector_is_refused(rest, collection_name):
    create(rest, collection_name, {"sparse_vectors": {"sp": {}}})
    r = rest.put(
        f"/collections/{collection_name}/points?wait=true",
        json={"points": [{"id": 1, "vector": {"sp": [[1, 2], [3, 4]]}}]},
    )
    assert_error(r, 400)
    assert rest.ok("POST", f"/collections/{collection_name}/points/count", json={"exact": True})["count"] == 0


@pytest.mark.parametrize(
    "extra, issue",
    [
        ({"optimizers_config": {"deleted_threshold": 2}}, "optimizers_config.deleted_threshold: value 2.0 invalid, must be from 0.0 to 1.0"),
        ({"optimizers_config": {"vacuum_min_vector_number": 10}}, "optimizers_config.vacuum_min_vector_number: value 10 invalid, must be 100 or larger"),
        ({"wal_config": {"wal_capacity_mb": 0}}, "wal_config.wal_capacity_mb: value 0 invalid, must be 1 or larger"),
        ({"hnsw_config": {"full_scan_threshold": 5}}, "hnsw_config.full_scan_threshold: value 5 invalid, must be 10 or larger"),
        (
            {"quantization_config": {"scalar": {"type": "int8", "quantile": 0.25}}},
            "quantization_config.scalar.quantile: value 0.25 invalid, must be from 0.5 to 1.0",
        ),
    ],
)
def test_create_out_of_range_is_422_and_creates_nothing(rest, collection_name, extra, issue):
    body = {"vectors": {"size": 2, "distance": "Dot"}, **extra}
    r = rest.put(f"/collections/{collection_name}", json=body)
    assert assert_error(r, 422) == f"Validation error in JSON body: [{issue}]"
    assert rest.ok("GET", f"/collections/{collection_name}/exists")["exists"] is False


def test_create_out_of_range_in_a_named_vector_is_422(rest, collection_name):
    body = {"vectors": {"a": {"size": 2, "distance": "Dot", "hnsw_config": {"ef_construct": 1}}}}
    r = rest.put(f"/collections/{collection_name}", json=body)
    assert assert_error(r, 422) == "Validation error in JSON body: [vectors.a.hnsw_config.ef_construct: value 1 invalid, must be 4 or larger]"
    assert rest.ok("GET", f"/collections/{collection_name}/exists")["exists"] is False


def test_update_out_of_range_is_422_and_changes_nothing(rest, collection_name):
    create(rest, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    before = rest.ok("GET", f"/collections/{collection_name}")["config"]
    for body, issue in [
        ({"optimizers_config": {"deleted_threshold": -0.1}}, "optimizers_config.deleted_threshold: value -0.1 invalid, must be from 0.0 to 1.0"),
        ({"hnsw_config": {"ef_construct": 3, "m": 8}}, "hnsw_config.ef_construct: value 3 invalid, must be 4 or larger"),
        ({"vectors": {"": {"hnsw_config": {"full_scan_threshold": 1}}}}, "vectors.hnsw_config.full_scan_threshold: value 1 invalid, must be 10 or larger"),
    ]:
        r = rest.patch(f"/collections/{collection_name}", json=body)
        assert assert_error(r, 422) == f"Validation error in JSON body: [{issue}]", body
    assert rest.ok("GET", f"/collections/{collection_name}")["config"] == before
    # In range: accepted and applied.
    rest.ok("PATCH", f"/collections/{collection_name}", json={"optimizers_config": {"deleted_threshold": 0.5}})
    after = rest.ok("GET", f"/collections/{collection_name}")["config"]
    assert after["optimizer_config"]["deleted_threshold"] == 0.5
