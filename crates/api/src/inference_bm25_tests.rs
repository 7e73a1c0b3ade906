use super::*;
use serde_json::json;

fn model(options: Value) -> Result<Bm25, ApiError> {
    let Value::Object(map) = options else { panic!("options are an object") };
    Bm25::from_options(map)
}

fn weight_of(v: &SparseVector, token: &str) -> Option<f32> {
    let id = token_id(token);
    v.indices.iter().position(|i| *i == id).map(|p| v.values[p])
}

/// The reference formula, written out.
fn tf(n: f64, doc_len: f64, k: f64, b: f64, avg_len: f64) -> f32 {
    (n * (k + 1.0) / (n + k * (1.0 - b + b * doc_len / avg_len))) as f32
}

#[test]
fn murmur3_matches_the_reference_vectors() {
    // Published verification values of MurmurHash3_x86_32 (SMHasher).
    let cases: [(&[u8], u32, u32); 14] = [
        (b"", 0, 0),
        (b"", 1, 0x514e_28b7),
        (b"", 0xffff_ffff, 0x81f1_6f39),
        (b"\xff\xff\xff\xff", 0, 0x7629_3b50),
        (b"\x21\x43\x65\x87", 0, 0xf55b_516b),
        (b"\x21\x43\x65\x87", 0x5082_edee, 0x2362_f9de),
        (b"\x21\x43\x65", 0, 0x7e4a_8634),
        (b"\x21\x43", 0, 0xa0f7_b07a),
        (b"\x21", 0, 0x7266_1cf4),
        (b"\x00\x00\x00\x00", 0, 0x2362_f9de),
        (b"\x00\x00\x00", 0, 0x85f0_b427),
        (b"\x00\x00", 0, 0x30f4_c306),
        (b"\x00", 0, 0x514e_28b7),
        (b"Hello, world!", 0x9747_b28c, 0x2488_4cba),
    ];
    for (data, seed, expected) in cases {
        assert_eq!(murmur3_32(data, seed), expected, "{data:?} seed {seed:#x}");
    }
    assert_eq!(murmur3_32(b"The quick brown fox jumps over the lazy dog", 0x9747_b28c), 0x2fa8_26cd);
}

#[test]
fn token_ids_are_the_absolute_value_of_the_signed_hash() {
    // 0xffffffff as i32 is -1: its index is 1. A hash below 2^31 is its own index.
    assert_eq!(token_id(""), 0);
    for token in ["hello", "vector", "qdrant", "ünïcode", "東京"] {
        let hash = murmur3_32(token.as_bytes(), 0);
        let expected = if hash >= 0x8000_0000 { hash.wrapping_neg() } else { hash };
        assert_eq!(token_id(token), expected, "{token}");
        assert!(token_id(token) <= 0x8000_0000);
    }
}

#[test]
fn documents_get_term_frequency_weights_by_the_formula() {
    let bm25 = model(json!({})).unwrap();
    // English defaults: "the" and "on" are stopwords, "cats" stems to "cat", "sat" stays.
    let v = bm25.embed("The cats sat on the mat, cats!", Embedding::Document);
    assert_eq!(v.indices.len(), 3);
    assert!(v.indices.windows(2).all(|w| w[0] < w[1]), "indices ascending");
    assert_eq!(weight_of(&v, "cat"), Some(tf(2.0, 4.0, 1.2, 0.75, 256.0)));
    assert_eq!(weight_of(&v, "sat"), Some(tf(1.0, 4.0, 1.2, 0.75, 256.0)));
    assert_eq!(weight_of(&v, "mat"), Some(tf(1.0, 4.0, 1.2, 0.75, 256.0)));
    let custom = model(json!({"k": 2.0, "b": 0.5, "avg_len": 3.0})).unwrap();
    let v = custom.embed("cats cats dogs", Embedding::Document);
    assert_eq!(weight_of(&v, "cat"), Some(tf(2.0, 3.0, 2.0, 0.5, 3.0)));
    assert_eq!(weight_of(&v, "dog"), Some(tf(1.0, 3.0, 2.0, 0.5, 3.0)));
}

