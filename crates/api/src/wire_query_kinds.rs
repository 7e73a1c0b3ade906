//! Reading the `query` of a universal query by its key (`nearest`, `recommend`, …), so that a
//! malformed query names its kind and unknown fields are refused, never dropped. A bare vector
//! and the vector of `nearest` are read straight from the request text (`wire_vector.rs`: a
//! dense one into its `Vec<f32>`); the rest of a query object is buffered as JSON and read in
//! its kind's shape.

use crate::wire_query::{
    ContextPairWire, DiscoverWire, FeedbackQueryWire, FusionWire, MmrWire, OneOrMany, QueryWire, RecommendWire,
    RrfWire, SampleWire,
};
use crate::wire_vector::{Refusal, VectorInputWire, VectorSeed};
use quiver_types::query::OrderByInterface;
use serde::de::{self, Error, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::fmt;

mod query_kinds {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Nearest {
        pub(super) nearest: VectorInputWire,
        #[serde(default)]
        pub(super) mmr: Option<MmrWire>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Recommend {
        pub(super) recommend: RecommendWire,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Discover {
        pub(super) discover: DiscoverWire,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Context {
        pub(super) context: OneOrMany<ContextPairWire>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct RelevanceFeedback {
        pub(super) relevance_feedback: FeedbackQueryWire,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Sample {
        pub(super) sample: SampleWire,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Fusion {
        pub(super) fusion: FusionWire,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Rrf {
        pub(super) rrf: RrfWire,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct OrderBy {
        pub(super) order_by: OrderByInterface,
    }
}

/// Query kinds by their key, in the order they are recognised.
const QUERY_KINDS: [&str; 10] = [
    "nearest",
    "recommend",
    "discover",
    "context",
    "relevance_feedback",
    "sample",
    "formula",
    "fusion",
    "rrf",
    "order_by",
];

impl<'de> Deserialize<'de> for QueryWire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QueryVisitor)
    }
}

struct QueryVisitor;

impl<'de> Visitor<'de> for QueryVisitor {
    type Value = QueryWire;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a query")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<QueryWire, A::Error> {
        VectorSeed(Refusal::query("vector")).visit_seq(seq).map(QueryWire::Vector)
    }
    /// The object buffered as JSON but for the vector of `nearest`, read as it comes (a
    /// placeholder keeps its key's place).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<QueryWire, A::Error> {
        let (mut object, mut nearest) = (serde_json::Map::new(), None);
        while let Some(key) = map.next_key::<String>()? {
            let value = match key.as_str() {
                "nearest" => {
                    nearest = Some(map.next_value_seed(VectorSeed(Refusal::query("nearest")))?);
                    Value::Array(Vec::new())
                }
                _ => map.next_value::<Value>()?,
            };
            object.insert(key, value);
        }
        from_json(Value::Object(object), nearest)
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<QueryWire, E> {
        from_json(Value::from(v), None)
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<QueryWire, E> {
        from_json(Value::from(v), None)
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<QueryWire, E> {
        from_json(Value::from(v), None)
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<QueryWire, E> {
        from_json(Value::Bool(v), None)
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<QueryWire, E> {
        from_json(Value::String(v.to_owned()), None)
    }
    fn visit_unit<E: Error>(self) -> Result<QueryWire, E> {
        from_json(Value::Null, None)
    }
}

fn parse<T: de::DeserializeOwned, E: Error>(kind: &str, value: Value) -> Result<T, E> {
    serde_json::from_value(value).map_err(|e| E::custom(format!("invalid `{kind}` query: {e}")))
}

/// The query in `value`, whose `nearest` (if any) was read already as `nearest`.
fn from_json<E: Error>(mut value: Value, nearest: Option<VectorInputWire>) -> Result<QueryWire, E> {
    // A bare vector, a sparse vector (`indices`/`values`) or a point id is a nearest query.
    let map = match &mut value {
        Value::Object(map) if !map.contains_key("indices") => map,
        Value::Object(map) => {
            if let Some(vector) = nearest {
                map.insert("nearest".into(), vector.into_json());
            }
            return Ok(QueryWire::Vector(parse("vector", value)?));
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            return Ok(QueryWire::Vector(parse("vector", value)?));
        }
    };
    let kind = match QUERY_KINDS.iter().find(|k| map.contains_key(**k)) {
        Some(kind) => *kind,
        None => return Ok(QueryWire::Other(map.keys().next().cloned().unwrap_or_default())),
    };
    Ok(match kind {
        "nearest" => {
            let q: query_kinds::Nearest = parse(kind, value)?;
            QueryWire::Nearest { nearest: nearest.unwrap_or(q.nearest), mmr: q.mmr }
        }
        "recommend" => QueryWire::Recommend { recommend: parse::<query_kinds::Recommend, _>(kind, value)?.recommend },
        "discover" => QueryWire::Discover { discover: parse::<query_kinds::Discover, _>(kind, value)?.discover },
        "context" => QueryWire::Context { context: parse::<query_kinds::Context, _>(kind, value)?.context },
        "sample" => QueryWire::Sample { sample: parse::<query_kinds::Sample, _>(kind, value)?.sample },
        "formula" => QueryWire::Formula(parse(kind, value)?),
        "relevance_feedback" => QueryWire::RelevanceFeedback {
            relevance_feedback: parse::<query_kinds::RelevanceFeedback, _>(kind, value)?.relevance_feedback,
        },
        "fusion" => QueryWire::Fusion { fusion: parse::<query_kinds::Fusion, _>(kind, value)?.fusion },
        "rrf" => QueryWire::Rrf { rrf: parse::<query_kinds::Rrf, _>(kind, value)?.rrf },
        _ => QueryWire::OrderBy { order_by: parse::<query_kinds::OrderBy, _>(kind, value)?.order_by },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(json: &str) -> Result<String, String> {
        let text = |e: serde_json::Error| e.to_string().split(" at line ").next().unwrap_or_default().to_string();
        serde_json::from_str::<QueryWire>(json).map(|q| format!("{q:?}")).map_err(text)
    }

    #[test]
    fn vectors_of_queries_are_read_as_they_come() {
        assert_eq!(query("[1, 2.5]").unwrap(), "Vector(Dense([1.0, 2.5]))");
        assert_eq!(query("5").unwrap(), "Vector(Id(Num(5)))");
        assert_eq!(
            query(r#"{"indices": [2], "values": [0.5]}"#).unwrap(),
            "Vector(Sparse(SparseVector { indices: [2], values: [0.5] }))"
        );
        let nearest = query(r#"{"mmr": {"diversity": 0.5}, "nearest": [3, 4]}"#).unwrap();
        assert!(nearest.starts_with("Nearest { nearest: Dense([3.0, 4.0]), mmr: Some("), "{nearest}");
        let sparse = query(r#"{"nearest": {"indices": [1], "values": [2]}}"#).unwrap();
        assert!(sparse.starts_with("Nearest { nearest: Sparse("), "{sparse}");
        let multi = query(r#"{"nearest": [[1.5, 2], [3.5, 4], [1, 1]]}"#).unwrap();
        assert!(multi.starts_with("Nearest { nearest: Multi("), "{multi}");
        assert!(query(r#"{"recommend": {"positive": [[1, 2], 7]}}"#).unwrap().starts_with("Recommend"));
        assert_eq!(query(r#"{"unknown_kind": 1}"#).unwrap(), r#"Other("unknown_kind")"#);
    }

    #[test]
    fn lists_of_two_rows_are_multivectors() {
        assert_eq!(query("[[1, 2], [3, 4]]").unwrap(), "Vector(Multi([[1.0, 2.0], [3.0, 4.0]]))");
        let nearest = query(r#"{"nearest": [[1, 2, 3], [4, 5, 6]]}"#).unwrap();
        assert_eq!(nearest, "Nearest { nearest: Multi([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), mmr: None }");
        let recommend = query(r#"{"recommend": {"positive": [[[1, 2], [3, 4]]], "negative": [[[0, 1], [1, 0]]]}}"#);
        let recommend = recommend.unwrap();
        assert!(recommend.contains("positive: [Multi([[1.0, 2.0], [3.0, 4.0]])]"), "{recommend}");
        assert!(recommend.contains("negative: [Multi([[0.0, 1.0], [1.0, 0.0]])]"), "{recommend}");
        let context = query(r#"{"context": {"positive": [[1, 2], [3, 4]], "negative": [[5, 6], [7, 8]]}}"#).unwrap();
        assert!(context.contains("positive: Multi([[1.0, 2.0], [3.0, 4.0]])"), "{context}");
        let discover = query(r#"{"discover": {"target": [[1, 2], [3, 4]], "context": []}}"#).unwrap();
        assert!(discover.contains("target: Multi([[1.0, 2.0], [3.0, 4.0]])"), "{discover}");
        // The sparse object form stays sparse.
        let sparse = query(r#"{"recommend": {"positive": [{"indices": [1, 2], "values": [3, 4]}]}}"#).unwrap();
        assert!(
            sparse.contains("positive: [Sparse(SparseVector { indices: [1, 2], values: [3.0, 4.0] })]"),
            "{sparse}"
        );
    }

    #[test]
    fn refusals_name_the_query_kind() {
        let untagged = "data did not match any variant of untagged enum VectorInputWire";
        assert_eq!(query(r#"[1, "a"]"#).unwrap_err(), format!("invalid `vector` query: {untagged}"));
        assert_eq!(query("true").unwrap_err(), format!("invalid `vector` query: {untagged}"));
        assert_eq!(query(r#"{"nearest": [1, null]}"#).unwrap_err(), format!("invalid `nearest` query: {untagged}"));
        assert_eq!(query(r#"{"nearest": true}"#).unwrap_err(), format!("invalid `nearest` query: {untagged}"));
        let unknown = query(r#"{"nearest": [1, 0], "mmr": {"lambda": 0.3}}"#).unwrap_err();
        assert!(unknown.starts_with("invalid `nearest` query: unknown field `lambda`"), "{unknown}");
        let extra = query(r#"{"nearest": [1, 0], "limit": 3}"#).unwrap_err();
        assert!(extra.starts_with("invalid `nearest` query: unknown field `limit`"), "{extra}");
        // A sparse vector with a stray `nearest` key is read as before: a sparse vector refused.
        assert_eq!(
            query(r#"{"indices": [1], "values": [1], "nearest": [1]}"#).unwrap_err(),
            format!("invalid `vector` query: {untagged}")
        );
    }
}
