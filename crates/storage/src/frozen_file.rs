//! A graph's frozen search copy saved beside the usearch file it was taken from (design record
//! 026, "The frozen copy saved"), so that a restart searches at full speed as soon as the shard
//! is open instead of after copying the graph out of usearch again.
//!
//! The file names the usearch file it matches (its length and CRC32, as the graph record does):
//! a copy whose graph file was written again since is not used. It ends with a CRC32 of
//! everything after the magic; a damaged or mismatched file is ignored (and removed by the
//! caller): it only saves time, nothing depends on it.
//!
//! Layout (little-endian): magic; the graph file's length (u64) and CRC (u32); slots (u64);
//! level-0 stride (u32); entry slot (u32); upper levels (u32); each slot's level-0 count (u16);
//! the level-0 neighbours (`slots × stride` u32); per upper level its node count (u32) and per
//! node its slot, neighbour count and neighbours (u32 each); the CRC (u32).

use crate::error::{Result, StorageError};
use crate::graph::FrozenGraph;
use crate::graph_file::{io, sync_dir};
use crate::index_view::SavedFile;
use crate::mapped::{Placement, Store};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"QVFROZ01";
/// Elements converted per read or write call.
const CHUNK: usize = 1 << 16;

/// A writer that keeps the CRC of what it wrote.
struct Summed<W: Write> {
    out: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Summed<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.out.write_all(bytes)
    }

    fn put_u32s(&mut self, values: &[u32]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(CHUNK * 4);
        for chunk in values.chunks(CHUNK) {
            bytes.clear();
            chunk.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
            self.put(&bytes)?;
        }
        Ok(())
    }
}

