//! Envelope body encoding: one version byte, then MessagePack (rmp-serde with named fields, so fields can be
//! added compatibly). Byte payloads are encoded as MessagePack `bin`, not as arrays of integers.

use crate::error::PeerError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version byte that prefixes every envelope body.
pub const WIRE_VERSION: u8 = 1;

/// Encodes a message as `WIRE_VERSION` + MessagePack.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, PeerError> {
    let mut out = Vec::with_capacity(64);
    out.push(WIRE_VERSION);
    rmp_serde::encode::write_named(&mut out, message).map_err(|e| PeerError::Codec(format!("encode: {e}")))?;
    Ok(out)
}

/// Decodes a message encoded by [`encode`]; refuses an empty body or an unknown version byte.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PeerError> {
    match bytes.split_first() {
        None => Err(PeerError::Codec("empty message body".to_string())),
        Some((&WIRE_VERSION, rest)) => {
            rmp_serde::from_slice(rest).map_err(|e| PeerError::Codec(format!("decode: {e}")))
        }
        Some((version, _)) => Err(PeerError::Codec(format!("unsupported wire version {version}"))),
    }
}

/// `#[serde(with = "crate::codec::bytes")]` for `Vec<u8>`: serialises as bytes (MessagePack `bin`);
/// deserialises from bytes or, for tolerance, from a sequence of integers.
pub(crate) mod bytes {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte array")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(byte) = seq.next_element::<u8>()? {
                out.push(byte);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PeerRequest, PeerResponse, RaftRpc};

    #[test]
    fn round_trips_every_request_variant() {
        let requests = vec![
            PeerRequest::Raft { kind: RaftRpc::Vote, body: vec![1, 2, 200] },
            PeerRequest::Propose { body: vec![] },
            PeerRequest::AddPeer { peer_id: 42, uri: "http://127.0.0.1:6335".into() },
            PeerRequest::Ping,
            PeerRequest::Cluster { body: b"x".to_vec() },
            PeerRequest::Shard { collection: "c".into(), shard_id: 3, body: vec![0; 1000] },
        ];
        for request in requests {
            let bytes = encode(&request).expect("encode");
            assert_eq!(bytes[0], WIRE_VERSION);
            assert_eq!(decode::<PeerRequest>(&bytes).expect("decode"), request);
        }
    }

    #[test]
    fn bytes_are_compact() {
        let bytes = encode(&PeerResponse::Shard { body: vec![255; 10_000] }).expect("encode");
        assert!(bytes.len() < 10_100, "encoded {} bytes", bytes.len());
    }

    #[test]
    fn refuses_bad_bodies() {
        assert!(matches!(decode::<PeerRequest>(&[]), Err(PeerError::Codec(_))));
        assert!(matches!(decode::<PeerRequest>(&[9, 1, 2]), Err(PeerError::Codec(m)) if m.contains("version 9")));
        assert!(matches!(decode::<PeerRequest>(&[WIRE_VERSION, 0xc1]), Err(PeerError::Codec(_))));
    }
}
