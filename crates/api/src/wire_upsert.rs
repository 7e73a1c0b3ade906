//! The list form of an upsert body (`{"points": [{"id", "vector", "payload"}, …]}`) decoded
//! straight from the request text: each dense vector goes into its `Vec<f32>` as it is read,
//! with no `serde_json::Value` (and no serde buffered content for the untagged vector shapes) in
//! between. That reading only accepts; anything it does not take — the batch form, a duplicate
//! key, any error — is read again by the buffered reading (`wire::upsert_operation` over a
//! `Value`), so what is accepted, every result and every refusal's text stay exactly as before.
//! Vector shapes other than a list of numbers (multivectors, sparse vectors) are buffered as a
//! `Value` one by one and read by the same untagged enums as before.

use crate::error::ApiError;
use crate::wire::{self, Write};
use crate::wire_vector::{Refusal, read_list};
use quiver_types::PointId;
use quiver_types::filter::Filter;
use quiver_types::ops::UpdateMode;
use quiver_types::point::{NamedVectors, Payload, PointStruct, Vector, VectorStruct};
use quiver_types::shard_key::ShardKeySelector;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// Parses an upsert body (list or batch form) as `wire::upsert_operation` does from its JSON.
pub(crate) fn upsert_body(body: &[u8]) -> Result<Write, ApiError> {
    match serde_json::from_slice::<PointsList>(body) {
        Ok(list) => Ok(wire::upsert_points(list.points, list.shard_key, list.update_filter, list.update_mode)),
        Err(_) => wire::upsert_operation(serde_json::from_slice::<Value>(body).map_err(ApiError::format)?),
    }
}

/// The list form, read typed.
struct PointsList {
    points: Vec<PointStruct>,
    shard_key: Option<ShardKeySelector>,
    update_filter: Option<Filter>,
    update_mode: Option<UpdateMode>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ListField {
    Points,
    ShardKey,
    UpdateFilter,
    UpdateMode,
    /// Makes the buffered reading take the batch form.
    Batch,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum PointField {
    Id,
    Vector,
    Payload,
    #[serde(other)]
    Other,
}

/// Sets `slot` once; a second value for the same key leaves it to the buffered reading.
fn set_once<'de, A: MapAccess<'de>, T>(slot: &mut Option<T>, value: T, key: &'static str) -> Result<(), A::Error> {
    match slot.replace(value) {
        Some(_) => Err(de::Error::duplicate_field(key)),
        None => Ok(()),
    }
}

/// A field read as the derived reading reads it from the buffered `Value`.
fn buffered_field<'de, A: MapAccess<'de>, T: DeserializeOwned>(map: &mut A) -> Result<Option<T>, A::Error> {
    serde_json::from_value(map.next_value::<Value>()?).map_err(de::Error::custom)
}

impl<'de> Deserialize<'de> for PointsList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ListVisitor)
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = PointsList;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an upsert body")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PointsList, A::Error> {
        let mut points = None;
        let (mut shard_key, mut update_filter, mut update_mode) = (None, None, None);
        while let Some(key) = map.next_key::<ListField>()? {
            match key {
                ListField::Points => set_once::<A, _>(&mut points, map.next_value::<Points>()?.0, "points")?,
                ListField::ShardKey => set_once::<A, _>(&mut shard_key, buffered_field(&mut map)?, "shard_key")?,
                ListField::UpdateFilter => {
                    set_once::<A, _>(&mut update_filter, buffered_field(&mut map)?, "update_filter")?
                }
                ListField::UpdateMode => set_once::<A, _>(&mut update_mode, buffered_field(&mut map)?, "update_mode")?,
                ListField::Batch => return Err(de::Error::custom("the batch form")),
                ListField::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(PointsList {
            points: points.ok_or_else(|| <A::Error as de::Error>::missing_field("points"))?,
            shard_key: shard_key.flatten(),
            update_filter: update_filter.flatten(),
            update_mode: update_mode.flatten(),
        })
    }
}

/// The `points` list.
struct Points(Vec<PointStruct>);

impl<'de> Deserialize<'de> for Points {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(PointsVisitor)
    }
}

struct PointsVisitor;

impl<'de> Visitor<'de> for PointsVisitor {
    type Value = Points;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of points")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Points, A::Error> {
        let mut points = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(point) = seq.next_element::<Point>()? {
            points.push(point.0);
        }
        Ok(Points(points))
    }
}

/// One point of the list.
struct Point(PointStruct);

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PointVisitor)
    }
}

struct PointVisitor;

impl<'de> Visitor<'de> for PointVisitor {
    type Value = Point;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a point")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Point, A::Error> {
        let (mut id, mut vector, mut payload) = (None, None, None);
        while let Some(key) = map.next_key::<PointField>()? {
            match key {
                PointField::Id => set_once::<A, _>(&mut id, map.next_value::<PointId>()?, "id")?,
                PointField::Vector => set_once::<A, _>(&mut vector, map.next_value_seed(VectorField)?, "vector")?,
                PointField::Payload => set_once::<A, _>(&mut payload, map.next_value::<Option<Payload>>()?, "payload")?,
                PointField::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let id = id.ok_or_else(|| <A::Error as de::Error>::missing_field("id"))?;
        let vectors = vector.flatten().map(VectorStruct::into_named).unwrap_or_default();
        Ok(Point(PointStruct { id, vectors, payload: payload.flatten() }))
    }
}

/// The refusals of these readers are never shown: the buffered reading answers instead.
const UNSHOWN: Refusal = Refusal::unshown();

/// A point's `vector`: `null`, a dense list, a named map (dense lists read typed, other shapes
/// buffered), or another list shape (buffered).
struct VectorField;

impl<'de> DeserializeSeed<'de> for VectorField {
    type Value = Option<VectorStruct>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for VectorField {
    type Value = Option<VectorStruct>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a point's vectors")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        match read_list(seq, UNSHOWN)? {
            Ok(dense) => Ok(Some(VectorStruct::Single(dense))),
            Err(list) => serde_json::from_value(list).map(Some).map_err(de::Error::custom),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut named = NamedVectors::new();
        while let Some(name) = map.next_key::<String>()? {
            named.insert(name, map.next_value::<NamedVector>()?.0);
        }
        Ok(Some(VectorStruct::Named(named)))
    }
}

/// One vector of a named map, as the untagged `Vector` reads it.
struct NamedVector(Vector);

impl<'de> Deserialize<'de> for NamedVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NamedVectorVisitor)
    }
}

struct NamedVectorVisitor;

impl<'de> Visitor<'de> for NamedVectorVisitor {
    type Value = NamedVector;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a vector")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<NamedVector, A::Error> {
        match read_list(seq, UNSHOWN)? {
            Ok(dense) => Ok(NamedVector(Vector::Dense(dense))),
            Err(list) => serde_json::from_value(list).map(NamedVector).map_err(de::Error::custom),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NamedVector, A::Error> {
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        serde_json::from_value(value).map(NamedVector).map_err(de::Error::custom)
    }
}

#[cfg(test)]
#[path = "wire_upsert_tests.rs"]
mod tests;
