//! Vector elements as a column stores them (`datatype`, design record 013): `float32`,
//! `float16` (half precision) or `uint8` (whole numbers 0–255). A column keeps one flat array of
//! its element type; readers get a typed view (`VectorRef`) that the distance functions score
//! directly, so a `float16` or `uint8` column holds its vectors once, in its own type.

use crate::mapped::{Placement, Store};
use half::f16;
use half::slice::HalfFloatSliceExt;
use quiver_types::config::{Datatype, Distance};

/// What a shard needs to know of one dense vector (plain or multivector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VectorSpec {
    pub dim: usize,
    pub distance: Distance,
    pub datatype: Datatype,
    /// A multivector (`multivector_config` with `max_sim`): several `dim`-vectors per point.
    pub multivector: bool,
}

impl VectorSpec {
    /// A plain `float32` vector.
    pub fn plain(dim: usize, distance: Distance) -> VectorSpec {
        VectorSpec { dim, distance, datatype: Datatype::Float32, multivector: false }
    }

    /// How vectors of this spec are compared.
    pub fn metric(&self) -> Metric {
        Metric { distance: self.distance, datatype: self.datatype }
    }
}

/// A distance as applied to stored elements of one type (`uint8` Cosine compares unnormalised
/// whole numbers, the other types compare vectors normalised before they were stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub distance: Distance,
    pub datatype: Datatype,
}

impl Metric {
    pub fn new(distance: Distance) -> Metric {
        Metric { distance, datatype: Datatype::Float32 }
    }

    /// Whether vectors are normalised before they are stored or searched (Cosine, except `uint8`).
    pub fn normalises(&self) -> bool {
        self.distance == Distance::Cosine && self.datatype != Datatype::Uint8
    }
}

/// The value a column of `datatype` stores for `x`: `uint8` truncates and saturates to 0–255
/// (as a Rust `as` cast does), `float16` rounds to the nearest half-precision value.
pub fn quantize_value(datatype: Datatype, x: f32) -> f32 {
    match datatype {
        Datatype::Float32 => x,
        Datatype::Float16 => f16::from_f32(x).to_f32(),
        Datatype::Uint8 => f32::from(x as u8),
    }
}

/// Replaces `values` by what a column of `datatype` stores (validation does this before the WAL,
/// so every replica logs and stores exactly the same values).
pub fn quantize(datatype: Datatype, values: &mut [f32]) {
    if datatype != Datatype::Float32 {
        values.iter_mut().for_each(|x| *x = quantize_value(datatype, *x));
    }
}

/// A flat array of elements of one type, in anonymous memory or in a mapped file
/// (`on_disk`, `mapped.rs`).
#[derive(Debug)]
pub enum Elements {
    F32(Store<f32>),
    F16(Store<f16>),
    U8(Store<u8>),
}

impl Default for Elements {
    fn default() -> Self {
        Elements::F32(Store::default())
    }
}

/// A borrowed vector in its stored type.
#[derive(Debug, Clone, Copy)]
pub enum VectorRef<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    U8(&'a [u8]),
}

impl Elements {
    /// An empty array in anonymous memory.
    pub fn new(datatype: Datatype) -> Elements {
        Elements::placed(datatype, &Placement::Memory)
    }

    /// An empty array kept as `placement` says.
    pub fn placed(datatype: Datatype, placement: &Placement) -> Elements {
        match datatype {
            Datatype::Float32 => Elements::F32(Store::new(placement)),
            Datatype::Float16 => Elements::F16(Store::new(placement)),
            Datatype::Uint8 => Elements::U8(Store::new(placement)),
        }
    }

    /// Where the elements live.
    pub fn placement(&self) -> Placement {
        match self {
            Elements::F32(v) => v.placement(),
            Elements::F16(v) => v.placement(),
            Elements::U8(v) => v.placement(),
        }
    }