#[test]
fn queries_get_unit_weights_on_unique_tokens() {
    let bm25 = model(json!({})).unwrap();
    let v = bm25.embed("running runs RUN the", Embedding::Query);
    assert_eq!(v.indices, vec![token_id("run")]);
    assert_eq!(v.values, vec![1.0]);
    let v = bm25.embed("quick brown fox", Embedding::Query);
    let mut expected: Vec<u32> = ["quick", "brown", "fox"].iter().map(|t| token_id(t)).collect();
    expected.sort_unstable();
    assert_eq!((v.indices, v.values), (expected, vec![1.0; 3]));
    assert!(bm25.embed("the of and", Embedding::Document).indices.is_empty(), "only stopwords: empty");
}

#[test]
fn options_are_honoured() {
    let tokens =
        |options: Value, text: &str| -> Vec<u32> { model(options).unwrap().embed(text, Embedding::Query).indices };
    let ids = |words: &[&str]| -> Vec<u32> {
        let mut ids: Vec<u32> = words.iter().map(|w| token_id(w)).collect();
        ids.sort_unstable();
        ids
    };
    // No stemmer, no stopwords.
    let plain = json!({"stemmer": {"type": "none"}, "stopwords": {"languages": []}});
    assert_eq!(tokens(plain.clone(), "The running"), ids(&["the", "running"]));
    // An unknown language disables both, as in Qdrant; a case-different name is unknown.
    assert_eq!(tokens(json!({"language": "none"}), "The running"), ids(&["the", "running"]));
    assert_eq!(tokens(json!({"language": "English"}), "The running"), ids(&["the", "running"]));
    assert_eq!(tokens(json!({"language": "en"}), "The running"), ids(&["run"]));
    assert_eq!(tokens(json!({"language": "german"}), "Die Häuser"), ids(&["haus"]));
    assert_eq!(tokens(json!({"lowercase": false, "language": "none"}), "Hello"), ids(&["Hello"]));
    assert_eq!(tokens(json!({"ascii_folding": true, "language": "none"}), "Café"), ids(&["cafe"]));
    assert_eq!(tokens(json!({"tokenizer": "whitespace", "language": "none"}), "x-ray"), ids(&["x-ray"]));
    assert_eq!(tokens(json!({"language": "none", "min_token_len": 3}), "a bb ccc"), ids(&["ccc"]));
    assert_eq!(tokens(json!({"language": "none", "max_token_len": 2}), "a bb ccc"), ids(&["a", "bb"]));
    let custom = json!({"language": "none", "stopwords": {"custom": ["Foo"]}});
    assert_eq!(tokens(custom, "foo bar"), ids(&["bar"]));
    let french = json!({"stemmer": {"type": "snowball", "language": "fr"}, "stopwords": "french"});
    assert_eq!(tokens(french, "les chevaux"), ids(&["cheval"]));
    let prefix = json!({"tokenizer": "prefix", "language": "none", "max_token_len": 3});
    assert_eq!(model(prefix.clone()).unwrap().embed("hello", Embedding::Query).indices, ids(&["hel"]));
    assert_eq!(model(prefix).unwrap().embed("hello", Embedding::Document).indices, ids(&["h", "he", "hel"]));
    let unknown_keys_ignored = json!({"model_name": "x", "k": 1.2});
    assert!(model(unknown_keys_ignored).is_ok());
}

#[test]
fn bad_options_are_refused_with_qdrants_words() {
    let refused = |options: Value| -> (u16, String) {
        let e = model(options).err().expect("refused");
        (e.status.as_u16(), e.message)
    };
    assert_eq!(refused(json!({"k": -1.0})), (400, "Wrong input: BM25 k1 must be finite and >= 0, got -1".into()));
    assert_eq!(
        refused(json!({"b": 1.5})),
        (400, "Wrong input: BM25 b must be finite and in [0.0, 1.0], got 1.5".into())
    );
    assert_eq!(
        refused(json!({"avg_len": 0})),
        (400, "Wrong input: BM25 avg_doc_len must be finite and > 0, got 0".into())
    );
    for bad in [
        json!({"k": "high"}),
        json!({"tokenizer": "letters"}),
        json!({"stemmer": {"type": "snowball", "language": "klingon"}}),
        json!({"stopwords": "klingon"}),
        json!({"min_token_len": -1}),
        json!({"lowercase": "yes"}),
    ] {
        let (status, message) = refused(bad.clone());
        assert_eq!(status, 400, "{bad}");
        assert!(message.starts_with("Wrong input: Invalid BM25 config: Error("), "{bad}: {message}");
    }
    assert_eq!(refused(json!({"stemmer": {"type": "snowball", "language": "armenian"}})).0, 400);
}
