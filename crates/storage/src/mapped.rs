//! Memory-mapped scratch arrays: where the elements of an `on_disk` vector column live, and the
//! level-0 neighbours of a frozen graph copy with `hnsw_config.on_disk` (design record 025). The array is a shared mapping of an unnamed file in the shard's
//! directory (`tempfile_in`: `O_TMPFILE`, or a name unlinked at once), so the kernel's page cache
//! decides which of its pages stay in RAM and they are not anonymous memory. The file is never
//! read back: the table is rebuilt from the checkpoint and the WAL at every open, and the file
//! disappears with the process, so there is nothing to validate after a crash.
//!
//! Growing remaps the file under `&mut self` (the table's write lock), so no borrowed slice can
//! outlive the mapping it points into. The file's blocks are reserved with `fallocate` before
//! they are mapped: a full disk is an error of the growth, not a `SIGBUS` on a later write
//! through the map; the caller then keeps the column in anonymous memory (`Store::resize`).
//!
//! With `kernels.rs` and `index_view.rs`, one of the modules allowed `unsafe`: mapping a file, and viewing the
//! mapped bytes as the elements they hold. Every `unsafe` block says why it holds.
#![allow(unsafe_code)]

use half::f16;
use memmap2::MmapMut;
use std::fs::File;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

/// Where a vector column keeps its elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Placement {
    /// Anonymous memory (a `Vec`).
    #[default]
    Memory,
    /// A memory-mapped scratch file in this directory (`on_disk: true`).
    Mapped(PathBuf),
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
    impl Sealed for u8 {}
    impl Sealed for u32 {}
}

/// Element types a mapped array holds: plain values without padding, for which every bit
/// pattern is a valid value (so any bytes of the file read as some value).
pub trait Element: sealed::Sealed + Copy + Default + 'static {}
impl Element for f32 {}
impl Element for f16 {}
impl Element for u8 {}
impl Element for u32 {}

/// Smallest mapping, in bytes (growth is at least by half the current size).
const MIN_MAPPED_BYTES: usize = 1 << 20;

/// A growable array of `T` in a memory-mapped scratch file.
pub struct MappedVec<T: Element> {
    file: File,
    dir: PathBuf,
    /// `None` while nothing is mapped (a mapping cannot be empty).
    map: Option<MmapMut>,
    len: usize,
    /// Elements the mapping holds.
    capacity: usize,
    _elements: PhantomData<T>,
}

impl<T: Element> std::fmt::Debug for MappedVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedVec").field("dir", &self.dir).field("len", &self.len).finish()
    }
}

impl<T: Element> MappedVec<T> {
    /// An empty array backed by a new unnamed file in `dir` (created if missing).
    pub fn create_in(dir: &Path) -> std::io::Result<MappedVec<T>> {
        std::fs::create_dir_all(dir)?;
        let file = tempfile::tempfile_in(dir)?;
        Ok(MappedVec { file, dir: dir.to_path_buf(), map: None, len: 0, capacity: 0, _elements: PhantomData })
    }

    /// The directory of its file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Grows (with `value`) or shrinks to `len` elements; the file only grows.
    pub fn resize(&mut self, len: usize, value: T) -> std::io::Result<()> {
        if len > self.capacity {
            self.grow(len)?;
        }
        let old = self.len;
        self.len = len;
        if len > old {
            self.as_mut_slice()[old..].fill(value);
        }
        Ok(())
    }

    /// Maps room for `additional` more elements now (the file grown once).
    pub fn reserve(&mut self, additional: usize) -> std::io::Result<()> {
        let wanted = self.len.saturating_add(additional);
        match wanted > self.capacity {
            true => self.grow(wanted),
            false => Ok(()),
        }
    }