    /// Moves the elements to `placement` (see `Store::place`).
    pub fn place(&mut self, placement: &Placement) {
        match self {
            Elements::F32(v) => v.place(placement),
            Elements::F16(v) => v.place(placement),
            Elements::U8(v) => v.place(placement),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Elements::F32(v) => v.len(),
            Elements::F16(v) => v.len(),
            Elements::U8(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All elements when they are f32 (empty otherwise): what an index without a copy reads.
    pub fn f32s(&self) -> &[f32] {
        match self {
            Elements::F32(v) => v,
            Elements::F16(_) | Elements::U8(_) => &[],
        }
    }

    /// Bytes per element.
    pub fn element_bytes(&self) -> usize {
        match self {
            Elements::F32(_) => 4,
            Elements::F16(_) => 2,
            Elements::U8(_) => 1,
        }
    }

    /// Grows (with zeros) or shrinks to `len` elements.
    pub fn resize(&mut self, len: usize) {
        match self {
            Elements::F32(v) => v.resize(len, 0.0),
            Elements::F16(v) => v.resize(len, f16::ZERO),
            Elements::U8(v) => v.resize(len, 0),
        }
    }

    /// Stores `values` from element `start` on, converted to the element type.
    pub fn write(&mut self, start: usize, values: &[f32]) {
        let end = start + values.len();
        match self {
            Elements::F32(v) => v[start..end].copy_from_slice(values),
            Elements::F16(v) => v[start..end].convert_from_f32_slice(values),
            Elements::U8(v) => v[start..end].iter_mut().zip(values).for_each(|(d, x)| *d = *x as u8),
        }
    }

    /// As [`Self::write`], from the values' little-endian bytes (a checkpoint's frame).
    pub fn write_le(&mut self, start: usize, values: crate::frame_ref::LeF32s<'_>) {
        let end = start + values.len();
        match self {
            Elements::F32(v) => values.copy_to(&mut v[start..end]),
            Elements::F16(v) => {
                v[start..end].iter_mut().enumerate().for_each(|(i, d)| *d = f16::from_f32(values.get(i)))
            }
            Elements::U8(v) => v[start..end].iter_mut().enumerate().for_each(|(i, d)| *d = values.get(i) as u8),
        }
    }

    /// Makes room for `additional` more elements without moving them later.
    pub fn reserve(&mut self, additional: usize) {
        match self {
            Elements::F32(v) => v.reserve(additional),
            Elements::F16(v) => v.reserve(additional),
            Elements::U8(v) => v.reserve(additional),
        }
    }

    /// Zeroes `len` elements from `start`.
    pub fn clear(&mut self, start: usize, len: usize) {
        match self {
            Elements::F32(v) => v[start..start + len].fill(0.0),
            Elements::F16(v) => v[start..start + len].fill(f16::ZERO),
            Elements::U8(v) => v[start..start + len].fill(0),
        }
    }

    /// The `len` elements from `start`, if they exist.
    pub fn get(&self, start: usize, len: usize) -> Option<VectorRef<'_>> {
        let range = start..start.checked_add(len)?;
        Some(match self {
            Elements::F32(v) => VectorRef::F32(v.get(range)?),
            Elements::F16(v) => VectorRef::F16(v.get(range)?),
            Elements::U8(v) => VectorRef::U8(v.get(range)?),
        })
    }
}

impl VectorRef<'_> {
    pub fn len(&self) -> usize {
        match self {
            VectorRef::F32(v) => v.len(),
            VectorRef::F16(v) => v.len(),
            VectorRef::U8(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32.
    pub fn to_vec(&self) -> Vec<f32> {
        match self {
            VectorRef::F32(v) => v.to_vec(),
            VectorRef::F16(v) => v.to_f32_vec(),
            VectorRef::U8(v) => v.iter().map(|x| f32::from(*x)).collect(),
        }
    }

    /// Converts the elements `start..start + out.len()` into `out`.
    pub fn convert_into(&self, start: usize, out: &mut [f32]) {
        let end = start + out.len();
        match self {
            VectorRef::F32(v) => out.copy_from_slice(&v[start..end]),
            VectorRef::F16(v) => v[start..end].convert_to_f32_slice(out),
            VectorRef::U8(v) => out.iter_mut().zip(&v[start..end]).for_each(|(d, x)| *d = f32::from(*x)),
        }
    }

    /// Asks the CPU to start loading the vector (a hint).
    pub fn prefetch(&self, lines: usize) {
        match self {
            VectorRef::F32(v) => v.chunks(16).take(lines).for_each(crate::kernels::prefetch),
            VectorRef::F16(v) => v.chunks(32).take(lines).for_each(crate::kernels::prefetch),
            VectorRef::U8(v) => v.chunks(64).take(lines).for_each(crate::kernels::prefetch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_store_and_read_back_in_their_type() {
        let input = [0.1f32, -2.5, 300.0, 7.9];
        for (datatype, expected) in [
            (Datatype::Float32, vec![0.1, -2.5, 300.0, 7.9]),
            (Datatype::Float16, vec![0.099975586, -2.5, 300.0, 7.8984375]),
            (Datatype::Uint8, vec![0.0, 0.0, 255.0, 7.0]),
        ] {
            let mut elements = Elements::new(datatype);
            elements.resize(8);
            elements.write(4, &input);
            assert_eq!(elements.get(4, 4).unwrap().to_vec(), expected, "{datatype:?}");
            let mut quantized = input;
            quantize(datatype, &mut quantized);
            assert_eq!(quantized.to_vec(), expected, "quantize {datatype:?}");
            assert_eq!(elements.get(0, 4).unwrap().to_vec(), vec![0.0; 4]);
            assert!(elements.get(6, 4).is_none());
            elements.clear(4, 4);
            assert_eq!(elements.get(4, 4).unwrap().to_vec(), vec![0.0; 4]);
        }
        assert_eq!(Elements::new(Datatype::Float16).element_bytes(), 2);
    }
}
