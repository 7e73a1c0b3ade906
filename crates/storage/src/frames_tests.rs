use super::*;
use crate::vectors::quantize;
use quiver_types::config::Datatype;
use quiver_types::point::{NamedVectors, Payload};

fn payload() -> Payload {
    serde_json::from_value(serde_json::json!({"a": {"b": [1, "x", null, 2.5, -3]}, "big": u64::MAX, "t": true}))
        .unwrap()
}

fn points() -> Vec<StoredPoint> {
    let mut half = vec![0.1f32, -2.7, 65504.0, 1e-3];
    quantize(Datatype::Float16, &mut half);
    let mut bytes = vec![0.4f32, 254.9, 300.0, -1.0];
    quantize(Datatype::Uint8, &mut bytes);
    let sparse = SparseVector { indices: vec![9, 2, 40_000], values: vec![0.5, -1.25, 3.0] };
    vec![
        StoredPoint {
            id: PointId::Num(7),
            version: 3,
            vectors: NamedVectors::from([
                (String::new(), Vector::Dense(vec![1.0, f32::MIN_POSITIVE, -0.0, 12345.678])),
                ("half".into(), Vector::Dense(half)),
                ("bytes".into(), Vector::Dense(bytes)),
                ("sparse".into(), Vector::Sparse(sparse)),
                ("multi".into(), Vector::Multi(vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]])),
            ]),
            payload: payload(),
        },
        StoredPoint {
            id: PointId::Uuid(uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1122_3344_5566_7788)),
            version: u64::MAX,
            vectors: NamedVectors::from([(
                "sparse".into(),
                Vector::Sparse(SparseVector { indices: vec![], values: vec![] }),
            )]),
            payload: Payload::new(),
        },
        StoredPoint { id: PointId::Num(0), version: 0, vectors: NamedVectors::new(), payload: Payload::new() },
    ]
}

fn bits(point: &StoredPoint) -> Vec<(String, Vec<u32>)> {
    let flat = |v: &Vector| match v {
        Vector::Dense(d) => d.iter().map(|x| x.to_bits()).collect(),
        Vector::Sparse(s) => s.indices.iter().copied().chain(s.values.iter().map(|x| x.to_bits())).collect(),
        Vector::Multi(m) => m.iter().flatten().map(|x| x.to_bits()).collect(),
    };
    point.vectors.iter().map(|(n, v)| (n.clone(), flat(v))).collect()
}

#[test]
fn round_trip_keeps_every_kind_and_datatype_bit_exact() {
    let points = points();
    let frame = encode_points(&points).unwrap();
    let decoded = decode_points(&frame).unwrap();
    assert_eq!(decoded, points);
    for (a, b) in decoded.iter().zip(&points) {
        assert_eq!(bits(a), bits(b), "values must survive bit for bit (-0.0, float16, uint8)");
    }
    let mut reader = FrameReader::new(&frame).unwrap();
    assert_eq!(reader.remaining(), 3);
    let (first, bytes) = reader.next().unwrap().unwrap();
    assert_eq!(decode_point(bytes).unwrap(), first);
    assert_eq!(reader.remaining(), 2);
}

#[test]
fn encoded_len_is_the_encoding_length_of_every_kind() {
    for point in points() {
        let mut out = Vec::new();
        encode_point(&mut out, &point).unwrap();
        assert_eq!(encoded_len(&point).unwrap(), out.len(), "point {:?}", point.id);
    }
}

#[test]
fn dense_vectors_are_raw_little_endian_f32() {
    let point = StoredPoint {
        id: PointId::Num(1),
        version: 1,
        vectors: NamedVectors::from([(String::new(), Vector::Dense(vec![1.0; 384]))]),
        payload: Payload::new(),
    };
    let frame = encode_points(std::slice::from_ref(&point)).unwrap();
    // count, tag, id, version, payload (len + empty map), vector count, name len, kind, dim, data
    assert_eq!(frame.len(), 4 + 1 + 8 + 8 + 4 + 1 + 4 + 4 + 1 + 4 + 384 * 4);
    assert_eq!(&frame[frame.len() - 4..], &1.0f32.to_le_bytes());
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let frame = encode_points(&points()).unwrap();
    for cut in 0..frame.len() {
        let result = FrameReader::new(&frame[..cut]).and_then(|r| r.collect::<Result<Vec<_>>>());
        assert!(result.is_err(), "a frame cut at {cut} of {} bytes was accepted", frame.len());
    }
}

