//! Optional request fields given as `null`. Qdrant reads its request bodies into `Option`
//! fields, so an explicit `null` means the same as leaving the field out; Qdrant's JavaScript
//! client sends `with_payload: null` and `with_vector: null` on every grouped search. These
//! deserializers give such a field the value it has when absent.

use quiver_types::query::{WithPayload, WithVector};
use serde::{Deserialize, Deserializer};

/// No payload: the default of searches and queries.
pub(crate) fn no_payload() -> WithPayload {
    WithPayload::Bool(false)
}

/// The whole payload: the default of retrieve, scroll and a group's `with_lookup`.
pub(crate) fn all_payload() -> WithPayload {
    WithPayload::Bool(true)
}

/// No vectors: the default of every read.
pub(crate) fn no_vector() -> WithVector {
    WithVector::Bool(false)
}

/// `with_payload` where absent or `null` means no payload.
pub(crate) fn payload_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<WithPayload, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_else(no_payload))
}

/// `with_payload` where absent or `null` means the whole payload.
pub(crate) fn payload_or_all<'de, D: Deserializer<'de>>(d: D) -> Result<WithPayload, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_else(all_payload))
}

/// `with_vector` where absent or `null` means no vectors.
pub(crate) fn vector_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<WithVector, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_else(no_vector))
}

/// A list where absent or `null` means empty.
pub(crate) fn list_or_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Read {
        #[serde(default = "no_payload", deserialize_with = "payload_or_none")]
        with_payload: WithPayload,
        #[serde(default = "all_payload", deserialize_with = "payload_or_all")]
        lookup_payload: WithPayload,
        #[serde(default = "no_vector", deserialize_with = "vector_or_none")]
        with_vector: WithVector,
        #[serde(default, deserialize_with = "list_or_empty")]
        positive: Vec<u64>,
    }

    #[test]
    fn null_reads_as_the_absent_value() {
        let null: Read = serde_json::from_str(
            r#"{"with_payload": null, "lookup_payload": null, "with_vector": null, "positive": null}"#,
        )
        .unwrap();
        let absent: Read = serde_json::from_str("{}").unwrap();
        for read in [null, absent] {
            assert_eq!(read.with_payload, WithPayload::Bool(false));
            assert_eq!(read.lookup_payload, WithPayload::Bool(true));
            assert_eq!(read.with_vector, WithVector::Bool(false));
            assert!(read.positive.is_empty());
        }
    }

    #[test]
    fn given_values_are_kept_and_bad_ones_refused() {
        let read: Read = serde_json::from_str(
            r#"{"with_payload": ["a"], "lookup_payload": false, "with_vector": true, "positive": [1]}"#,
        )
        .unwrap();
        assert_eq!(read.with_payload, WithPayload::Fields(vec!["a".into()]));
        assert_eq!(read.lookup_payload, WithPayload::Bool(false));
        assert_eq!(read.with_vector, WithVector::Bool(true));
        assert_eq!(read.positive, vec![1]);
        assert!(serde_json::from_str::<Read>(r#"{"with_payload": 3}"#).is_err());
    }
}