/// Writes `graph`, the copy of the graph `file` holds, to `path` (beside, synced, renamed in).
pub fn save(path: &Path, graph: &FrozenGraph, file: &SavedFile) -> Result<()> {
    let tmp = path.with_extension("frozen.tmp");
    let written = (|| -> std::io::Result<()> {
        let created = std::fs::File::create(&tmp)?;
        let mut out = Summed { out: BufWriter::with_capacity(1 << 20, created), crc: crc32fast::Hasher::new() };
        out.out.write_all(MAGIC)?;
        let parts = graph.parts();
        out.put(&file.bytes.to_le_bytes())?;
        out.put(&file.crc.to_le_bytes())?;
        out.put(&(parts.base_len.len() as u64).to_le_bytes())?;
        for v in [parts.base_stride as u32, parts.entry, parts.upper.len() as u32] {
            out.put(&v.to_le_bytes())?;
        }
        let counts: Vec<u8> = parts.base_len.iter().flat_map(|n| n.to_le_bytes()).collect();
        out.put(&counts)?;
        out.put_u32s(parts.base)?;
        for level in parts.upper {
            out.put(&(level.len() as u32).to_le_bytes())?;
            let mut nodes: Vec<_> = level.iter().collect();
            nodes.sort_unstable_by_key(|(slot, _)| **slot);
            for (slot, neighbours) in nodes {
                out.put_u32s(&[*slot, neighbours.len() as u32])?;
                out.put_u32s(neighbours)?;
            }
        }
        let crc = out.crc.finalize();
        out.out.write_all(&crc.to_le_bytes())?;
        out.out.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    written.map_err(io("write frozen graph", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename frozen graph", path))?;
    path.parent().map_or(Ok(()), sync_dir)
}

/// The graph file (length, CRC) the copy saved at `path` says it was taken from, if it has a
/// readable header (its body is checked only by `load`).
pub fn taken_from(path: &Path) -> Option<(u64, u32)> {
    let mut head = [0u8; 20];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).ok()?;
    (&head[..8] == MAGIC).then(|| {
        let bytes = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        (bytes, u32::from_le_bytes(head[16..20].try_into().unwrap_or_default()))
    })
}

/// A reader that keeps the CRC of what it read.
struct Checked<R: Read> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Checked<R> {
    fn take<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut bytes = [0u8; N];
        self.inner.read_exact(&mut bytes)?;
        self.crc.update(&bytes);
        Ok(bytes)
    }

    fn u32(&mut self) -> std::io::Result<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }

    /// Reads `out.len()` u32 values.
    fn u32s(&mut self, out: &mut [u32]) -> std::io::Result<()> {
        let mut bytes = vec![0u8; CHUNK.min(out.len()) * 4];
        for chunk in out.chunks_mut(CHUNK) {
            let bytes = &mut bytes[..chunk.len() * 4];
            self.inner.read_exact(bytes)?;
            self.crc.update(bytes);
            chunk
                .iter_mut()
                .zip(bytes.chunks_exact(4))
                .for_each(|(v, b)| *v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        }
        Ok(())
    }
}

/// The frozen copy saved at `path` if it is whole and was taken from the graph `file` holds;
/// `Ok(None)` when there is none or it was taken from another graph file, an error when it is
/// damaged. The level-0 neighbours go where `placement` says.
pub fn load(path: &Path, file: &SavedFile, placement: &Placement) -> Result<Option<FrozenGraph>> {
    let opened = match std::fs::File::open(path) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("open frozen graph", path, e)),
    };
    let bytes = opened.metadata().map_err(io("open frozen graph", path))?.len();
    let corrupt = |what: &str| StorageError::Corrupt(format!("frozen graph {}: {what}", path.display()));
    let mut inner = BufReader::with_capacity(1 << 20, opened);
    let mut magic = [0u8; 8];
    inner.read_exact(&mut magic).map_err(|_| corrupt("truncated"))?;
    if &magic != MAGIC {
        return Err(corrupt("unknown format"));
    }
    let mut input = Checked { inner, crc: crc32fast::Hasher::new() };
    let head = (|| -> std::io::Result<_> {
        let of = (input.take::<8>().map(u64::from_le_bytes)?, input.u32()?);
        let slots = input.take::<8>().map(u64::from_le_bytes)?;
        Ok((of, slots, input.u32()? as usize, input.u32()?, input.u32()? as usize))
    })();
    let ((of_bytes, of_crc), slots, stride, entry, levels) = head.map_err(|_| corrupt("truncated"))?;
    if (of_bytes, of_crc) != (file.bytes, file.crc) {
        return Ok(None);
    }
    // Sizes a damaged header could claim beyond what the file holds are refused before allocating.
    if slots.checked_mul(stride as u64 * 4 + 2).is_none_or(|base| base > bytes) || levels > 64 {
        return Err(corrupt("sizes beyond the file"));
    }
    let graph = read_body(&mut input, slots as usize, stride, entry, levels, bytes, placement)
        .map_err(|e| corrupt(&e.to_string()))?;
    let mut stored = [0u8; 4];
    let whole = input.inner.read_exact(&mut stored).is_ok() && u32::from_le_bytes(stored) == input.crc.finalize();
    // Nothing may follow the checksum.
    if !whole || input.inner.read(&mut stored).map_err(io("read frozen graph", path))? != 0 {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Some(graph))
}

