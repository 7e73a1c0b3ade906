//! A saved HNSW graph file mapped read-only, for usearch to search in place instead of holding
//! the graph in anonymous memory (design record 041). The file is one that `graph_file::save`
//! wrote from the index as it still is (or that the open loaded it from, after its checks);
//! the mapped bytes are checked against the length and CRC-32 it was saved with before usearch
//! sees them (usearch trusts its input), and the index is loaded back from these same bytes
//! when it must change. The mapping keeps the file's inode alive: a later save renames a new
//! file over the name, and a removal unlinks it, without touching what is mapped.
//!
//! With `kernels.rs` and `mapped.rs`, a module allowed `unsafe`: mapping the file, and handing
//! usearch a view of the mapped bytes. Every `unsafe` block says why it holds.
#![allow(unsafe_code)]

use crate::error::{Result, StorageError};
use std::path::PathBuf;
use usearch::Index;

/// A graph file that holds an index as it is: its path, length and CRC-32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub crc: u32,
}

/// A saved graph file, mapped and checked.
pub(crate) struct GraphMap {
    map: memmap2::Mmap,
}

impl GraphMap {
    /// Maps `file` read-only; refused unless its length and CRC-32 are those it was saved with.
    pub(crate) fn open(file: &SavedFile) -> Result<GraphMap> {
        let handle = std::fs::File::open(&file.path).map_err(|e| StorageError::io("open graph file", &file.path, e))?;
        // SAFETY: the mapping is private and read-only, and every byte is checked below before
        // anything reads it as a graph. The file is ours (the shard's `graphs/` directory) and is
        // only ever replaced by a rename or removed, never written in place, so the mapped inode
        // does not change under the map.
        let map =
            unsafe { memmap2::Mmap::map(&handle) }.map_err(|e| StorageError::io("map graph file", &file.path, e))?;
        let crc = crc32fast::hash(&map);
        if (map.len() as u64, crc) != (file.bytes, file.crc) {
            return Err(StorageError::Corrupt(format!(
                "graph file {}: {} bytes with CRC {crc:08x}, {} bytes with CRC {:08x} expected",
                file.path.display(),
                map.len(),
                file.bytes,
                file.crc
            )));
        }
        Ok(GraphMap { map })
    }

    /// The mapped bytes (a usearch file).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Makes `index` (empty, of the file's settings) a read-only view of the mapped graph. The
    /// caller keeps this map alive for as long as `index` exists (`index::Held` declares the
    /// index before the map, so it is dropped first).
    pub(crate) fn view_into(&self, index: &Index) -> Result<()> {
        // SAFETY: usearch keeps a pointer into `self.map`; the caller's contract above keeps the
        // map alive and unmoved (an `Mmap`'s bytes never move) while the index can read it, and
        // the bytes are never written (a private read-only mapping of a file replaced only by
        // renames).
        unsafe { index.view_from_buffer(&self.map) }.map_err(|e| StorageError::Index(format!("view graph file: {e}")))
    }
}