    /// Maps room for at least `min` elements (half as much again as now, at least 1 MiB).
    fn grow(&mut self, min: usize) -> std::io::Result<()> {
        let size = size_of::<T>();
        let elements = min.max(self.capacity + self.capacity / 2).max(MIN_MAPPED_BYTES / size);
        let bytes = elements.checked_mul(size).ok_or_else(|| std::io::Error::other("mapped array too large"))?;
        let old_bytes = (self.capacity * size) as u64;
        #[cfg(test)]
        if tests::FULL_DISK.get() {
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        reserve(&self.file, old_bytes, bytes as u64 - old_bytes)?;
        // SAFETY: the file is an unnamed scratch file this process created and nothing else
        // writes (no other process opens it; this struct is its only user), so its contents do
        // not change under the mapping except through it. The old mapping is replaced under
        // `&mut self`, so no slice borrowed from it is alive.
        let map = unsafe { MmapMut::map_mut(&self.file)? };
        debug_assert!(map.len() >= bytes);
        self.map = Some(map);
        self.capacity = elements;
        Ok(())
    }

    /// Appends `values`, growing the mapping when they do not fit.
    pub fn extend_from_slice(&mut self, values: &[T]) -> std::io::Result<()> {
        let old = self.len;
        let len = old + values.len();
        if len > self.capacity {
            self.grow(len)?;
        }
        self.len = len;
        self.as_mut_slice()[old..].copy_from_slice(values);
        Ok(())
    }

    /// Gives the file's blocks past `len` back (keeping at least the smallest mapping) when it
    /// holds more than twice what is used: the file is cut, then mapped again.
    pub fn shrink(&mut self) -> std::io::Result<()> {
        let size = size_of::<T>();
        let elements = self.len.max(MIN_MAPPED_BYTES / size);
        if self.map.is_none() || elements * 2 > self.capacity {
            return Ok(());
        }
        // Cutting the file under the old mapping is safe: nothing reads past `len`, and the
        // capacity shrinks with the file whether or not the new mapping is made.
        self.file.set_len((elements * size) as u64)?;
        self.capacity = elements;
        // SAFETY: as in `grow`: the file is this struct's alone, and the old mapping is replaced
        // under `&mut self`.
        self.map = Some(unsafe { MmapMut::map_mut(&self.file)? });
        Ok(())
    }

    /// Bytes of the file this array has reserved.
    pub fn file_bytes(&self) -> usize {
        self.capacity * size_of::<T>()
    }

    pub fn as_slice(&self) -> &[T] {
        match &self.map {
            // SAFETY: a mapping starts on a page boundary (aligned for any `T`), holds
            // `capacity * size_of::<T>()` bytes with `len <= capacity`, and every bit pattern is a
            // valid `T` (`Element`); the slice borrows `self`, which keeps the mapping alive.
            Some(map) => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<T>(), self.len) },
            None => &[],
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match &mut self.map {
            // SAFETY: as in `as_slice`; the mutable borrow of `self` makes this the only view.
            Some(map) => unsafe { std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<T>(), self.len) },
            None => &mut [],
        }
    }
}

/// Reserves the file's blocks from `offset` for `len` bytes (extending it); where the file
/// system cannot (`EOPNOTSUPP`), only extends it.
fn reserve(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), offset, len) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP) => file.set_len(offset + len),
        Err(e) => Err(e.into()),
    }
}

/// An array of elements in anonymous memory or in a mapped file.
#[derive(Debug)]
pub enum Store<T: Element> {
    Memory(Vec<T>),
    Mapped(MappedVec<T>),
}

impl<T: Element> Default for Store<T> {
    fn default() -> Self {
        Store::Memory(Vec::new())
    }
}

impl<T: Element> Deref for Store<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Store::Memory(v) => v,
            Store::Mapped(m) => m.as_slice(),
        }
    }
}

impl<T: Element> DerefMut for Store<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Store::Memory(v) => v,
            Store::Mapped(m) => m.as_mut_slice(),
        }
    }
}

