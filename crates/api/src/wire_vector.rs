//! The vectors of REST search and query bodies, decoded straight from the request text: a dense
//! vector (the common case: hundreds of numbers) goes into its `Vec<f32>` as it is read, with no
//! `serde_json::Value` or serde's buffered content in between. Any other shape (sparse, multi,
//! a point id, something wrong) is buffered and read by the derived untagged enums exactly as
//! before, so what is accepted and every refusal's text stay the same.

use quiver_types::{PointId, SparseVector};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// A vector input of a query: dense, sparse, multi, or a point id.
#[derive(Debug)]
pub(crate) enum VectorInputWire {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Multi(Vec<Vec<f32>>),
    Id(PointId),
}

/// The `vector` of a legacy search: a bare list or a named dense/sparse vector.
#[derive(Debug)]
pub(crate) enum NamedVectorWire {
    Dense(Vec<f32>),
    NamedDense { name: String, vector: Vec<f32> },
    NamedSparse { name: String, vector: SparseVector },
}

/// The shapes as serde reads them untagged (variants tried in order); their names are those of
/// the enums above, as serde's refusal names them.
mod buffered {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(untagged)]
    pub(super) enum VectorInputWire {
        Dense(Vec<f32>),
        Sparse(SparseVector),
        Multi(Vec<Vec<f32>>),
        Id(PointId),
    }

    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub(super) enum NamedVectorWire {
        Dense(Vec<f32>),
        NamedDense { name: String, vector: Vec<f32> },
        NamedSparse { name: String, vector: SparseVector },
    }
}

impl From<buffered::VectorInputWire> for VectorInputWire {
    fn from(v: buffered::VectorInputWire) -> Self {
        match v {
            buffered::VectorInputWire::Dense(v) => VectorInputWire::Dense(v),
            buffered::VectorInputWire::Sparse(v) => VectorInputWire::Sparse(v),
            buffered::VectorInputWire::Multi(v) => VectorInputWire::Multi(v),
            buffered::VectorInputWire::Id(v) => VectorInputWire::Id(v),
        }
    }
}

impl VectorInputWire {
    /// The vector as JSON again (a query object that turns out to be a sparse vector).
    pub(crate) fn into_json(self) -> Value {
        let buffered = match self {
            VectorInputWire::Dense(v) => buffered::VectorInputWire::Dense(v),
            VectorInputWire::Sparse(v) => buffered::VectorInputWire::Sparse(v),
            VectorInputWire::Multi(v) => buffered::VectorInputWire::Multi(v),
            VectorInputWire::Id(v) => buffered::VectorInputWire::Id(v),
        };
        serde_json::to_value(buffered).unwrap_or(Value::Null)
    }
}

/// How a refused vector reads: serde's text for the untagged enum, after the query kind
/// (`invalid `nearest` query: …`) when the vector is a query's.
#[derive(Clone, Copy)]
pub(crate) struct Refusal {
    pub(crate) kind: Option<&'static str>,
    enum_name: &'static str,
}

impl Refusal {
    /// A refusal whose text is never shown: its caller reads the input again another way.
    pub(crate) const fn unshown() -> Refusal {
        Refusal { kind: None, enum_name: "VectorStruct" }
    }

    pub(crate) fn query(kind: &'static str) -> Refusal {
        Refusal { kind: Some(kind), enum_name: "VectorInputWire" }
    }

    pub(crate) fn error<E: de::Error>(self, detail: impl fmt::Display) -> E {
        match self.kind {
            Some(kind) => E::custom(format!("invalid `{kind}` query: {detail}")),
            None => E::custom(detail),
        }
    }

    fn mismatch<E: de::Error>(self) -> E {
        self.error(format_args!("data did not match any variant of untagged enum {}", self.enum_name))
    }
}

