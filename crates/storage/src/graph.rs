//! A read-only copy of an HNSW graph laid out for search (design record 005, "Frozen graph"):
//! neighbour lists as flat `u32` slot arrays, distances computed on the point table's own
//! vector column, a per-thread visited list, and the next vectors prefetched while the current
//! one is scored. usearch builds and maintains the graph; this copy is taken from it when the
//! index has caught up, and searched instead of usearch while few slots changed since.
//!
//! The caller decides which slots may be returned (`allow`): a slot whose vector changed since
//! the copy was taken is only a stepping stone here, and is scored exactly by the caller.

use crate::kernels;
use crate::mapped::{Placement, Store};
use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

/// The copy of one HNSW graph.
#[derive(Debug, Default)]
pub struct FrozenGraph {
    entry: u32,
    /// Neighbours at level 0: `base_stride` entries per slot, `base_len` of them used (in a
    /// mapped scratch file with `hnsw_config.on_disk`, design record 025).
    base: Store<u32>,
    base_len: Vec<u16>,
    base_stride: usize,
    /// `upper[l - 1]`: neighbours at level `l` of the nodes that reach it.
    upper: Vec<HashMap<u32, Box<[u32]>>>,
}

/// A frozen copy's arrays, borrowed (see [`FrozenGraph`]'s fields).
pub(crate) struct FrozenParts<'a> {
    pub(crate) entry: u32,
    pub(crate) base: &'a [u32],
    pub(crate) base_len: &'a [u16],
    pub(crate) base_stride: usize,
    pub(crate) upper: &'a [HashMap<u32, Box<[u32]>>],
}

/// One node of a graph being copied: its slot and its neighbours per level (0 first).
#[derive(Debug, PartialEq)]
pub struct GraphNode {
    pub slot: u32,
    pub levels: Vec<Vec<u32>>,
}

#[derive(Clone, Copy, PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}

impl PartialOrd for Scored {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

thread_local! {
    /// Visited marks: a slot is visited when its mark equals the current epoch (16 bits keep
    /// the array small enough to stay in cache; it is cleared when the epoch wraps).
    static VISITED: RefCell<(Vec<u16>, u16)> = const { RefCell::new((Vec::new(), 0)) };
}

impl FrozenGraph {
    /// Builds the copy of `slots` slots from `nodes` (neighbours at or past `slots` are dropped).
    pub fn new(nodes: Vec<GraphNode>, slots: usize) -> FrozenGraph {
        FrozenGraph::placed(nodes, slots, &Placement::Memory)
    }

    /// `new`, with the level-0 neighbours kept as `placement` says.
    pub fn placed(nodes: Vec<GraphNode>, slots: usize, placement: &Placement) -> FrozenGraph {
        let base_stride = nodes.iter().filter_map(|n| n.levels.first()).map(Vec::len).max().unwrap_or(0);
        let mut base = Store::new(placement);
        base.resize(slots * base_stride, 0);
        let mut graph = FrozenGraph { base, base_len: vec![0; slots], base_stride, ..FrozenGraph::default() };
        let mut top_level = 0;
        for node in nodes {
            let slot = node.slot as usize;
            if slot >= slots {
                continue;
            }
            for (level, neighbours) in node.levels.into_iter().enumerate() {
                let kept: Vec<u32> = neighbours.into_iter().filter(|n| (*n as usize) < slots).collect();
                if level == 0 {
                    graph.base[slot * base_stride..slot * base_stride + kept.len()].copy_from_slice(&kept);
                    graph.base_len[slot] = kept.len() as u16;
                } else {
                    if graph.upper.len() < level {
                        graph.upper.resize_with(level, HashMap::new);
                    }
                    graph.upper[level - 1].insert(node.slot, kept.into_boxed_slice());
                }
                if level >= top_level {
                    (top_level, graph.entry) = (level, node.slot);
                }
            }
        }
        graph
    }

    /// The copy's arrays, for `frozen_file::save`.
    pub(crate) fn parts(&self) -> FrozenParts<'_> {
        FrozenParts {
            entry: self.entry,
            base: &self.base,
            base_len: &self.base_len,
            base_stride: self.base_stride,
            upper: &self.upper,
        }
    }

