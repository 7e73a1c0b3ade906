//! Table-driven tests of every field-condition kind, date-times, geo and order values.

use super::tests::matches;
use super::*;
use chrono::{TimeZone, Utc};
use quiver_types::json_path::JsonPath;
use serde_json::{Value, json};
use std::cmp::Ordering;

fn payload() -> Value {
    json!({
        "city": "London",
        "count": 10,
        "price": 11.5,
        "ratio": 3.0,
        "ok": true,
        "tags": ["red", "green"],
        "nums": [1, 2, 3],
        "empty_arr": [],
        "nothing": null,
        "with_null": [null],
        "desc": "The Quick brown fox",
        "a": {"b": {"c": 5}, "list": [{"x": 1, "y": "p"}, {"x": 2}]},
        "created": "2024-03-01T12:00:00Z",
        "naive": "2024-03-01 12:00:00",
        "dates": ["2020-01-01", "2030-01-01T00:00:00+02:00"],
        "loc": {"lon": 13.404954, "lat": 52.520008},
        "locs": [{"lon": 2.35, "lat": 48.85}, {"lon": -0.12, "lat": 51.5}],
        "obj": {"k": 1}
    })
}

/// `(key, condition, expected)`: the condition is merged into `{"key": key, ...}`.
fn run(cases: &[(&str, Value, bool)]) {
    for (key, cond, expected) in cases {
        let mut c = cond.as_object().cloned().unwrap_or_default();
        c.insert("key".into(), json!(key));
        let f = json!({"must": [Value::Object(c)]});
        assert_eq!(matches(f.clone(), payload()), *expected, "{f}");
    }
}

#[test]
fn match_value_any_except() {
    run(&[
        ("city", json!({"match": {"value": "London"}}), true),
        ("city", json!({"match": {"value": "london"}}), false),
        ("count", json!({"match": {"value": 10}}), true),
        ("count", json!({"match": {"value": "10"}}), false),
        ("ratio", json!({"match": {"value": 3}}), false),
        ("ok", json!({"match": {"value": true}}), true),
        ("ok", json!({"match": {"value": false}}), false),
        ("tags", json!({"match": {"value": "green"}}), true),
        ("nums", json!({"match": {"value": 2}}), true),
        ("a.b.c", json!({"match": {"value": 5}}), true),
        ("a.list[].x", json!({"match": {"value": 2}}), true),
        ("a.list[0].x", json!({"match": {"value": 2}}), false),
        ("a.list.x", json!({"match": {"value": 1}}), false),
        ("missing", json!({"match": {"value": 1}}), false),
        ("city", json!({"match": {"any": ["Paris", "London"]}}), true),
        ("city", json!({"match": {"any": []}}), false),
        ("nums", json!({"match": {"any": [3, 4]}}), true),
        ("nums", json!({"match": {"any": [7]}}), false),
        ("city", json!({"match": {"except": ["Paris"]}}), true),
        ("city", json!({"match": {"except": ["London"]}}), false),
        ("tags", json!({"match": {"except": ["red"]}}), true),
        ("tags", json!({"match": {"except": ["red", "green"]}}), false),
        ("count", json!({"match": {"except": [1, 2]}}), true),
        ("count", json!({"match": {"except": [10]}}), false),
        ("count", json!({"match": {"except": ["x"]}}), true),
        ("missing", json!({"match": {"except": ["x"]}}), false),
        ("nothing", json!({"match": {"except": ["x"]}}), false),
        ("empty_arr", json!({"match": {"except": ["x"]}}), false),
    ]);
}

