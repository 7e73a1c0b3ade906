//! The persisted HNSW index of a dense column (design record 020): usearch's own file of the
//! index (`<name>.usearch`: its vectors and graph) and a record of what it holds
//! (`<name>.meta`): the index's settings, the usearch file's length and CRC-32, and for every
//! slot in it the point id and a hash of the vector it was given.
//!
//! Nothing in these files is trusted on its own word. The record carries its own CRC-32 and the
//! usearch file's, both checked before usearch reads a byte (usearch trusts its input); a record
//! made for other settings is refused; and each slot is checked against the table loaded from
//! the checkpoint and WAL: only a slot holding the same point with a vector of the same hash
//! counts as indexed, every other slot is pending and goes through the indexer again. So a
//! graph saved at any moment (before or after the checkpoint) is safe to load.

use crate::error::{Result, StorageError};
use crate::index::{HnswParams, SavedFile, VectorIndex};
use crate::vectors::VectorRef;
use quiver_types::PointId;
use quiver_types::config::Distance;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// First bytes of a record file (its slots' hashes are [`content_hash`]'s).
const MAGIC: &[u8; 8] = b"QVGRAPH2";
/// First bytes of a record file of before, with [`content_hash_v1`] hashes (still read).
const MAGIC_V1: &[u8; 8] = b"QVGRAPH1";

/// A slot as the saved index holds it: the point in it and the hash of its vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub slot: u32,
    pub id: PointId,
    pub hash: u64,
}

/// The settings an index was built with; a saved index is used only under the same ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphKey {
    distance: String,
    dim: usize,
    m: usize,
    ef_construct: usize,
    scalar: String,
    normalize: bool,
}