    /// A copy from its arrays (`frozen_file::load`); `None` unless every neighbour and the entry
    /// are slots of it (a search indexes its visited marks by them).
    pub(crate) fn from_parts(
        entry: u32,
        base: Store<u32>,
        base_len: Vec<u16>,
        base_stride: usize,
        upper: Vec<HashMap<u32, Box<[u32]>>>,
    ) -> Option<FrozenGraph> {
        let slots = base_len.len();
        let inside = |n: &u32| (*n as usize) < slots;
        let base_ok = base_len.iter().enumerate().all(|(s, len)| {
            base.get(s * base_stride..s * base_stride + *len as usize).is_some_and(|ns| ns.iter().all(inside))
        });
        let upper_ok = upper.iter().flat_map(|l| l.iter()).all(|(slot, ns)| inside(slot) && ns.iter().all(inside));
        let entry_ok = inside(&entry) || (slots == 0 && entry == 0);
        (base_ok && upper_ok && entry_ok && base.len() == slots * base_stride).then_some(FrozenGraph {
            entry,
            base,
            base_len,
            base_stride,
            upper,
        })
    }

    /// Number of slots the copy covers.
    pub fn slots(&self) -> usize {
        self.base_len.len()
    }

    /// Bytes held in anonymous memory (mapped level-0 neighbours are the page cache's).
    pub fn memory_bytes(&self) -> usize {
        let upper: usize = self.upper.iter().flat_map(|l| l.values()).map(|n| n.len() * 4 + 48).sum();
        let base = match self.base.placement() {
            Placement::Memory => self.base.len() * 4,
            Placement::Mapped(_) => 0,
        };
        base + self.base_len.len() * 2 + upper
    }

    /// Where the level-0 neighbours live.
    pub fn placement(&self) -> Placement {
        self.base.placement()
    }

    #[inline]
    fn neighbours(&self, slot: u32, level: usize) -> &[u32] {
        if level == 0 {
            let start = slot as usize * self.base_stride;
            let len = self.base_len.get(slot as usize).copied().unwrap_or(0) as usize;
            return self.base.get(start..start + len).unwrap_or(&[]);
        }
        self.upper.get(level - 1).and_then(|l| l.get(&slot)).map_or(&[], |n| n)
    }

    /// Up to `ef` slots nearest to the query among those `allow` accepts, best first.
    /// `distance(slot)` is the query's distance to the slot's vector ("smaller is closer"; `None`
    /// for a slot without one); `prefetch(slot)` asks for the vector ahead of it.
    pub fn search(
        &self,
        ef: usize,
        distance: impl Fn(u32) -> Option<f32>,
        prefetch: impl Fn(u32),
        allow: impl Fn(u32) -> bool,
    ) -> Vec<u32> {
        let Some(entry_distance) = distance(self.entry) else { return Vec::new() };
        let mut current = Scored(entry_distance, self.entry);
        for level in (1..=self.upper.len()).rev() {
            let mut moved = true;
            while moved {
                moved = false;
                for &n in self.neighbours(current.1, level) {
                    let Some(d) = distance(n) else { continue };
                    if d < current.0 {
                        (current, moved) = (Scored(d, n), true);
                    }
                }
            }
        }
        VISITED.with(|visited| {
            let mut visited = visited.borrow_mut();
            // A beam wider than the graph finds nothing more (and `hnsw_ef` comes from clients).
            let ef = ef.clamp(1, self.slots().max(1));
            self.search_base(&mut visited, current, ef, Probe { distance, prefetch, allow })
        })
    }