#[test]
fn text_matching() {
    run(&[
        // Without a text index: the `word` tokenizer and lowercase (design record 051).
        ("desc", json!({"match": {"text": "Quick brown"}}), true),
        ("desc", json!({"match": {"text": "quick"}}), true),
        ("desc", json!({"match": {"text": "brown Quick"}}), true),
        ("desc", json!({"match": {"text": "qui"}}), false),
        ("desc", json!({"match": {"text": "quick cat"}}), false),
        ("desc", json!({"match": {"text": "FOX!"}}), true),
        ("desc", json!({"match": {"text": ""}}), false),
        ("desc", json!({"match": {"text_any": "cat fox"}}), true),
        ("desc", json!({"match": {"text_any": "cat dog"}}), false),
        ("desc", json!({"match": {"text_any": "Fo bro"}}), false),
        ("desc", json!({"match": {"text_any": ""}}), false),
        ("desc", json!({"match": {"phrase": "brown fox"}}), true),
        ("desc", json!({"match": {"phrase": "QUICK, brown"}}), true),
        ("desc", json!({"match": {"phrase": "fox brown"}}), false),
        ("desc", json!({"match": {"phrase": "quick fox"}}), false),
        ("desc", json!({"match": {"prefix": "The Qu"}}), true),
        ("desc", json!({"match": {"prefix": "Quick"}}), false),
        ("count", json!({"match": {"text": "1"}}), false),
        ("tags", json!({"match": {"prefix": "gr"}}), true),
    ]);
}

#[test]
fn ranges() {
    run(&[
        ("count", json!({"range": {"gte": 10, "lt": 11}}), true),
        ("count", json!({"range": {"gt": 10}}), false),
        ("price", json!({"range": {"gt": 11.4, "lte": 11.5}}), true),
        ("price", json!({"range": {"lt": 11.5}}), false),
        ("nums", json!({"range": {"gt": 2.5}}), true),
        ("nums", json!({"range": {"gt": 3}}), false),
        ("city", json!({"range": {"gte": 0}}), false),
        ("count", json!({"range": {}}), true),
        ("missing", json!({"range": {"gte": 0}}), false),
        ("created", json!({"range": {"gte": "2024-01-01T00:00:00Z"}}), true),
        ("created", json!({"range": {"gt": "2024-03-01T12:00:00Z"}}), false),
        ("created", json!({"range": {"gte": "2024-03-01 12:00:00", "lte": "2024-03-01"}}), false),
        ("created", json!({"range": {"lt": "2024-03-01T13:00:00+01:00"}}), false),
        ("created", json!({"range": {"lte": "2024-03-01T13:00:00+01:00"}}), true),
        ("naive", json!({"range": {"gte": "2024-03-01T12:00:00Z", "lte": "2024-03-01T12:00:00"}}), true),
        ("dates", json!({"range": {"gt": "2029-12-31T23:00:00Z"}}), false),
        ("dates", json!({"range": {"gt": "2029-12-31T21:00:00Z"}}), true),
        ("dates", json!({"range": {"lt": "2020-01-01T00:00:01Z"}}), true),
        ("count", json!({"range": {"gte": "2024-01-01"}}), false),
    ]);
}

#[test]
fn counts_empty_null() {
    run(&[
        ("tags", json!({"values_count": {"gte": 2, "lte": 2}}), true),
        ("tags", json!({"values_count": {"gt": 2}}), false),
        ("city", json!({"values_count": {"lt": 2}}), true),
        ("missing", json!({"values_count": {"lte": 0}}), true),
        ("missing", json!({"values_count": {"gte": 1}}), false),
        ("nothing", json!({"values_count": {"lt": 1}}), true),
        // Several values at the key (one per element): each is counted on its own and one
        // within the bounds suffices, as for every field condition; the counts are not summed.
        ("a.list[].x", json!({"values_count": {"lte": 1}}), true),
        ("a.list[].x", json!({"values_count": {"gte": 2}}), false),
        ("missing", json!({"is_empty": true}), true),
        ("nothing", json!({"is_empty": true}), true),
        ("empty_arr", json!({"is_empty": true}), true),
        ("with_null", json!({"is_empty": true}), false),
        ("city", json!({"is_empty": true}), false),
        ("city", json!({"is_empty": false}), true),
        ("missing", json!({"is_empty": false}), false),
        ("nothing", json!({"is_null": true}), true),
        ("with_null", json!({"is_null": true}), true),
        ("missing", json!({"is_null": true}), false),
        ("missing", json!({"is_null": false}), true),
        ("city", json!({"is_null": false}), true),
        // Several kinds in one field condition must all hold.
        ("count", json!({"match": {"value": 10}, "range": {"lt": 5}}), false),
        ("count", json!({"match": {"value": 10}, "range": {"lt": 50}}), true),
    ]);
    let cases = [
        ("missing", true, false),
        ("nothing", true, true),
        ("empty_arr", true, false),
        // Both `is_null` forms match an array holding a null (Qdrant issue 10096).
        ("with_null", false, true),
        ("city", false, false),
        ("a.list[].y", false, false),
        ("a.list[].nope", true, false),
    ];
    for (key, empty, null) in cases {
        let is_empty = json!({"must": [{"is_empty": {"key": key}}]});
        let is_null = json!({"must": [{"is_null": {"key": key}}]});
        assert_eq!(matches(is_empty, payload()), empty, "is_empty {key}");
        assert_eq!(matches(is_null, payload()), null, "is_null {key}");
    }
}