fn read_body(
    input: &mut Checked<impl Read>,
    slots: usize,
    stride: usize,
    entry: u32,
    levels: usize,
    file_bytes: u64,
    placement: &Placement,
) -> std::io::Result<FrozenGraph> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut counts = vec![0u8; slots * 2];
    input.inner.read_exact(&mut counts)?;
    input.crc.update(&counts);
    let base_len: Vec<u16> = counts.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
    if base_len.iter().any(|n| *n as usize > stride) {
        return Err(invalid("a level-0 count beyond the stride"));
    }
    let mut base = Store::new(placement);
    base.resize(slots * stride, 0);
    input.u32s(&mut base)?;
    let mut upper = Vec::with_capacity(levels.min(64));
    for _ in 0..levels {
        let nodes = input.u32()? as usize;
        let mut level = HashMap::with_capacity(nodes.min(slots));
        for _ in 0..nodes {
            let (slot, len) = (input.u32()?, input.u32()? as u64);
            if len * 4 > file_bytes {
                return Err(invalid("a neighbour count beyond the file"));
            }
            let mut neighbours = vec![0u32; len as usize];
            input.u32s(&mut neighbours)?;
            level.insert(slot, neighbours.into_boxed_slice());
        }
        upper.push(level);
    }
    FrozenGraph::from_parts(entry, base, base_len, stride, upper).ok_or_else(|| invalid("a neighbour beyond the slots"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphNode;

    /// 50 slots in a ring at level 0; every fifth also linked at level 1, every 25th at level 2.
    fn graph(placement: &Placement) -> FrozenGraph {
        let nodes = (0..50u32)
            .map(|s| {
                let mut levels = vec![vec![(s + 1) % 50, (s + 49) % 50, (s + 7) % 50]];
                if s % 5 == 0 {
                    levels.push(vec![(s + 5) % 50, (s + 45) % 50]);
                }
                if s % 25 == 0 {
                    levels.push(vec![(s + 25) % 50]);
                }
                GraphNode { slot: s, levels }
            })
            .collect();
        FrozenGraph::placed(nodes, 50, placement)
    }

    fn same(a: &FrozenGraph, b: &FrozenGraph) -> bool {
        let (a, b) = (a.parts(), b.parts());
        (a.entry, a.base, a.base_len, a.base_stride, a.upper) == (b.entry, b.base, b.base_len, b.base_stride, b.upper)
    }

    fn of() -> SavedFile {
        SavedFile { path: "vector-.usearch".into(), bytes: 1234, crc: 0xDEAD_BEEF }
    }

    #[test]
    fn a_saved_copy_loads_back_whole_in_memory_and_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vector-.frozen");
        let original = graph(&Placement::Memory);
        save(&path, &original, &of()).unwrap();
        let loaded = load(&path, &of(), &Placement::Memory).unwrap().expect("a copy");
        assert!(same(&original, &loaded));
        let mapped = load(&path, &of(), &Placement::Mapped(dir.path().to_path_buf())).unwrap().expect("a copy");
        assert!(matches!(mapped.placement(), Placement::Mapped(_)));
        assert!(same(&original, &mapped));
        let found = |g: &FrozenGraph| g.search(5, |s| Some((s as f32 - 17.2).abs()), |_| {}, |_| true);
        assert_eq!(found(&loaded), found(&original));
        assert_eq!(found(&loaded)[0], 17);
    }

    #[test]
    fn a_copy_of_another_graph_file_is_not_used_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vector-.frozen");
        assert!(load(&path, &of(), &Placement::Memory).unwrap().is_none(), "no file");
        save(&path, &graph(&Placement::Memory), &of()).unwrap();
        let rewritten = SavedFile { crc: 1, ..of() };
        assert!(load(&path, &rewritten, &Placement::Memory).unwrap().is_none(), "taken from another graph file");
        let bytes = std::fs::read(&path).unwrap();
        for cut in [4, 20, 40, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(load(&path, &of(), &Placement::Memory).is_err(), "truncated at {cut}");
        }
        for flip in [40, bytes.len() / 2, bytes.len() - 2] {
            let mut damaged = bytes.clone();
            damaged[flip] ^= 0x10;
            std::fs::write(&path, &damaged).unwrap();
            assert!(load(&path, &of(), &Placement::Memory).is_err(), "byte {flip} flipped");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert!(load(&path, &of(), &Placement::Memory).is_err(), "a trailing byte");
    }

    #[test]
    fn a_neighbour_beyond_the_slots_is_refused_even_with_a_good_checksum() {
        let mut upper = vec![HashMap::new()];
        upper[0].insert(1u32, vec![9u32].into_boxed_slice());
        let mut base = Store::new(&Placement::Memory);
        base.resize(4, 0);
        assert!(FrozenGraph::from_parts(0, base, vec![1, 1], 2, upper).is_none());
        let mut base = Store::new(&Placement::Memory);
        base.extend_from_slice(&[1, 0, 0, 0]);
        assert!(FrozenGraph::from_parts(0, base, vec![1, 1], 2, vec![]).is_some());
    }
}