    fn search_base(
        &self,
        visited: &mut (Vec<u16>, u16),
        start: Scored,
        ef: usize,
        probe: Probe<impl Fn(u32) -> Option<f32>, impl Fn(u32), impl Fn(u32) -> bool>,
    ) -> Vec<u32> {
        let (marks, epoch) = visited;
        *epoch = epoch.wrapping_add(1);
        if *epoch == 0 || marks.len() < self.slots() {
            marks.clear();
            marks.resize(self.slots(), 0);
            *epoch = 1;
        }
        let mut candidates = BinaryHeap::from([Reverse(start)]);
        let mut top: BinaryHeap<Scored> = BinaryHeap::with_capacity(ef + 1);
        marks[start.1 as usize] = *epoch;
        if (probe.allow)(start.1) {
            top.push(start);
        }
        while let Some(Reverse(candidate)) = candidates.pop() {
            if top.len() >= ef && top.peek().is_some_and(|worst| candidate.0 > worst.0) {
                break;
            }
            let neighbours = self.neighbours(candidate.1, 0);
            // The next candidate's neighbour list is likely what is read after this one.
            if let Some(Reverse(next)) = candidates.peek() {
                kernels::prefetch(self.neighbours(next.1, 0));
            }
            for &n in neighbours {
                if marks[n as usize] != *epoch {
                    (probe.prefetch)(n);
                }
            }
            for &n in neighbours {
                if marks[n as usize] == *epoch {
                    continue;
                }
                marks[n as usize] = *epoch;
                let Some(d) = (probe.distance)(n) else { continue };
                if top.len() < ef || top.peek().is_some_and(|worst| d < worst.0) {
                    candidates.push(Reverse(Scored(d, n)));
                    if (probe.allow)(n) {
                        top.push(Scored(d, n));
                        if top.len() > ef {
                            top.pop();
                        }
                    }
                }
            }
        }
        top.into_sorted_vec().into_iter().map(|s| s.1).collect()
    }
}

/// What a search asks of each slot it reaches.
struct Probe<D, P, A> {
    distance: D,
    prefetch: P,
    allow: A,
}

/// Cache lines of a vector asked for ahead of scoring it (the hardware prefetcher follows).
pub const PREFETCH_LINES: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring of 10 slots in 1-d: slot i at x = i, linked to i±1; level 1 holds 0 and 5.
    fn ring() -> (FrozenGraph, Vec<f32>) {
        (FrozenGraph::new(ring_nodes(), 10), (0..10).map(|i| i as f32).collect())
    }

    fn ring_nodes() -> Vec<GraphNode> {
        (0..10u32)
            .map(|i| {
                let mut levels = vec![vec![(i + 9) % 10, (i + 1) % 10]];
                if i % 5 == 0 {
                    levels.push(vec![(i + 5) % 10]);
                }
                GraphNode { slot: i, levels }
            })
            .collect()
    }

    #[test]
    fn a_copy_with_mapped_neighbours_searches_as_one_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (memory, vectors) = ring();
        let mapped = FrozenGraph::placed(ring_nodes(), 10, &Placement::Mapped(dir.path().to_path_buf()));
        assert_eq!(mapped.placement(), Placement::Mapped(dir.path().to_path_buf()));
        assert!(mapped.memory_bytes() < memory.memory_bytes());
        for q in [0.2f32, 3.7, 8.9] {
            let to = |slot: u32| vectors.get(slot as usize).map(|x| (x - q).abs());
            for ef in [1, 3, 10] {
                let found = mapped.search(ef, to, |_| {}, |_| true);
                assert_eq!(found, memory.search(ef, to, |_| {}, |_| true), "q {q} ef {ef}");
            }
            assert_eq!(mapped.neighbours(4, 0), &[3, 5]);
        }
    }

    #[test]
    fn walks_levels_and_respects_allow() {
        let (graph, vectors) = ring();
        let v = &vectors;
        let to = |q: f32| move |slot: u32| v.get(slot as usize).map(|x| (x - q).abs());
        let search = |q: f32, ef: usize, allow: &dyn Fn(u32) -> bool| graph.search(ef, to(q), |_| {}, allow);
        assert_eq!(search(7.2, 3, &|_| true), vec![7, 8, 6]);
        assert_eq!(search(7.2, 2, &|s| s % 2 == 1), vec![7, 9]);
        assert!(search(7.2, 2, &|_| false).is_empty());
        // A client's huge beam is bounded by the graph.
        assert_eq!(search(7.2, usize::MAX, &|_| true).len(), 10);
        // Searches on one thread reuse the visited marks, across an epoch wrap too.
        for _ in 0..70_000 {
            assert_eq!(search(0.1, 1, &|_| true), vec![0]);
        }
        assert!(graph.memory_bytes() > 0);
    }

    #[test]
    fn neighbours_past_the_copy_are_dropped() {
        let nodes = vec![GraphNode { slot: 0, levels: vec![vec![1, 7]] }, GraphNode { slot: 1, levels: vec![vec![0]] }];
        let graph = FrozenGraph::new(nodes, 2);
        assert_eq!(graph.neighbours(0, 0), &[1]);
        assert_eq!(graph.neighbours(5, 0), &[] as &[u32]);
    }
}