#[test]
fn geo_conditions() {
    let berlin_box = json!({"top_left": {"lon": 13.0, "lat": 53.0}, "bottom_right": {"lon": 14.0, "lat": 52.0}});
    let wrap_box = json!({"top_left": {"lon": 170.0, "lat": 60.0}, "bottom_right": {"lon": 5.0, "lat": 40.0}});
    let square = json!({"points": [
        {"lon": 13.0, "lat": 52.0}, {"lon": 14.0, "lat": 52.0}, {"lon": 14.0, "lat": 53.0},
        {"lon": 13.0, "lat": 53.0}, {"lon": 13.0, "lat": 52.0}
    ]});
    let hole = json!({"points": [
        {"lon": 13.3, "lat": 52.4}, {"lon": 13.5, "lat": 52.4}, {"lon": 13.5, "lat": 52.6},
        {"lon": 13.3, "lat": 52.6}, {"lon": 13.3, "lat": 52.4}
    ]});
    run(&[
        ("loc", json!({"geo_bounding_box": berlin_box}), true),
        ("locs", json!({"geo_bounding_box": berlin_box}), false),
        ("locs", json!({"geo_bounding_box": wrap_box}), true),
        ("loc", json!({"geo_radius": {"center": {"lon": 13.41, "lat": 52.52}, "radius": 1000.0}}), true),
        ("loc", json!({"geo_radius": {"center": {"lon": 13.5, "lat": 52.52}, "radius": 1000.0}}), false),
        // Paris–London is about 344 km.
        ("locs", json!({"geo_radius": {"center": {"lon": 2.35, "lat": 48.85}, "radius": 1.0}}), true),
        ("city", json!({"geo_radius": {"center": {"lon": 2.35, "lat": 48.85}, "radius": 1e9}}), false),
        ("loc", json!({"geo_polygon": {"exterior": square}}), true),
        ("loc", json!({"geo_polygon": {"exterior": square, "interiors": [hole]}}), false),
        ("locs", json!({"geo_polygon": {"exterior": square}}), false),
    ]);
    let paris = quiver_types::filter::GeoPoint { lon: 2.3522, lat: 48.8566 };
    let london = quiver_types::filter::GeoPoint { lon: -0.1276, lat: 51.5072 };
    let d = geo::haversine(&paris, &london);
    assert!((340_000.0..350_000.0).contains(&d), "{d}");
}

#[test]
fn parses_datetimes() {
    let noon = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).single();
    let midnight = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single();
    for s in [
        "2024-01-01T12:00:00Z",
        "2024-01-01T12:00:00",
        "2024-01-01 12:00:00",
        "2024-01-01T12:00:00.000Z",
        "2024-01-01T14:00:00+02:00",
        "2024-01-01T14:00:00+0200",
        "2024-01-01 14:00:00+02:00",
        "2024-01-01T12:00",
    ] {
        assert_eq!(parse_datetime(s), noon, "{s}");
    }
    assert_eq!(parse_datetime("2024-01-01"), midnight);
    for s in ["", "2024", "yesterday", "2024-13-01", "2024-01-01T25:00:00Z", "１２３４５６７８９０"] {
        assert_eq!(parse_datetime(s), None, "{s}");
    }
}