/// One element of a list: a number (part of a dense vector) or any other JSON kept as it is.
enum Element {
    Number(f32),
    Other(Value),
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    // As serde reads an `f32` from each kind of number.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Element, E> {
        Ok(Element::Number(v as f32))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Element, E> {
        Ok(Element::Number(v as f32))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Element, E> {
        Ok(Element::Number(v as f32))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Element, E> {
        Ok(Element::Other(Value::Bool(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Element, E> {
        Ok(Element::Other(Value::String(v.to_owned())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Element, E> {
        Ok(Element::Other(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Element::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Element, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Element::Other)
    }
}

/// A JSON list: its numbers when it is a dense vector (empty included), else the whole list as
/// JSON (first element not a number). A later element that is not a number is a refusal.
pub(crate) fn read_list<'de, A: SeqAccess<'de>>(
    mut seq: A,
    refusal: Refusal,
) -> Result<Result<Vec<f32>, Value>, A::Error> {
    let mut dense = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(1 << 16));
    match seq.next_element::<Element>()? {
        None => return Ok(Ok(dense)),
        Some(Element::Number(x)) => dense.push(x),
        Some(Element::Other(first)) => {
            let mut all = vec![first];
            while let Some(value) = seq.next_element::<Value>()? {
                all.push(value);
            }
            return Ok(Err(Value::Array(all)));
        }
    }
    // Serde's untagged reading would refuse such a list with every variant.
    while let Some(element) = seq.next_element::<Element>()? {
        match element {
            Element::Number(x) => dense.push(x),
            Element::Other(_) => return Err(refusal.mismatch()),
        }
    }
    Ok(Ok(dense))
}

/// The buffered JSON of a vector, read as serde reads `buffered::VectorInputWire`.
fn buffered_input<E: de::Error>(value: Value, refusal: Refusal) -> Result<VectorInputWire, E> {
    serde_json::from_value::<buffered::VectorInputWire>(value).map(Into::into).map_err(|_| refusal.mismatch())
}

/// Reads a `VectorInputWire`, refusing it as `refusal` says.
#[derive(Clone, Copy)]
pub(crate) struct VectorSeed(pub(crate) Refusal);

impl<'de> DeserializeSeed<'de> for VectorSeed {
    type Value = VectorInputWire;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<VectorInputWire, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for VectorSeed {
    type Value = VectorInputWire;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a vector or a point id")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<VectorInputWire, A::Error> {
        match read_list(seq, self.0)? {
            Ok(dense) => Ok(VectorInputWire::Dense(dense)),
            Err(list) => buffered_input(list, self.0),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<VectorInputWire, A::Error> {
        buffered_input(Value::deserialize(de::value::MapAccessDeserializer::new(map))?, self.0)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<VectorInputWire, E> {
        buffered_input(Value::from(v), self.0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<VectorInputWire, E> {
        buffered_input(Value::from(v), self.0)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<VectorInputWire, E> {
        buffered_input(Value::from(v), self.0)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<VectorInputWire, E> {
        buffered_input(Value::Bool(v), self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<VectorInputWire, E> {
        buffered_input(Value::String(v.to_owned()), self.0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<VectorInputWire, E> {
        buffered_input(Value::Null, self.0)
    }
}

impl<'de> Deserialize<'de> for VectorInputWire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        VectorSeed(Refusal { kind: None, enum_name: "VectorInputWire" }).deserialize(deserializer)
    }
}

const NAMED: Refusal = Refusal { kind: None, enum_name: "NamedVectorWire" };

impl<'de> Deserialize<'de> for NamedVectorWire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NamedVisitor)
    }
}

struct NamedVisitor;

impl<'de> Visitor<'de> for NamedVisitor {
    type Value = NamedVectorWire;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a vector or a named vector")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<NamedVectorWire, A::Error> {
        let list = match read_list(seq, NAMED)? {
            Ok(dense) => return Ok(NamedVectorWire::Dense(dense)),
            Err(list) => list,
        };
        Ok(match serde_json::from_value::<buffered::NamedVectorWire>(list).map_err(|_| NAMED.mismatch())? {
            buffered::NamedVectorWire::Dense(v) => NamedVectorWire::Dense(v),
            buffered::NamedVectorWire::NamedDense { name, vector } => NamedVectorWire::NamedDense { name, vector },
            buffered::NamedVectorWire::NamedSparse { name, vector } => NamedVectorWire::NamedSparse { name, vector },
        })
    }
    /// `{"name": …, "vector": …}`; other keys are ignored, as serde's untagged reading does.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedVectorWire, A::Error> {
        let (mut name, mut vector) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => name = Some(map.next_value::<String>().map_err(|_: A::Error| NAMED.mismatch::<A::Error>())?),
                "vector" => vector = Some(map.next_value_seed(VectorSeed(NAMED))?),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        match (name, vector) {
            (Some(name), Some(VectorInputWire::Dense(vector))) => Ok(NamedVectorWire::NamedDense { name, vector }),
            (Some(name), Some(VectorInputWire::Sparse(vector))) => Ok(NamedVectorWire::NamedSparse { name, vector }),
            (Some(_), Some(VectorInputWire::Multi(_) | VectorInputWire::Id(_))) | (None, _) | (_, None) => {
                Err(NAMED.mismatch())
            }
        }
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<NamedVectorWire, E> {
        Err(NAMED.mismatch())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<NamedVectorWire, E> {
        Err(NAMED.mismatch())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<NamedVectorWire, E> {
        Err(NAMED.mismatch())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<NamedVectorWire, E> {
        Err(NAMED.mismatch())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<NamedVectorWire, E> {
        Err(NAMED.mismatch())
    }
    fn visit_unit<E: de::Error>(self) -> Result<NamedVectorWire, E> {
        Err(NAMED.mismatch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal's text without serde_json's position.
    fn text(e: serde_json::Error) -> String {
        let e = e.to_string();
        e.split(" at line ").next().unwrap_or_default().to_string()
    }

    /// Both readings of `json`, as text: the streaming one and serde's buffered untagged one.
    fn both<New: fmt::Debug + de::DeserializeOwned, Old: fmt::Debug + de::DeserializeOwned>(
        json: &str,
    ) -> (String, String) {
        let new = serde_json::from_str::<New>(json).map(|v| format!("{v:?}")).map_err(text);
        let old = serde_json::from_str::<Old>(json).map(|v| format!("{v:?}")).map_err(text);
        (format!("{new:?}"), format!("{old:?}"))
    }

    #[test]
    fn vector_inputs_read_as_serde_untagged_reads_them() {
        let uuid = "\"5c56c793-69f3-4fbf-87e6-c4bf54c28c26\"";
        for json in [
            "[1, 2.5, -3]",
            "[]",
            "[1e40, -0.0]",
            "[[1, 2], [3, 4]]",
            "[[0.5, 1.5], [2.5, 3.5], [1, 1]]",
            "{\"indices\": [1, 5], \"values\": [0.5, 1]}",
            "7",
            uuid,
            "[1, \"a\"]",
            "[1, [2]]",
            "true",
            "null",
            "{\"indices\": [1]}",
            "-3",
            "2.5",
            "[\"a\", 1]",
        ] {
            let (new, old) = both::<VectorInputWire, buffered::VectorInputWire>(json);
            assert_eq!(new, old, "{json}");
        }
    }

    #[test]
    fn named_vectors_read_as_serde_untagged_reads_them() {
        for json in [
            "[1, 2]",
            "[]",
            "{\"name\": \"a\", \"vector\": [1, 2]}",
            "{\"vector\": [1], \"name\": \"b\", \"x\": 1}",
            "{\"name\": \"s\", \"vector\": {\"indices\": [1], \"values\": [2]}}",
            "{\"vector\": [1]}",
            "{\"name\": \"a\", \"vector\": [1, \"x\"]}",
            "[\"a\", [1.0]]",
            "{\"name\": 1, \"vector\": [1]}",
            "{\"name\": \"m\", \"vector\": [[1.5], [2.5], [3.5]]}",
            "3",
            "[1, null]",
        ] {
            let (new, old) = both::<NamedVectorWire, buffered::NamedVectorWire>(json);
            assert_eq!(new, old, "{json}");
        }
    }

    #[test]
    fn syntax_errors_stay_syntax_errors() {
        let e = serde_json::from_str::<VectorInputWire>("[1, 2,]").unwrap_err();
        assert!(e.to_string().starts_with("trailing comma"), "{e}");
    }
}
