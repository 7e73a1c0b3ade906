//! How `Vector` and `VectorStruct` are read. Their JSON form is untagged (a list of numbers, a
//! list of lists, a sparse object, a map of names), and serde reads an untagged enum by
//! buffering the whole value into its generic `Content` tree first, then trying each variant:
//! every number of a 384-d vector becomes a 32-byte `Content` before it becomes an `f32`.
//!
//! Binary formats (MessagePack on the peer protocol, in WAL records and in snapshot payloads,
//! `is_human_readable() == false`) carry the same untagged shapes, so the variant can be told
//! from the value's own structure: a map is sparse (or named), a list whose first element is a
//! number is dense, a list of lists is a multivector. Those are read straight into their
//! vectors here. Human-readable formats (JSON) keep serde's derived reading and its refusal
//! texts.
//!
//! A `SparseVector` in a human-readable format is only the object `{"indices", "values"}`:
//! serde's derived reading of a struct also takes a sequence of its fields in order, so a
//! multivector of two rows (`[[1, 2, 3], [4, 5, 6]]`) would be read as indices and values by
//! every untagged enum that tries the sparse variant before the multivector one. Binary formats
//! keep the derived reading (a map, or a sequence of the two lists).

use crate::point::{SparseVector, Vector, VectorStruct};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// The fields of a sparse vector, read as serde derives a struct's reading.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "SparseVector")]
struct SparseFields {
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl<'de> Deserialize<'de> for SparseVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let SparseFields { indices, values } = match deserializer.is_human_readable() {
            true => deserializer.deserialize_map(SparseObject)?,
            false => SparseFields::deserialize(deserializer)?,
        };
        Ok(SparseVector { indices, values })
    }
}

/// Reads a sparse vector from an object only.
struct SparseObject;

impl<'de> Visitor<'de> for SparseObject {
    type Value = SparseFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sparse vector object {\"indices\": [...], \"values\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SparseFields, A::Error> {
        SparseFields::deserialize(MapAccessDeserializer::new(map))
    }
}

/// The derived untagged readings, used for human-readable formats (names as serde reports them).
mod derived {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Vector {
        Dense(Vec<f32>),
        Sparse(SparseVector),
        Multi(Vec<Vec<f32>>),
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum VectorStruct {
        Single(Vec<f32>),
        Multi(Vec<Vec<f32>>),
        Named(BTreeMap<String, super::Vector>),
    }
}

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            return Ok(match derived::Vector::deserialize(deserializer)? {
                derived::Vector::Dense(v) => Vector::Dense(v),
                derived::Vector::Sparse(v) => Vector::Sparse(v),
                derived::Vector::Multi(v) => Vector::Multi(v),
            });
        }
        deserializer.deserialize_any(Shaped { name: "Vector" }).map(|shape| match shape {
            Shape::Dense(v) => Vector::Dense(v),
            Shape::Multi(v) => Vector::Multi(v),
            Shape::Map(MapShape::Sparse(v)) => Vector::Sparse(v),
        })
    }
}

impl<'de> Deserialize<'de> for VectorStruct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            return Ok(match derived::VectorStruct::deserialize(deserializer)? {
                derived::VectorStruct::Single(v) => VectorStruct::Single(v),
                derived::VectorStruct::Multi(v) => VectorStruct::Multi(v),
                derived::VectorStruct::Named(v) => VectorStruct::Named(v),
            });
        }
        deserializer.deserialize_any(Named).map(|shape| match shape {
            Shape::Dense(v) => VectorStruct::Single(v),
            Shape::Multi(v) => VectorStruct::Multi(v),
            Shape::Map(named) => VectorStruct::Named(named),
        })
    }
}

/// A vector read by its structure; `M` is what a map is.
enum Shape<M> {
    Dense(Vec<f32>),
    Multi(Vec<Vec<f32>>),
    Map(M),
}

/// What a map is when read as a `Vector`.
enum MapShape {
    Sparse(SparseVector),
}

/// The first element of a list: a number (dense) or a list of numbers (a multivector's row).
enum First {
    Number(f32),
    Row(Vec<f32>),
}

impl<'de> Deserialize<'de> for First {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FirstVisitor)
    }
}

struct FirstVisitor;