#[test]
fn wrong_lengths_are_refused() {
    let points = points();
    let frame = encode_points(&points).unwrap();
    let mut trailing = frame.clone();
    trailing.push(0);
    assert!(matches!(decode_points(&trailing), Err(StorageError::Corrupt(m)) if m.contains("after the last point")));
    let mut more = frame.clone();
    more[..4].copy_from_slice(&4u32.to_le_bytes());
    assert!(decode_points(&more).is_err(), "a count above the points held");
    let mut fewer = frame.clone();
    fewer[..4].copy_from_slice(&2u32.to_le_bytes());
    assert!(decode_points(&fewer).is_err(), "a count below the points held");
    let one = encode_points(&points[2..]).unwrap();
    let mut extra = one[4..].to_vec();
    extra.push(1);
    assert!(decode_point(&extra).is_err());
}

#[test]
fn corrupt_fields_are_refused() {
    let point = StoredPoint {
        id: PointId::Num(1),
        version: 1,
        vectors: NamedVectors::from([("v".into(), Vector::Dense(vec![1.0, 2.0]))]),
        payload: Payload::new(),
    };
    let frame = encode_points(&[point]).unwrap();
    let at = |offset: usize, bytes: &[u8]| {
        let mut f = frame.clone();
        f[offset..offset + bytes.len()].copy_from_slice(bytes);
        f
    };
    // offsets: count 0..4, tag 4, id 5..13, version 13..21, payload len 21..25, payload 25,
    // vector count 26..30, name len 30..34, name 34, kind 35, dim 36..40
    assert!(decode_points(&at(4, &[9])).is_err(), "unknown id tag");
    assert!(decode_points(&at(21, &u32::MAX.to_le_bytes())).is_err(), "payload longer than the frame");
    assert!(decode_points(&at(25, &[0xc1])).is_err(), "payload that is not MessagePack");
    assert!(decode_points(&at(26, &u32::MAX.to_le_bytes())).is_err(), "more vectors than bytes");
    assert!(decode_points(&at(34, &[0xff])).is_err(), "a name that is not UTF-8");
    assert!(decode_points(&at(35, &[7])).is_err(), "unknown vector kind");
    assert!(decode_points(&at(36, &u32::MAX.to_le_bytes())).is_err(), "dim beyond the frame");
    assert!(decode_points(&at(36, &1u32.to_le_bytes())).is_err(), "dim below the values held");
}

#[test]
fn malformed_vectors_are_not_encoded() {
    let mut point = points().remove(2);
    point.vectors.insert("s".into(), Vector::Sparse(SparseVector { indices: vec![1, 2], values: vec![1.0] }));
    assert!(encode_points(&[point.clone()]).is_err());
    point.vectors.insert("s".into(), Vector::Multi(vec![vec![1.0], vec![1.0, 2.0]]));
    assert!(encode_points(&[point]).is_err());
}

#[test]
fn a_multivector_of_empty_rows_is_refused() {
    let mut frame = 1u32.to_le_bytes().to_vec();
    frame.push(ID_NUM);
    frame.extend_from_slice(&[0; 16]); // id 0, version 0
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.push(0x80); // empty MessagePack map
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes()); // name ""
    frame.push(KIND_MULTI);
    frame.extend_from_slice(&3u32.to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    assert!(decode_points(&frame).is_err());
}

#[test]
fn a_borrowed_frame_is_the_point_and_its_payload_bytes() {
    for point in points() {
        let mut bytes = Vec::new();
        encode_point(&mut bytes, &point).unwrap();
        let frame = decode_point_frame(&bytes).unwrap();
        let payload: Payload = rmp_serde::from_slice(frame.payload).unwrap();
        assert_eq!(payload, point.payload);
        let owned = frame.into_point();
        assert_eq!(bits(&owned), bits(&point), "bit for bit");
        assert_eq!(StoredPoint { payload, ..owned }, point);
        for cut in 0..bytes.len() {
            assert!(decode_point_frame(&bytes[..cut]).is_err(), "a point cut at {cut} was accepted");
        }
        bytes.push(0);
        assert!(decode_point_frame(&bytes).is_err(), "a trailing byte was accepted");
    }
}
