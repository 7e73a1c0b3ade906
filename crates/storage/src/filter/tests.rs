//! Tests: Qdrant's JSON filter forms, boolean structure, ids, vectors, nested and validation.

use super::*;
use quiver_types::filter::{Condition, Match, MatchValue};
use serde_json::{Value, json};

pub(super) struct TestPoint {
    pub(super) id: PointId,
    pub(super) payload: Payload,
    pub(super) vectors: Vec<&'static str>,
}

impl PointView for TestPoint {
    fn id(&self) -> PointId {
        self.id
    }
    fn payload(&self) -> Cow<'_, Payload> {
        Cow::Borrowed(&self.payload)
    }
    fn has_vector(&self, name: &str) -> bool {
        self.vectors.contains(&name)
    }
}

pub(super) fn filter(v: Value) -> Filter {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

pub(super) fn point(id: u64, payload: Value) -> TestPoint {
    let Value::Object(payload) = payload else { panic!("payload must be an object") };
    TestPoint { id: PointId::Num(id), payload, vectors: vec![""] }
}

/// Compiles `f` and checks it against a point with `payload`.
pub(super) fn matches(f: Value, payload: Value) -> bool {
    let compiled = CompiledFilter::compile(&filter(f.clone())).unwrap_or_else(|e| panic!("{f} did not compile: {e}"));
    let p = point(1, payload);
    let result = compiled.check(&p);
    assert_eq!(result, check_filter(&filter(f), &p), "wrapper disagrees");
    result
}

#[test]
fn deserializes_qdrant_forms() {
    let f = filter(json!({"must": [{"key": "city", "match": {"value": "London"}}]}));
    let must = f.must.unwrap();
    let Condition::Field(field) = &must[0] else { panic!("not a field condition: {must:?}") };
    assert_eq!(field.key, "city");
    assert_eq!(field.r#match, Some(Match::Value { value: MatchValue::Keyword("London".into()) }));

    let f = filter(json!({"should": {"key": "n", "match": {"value": 3}}}));
    assert_eq!(f.should.map(|s| s.len()), Some(1));

    let f = filter(json!({"must": [
        {"has_id": [1, 2, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"]},
        {"is_empty": {"key": "x"}},
        {"is_null": {"key": "y"}},
        {"has_vector": "image"},
        {"nested": {"key": "diet[]", "filter": {"must": [{"key": "food", "match": {"value": "meat"}}]}}},
        {"key": "date", "range": {"gte": "2024-01-01T00:00:00Z"}},
        {"key": "price", "range": {"gt": 1, "lte": 2.5}},
        {"must": [{"key": "a", "match": {"any": ["x", "y"]}}]},
        {"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 1000.0}},
        {"key": "tags", "values_count": {"gte": 2}},
        {"key": "t", "match": {"text": "hello"}},
        {"key": "t", "match": {"except": [1, 2]}},
        {"key": "f", "is_empty": true}
    ]}));
    let kinds: Vec<&str> = f
        .must
        .unwrap()
        .iter()
        .map(|c| match c {
            Condition::Field(_) => "field",
            Condition::IsEmpty(_) => "is_empty",
            Condition::IsNull(_) => "is_null",
            Condition::HasId(_) => "has_id",
            Condition::HasVector(_) => "has_vector",
            Condition::Slice(_) => "slice",
            Condition::Nested(_) => "nested",
            Condition::Filter(_) => "filter",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "has_id",
            "is_empty",
            "is_null",
            "has_vector",
            "nested",
            "field",
            "field",
            "filter",
            "field",
            "field",
            "field",
            "field",
            "field"
        ]
    );

    let f = filter(json!({"min_should": {"conditions": [{"has_id": [1]}], "min_count": 2}}));
    assert_eq!(f.min_should.map(|m| m.min_count), Some(2));

    // Unknown keys and malformed conditions are rejected.
    assert!(serde_json::from_value::<Filter>(json!({"must": [{"foo": 1}]})).is_err());
    assert!(serde_json::from_value::<Filter>(json!({"musts": []})).is_err());
    assert!(serde_json::from_value::<Filter>(json!({"must": [{"has_id": [-1]}]})).is_err());
}

#[test]
fn boolean_structure() {
    let red = json!({"key": "color", "match": {"value": "red"}});
    let big = json!({"key": "size", "range": {"gte": 10}});
    let payload = json!({"color": "red", "size": 5});
    let cases = [
        (json!({}), true),
        (json!({"must": [red, big]}), false),
        (json!({"must": [red]}), true),
        (json!({"must": red}), true),
        (json!({"should": [red, big]}), true),
        (json!({"should": [big]}), false),
        (json!({"should": []}), false),
        (json!({"should": null}), true),
        (json!({"must_not": [big]}), true),
        (json!({"must_not": [red, big]}), false),
        (json!({"must": [{"must_not": [big]}]}), true),
        (json!({"must": [{"should": [big, {"must_not": [red]}]}]}), false),
        (json!({"min_should": {"conditions": [red, big], "min_count": 1}}), true),
        (json!({"min_should": {"conditions": [red, big], "min_count": 2}}), false),
        (json!({"min_should": {"conditions": [], "min_count": 1}}), false),
        (json!({"must": [red], "should": [big], "must_not": []}), false),
    ];
    for (f, expected) in cases {
        assert_eq!(matches(f.clone(), payload.clone()), expected, "{f}");
    }
}

#[test]
fn ids_and_vectors() {
    let uuid = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26";
    let mut p = point(7, json!({}));
    p.vectors = vec!["image"];
    let check = |f: Value, p: &TestPoint| check_filter(&filter(f), p);
    assert!(check(json!({"must": {"has_id": [1, 7]}}), &p));
    assert!(!check(json!({"must": {"has_id": [1, uuid]}}), &p));
    assert!(check(json!({"must_not": {"has_id": [1]}}), &p));
    assert!(!check(json!({"must": {"has_id": []}}), &p));
    assert!(check(json!({"must": {"has_vector": "image"}}), &p));
    assert!(!check(json!({"must": {"has_vector": "text"}}), &p));
    let u = TestPoint { id: PointId::parse(uuid).unwrap(), payload: Payload::new(), vectors: vec![] };
    assert!(check(json!({"must": {"has_id": [uuid.to_uppercase()]}}), &u));
}

#[test]
fn nested_conditions() {
    let payload = json!({
        "dinosaur": "t-rex",
        "diet": [
            {"food": "leaves", "likes": false},
            {"food": "meat", "likes": true}
        ],
        "country": {"cities": [{"name": "A", "sights": [{"k": 1}]}, {"name": "B"}]}
    });
    let nested = |key: &str, inner: Value| json!({"must": [{"nested": {"key": key, "filter": inner}}]});
    let both = json!({"must": [
        {"key": "food", "match": {"value": "meat"}},
        {"key": "likes", "match": {"value": true}}
    ]});
    let mismatched = json!({"must": [
        {"key": "food", "match": {"value": "leaves"}},
        {"key": "likes", "match": {"value": true}}
    ]});
    let cases = [
        (nested("diet", both.clone()), true),
        (nested("diet[]", both), true),
        (nested("diet", mismatched.clone()), false),
        // Without nested, conditions match across different elements.
        (
            json!({"must": [
                {"key": "diet[].food", "match": {"value": "leaves"}},
                {"key": "diet[].likes", "match": {"value": true}}
            ]}),
            true,
        ),
        (nested("diet", json!({"must_not": [{"key": "likes", "match": {"value": true}}]})), true),
        (nested("diet", json!({"must": [{"has_id": [1]}]})), false),
        (nested("diet", json!({"must": [{"has_vector": ""}]})), false),
        (
            nested(
                "country.cities",
                json!({"must": [
                    {"nested": {"key": "sights", "filter": {"must": [{"key": "k", "match": {"value": 1}}]}}}
                ]}),
            ),
            true,
        ),
        (nested("country.cities", json!({"must": [{"is_empty": {"key": "sights"}}]})), true),
        (nested("missing", json!({})), false),
        (nested("dinosaur", json!({})), false),
    ];
    for (f, expected) in cases {
        assert_eq!(matches(f.clone(), payload.clone()), expected, "{f}");
    }
}

#[test]
fn validation() {
    let bad_input = |f: Value| matches!(validate_filter(&filter(f)), Err(TypesError::BadInput(_)));
    let invalid = |f: Value| matches!(validate_filter(&filter(f)), Err(TypesError::Validation(_)));
    assert!(validate_filter(&filter(json!({"must": [{"key": "a.b[].c", "match": {"value": 1}}]}))).is_ok());
    assert!(bad_input(json!({"must": [{"key": "a..b", "match": {"value": 1}}]})));
    assert!(bad_input(json!({"must": [{"is_empty": {"key": "a["}}]})));
    assert!(bad_input(json!({"should": [{"is_null": {"key": ""}}]})));
    assert!(bad_input(json!({"must": [{"nested": {"key": "d", "filter": {"must": [
        {"key": "x]", "match": {"value": 1}}
    ]}}}]})));
    assert!(invalid(json!({"must": [{"key": "a"}]})));
    assert!(invalid(json!({"must": [{"must": [{"key": "a"}]}]})));
    assert!(invalid(json!({"min_should": {"conditions": [], "min_count": 0}})));
    let Err(TypesError::BadInput(msg)) = validate_filter(&filter(json!({"must": [
        {"key": "d", "range": {"gte": "yesterday"}}
    ]}))) else {
        panic!("bad date accepted")
    };
    assert!(msg.contains("'yesterday'"), "{msg}");
    assert!(bad_input(json!({"must": [{"key": "d", "range": {"gte": "2024-01-01", "lt": 5}}]})));
    assert!(bad_input(json!({"must": [{"key": "g", "geo_radius": {
        "center": {"lon": 200.0, "lat": 0.0}, "radius": 1.0
    }}]})));
    assert!(invalid(json!({"must": [{"key": "g", "geo_polygon": {"exterior": {"points": [
        {"lon": 0.0, "lat": 0.0}, {"lon": 1.0, "lat": 0.0}, {"lon": 0.0, "lat": 0.0}
    ]}}}]})));
    assert!(invalid(json!({"must": [{"key": "g", "geo_polygon": {"exterior": {"points": [
        {"lon": 0.0, "lat": 0.0}, {"lon": 1.0, "lat": 0.0}, {"lon": 1.0, "lat": 1.0},
        {"lon": 0.0, "lat": 1.0}
    ]}}}]})));
    assert!(invalid(json!({"must": [{"slice": {"total": 0, "index": 0}}]})));
    assert!(invalid(json!({"must": [{"slice": {"total": 4, "index": 4}}]})));
    assert!(serde_json::from_value::<Filter>(json!({"must": [{"slice": {"total": 2, "index": -1}}]})).is_err());
    // An invalid filter matches nothing through the convenience wrapper.
    assert!(!check_filter(&filter(json!({"must_not": [{"key": "a"}]})), &point(1, json!({}))));
}

#[test]
fn slices_hash_the_canonical_id_bytes() {
    // SipHash-2-4, zero key, as computed by qdrant-client's reference implementation.
    assert_eq!(compile::slice_of(PointId::Num(0), u32::MAX), (16738165381834614119u64 % u64::from(u32::MAX)) as u32);
    assert_eq!(
        compile::slice_of(PointId::Num(123456789), u32::MAX),
        (4889876692168784605u64 % u64::from(u32::MAX)) as u32
    );
    let uuid = PointId::parse("550e8400-e29b-41d4-a716-446655440000").unwrap();
    assert_eq!(compile::slice_of(uuid, u32::MAX), (17712879580654916868u64 % u64::from(u32::MAX)) as u32);
    let of_7: Vec<u32> = (0..10).map(|i| compile::slice_of(PointId::Num(i), 7)).collect();
    assert_eq!(of_7, [3, 2, 3, 3, 2, 2, 6, 6, 2, 6]);
    assert_eq!(compile::slice_of(uuid, 64), 4);
}

#[test]
fn slices_are_disjoint_cover_every_point_and_never_match_inside_nested() {
    let slice = |total: u32, index: u32| json!({"must": {"slice": {"total": total, "index": index}}});
    for id in 0..50 {
        let p = point(id, json!({"arr": [{"x": 1}]}));
        let hits = (0..5).filter(|&i| check_filter(&filter(slice(5, i)), &p)).count();
        assert_eq!(hits, 1, "point {id}");
        assert!(check_filter(&filter(slice(1, 0)), &p));
        let nested = json!({"must": {"nested": {"key": "arr", "filter": slice(1, 0)}}});
        assert!(!check_filter(&filter(nested), &p));
    }
}