impl<T: Element> Store<T> {
    /// An empty array placed as `placement` says (in memory if its file cannot be created).
    pub fn new(placement: &Placement) -> Store<T> {
        let mut store = Store::default();
        store.place(placement);
        store
    }

    /// Where the elements live.
    pub fn placement(&self) -> Placement {
        match self {
            Store::Memory(_) => Placement::Memory,
            Store::Mapped(m) => Placement::Mapped(m.dir.clone()),
        }
    }

    /// Makes room for `additional` more elements (a mapped array that cannot grow stays as it
    /// is: growing later moves it to memory as `resize` says).
    pub fn reserve(&mut self, additional: usize) {
        match self {
            Store::Memory(v) => v.reserve(additional),
            Store::Mapped(m) => {
                if let Err(e) = m.reserve(additional) {
                    tracing::warn!(dir = %m.dir.display(), error = %e, "mapped array cannot reserve room");
                }
            }
        }
    }

    /// Grows (with `value`) or shrinks to `len` elements. A mapped array that cannot grow (a
    /// full disk) moves to anonymous memory: the column keeps working, the error is logged.
    pub fn resize(&mut self, len: usize, value: T) {
        match self {
            Store::Memory(v) => v.resize(len, value),
            Store::Mapped(m) => {
                if let Err(e) = m.resize(len, value) {
                    tracing::error!(dir = %m.dir.display(), error = %e, "mapped vectors cannot grow: kept in memory");
                    let mut v = m.as_slice().to_vec();
                    v.resize(len, value);
                    *self = Store::Memory(v);
                }
            }
        }
    }

    /// Appends `values`. A mapped array that cannot grow (a full disk) moves to anonymous
    /// memory, as in `resize`.
    pub fn extend_from_slice(&mut self, values: &[T]) {
        match self {
            Store::Memory(v) => v.extend_from_slice(values),
            Store::Mapped(m) => {
                if let Err(e) = m.extend_from_slice(values) {
                    tracing::error!(dir = %m.dir.display(), error = %e, "mapped array cannot grow: kept in memory");
                    let mut v = Vec::with_capacity(m.len + values.len());
                    v.extend_from_slice(m.as_slice());
                    v.extend_from_slice(values);
                    *self = Store::Memory(v);
                }
            }
        }
    }