impl<'de> Visitor<'de> for FirstVisitor {
    type Value = First;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a list of numbers")
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<First, E> {
        Ok(First::Number(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<First, E> {
        Ok(First::Number(v as f32))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<First, E> {
        Ok(First::Number(v as f32))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<First, E> {
        Ok(First::Number(v as f32))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<First, A::Error> {
        Vec::<f32>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(First::Row)
    }
}

/// Reads the rest of a list whose first element was `first`.
fn rest_of_list<'de, A: SeqAccess<'de>, M>(first: Option<First>, mut seq: A) -> Result<Shape<M>, A::Error> {
    let hint = seq.size_hint().unwrap_or(0).min(1 << 16);
    match first {
        None => Ok(Shape::Dense(Vec::new())),
        Some(First::Number(x)) => {
            let mut values = Vec::with_capacity(hint + 1);
            values.push(x);
            while let Some(x) = seq.next_element::<f32>()? {
                values.push(x);
            }
            Ok(Shape::Dense(values))
        }
        Some(First::Row(row)) => {
            let mut rows = Vec::with_capacity(hint + 1);
            rows.push(row);
            while let Some(row) = seq.next_element::<Vec<f32>>()? {
                rows.push(row);
            }
            Ok(Shape::Multi(rows))
        }
    }
}

/// Reads a `Vector` by its structure.
struct Shaped {
    name: &'static str,
}

impl<'de> Visitor<'de> for Shaped {
    type Value = Shape<MapShape>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {}: a list of numbers, a list of lists of numbers, or a sparse vector", self.name)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element::<First>()?;
        rest_of_list(first, seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        SparseVector::deserialize(MapAccessDeserializer::new(map)).map(|v| Shape::Map(MapShape::Sparse(v)))
    }
}

/// Reads a `VectorStruct` by its structure.
struct Named;

impl<'de> Visitor<'de> for Named {
    type Value = Shape<BTreeMap<String, Vector>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a VectorStruct: a list of numbers, a list of lists of numbers, or vectors by name")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element::<First>()?;
        rest_of_list(first, seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        BTreeMap::<String, Vector>::deserialize(MapAccessDeserializer::new(map)).map(Shape::Map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    /// Reads `bytes` with the structural reading (binary) and with serde's derived one (the
    /// same MessagePack read as human-readable).
    fn both<T: DeserializeOwned>(bytes: &[u8]) -> (Result<T, String>, Result<T, String>) {
        let fast = rmp_serde::from_slice::<T>(bytes).map_err(|e| e.to_string());
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes).with_human_readable();
        let derived = T::deserialize(&mut de).map_err(|e| e.to_string());
        (fast, derived)
    }

    fn samples() -> Vec<Vector> {
        vec![
            Vector::Dense(vec![0.5, -1.25, 3.0, f32::MIN_POSITIVE, 1e30]),
            Vector::Dense(vec![]),
            Vector::Dense((0..384).map(|i| i as f32 / 7.0).collect()),
            Vector::Sparse(SparseVector { indices: vec![3, 1, 40], values: vec![0.25, 1.0, -2.0] }),
            Vector::Sparse(SparseVector { indices: vec![], values: vec![] }),
            Vector::Multi(vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.5, 6.5]]),
            Vector::Multi(vec![vec![1.0]]),
        ]
    }

    #[test]
    fn binary_vectors_read_as_the_derived_reading_does() {
        for vector in samples() {
            let bytes = rmp_serde::to_vec_named(&vector).unwrap();
            let (fast, derived) = both::<Vector>(&bytes);
            assert_eq!(fast.as_ref(), Ok(&vector), "{vector:?}");
            assert_eq!(fast, derived, "{vector:?}");
        }
    }

    #[test]
    fn binary_vector_structs_read_as_the_derived_reading_does() {
        let named: BTreeMap<String, Vector> =
            samples().into_iter().enumerate().map(|(i, v)| (format!("v{i}"), v)).collect();
        for value in [
            VectorStruct::Single(vec![1.0, 2.0, 3.0]),
            VectorStruct::Multi(vec![vec![1.0, 2.0], vec![0.0, -1.0]]),
            VectorStruct::Named(named),
            VectorStruct::Named(BTreeMap::new()),
        ] {
            let bytes = rmp_serde::to_vec_named(&value).unwrap();
            let (fast, derived) = both::<VectorStruct>(&bytes);
            assert_eq!(fast.as_ref(), Ok(&value), "{value:?}");
            assert_eq!(fast, derived, "{value:?}");
        }
    }

    #[test]
    fn binary_values_of_other_shapes_are_refused() {
        for bad in [
            rmp_serde::to_vec_named(&"text").unwrap(),
            rmp_serde::to_vec_named(&vec![vec![vec![1.0f32]]]).unwrap(),
            rmp_serde::to_vec_named(&(1.0f32, "x")).unwrap(),
            rmp_serde::to_vec_named(&BTreeMap::from([("indices", 1)])).unwrap(),
        ] {
            assert!(rmp_serde::from_slice::<Vector>(&bad).is_err(), "{bad:?}");
        }
        // A truncated dense vector is an error, never a shorter vector.
        let mut bytes = rmp_serde::to_vec_named(&Vector::Dense(vec![1.0; 8])).unwrap();
        bytes.truncate(bytes.len() - 3);
        assert!(rmp_serde::from_slice::<Vector>(&bytes).is_err());
    }

    #[test]
    fn json_keeps_the_derived_reading_and_its_refusal() {
        let v: Vector = serde_json::from_str("[1, 2.5]").unwrap();
        assert_eq!(v, Vector::Dense(vec![1.0, 2.5]));
        let v: Vector = serde_json::from_str(r#"{"indices":[1],"values":[0.5]}"#).unwrap();
        assert_eq!(v, Vector::Sparse(SparseVector { indices: vec![1], values: vec![0.5] }));
        let e = serde_json::from_str::<Vector>(r#""x""#).unwrap_err().to_string();
        assert_eq!(e, "data did not match any variant of untagged enum Vector");
        let e = serde_json::from_str::<VectorStruct>("true").unwrap_err().to_string();
        assert_eq!(e, "data did not match any variant of untagged enum VectorStruct");
    }

    #[test]
    fn json_lists_of_two_rows_are_multivectors_never_sparse() {
        let two_rows = Vector::Multi(vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
        for json in ["[[1,2,3],[4,5,6]]", "[[1.0,2,3],[4,5,6]]", "[[1,2,3],[4.5,5,6]]"] {
            let expected = serde_json::from_str::<Vec<Vec<f32>>>(json).unwrap();
            assert_eq!(serde_json::from_str::<Vector>(json).unwrap(), Vector::Multi(expected.clone()), "{json}");
            assert_eq!(serde_json::from_str::<VectorStruct>(json).unwrap(), VectorStruct::Multi(expected), "{json}");
        }
        let named: VectorStruct = serde_json::from_str(r#"{"mv":[[1,2,3],[4,5,6]]}"#).unwrap();
        assert_eq!(named, VectorStruct::Named(BTreeMap::from([("mv".to_string(), two_rows.clone())])));
        // Through a buffered `Value`, as the REST layer reads bodies.
        let value = serde_json::json!({"mv": [[1, 2, 3], [4, 5, 6]]});
        let named: VectorStruct = serde_json::from_value(value).unwrap();
        assert_eq!(named.into_named()["mv"], two_rows);
    }

    #[test]
    fn json_sparse_vectors_are_objects_only() {
        let sparse = SparseVector { indices: vec![1, 7], values: vec![0.5, 2.0] };
        let json = r#"{"indices":[1,7],"values":[0.5,2]}"#;
        assert_eq!(serde_json::from_str::<SparseVector>(json).unwrap(), sparse);
        assert_eq!(serde_json::from_str::<Vector>(json).unwrap(), Vector::Sparse(sparse.clone()));
        let named: VectorStruct = serde_json::from_str(&format!(r#"{{"s":{json}}}"#)).unwrap();
        assert_eq!(named.into_named()["s"], Vector::Sparse(sparse.clone()));
        assert_eq!(
            serde_json::from_value::<SparseVector>(serde_json::json!({"values":[0.5,2],"indices":[1,7]})).unwrap(),
            sparse
        );
        let e = serde_json::from_str::<SparseVector>("[[1,7],[0.5,2]]").unwrap_err().to_string();
        assert!(e.starts_with("invalid type: sequence, expected a sparse vector object"), "{e}");
        let e = serde_json::from_str::<SparseVector>(r#"{"indices":[1]}"#).unwrap_err().to_string();
        assert!(e.starts_with("missing field `values`"), "{e}");
        let e = serde_json::from_str::<SparseVector>(r#"{"indices":[1],"values":[1],"x":1}"#).unwrap_err().to_string();
        assert!(e.starts_with("unknown field `x`"), "{e}");
    }

    #[test]
    fn binary_sparse_vectors_read_as_before() {
        let sparse = SparseVector { indices: vec![4, 2], values: vec![1.5, -0.5] };
        // Named (a map) and compact (a sequence of the two lists) MessagePack both read.
        for bytes in [rmp_serde::to_vec_named(&sparse).unwrap(), rmp_serde::to_vec(&sparse).unwrap()] {
            assert_eq!(rmp_serde::from_slice::<SparseVector>(&bytes).unwrap(), sparse);
        }
        let two_rows = Vector::Multi(vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
        let bytes = rmp_serde::to_vec_named(&two_rows).unwrap();
        assert_eq!(rmp_serde::from_slice::<Vector>(&bytes).unwrap(), two_rows);
        let query = crate::query::QueryVector::Sparse(sparse);
        for bytes in [rmp_serde::to_vec_named(&query).unwrap(), rmp_serde::to_vec(&query).unwrap()] {
            assert_eq!(rmp_serde::from_slice::<crate::query::QueryVector>(&bytes).unwrap(), query);
        }
    }

    #[test]
    fn json_dense_and_multi_shapes_read_as_before() {
        assert_eq!(serde_json::from_str::<Vector>("[]").unwrap(), Vector::Dense(vec![]));
        assert_eq!(serde_json::from_str::<Vector>("[1,2]").unwrap(), Vector::Dense(vec![1.0, 2.0]));
        assert_eq!(serde_json::from_str::<VectorStruct>("[3]").unwrap(), VectorStruct::Single(vec![3.0]));
        let three = "[[0.5,1.5],[2.5,3.5],[1,0.1]]";
        let rows = vec![vec![0.5, 1.5], vec![2.5, 3.5], vec![1.0, 0.1]];
        assert_eq!(serde_json::from_str::<Vector>(three).unwrap(), Vector::Multi(rows.clone()));
        assert_eq!(serde_json::from_str::<VectorStruct>(three).unwrap(), VectorStruct::Multi(rows));
        let e = serde_json::from_str::<Vector>("[[1,2],[3,\"x\"]]").unwrap_err().to_string();
        assert_eq!(e, "data did not match any variant of untagged enum Vector");
    }
}
