//! Point frames (design record 019): the binary encoding of stored points used by transfer
//! pages, shard snapshot files and checkpoint values. Vectors travel as raw little-endian `f32`
//! runs (a `float16` or `uint8` column's values are exactly representable as `f32`), so encoding
//! and decoding them is a copy; ids, versions and payloads stay structured (the payload as
//! MessagePack).
//!
//! A frame is `count: u32` then `count` points. A point is
//! `id tag: u8 (0 num u64 | 1 uuid 16 bytes) | version: u64 | payload: u32 len + MessagePack |
//! vectors: u32 n | n × (name: u32 len + UTF-8 | kind: u8 | body)`, where the body of kind
//! 0 (dense) is `dim: u32 + dim × f32`, of kind 1 (sparse) `nnz: u32 + nnz × u32 + nnz × f32`,
//! of kind 2 (multivector) `rows: u32 + dim: u32 + rows × dim × f32`. All integers are
//! little-endian. Every length is checked against the bytes left before anything is allocated,
//! so a truncated or corrupt frame is a [`StorageError::Corrupt`], never a panic.

use crate::error::{Result, StorageError};
pub use crate::frame_ref::{FrameVector, LeF32s, PointFrame};
use crate::points::StoredPoint;
use quiver_types::point::Vector;
use quiver_types::{PointId, SparseVector};

const ID_NUM: u8 = 0;
const ID_UUID: u8 = 1;
const KIND_DENSE: u8 = 0;
const KIND_SPARSE: u8 = 1;
const KIND_MULTI: u8 = 2;

fn corrupt(what: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("point frame: {what}"))
}

fn put_u32(out: &mut Vec<u8>, n: usize) -> Result<()> {
    let n = u32::try_from(n).map_err(|_| corrupt("a length is over 4 GiB"))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn put_f32s(out: &mut Vec<u8>, values: &[f32]) {
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends one point's encoding to `out`.
pub fn encode_point(out: &mut Vec<u8>, point: &StoredPoint) -> Result<()> {
    match point.id {
        PointId::Num(n) => {
            out.push(ID_NUM);
            out.extend_from_slice(&n.to_le_bytes());
        }
        PointId::Uuid(u) => {
            out.push(ID_UUID);
            out.extend_from_slice(u.as_bytes());
        }
    }
    out.extend_from_slice(&point.version.to_le_bytes());
    let payload = rmp_serde::to_vec_named(&point.payload).map_err(|e| StorageError::Encoding(e.to_string()))?;
    put_u32(out, payload.len())?;
    out.extend_from_slice(&payload);
    put_u32(out, point.vectors.len())?;
    for (name, vector) in &point.vectors {
        put_u32(out, name.len())?;
        out.extend_from_slice(name.as_bytes());
        encode_vector(out, vector)?;
    }
    Ok(())
}

fn encode_vector(out: &mut Vec<u8>, vector: &Vector) -> Result<()> {
    match vector {
        Vector::Dense(values) => {
            out.push(KIND_DENSE);
            put_u32(out, values.len())?;
            put_f32s(out, values);
        }
        Vector::Sparse(sparse) => {
            if sparse.indices.len() != sparse.values.len() {
                return Err(corrupt("a sparse vector's indices and values differ in length"));
            }
            out.push(KIND_SPARSE);
            put_u32(out, sparse.indices.len())?;
            sparse.indices.iter().for_each(|i| out.extend_from_slice(&i.to_le_bytes()));
            put_f32s(out, &sparse.values);
        }
        Vector::Multi(rows) => {
            let dim = rows.first().map_or(0, Vec::len);
            if rows.iter().any(|r| r.len() != dim) {
                return Err(corrupt("a multivector's rows differ in length"));
            }
            out.push(KIND_MULTI);
            put_u32(out, rows.len())?;
            put_u32(out, dim)?;
            rows.iter().for_each(|r| put_f32s(out, r));
        }
    }
    Ok(())
}

/// Encodes `points` as one frame.
pub fn encode_points(points: &[StoredPoint]) -> Result<Vec<u8>> {
    let guess: usize = points.iter().map(encoded_size_hint).sum();
    let mut out = Vec::with_capacity(4 + guess);
    put_u32(&mut out, points.len())?;
    for point in points {
        encode_point(&mut out, point)?;
    }
    Ok(out)
}

/// The exact number of bytes [`encode_point`] appends for `point` (a stream announces its
/// length before it is encoded; the payload is MessagePack-encoded into a counter).
pub fn encoded_len(point: &StoredPoint) -> Result<usize> {
    let id = match point.id {
        PointId::Num(_) => 8,
        PointId::Uuid(_) => 16,
    };
    let mut payload = ByteCounter(0);
    rmp_serde::encode::write_named(&mut payload, &point.payload).map_err(|e| StorageError::Encoding(e.to_string()))?;
    let vectors: usize = point
        .vectors
        .iter()
        .map(|(name, vector)| {
            4 + name.len()
                + 1
                + match vector {
                    Vector::Dense(values) => 4 + values.len() * 4,
                    Vector::Sparse(sparse) => 4 + sparse.indices.len() * 4 + sparse.values.len() * 4,
                    Vector::Multi(rows) => 8 + rows.iter().map(|r| r.len() * 4).sum::<usize>(),
                }
        })
        .sum();
    Ok(1 + id + 8 + 4 + payload.0 + 4 + vectors)
}

/// Counts the bytes written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encoded_size_hint(point: &StoredPoint) -> usize {
    let vectors: usize = point
        .vectors
        .iter()
        .map(|(name, v)| {
            name.len()
                + 16
                + match v {
                    Vector::Dense(d) => d.len() * 4,
                    Vector::Sparse(s) => s.indices.len() * 8,
                    Vector::Multi(m) => m.iter().map(|r| r.len() * 4).sum(),
                }
        })
        .sum();
    32 + vectors + 16 * point.payload.len()
}

/// Reads the points of one frame one at a time, each with the bytes that encode it (a
/// checkpoint stores those bytes as they are). After the last point the frame must be used up.
pub struct FrameReader<'a> {
    rest: &'a [u8],
    remaining: u32,
    failed: bool,
}

