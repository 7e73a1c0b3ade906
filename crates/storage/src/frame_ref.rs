//! A point decoded from a point frame (`frames`) without copying it: the payload's MessagePack
//! bytes and each dense vector's little-endian bytes borrowed from the frame, so loading a
//! checkpoint copies a vector once, into its column (design record 026). Depends on no other
//! module of this crate, so the point table and the frame codec both use it.

use quiver_types::PointId;
use quiver_types::point::Vector;

/// A point decoded from a frame it borrows: the payload as MessagePack bytes, dense vectors as
/// their little-endian bytes, other vectors decoded.
pub struct PointFrame<'a> {
    pub id: PointId,
    pub version: u64,
    pub payload: &'a [u8],
    pub vectors: Vec<(&'a str, FrameVector<'a>)>,
}

/// A vector of a [`PointFrame`].
pub enum FrameVector<'a> {
    Dense(LeF32s<'a>),
    Other(Vector),
}

/// `f32` values as their little-endian bytes (a length of a multiple of 4).
#[derive(Clone, Copy)]
pub struct LeF32s<'a>(pub(crate) &'a [u8]);

impl LeF32s<'_> {
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes the values into `out` (of the same length).
    pub fn copy_to(&self, out: &mut [f32]) {
        for (value, bytes) in out.iter_mut().zip(self.0.chunks_exact(4)) {
            *value = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
    }

    /// The `i`-th value.
    pub fn get(&self, i: usize) -> f32 {
        let b = &self.0[i * 4..i * 4 + 4];
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn to_vec(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.copy_to(&mut out);
        out
    }
}