    /// Shortens to `len` elements (nothing if it is shorter), keeping the room.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.resize(len, T::default());
        }
    }

    /// Gives back room far beyond the length (memory, or a mapped file's blocks); a file that
    /// cannot be cut or mapped again is logged and keeps its elements.
    pub fn shrink(&mut self) {
        match self {
            Store::Memory(v) => {
                if v.capacity() > 2 * v.len() {
                    v.shrink_to_fit();
                }
            }
            Store::Mapped(m) => {
                if let Err(e) = m.shrink() {
                    tracing::warn!(dir = %m.dir.display(), error = %e, "mapped array not shrunk");
                }
            }
        }
    }

    /// Bytes reserved for the elements: the mapped file's size, or the memory's capacity.
    pub fn reserved_bytes(&self) -> usize {
        match self {
            Store::Memory(v) => v.capacity() * size_of::<T>(),
            Store::Mapped(m) => m.file_bytes(),
        }
    }

    /// Moves the elements to `placement` (a copy; nothing changes if it is already there or a
    /// mapped file cannot be made, which is logged).
    pub fn place(&mut self, placement: &Placement) {
        if self.placement() == *placement {
            return;
        }
        let moved = match placement {
            Placement::Memory => Store::Memory(self.to_vec()),
            Placement::Mapped(dir) => match Self::mapped_copy(dir, self) {
                Ok(mapped) => Store::Mapped(mapped),
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "cannot map vectors: kept in memory");
                    return;
                }
            },
        };
        *self = moved;
    }

    fn mapped_copy(dir: &Path, elements: &[T]) -> std::io::Result<MappedVec<T>> {
        let mut mapped = MappedVec::create_in(dir)?;
        mapped.resize(elements.len(), T::default())?;
        mapped.as_mut_slice().copy_from_slice(elements);
        Ok(mapped)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    thread_local! {
        /// While set, a mapped array of this thread cannot grow (as on a full disk).
        pub(crate) static FULL_DISK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    #[test]
    fn appending_grows_a_full_disk_moves_to_memory_and_shrinking_gives_room_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::<u8>::new(&Placement::Mapped(dir.path().to_path_buf()));
        let chunk: Vec<u8> = (0..=255).collect();
        for _ in 0..8_192 {
            store.extend_from_slice(&chunk); // 2 MiB: past the first mapping
        }
        assert!(matches!(store, Store::Mapped(_)));
        assert!(store.reserved_bytes() >= 2 << 20);
        assert_eq!(&store[(2 << 20) - 256..], &chunk[..]);
        store.truncate(10);
        store.shrink();
        assert_eq!(store.reserved_bytes(), MIN_MAPPED_BYTES);
        assert_eq!(&store[..], &chunk[..10]);
        store.extend_from_slice(&chunk);
        assert_eq!(store.len(), 266);
        // The disk is full when the mapping must grow: the bytes move to memory, none lost.
        FULL_DISK.set(true);
        for _ in 0..4_096 {
            store.extend_from_slice(&chunk);
        }
        FULL_DISK.set(false);
        assert!(matches!(store, Store::Memory(_)));
        assert_eq!(store.len(), 266 + (1 << 20));
        assert_eq!(&store[..10], &chunk[..10]);
        assert_eq!(&store[store.len() - 256..], &chunk[..]);
    }

    #[test]
    fn a_mapped_array_grows_keeps_its_values_and_shrinks() {
        let dir = tempfile::tempdir().unwrap();
        let mut array = MappedVec::<f32>::create_in(&dir.path().join("mapped")).unwrap();
        assert!(array.as_slice().is_empty());
        array.resize(3, 1.5).unwrap();
        array.as_mut_slice()[1] = -2.0;
        // Past the first mapping (1 MiB = 262,144 f32): the file is remapped, values stay.
        array.resize(600_000, 0.0).unwrap();
        assert!(array.capacity >= 600_000);
        assert_eq!(&array.as_slice()[..4], &[1.5, -2.0, 1.5, 0.0]);
        array.as_mut_slice()[599_999] = 7.0;
        array.resize(2, 0.0).unwrap();
        assert_eq!(array.as_slice(), &[1.5, -2.0]);
        // Grown again: the elements past the old length are the new value, not stale ones.
        array.resize(600_000, 0.0).unwrap();
        assert_eq!(array.as_slice()[599_999], 0.0);
        // The file has no name in the directory.
        assert_eq!(std::fs::read_dir(dir.path().join("mapped")).unwrap().count(), 0);
    }

    #[test]
    fn stores_move_between_memory_and_a_mapped_file() {
        let dir = tempfile::tempdir().unwrap();
        let mapped = Placement::Mapped(dir.path().to_path_buf());
        let mut store = Store::<u8>::new(&Placement::Memory);
        store.resize(5, 9);
        store[0] = 1;
        store.place(&mapped);
        assert!(matches!(store, Store::Mapped(_)));
        assert_eq!(store.placement(), mapped);
        assert_eq!(&store[..], &[1, 9, 9, 9, 9]);
        store.resize(6, 3);
        store.place(&Placement::Memory);
        assert!(matches!(store, Store::Memory(_)));
        assert_eq!(&store[..], &[1, 9, 9, 9, 9, 3]);
    }

    #[test]
    fn a_directory_that_cannot_hold_files_keeps_the_store_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let mut store = Store::<f16>::new(&Placement::Mapped(file));
        assert!(matches!(store, Store::Memory(_)));
        store.resize(2, f16::ONE);
        assert_eq!(&store[..], &[f16::ONE, f16::ONE]);
    }
}