#[test]
fn order_values() {
    let Value::Object(p) = payload() else { unreachable!() };
    let key = |k: &str| JsonPath::parse(k).unwrap();
    assert_eq!(order_value(&p, &key("count")), Some(OrderValue::Int(10)));
    assert_eq!(order_value(&p, &key("price")), Some(OrderValue::Float(11.5)));
    assert_eq!(order_value(&p, &key("nums")), Some(OrderValue::Int(1)));
    assert_eq!(order_value(&p, &key("a.list[].x")), Some(OrderValue::Int(1)));
    assert_eq!(order_value(&p, &key("city")), None);
    assert_eq!(order_value(&p, &key("missing")), None);
    let micros = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).single().map(|d| d.timestamp_micros());
    assert_eq!(order_value(&p, &key("created")), micros.map(OrderValue::Int));
    assert_eq!(OrderValue::Int(3).to_json(), json!(3));
    assert_eq!(OrderValue::from_json(&json!(3)), Some(OrderValue::Int(3)));
    assert_eq!(OrderValue::from_json(&json!(2.5)), Some(OrderValue::Float(2.5)));
    assert_eq!(OrderValue::from_json(&json!("2024-03-01T12:00:00Z")), micros.map(OrderValue::Int));
    assert_eq!(OrderValue::from_json(&json!("x")), None);
    assert_eq!(OrderValue::from_json(&json!(null)), None);
    assert_eq!(OrderValue::Float(1.5).to_json(), json!(1.5));
    assert_eq!(OrderValue::Float(f64::NAN).to_json(), Value::Null);

    let cmp = |a: OrderValue, b: OrderValue| a.cmp_total(&b);
    use OrderValue::{Float, Int};
    assert_eq!(cmp(Int(1), Int(2)), Ordering::Less);
    assert_eq!(cmp(Int(2), Float(1.5)), Ordering::Greater);
    assert_eq!(cmp(Float(1.5), Int(2)), Ordering::Less);
    assert_eq!(cmp(Int(2), Float(2.0)), Ordering::Equal);
    assert_eq!(cmp(Int(-2), Float(-1.5)), Ordering::Less);
    assert_eq!(cmp(Int(-1), Float(-1.5)), Ordering::Greater);
    assert_eq!(cmp(Int(i64::MAX), Float(9.3e18)), Ordering::Less);
    assert_eq!(cmp(Int(i64::MIN), Float(-1e19)), Ordering::Greater);
    assert_eq!(cmp(Int(0), Float(f64::NAN)), Ordering::Less);
    assert_eq!(cmp(Float(f64::NAN), Float(f64::INFINITY)), Ordering::Greater);
    assert_eq!(cmp(Float(f64::NEG_INFINITY), Int(i64::MIN)), Ordering::Less);
}

#[test]
fn every_distinct_order_value() {
    let Value::Object(p) = json!({"multi": [3, 1, 3, 2.5, "2024-03-01T12:00:00Z", "x", null], "one": 4, "none": "x"})
    else {
        unreachable!()
    };
    let key = |k: &str| JsonPath::parse(k).unwrap();
    let order_values = super::order_values; // the test `order_values` above shadows the name
    let micros = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).single().map(|d| d.timestamp_micros()).unwrap();
    assert_eq!(
        order_values(&p, &key("multi")),
        vec![OrderValue::Int(1), OrderValue::Float(2.5), OrderValue::Int(3), OrderValue::Int(micros)]
    );
    assert_eq!(order_values(&p, &key("one")), vec![OrderValue::Int(4)]);
    assert!(order_values(&p, &key("none")).is_empty());
}