impl GraphKey {
    pub fn new(distance: Distance, params: &HnswParams) -> GraphKey {
        GraphKey {
            distance: format!("{distance:?}"),
            dim: params.dim,
            m: params.m,
            ef_construct: params.ef_construct,
            scalar: format!("{:?}", params.scalar),
            normalize: params.normalize,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    key: GraphKey,
    index_bytes: u64,
    index_crc: u32,
    slots: Vec<SlotRecord>,
}

/// A saved index whose record passed its checks (the usearch file is checked by `index_file`).
pub struct SavedGraph {
    pub slots: Vec<SlotRecord>,
    /// The hash the slots' hashes were made with.
    pub hash: fn(VectorRef<'_>) -> u64,
    /// Written in the current record format (an older one is written again at the next save).
    pub current_format: bool,
    index_path: PathBuf,
    index_bytes: u64,
    index_crc: u32,
}

fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(23) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// MurmurHash3's finaliser: spreads the last words over every bit.
fn finish(h: u64) -> u64 {
    let h = (h ^ (h >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    let h = (h ^ (h >> 33)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// A hash of a vector's stored elements: any change of one element changes it (each step is a
/// bijection of the word it takes in), other changes but for collisions of a 64-bit hash. The
/// elements are packed into 64-bit words, mixed into four lanes that run side by side, and the
/// lanes mixed together: checking a million 384-d vectors at open is a pass over memory, not
/// 384 million dependent multiplications (design record 026; [`content_hash_v1`] did that).
pub fn content_hash(vector: VectorRef<'_>) -> u64 {
    match vector {
        VectorRef::F32(v) => lanes_hash::<f32, 2>(v, |x| u64::from(x.to_bits())),
        VectorRef::F16(v) => lanes_hash::<half::f16, 4>(v, |x| u64::from(x.to_bits())),
        VectorRef::U8(v) => lanes_hash::<u8, 8>(v, |x| u64::from(*x)),
    }
}

/// [`content_hash`] over elements `PER` to a word (`bits` of each, 64 / `PER` bits wide).
fn lanes_hash<T, const PER: usize>(v: &[T], bits: impl Fn(&T) -> u64) -> u64 {
    let word = |part: &[T]| part.iter().enumerate().fold(0u64, |w, (i, x)| w | bits(x) << (i * 64 / PER));
    let mut lanes = [0x51_7CC1_B727_220A, 0x2545_F491_4F6C_DD1D, 0x6A09_E667_F3BC_C909, 0xBB67_AE85_84CA_A73B];
    let mut chunks = v.chunks_exact(PER * 4);
    for chunk in &mut chunks {
        for (lane, part) in lanes.iter_mut().zip(chunk.chunks_exact(PER)) {
            *lane = mix(*lane, word(part));
        }
    }
    let mut h = mix(0x3C6E_F372_FE94_F82B, v.len() as u64);
    h = lanes.into_iter().fold(h, mix);
    finish(chunks.remainder().chunks(PER).fold(h, |h, part| mix(h, word(part))))
}

/// The hash of records written before [`content_hash`] (`QVGRAPH1`): one element at a time.
pub fn content_hash_v1(vector: VectorRef<'_>) -> u64 {
    let seed = mix(0x51_7CC1_B727_220A, vector.len() as u64);
    let h = match vector {
        VectorRef::F32(v) => v.iter().fold(seed, |h, x| mix(h, u64::from(x.to_bits()))),
        VectorRef::F16(v) => v.iter().fold(seed, |h, x| mix(h, u64::from(x.to_bits()))),
        VectorRef::U8(v) => v.iter().fold(seed, |h, x| mix(h, u64::from(*x))),
    };
    finish(h)
}

/// Where vector `name`'s frozen search copy is saved in `dir` (`frozen_file`).
pub fn frozen_path(dir: &Path, name: &str) -> PathBuf {
    paths(dir, name).0.with_extension("frozen")
}

/// The files of vector `name`'s index in `dir` (the name hex-encoded: any string is a name).
fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    (dir.join(format!("vector-{hex}.usearch")), dir.join(format!("vector-{hex}.meta")))
}

pub(crate) fn io<'p>(context: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> StorageError + 'p {
    move |e| StorageError::io(context, path, e)
}

/// Makes the entries of the graph directory `dir` (files renamed into it) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("sync graph dir", dir))
}

/// Length and CRC-32 of the file at `path`, read in 1 MiB blocks.
fn file_crc(path: &Path) -> Result<(u64, u32)> {
    let mut file = std::fs::File::open(path).map_err(io("open graph file", path))?;
    let (mut hasher, mut len, mut block) = (crc32fast::Hasher::new(), 0u64, vec![0u8; 1 << 20]);
    loop {
        let n = file.read(&mut block).map_err(io("read graph file", path))?;
        if n == 0 {
            return Ok((len, hasher.finalize()));
        }
        hasher.update(&block[..n]);
        len += n as u64;
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::File::create(path).map_err(io("create graph record", path))?;
    file.write_all(bytes).map_err(io("write graph record", path))?;
    file.sync_all().map_err(io("sync graph record", path))
}

/// Saves `index` as vector `name`'s in `dir`, holding `slots`. Both files are written beside
/// and renamed into place, the record last; a crash in between leaves a record whose CRC of
/// the usearch file fails, so the pair is rebuilt rather than trusted. Once both are in place
/// the index is told which file holds it (`VectorIndex::mark_saved`: the file it may view).
pub fn save(dir: &Path, name: &str, index: &dyn VectorIndex, key: GraphKey, slots: Vec<SlotRecord>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io("create graph dir", dir))?;
    let (index_path, meta_path) = paths(dir, name);
    let (index_tmp, meta_tmp) = (index_path.with_extension("usearch.tmp"), meta_path.with_extension("meta.tmp"));
    let stamp = index.change_stamp();
    index.save(&index_tmp)?;
    std::fs::File::open(&index_tmp).and_then(|f| f.sync_all()).map_err(io("sync graph file", &index_tmp))?;
    let (index_bytes, index_crc) = file_crc(&index_tmp)?;
    let body = rmp_serde::to_vec(&Record { key, index_bytes, index_crc, slots })
        .map_err(|e| StorageError::Encoding(e.to_string()))?;
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    write_synced(&meta_tmp, &bytes)?;
    std::fs::rename(&index_tmp, &index_path).map_err(io("rename graph file", &index_path))?;
    std::fs::rename(&meta_tmp, &meta_path).map_err(io("rename graph record", &meta_path))?;
    sync_dir(dir)?;
    index.mark_saved(SavedFile { path: index_path, bytes: index_bytes, crc: index_crc }, stamp);
    Ok(())
}

/// The saved index of vector `name` in `dir` when its record exists: `Ok(None)` when there is
/// none, an error when the record is damaged or was made for other settings than `key`.
pub fn read(dir: &Path, name: &str, key: &GraphKey) -> Result<Option<SavedGraph>> {
    let (index_path, meta_path) = paths(dir, name);
    let bytes = match std::fs::read(&meta_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("read graph record", &meta_path, e)),
    };
    let corrupt = |what: &str| StorageError::Corrupt(format!("graph record {}: {what}", meta_path.display()));
    let (body, hash, current_format) = match bytes.split_first_chunk::<8>() {
        Some((magic, body)) if magic == MAGIC => (body, content_hash as fn(VectorRef<'_>) -> u64, true),
        Some((magic, body)) if magic == MAGIC_V1 => (body, content_hash_v1 as fn(VectorRef<'_>) -> u64, false),
        _ => return Err(corrupt("unknown format")),
    };
    let (crc, body) = body.split_first_chunk::<4>().ok_or_else(|| corrupt("truncated"))?;
    if u32::from_le_bytes(*crc) != crc32fast::hash(body) {
        return Err(corrupt("checksum mismatch"));
    }
    let record: Record = rmp_serde::from_slice(body).map_err(|e| corrupt(&e.to_string()))?;
    if record.key != *key {
        return Err(corrupt("made for other index settings"));
    }
    Ok(Some(SavedGraph {
        slots: record.slots,
        hash,
        current_format,
        index_path,
        index_bytes: record.index_bytes,
        index_crc: record.index_crc,
    }))
}

/// Removes vector `name`'s saved index from `dir` (missing files are fine).
pub fn remove(dir: &Path, name: &str) {
    let (index_path, meta_path) = paths(dir, name);
    let _ = std::fs::remove_file(meta_path);
    let _ = std::fs::remove_file(index_path);
    let _ = std::fs::remove_file(frozen_path(dir, name));
}

impl SavedGraph {
    /// The usearch file as its record names it (for `VectorIndex::mark_saved` once loaded).
    pub fn file(&self) -> SavedFile {
        SavedFile { path: self.index_path.clone(), bytes: self.index_bytes, crc: self.index_crc }
    }

    /// The usearch file, once its length and CRC-32 are those the record names.
    pub fn index_file(&self) -> Result<&Path> {
        let (len, crc) = file_crc(&self.index_path)?;
        if (len, crc) != (self.index_bytes, self.index_crc) {
            return Err(StorageError::Corrupt(format!(
                "graph file {}: {len} bytes with CRC {crc:08x}, its record says {} bytes with CRC {:08x}",
                self.index_path.display(),
                self.index_bytes,
                self.index_crc
            )));
        }
        Ok(&self.index_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexScalar;

    #[test]
    fn content_hash_sees_every_element() {
        let a = [0.5f32, -1.0, 2.0];
        let base = content_hash(VectorRef::F32(&a));
        assert_eq!(base, content_hash(VectorRef::F32(&[0.5, -1.0, 2.0])));
        assert_ne!(base, content_hash(VectorRef::F32(&[0.5, -1.0, 2.000_001])));
        assert_ne!(base, content_hash(VectorRef::F32(&[-1.0, 0.5, 2.0])));
        assert_ne!(base, content_hash(VectorRef::F32(&[0.5, -1.0])));
        assert_ne!(content_hash(VectorRef::U8(&[1, 2])), content_hash(VectorRef::U8(&[2, 1])));
    }

    #[test]
    fn content_hash_sees_any_one_element_changed_at_every_length() {
        for len in 0..70usize {
            let v: Vec<f32> = (0..len).map(|i| i as f32 * 0.25 - 3.0).collect();
            let base = content_hash(VectorRef::F32(&v));
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let halves: Vec<half::f16> = v.iter().map(|x| half::f16::from_f32(*x)).collect();
            for i in 0..len {
                let mut w = v.clone();
                w[i] += 1.0;
                assert_ne!(content_hash(VectorRef::F32(&w)), base, "f32, len {len}, element {i}");
                let mut b = bytes.clone();
                b[i] ^= 0x80;
                assert_ne!(content_hash(VectorRef::U8(&b)), content_hash(VectorRef::U8(&bytes)), "u8 {len} {i}");
                let mut h = halves.clone();
                h[i] = half::f16::from_f32(100.0);
                assert_ne!(content_hash(VectorRef::F16(&h)), content_hash(VectorRef::F16(&halves)), "f16 {len} {i}");
            }
            let mut longer = v.clone();
            longer.push(0.0);
            assert_ne!(content_hash(VectorRef::F32(&longer)), base, "a zero appended, len {len}");
        }
    }

    #[test]
    fn records_of_the_first_format_are_read_with_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let params = HnswParams { dim: 3, m: 16, ef_construct: 100, scalar: IndexScalar::Table, normalize: false };
        let key = GraphKey::new(Distance::Cosine, &params);
        let v = [0.5f32, -1.0, 2.0];
        let slots = vec![SlotRecord { slot: 0, id: PointId::Num(1), hash: content_hash_v1(VectorRef::F32(&v)) }];
        let body = rmp_serde::to_vec(&Record { key: key.clone(), index_bytes: 0, index_crc: 0, slots }).unwrap();
        let mut bytes = MAGIC_V1.to_vec();
        bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
        std::fs::write(paths(dir.path(), "v").1, bytes).unwrap();
        let saved = read(dir.path(), "v", &key).unwrap().unwrap();
        assert_eq!((saved.hash)(VectorRef::F32(&v)), saved.slots[0].hash);
        assert_ne!(content_hash(VectorRef::F32(&v)), saved.slots[0].hash, "the two formats' hashes differ");
    }
}
