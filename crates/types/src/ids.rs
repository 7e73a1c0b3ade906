//! Identifiers: point ids (unsigned integers or UUIDs), shard ids, peer ids, sequence numbers.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// A shard's id inside its collection (`0..shard_number`).
pub type ShardId = u32;
/// A peer's id in the cluster (random u64 below 2^53).
pub type PeerId = u64;
/// A shard operation's sequence number, assigned in WAL order.
pub type SeqNo = u64;

/// A point id: an unsigned integer or a UUID. Numbers sort before UUIDs, as in Qdrant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PointId {
    Num(u64),
    Uuid(Uuid),
}

impl PointId {
    /// Parses a point id from a path segment or string: an integer or a UUID.
    pub fn parse(text: &str) -> Result<PointId, crate::TypesError> {
        if let Ok(num) = text.parse::<u64>() {
            return Ok(PointId::Num(num));
        }
        Uuid::parse_str(text).map(PointId::Uuid).map_err(|_| crate::TypesError::BadInput(invalid_id_message(text)))
    }
}

/// Qdrant's message for an id that is neither an unsigned integer nor a UUID.
pub fn invalid_id_message(text: &str) -> String {
    format!(
        "Unable to parse point id: {text} is not a valid point ID, valid values are either an unsigned integer or a UUID"
    )
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "{}", u.hyphenated()),
        }
    }
}

impl From<u64> for PointId {
    fn from(n: u64) -> Self {
        PointId::Num(n)
    }
}

impl Serialize for PointId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PointId::Num(n) => serializer.serialize_u64(*n),
            PointId::Uuid(u) => serializer.collect_str(&u.hyphenated()),
        }
    }
}

struct PointIdVisitor;

impl Visitor<'_> for PointIdVisitor {
    type Value = PointId;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an unsigned integer or a UUID")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PointId, E> {
        Ok(PointId::Num(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PointId, E> {
        u64::try_from(v).map(PointId::Num).map_err(|_| E::custom(invalid_id_message(&v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<PointId, E> {
        Err(E::custom(invalid_id_message(&v.to_string())))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PointId, E> {
        Uuid::parse_str(v).map(PointId::Uuid).map_err(|_| E::custom(invalid_id_message(v)))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<PointId, E> {
        Uuid::from_slice(v).map(PointId::Uuid).map_err(|_| E::custom("invalid binary UUID"))
    }
}

impl<'de> Deserialize<'de> for PointId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PointId, D::Error> {
        deserializer.deserialize_any(PointIdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_uuids() {
        let n: PointId = serde_json::from_str("42").unwrap();
        assert_eq!(n, PointId::Num(42));
        let u: PointId = serde_json::from_str("\"5C56C793-69F3-4FBF-87E6-C4BF54C28C26\"").unwrap();
        assert_eq!(serde_json::to_string(&u).unwrap(), "\"5c56c793-69f3-4fbf-87e6-c4bf54c28c26\"");
        assert!(serde_json::from_str::<PointId>("-1").is_err());
        assert!(serde_json::from_str::<PointId>("1.5").is_err());
        assert!(serde_json::from_str::<PointId>("\"abc\"").is_err());
        assert!(serde_json::from_str::<PointId>("18446744073709551616").is_err());
    }

    #[test]
    fn numbers_sort_before_uuids() {
        let u = PointId::Uuid(Uuid::nil());
        assert!(PointId::Num(u64::MAX) < u);
    }
}