impl<'a> FrameReader<'a> {
    /// A reader over `frame`; fails if it is too short to hold its count.
    pub fn new(frame: &'a [u8]) -> Result<FrameReader<'a>> {
        let mut cursor = Cursor { bytes: frame };
        let remaining = cursor.u32()?;
        Ok(FrameReader { rest: cursor.bytes, remaining, failed: false })
    }

    /// Points the frame still holds, by its count.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }
}

impl<'a> Iterator for FrameReader<'a> {
    type Item = Result<(StoredPoint, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining == 0 {
            if self.rest.is_empty() {
                return None;
            }
            self.failed = true;
            return Some(Err(corrupt(format!("{} bytes after the last point", self.rest.len()))));
        }
        let start = self.rest;
        let mut cursor = Cursor { bytes: start };
        match cursor.point() {
            Ok(point) => {
                let used = start.len() - cursor.bytes.len();
                self.rest = cursor.bytes;
                self.remaining -= 1;
                Some(Ok((point, &start[..used])))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Decodes a whole frame.
pub fn decode_points(frame: &[u8]) -> Result<Vec<StoredPoint>> {
    FrameReader::new(frame)?.map(|item| item.map(|(point, _)| point)).collect()
}

/// As [`decode_point`], borrowing `bytes`: the payload stays MessagePack bytes (unchecked: a
/// table with `on_disk_payload` keeps them as they are, design record 037) and dense vectors
/// little-endian bytes until a column copies them (a checkpoint read at open, design record
/// 026).
pub fn decode_point_frame(bytes: &[u8]) -> Result<PointFrame<'_>> {
    let mut cursor = Cursor { bytes };
    let frame = cursor.point_frame()?;
    match cursor.bytes.is_empty() {
        true => Ok(frame),
        false => Err(corrupt(format!("{} bytes after the point", cursor.bytes.len()))),
    }
}

/// Decodes exactly one point encoded by [`encode_point`] (no trailing bytes).
pub fn decode_point(bytes: &[u8]) -> Result<StoredPoint> {
    let mut cursor = Cursor { bytes };
    let point = cursor.point()?;
    match cursor.bytes.is_empty() {
        true => Ok(point),
        false => Err(corrupt(format!("{} bytes after the point", cursor.bytes.len()))),
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(corrupt(format!("truncated: {n} bytes needed, {} left", self.bytes.len())));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A length-prefixed run of `count × width` bytes, checked before it is taken.
    fn run(&mut self, count: usize, width: usize) -> Result<&'a [u8]> {
        let bytes = count.checked_mul(width).ok_or_else(|| corrupt("a length overflows"))?;
        self.take(bytes)
    }

    fn f32s(&mut self, count: usize) -> Result<Vec<f32>> {
        let run = self.run(count, 4)?;
        Ok(run.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn point(&mut self) -> Result<StoredPoint> {
        let frame = self.point_frame()?;
        let payload =
            rmp_serde::from_slice(frame.payload).map_err(|e| corrupt(format!("payload of point {}: {e}", frame.id)))?;
        Ok(StoredPoint { payload, ..frame.into_point() })
    }

    /// A point borrowing this cursor's bytes: its dense vectors left as little-endian bytes.
    fn point_frame(&mut self) -> Result<PointFrame<'a>> {
        let id = match self.u8()? {
            ID_NUM => PointId::Num(self.u64()?),
            ID_UUID => PointId::Uuid(uuid::Uuid::from_bytes(self.array()?)),
            tag => return Err(corrupt(format!("unknown id tag {tag}"))),
        };
        let version = self.u64()?;
        let len = self.u32()? as usize;
        let payload = self.take(len)?;
        let count = self.u32()? as usize;
        let mut vectors = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let len = self.u32()? as usize;
            let name = std::str::from_utf8(self.take(len)?).map_err(|_| corrupt("a vector name is not UTF-8"))?;
            let vector = match self.u8()? {
                KIND_DENSE => {
                    let dim = self.u32()? as usize;
                    FrameVector::Dense(LeF32s(self.run(dim, 4)?))
                }
                kind => FrameVector::Other(self.vector_of(kind)?),
            };
            vectors.push((name, vector));
        }
        Ok(PointFrame { id, version, payload, vectors })
    }

    fn vector_of(&mut self, kind: u8) -> Result<Vector> {
        match kind {
            KIND_DENSE => {
                let dim = self.u32()? as usize;
                Ok(Vector::Dense(self.f32s(dim)?))
            }
            KIND_SPARSE => {
                let nnz = self.u32()? as usize;
                let indices = self.run(nnz, 4)?;
                let indices = indices.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                Ok(Vector::Sparse(SparseVector { indices, values: self.f32s(nnz)? }))
            }
            KIND_MULTI => {
                let (rows, dim) = (self.u32()? as usize, self.u32()? as usize);
                if dim == 0 && rows > 0 {
                    return Err(corrupt("a multivector's rows hold no values"));
                }
                let flat = self.f32s(rows.checked_mul(dim).ok_or_else(|| corrupt("a length overflows"))?)?;
                Ok(Vector::Multi(flat.chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect()))
            }
            kind => Err(corrupt(format!("unknown vector kind {kind}"))),
        }
    }
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
