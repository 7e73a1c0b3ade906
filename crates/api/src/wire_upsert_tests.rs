use super::*;

/// The buffered reading, as the upsert handler did it before: the body as a `Value`, then
/// `wire::upsert_operation`.
fn buffered(body: &str) -> Result<Write, ApiError> {
    wire::upsert_operation(serde_json::from_str::<Value>(body).map_err(ApiError::format)?)
}

/// A result or refusal as text: the write (operation and shard keys) or the status and message.
fn text(result: Result<Write, ApiError>) -> String {
    match result {
        Ok(write) => format!("{:?} {:?}", write.op, write.shard_key),
        Err(e) => format!("{} {}", e.status, e.message),
    }
}

/// Whether the typed reading takes `body` itself (no second, buffered reading).
fn typed(body: &str) -> bool {
    serde_json::from_str::<PointsList>(body).is_ok()
}

const UUID: &str = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26";

/// Bodies the typed reading takes.
fn accepted() -> Vec<String> {
    vec![
        r#"{"points": [{"id": 1, "vector": [0.5, -1, 2e-3, 1e40], "payload": {"i": 1, "a": {"b": [1, "x"]}}}]}"#.into(),
        r#"{"points": []}"#.into(),
        format!(r#"{{"points": [{{"id": "{UUID}", "vector": [], "payload": null}}, {{"id": 2}}]}}"#),
        r#"{"points": [{"id": 3, "vector": null, "extra": {"x": [1, 2]}}], "other": 1}"#.into(),
        r#"{"points": [{"id": 4, "vector": [[1, 2], [3, 4]]}]}"#.into(),
        r#"{"points": [{"id": 5, "vector": {"a": [1, 2], "s": {"indices": [1, 5], "values": [0.5, 1]}}}]}"#.into(),
        r#"{"points": [{"id": 6, "vector": {"m": [[1.5], [2.5]], "e": []}}]}"#.into(),
        r#"{"points": [{"id": 7, "vector": {}}], "shard_key": "k1", "update_mode": "insert_only"}"#.into(),
        r#"{"update_filter": {"must": [{"key": "a", "match": {"value": 1}}]}, "points": [{"vector": [1], "id": 8}]}"#
            .into(),
        r#"{"points": [{"id": 9, "vector": [1, 2], "payload": {"k": 1, "k": 2}}], "shard_key": null}"#.into(),
        r#"{"points": [{"id": 10, "vector": [18446744073709551616, -9223372036854775808, 0]}]}"#.into(),
    ]
}

/// Bodies left to the buffered reading: some accepted there, most refused.
fn left_to_buffered() -> Vec<String> {
    vec![
        r#"{"batch": {"ids": [1, 2], "vectors": [[1, 2], [3, 4]]}}"#.into(),
        r#"{"points": [{"id": 1, "vector": [1]}], "batch": null}"#.into(),
        r#"{"points": [{"id": 1, "vector": [1], "id": 2}]}"#.into(),
        r#"{"points": [], "points": [{"id": 1, "vector": [1]}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": [1, "a"]}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": [1, [2]]}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": ["a", 1]}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": {"a": [1, null]}}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": {"a": {"indices": [1]}}}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": {"a": 3}}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": 3}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": "x"}]}"#.into(),
        r#"{"points": [{"id": -1, "vector": [1]}]}"#.into(),
        r#"{"points": [{"id": 1.5, "vector": [1]}]}"#.into(),
        r#"{"points": [{"id": "abc", "vector": [1]}]}"#.into(),
        r#"{"points": [{"vector": [1]}]}"#.into(),
        r#"{"points": [{"id": 1, "payload": [1]}]}"#.into(),
        r#"{"points": [{"id": 1, "payload": 3}]}"#.into(),
        r#"{"points": {"id": 1}}"#.into(),
        r#"{"points": [1]}"#.into(),
        r#"{"points": null}"#.into(),
        r#"{}"#.into(),
        r#"[]"#.into(),
        r#"3"#.into(),
        r#""#.into(),
        r#"{"points": [{"id": 1, "vector": [1, 2,]}]}"#.into(),
        r#"{"points": [{"id": 1, "vector": [1, 2]}]} x"#.into(),
        r#"{"points": [{"id": 1, "vector": [1e400]}]}"#.into(),
        r#"{"points": [], "shard_key": {"x": 1}}"#.into(),
        r#"{"points": [], "update_mode": "sometimes"}"#.into(),
        r#"{"points": [], "update_filter": {"must": 3}}"#.into(),
        r#"{"points": [], "shard_key": "a", "shard_key": "b"}"#.into(),
    ]
}

#[test]
fn the_typed_reading_takes_the_common_shapes_and_reads_them_as_before() {
    for body in accepted() {
        assert!(typed(&body), "not taken by the typed reading: {body}");
        assert_eq!(text(upsert_body(body.as_bytes())), text(buffered(&body)), "{body}");
    }
}

#[test]
fn other_bodies_are_read_and_refused_exactly_as_before() {
    for body in left_to_buffered() {
        assert!(!typed(&body), "taken by the typed reading: {body}");
        assert_eq!(text(upsert_body(body.as_bytes())), text(buffered(&body)), "{body}");
    }
}

#[test]
fn refusals_keep_their_status_and_text() {
    let e = upsert_body(br#"{"points": [{"id": 1, "vector": [1, "a"]}]}"#).unwrap_err();
    assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
    assert_eq!(e.message, "Format error in JSON body: data did not match any variant of untagged enum VectorStruct");
    let e = upsert_body(b"{\"points\": [").unwrap_err();
    assert!(e.message.starts_with("Format error in JSON body: EOF while parsing"), "{}", e.message);
}

#[test]
fn a_dense_vector_reads_as_its_numbers() {
    let write = upsert_body(br#"{"points": [{"id": 1, "vector": [0.1, 2, -3.5]}]}"#).unwrap();
    let quiver_types::ops::UpdateOperation::Upsert { points, .. } = write.op else { panic!("not an upsert") };
    assert_eq!(points[0].vectors[""], Vector::Dense(vec![0.1, 2.0, -3.5]));
}

/// The points of an upsert body, read as the handler reads it.
fn upserted(body: &str) -> Vec<PointStruct> {
    let write = upsert_body(body.as_bytes()).unwrap();
    let quiver_types::ops::UpdateOperation::Upsert { points, .. } = write.op else {
        panic!("not an upsert: {:?}", write.op)
    };
    points
}

#[test]
fn batches_of_unnamed_multivectors_are_upserted() {
    let points = upserted(r#"{"batch": {"ids": [1, 2], "vectors": [[[0.5, 1.5], [2.5, 3.5], [1, 0.1]], [[1, 2]]]}}"#);
    assert_eq!(points[0].vectors[""], Vector::Multi(vec![vec![0.5, 1.5], vec![2.5, 3.5], vec![1.0, 0.1]]));
    assert_eq!(points[1].vectors[""], Vector::Multi(vec![vec![1.0, 2.0]]));
    // Dense batches and named batches read as before.
    let points = upserted(r#"{"batch": {"ids": [1, 2], "vectors": [[1, 2], [3, 4]]}}"#);
    assert_eq!(points[1].vectors[""], Vector::Dense(vec![3.0, 4.0]));
    let named =
        r#"{"batch": {"ids": [1], "vectors": {"m": [[[1, 2], [3, 4]]], "s": [{"indices": [1], "values": [2]}]}}}"#;
    let points = upserted(named);
    assert_eq!(points[0].vectors["m"], Vector::Multi(vec![vec![1.0, 2.0], vec![3.0, 4.0]]));
    let sparse = quiver_types::SparseVector { indices: vec![1], values: vec![2.0] };
    assert_eq!(points[0].vectors["s"], Vector::Sparse(sparse));
    let e = upsert_body(br#"{"batch": {"ids": [1], "vectors": [[[1, 2]], [[3, 4]]]}}"#).unwrap_err();
    let expected = "Validation error in JSON body: [batch: number of ids and vectors must be equal (1 != 2)]";
    assert_eq!((e.status.as_u16(), e.message.as_str()), (422, expected));
}

#[test]
fn a_multivector_of_two_whole_number_rows_is_never_sparse() {
    let rows = Vector::Multi(vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
    for body in [
        r#"{"points": [{"id": 1, "vector": {"mv": [[1, 2, 3], [4, 5, 6]]}}]}"#,
        // Left to the buffered reading (a repeated key).
        r#"{"points": [], "points": [{"id": 1, "vector": {"mv": [[1, 2, 3], [4, 5, 6]]}}]}"#,
        r#"{"batch": {"ids": [1], "vectors": {"mv": [[[1, 2, 3], [4, 5, 6]]]}}}"#,
    ] {
        assert_eq!(upserted(body)[0].vectors["mv"], rows, "{body}");
    }
    assert_eq!(upserted(r#"{"points": [{"id": 1, "vector": [[1, 2, 3], [4, 5, 6]]}]}"#)[0].vectors[""], rows);
    let update = r#"{"points": [{"id": 1, "vector": {"mv": [[1, 2, 3], [4, 5, 6]]}}]}"#;
    let write = serde_json::from_str::<wire::UpdateVectorsWire>(update).unwrap().into_operation().unwrap();
    let quiver_types::ops::UpdateOperation::UpdateVectors { points, .. } = write.op else { panic!("{:?}", write.op) };
    assert_eq!(points[0].vectors["mv"], rows);
}

#[test]
fn inference_inputs_are_refused_by_name() {
    let refused = crate::inference::not_initialized().message;
    for body in [
        r#"{"batch": {"ids": [1], "vectors": [{"text": "hello", "model": "m"}]}}"#,
        r#"{"batch": {"ids": [1], "vectors": {"d": [{"image": "x.png", "model": "m"}]}}}"#,
        r#"{"points": [{"id": 1, "vector": {"text": "hello", "model": "m"}}]}"#,
        r#"{"points": [{"id": 1, "vector": {"d": {"object": {}, "model": "m"}}}]}"#,
    ] {
        let e = upsert_body(body.as_bytes()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.message.as_str()), (400, refused.as_str()), "{body}");
    }
    // A map naming vectors `text` and `model` is vectors, not a document.
    let points = upserted(r#"{"points": [{"id": 1, "vector": {"text": [1], "model": [2]}}]}"#);
    assert_eq!(points[0].vectors["model"], Vector::Dense(vec![2.0]));
}
