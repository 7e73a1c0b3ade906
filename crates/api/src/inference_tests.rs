use super::*;
use crate::inference_bm25::token_id;

fn ids(words: &[&str]) -> Vec<u32> {
    let mut ids: Vec<u32> = words.iter().map(|w| token_id(w)).collect();
    ids.sort_unstable();
    ids
}

fn indices(v: &Value) -> Vec<u32> {
    serde_json::from_value(v["indices"].clone()).unwrap()
}

#[test]
fn upsert_documents_become_sparse_vectors_in_place() {
    let doc = json!({"text": "Cats", "model": "Qdrant/bm25"});
    let body = upsert_body(json!({"points": [{"id": 1, "vector": {"s": doc.clone(), "d": [1.0]}}]})).unwrap();
    assert_eq!(indices(&body["points"][0]["vector"]["s"]), ids(&["cat"]));
    assert_eq!(body["points"][0]["vector"]["d"], json!([1.0]));
    // A document for the unnamed vector is named "".
    let body = upsert_body(json!({"points": [{"id": 1, "vector": doc.clone()}]})).unwrap();
    assert_eq!(indices(&body["points"][0]["vector"][""]), ids(&["cat"]));
    let body = upsert_body(json!({"batch": {"ids": [1, 2], "vectors": {"s": [doc.clone(), doc.clone()]}}})).unwrap();
    assert_eq!(indices(&body["batch"]["vectors"]["s"][1]), ids(&["cat"]));
    let body = upsert_body(json!({"batch": {"ids": [1], "vectors": [doc]}})).unwrap();
    assert_eq!(indices(&body["batch"]["vectors"][""][0]), ids(&["cat"]));
    // Named vectors called `text` and `model` are vectors.
    let named = json!({"points": [{"id": 1, "vector": {"text": [1.0], "model": [2.0]}}]});
    assert_eq!(upsert_body(named.clone()).unwrap(), named);
}

#[test]
fn other_models_images_and_objects_are_refused_as_qdrant_does() {
    let service = (400, not_initialized().message);
    let text_only = |m: &str| (400, format!("Wrong input: Only text input is supported for {m}."));
    for (vector, expected) in [
        (json!({"text": "x", "model": "sentence-transformers/all-minilm-l6-v2"}), service.clone()),
        (json!({"image": "https://x/y.png", "model": "Qdrant/clip"}), service.clone()),
        (json!({"object": {}, "model": "m"}), service.clone()),
        (json!({"image": "https://x/y.png", "model": "qdrant/bm25"}), text_only("qdrant/bm25")),
        (json!({"object": {"a": 1}, "model": "BM25"}), text_only("BM25")),
    ] {
        let e = upsert_body(json!({"points": [{"id": 1, "vector": {"v": vector}}]})).unwrap_err();
        assert_eq!((e.status.as_u16(), e.message), expected);
    }
    assert!(service.1.starts_with("Bad request: InferenceService is not initialized."));
}

#[test]
fn query_documents_get_unit_weights_at_every_vector_site() {
    let doc = json!({"text": "cats and dogs", "model": "qdrant/bm25", "options": {"k": 1.0}});
    let mut body = json!({
        "query": {"recommend": {"positive": [doc.clone()], "negative": [7]}},
        "prefetch": [
            {"query": doc.clone(), "using": "s"},
            {"query": {"nearest": doc.clone(), "mmr": {"diversity": 0.5}}, "prefetch": {"query": {"discover": {"target": doc.clone(), "context": [{"positive": doc.clone(), "negative": doc.clone()}]}}}},
            {"query": {"context": {"positive": doc.clone(), "negative": 3}}},
            {"query": {"relevance_feedback": {"target": doc.clone(), "feedback": [{"example": doc.clone(), "score": 1.0}]}}},
        ]
    });
    assert_eq!(embed_query_documents(&mut body).unwrap(), 9);
    let expected = json!({"indices": ids(&["cat", "dog"]), "values": [1.0, 1.0]});
    assert_eq!(body["query"]["recommend"]["positive"][0], expected);
    assert_eq!(body["query"]["recommend"]["negative"][0], json!(7));
    assert_eq!(body["prefetch"][1]["prefetch"]["query"]["discover"]["context"][0]["negative"], expected);
    assert_eq!(body["prefetch"][3]["query"]["relevance_feedback"]["feedback"][0]["example"], expected);
}

#[test]
fn bad_options_in_a_request_are_refused() {
    let doc = json!({"text": "x", "model": "qdrant/bm25", "options": {"b": 2}});
    let e = upsert_body(json!({"points": [{"id": 1, "vector": {"s": doc}}]})).unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.message.as_str()),
        (400, "Wrong input: BM25 b must be finite and in [0.0, 1.0], got 2")
    );
}
