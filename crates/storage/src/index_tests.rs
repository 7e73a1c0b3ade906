use super::*;

fn vectors(n: usize, dim: usize) -> Vec<Vec<f32>> {
    let mut state = 0x9E3779B97F4A7C15u64;
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..dim)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 2000) as f32 / 1000.0 - 1.0
                })
                .collect();
            crate::distance::normalize(&mut v);
            v
        })
        .collect()
}

#[test]
fn finds_itself_replaces_and_removes() {
    let data = vectors(500, 16);
    let index = HnswIndex::new(
        Distance::Cosine,
        HnswParams { dim: 16, m: 16, ef_construct: 100, scalar: IndexScalar::F32, normalize: false },
        10,
    )
    .unwrap();
    for (i, v) in data.iter().enumerate() {
        index.upsert(i as u64, v, &[]).unwrap();
    }
    assert_eq!(index.len(), 500);
    assert_eq!(index.search(&data[42], 1, 1, None, &[]).unwrap(), vec![42]);
    assert_eq!(index.search(&data[42], 1, 64, None, &[]).unwrap().len(), 64);
    // Key 42 moves to where 7 is; 7 is removed.
    index.upsert(42, &data[7], &[]).unwrap();
    index.remove(7).unwrap();
    assert_eq!(index.search(&data[7], 1, 64, None, &[]).unwrap()[0], 42);
    let only_even = |k: u64| k.is_multiple_of(2);
    let found = index.search(&data[3], 10, 10, Some(&only_even), &[]).unwrap();
    assert_eq!(found.len(), 10);
    assert!(found.iter().all(|k| k.is_multiple_of(2)));
    let panicking = |_k: u64| -> bool { panic!("filter bug") };
    assert!(index.search(&data[3], 10, 64, Some(&panicking), &[]).unwrap().is_empty());
    assert!(index.memory_bytes() > 500 * 16 * 4);
}

#[test]
fn euclid_index_and_many_threads() {
    let data = vectors(300, 8);
    let index = HnswIndex::new(
        Distance::Euclid,
        HnswParams { dim: 8, m: 8, ef_construct: 64, scalar: IndexScalar::Bf16, normalize: false },
        1,
    )
    .unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (index, data) = (&index, &data);
            s.spawn(move || {
                for i in (t..data.len()).step_by(4) {
                    index.upsert(i as u64, &data[i], &[]).unwrap();
                    let _ = index.search(&data[i], 3, 16, None, &[]).unwrap();
                }
            });
        }
    });
    assert_eq!(index.len(), 300);
    assert_eq!(index.search(&data[299], 1, 32, None, &[]).unwrap()[0], 299);
}

#[test]
fn manhattan_index_ranks_by_l1_even_when_bf16_is_asked() {
    let data = vectors(400, 12);
    let params = HnswParams { dim: 12, m: 8, ef_construct: 64, scalar: IndexScalar::Bf16, normalize: false };
    let index = HnswIndex::new(Distance::Manhattan, params, 1).unwrap();
    for (i, v) in data.iter().enumerate() {
        index.upsert(i as u64, v, &[]).unwrap();
    }
    let query = &data[123];
    let mut truth: Vec<(f32, u64)> =
        data.iter().enumerate().map(|(i, v)| (crate::distance::manhattan(query, v), i as u64)).collect();
    truth.sort_by(|a, b| a.0.total_cmp(&b.0));
    let found = index.search(query, 5, 200, None, &[]).unwrap();
    assert_eq!(found[0], 123);
    let hits = found.iter().take(5).filter(|k| truth[..5].iter().any(|(_, t)| t == *k)).count();
    assert!(hits >= 4, "L1 top-5 {found:?} vs {:?}", &truth[..5]);
}

// ---- indexes that read the table's column (`IndexScalar::Table`, design record 023) ----

fn params(dim: usize, scalar: IndexScalar) -> HnswParams {
    HnswParams { dim, m: 16, ef_construct: 64, scalar, normalize: false }
}

fn distance_of(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => -crate::distance::dot(a, b),
        Distance::Euclid => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        Distance::Manhattan => crate::distance::manhattan(a, b),
    }
}

/// The `k` slots of `column` nearest to `query`, exactly.
fn exact(distance: Distance, column: &[f32], dim: usize, query: &[f32], k: usize) -> Vec<u64> {
    let mut all: Vec<(f32, u64)> =
        column.chunks_exact(dim).enumerate().map(|(i, v)| (distance_of(distance, query, v), i as u64)).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all.into_iter().take(k).map(|(_, i)| i).collect()
}

/// Queries of the recall comparison.
const QUERIES: usize = 200;

#[test]
fn an_index_reading_the_column_finds_the_exact_neighbours_and_holds_no_copy() {
    let (n, dim) = (2000, 128);
    let column: Vec<f32> = vectors(n, dim).concat();
    for distance in [Distance::Cosine, Distance::Euclid, Distance::Manhattan] {
        let index = HnswIndex::new(distance, params(dim, IndexScalar::Table), 16).unwrap();
        let copy = HnswIndex::new(distance, params(dim, IndexScalar::F32), 16).unwrap();
        assert!(index.reads_column() && !copy.reads_column());
        let items: Vec<(u32, u64, Option<Vec<f32>>)> =
            (0..n).map(|i| (i as u32, 0, Some(column[i * dim..(i + 1) * dim].to_vec()))).collect();
        // One thread each: the graphs, and so the comparison, are the same on every run (two
        // threads made them differ from run to run by up to 0.02 of recall each).
        add_batch(&index, &items, 1, &column).unwrap();
        add_batch(&copy, &items, 1, &[]).unwrap();
        assert_eq!(index.len(), n);
        // Random uniform vectors are the hardest case for a graph: a wide beam.
        let queries = vectors(n + QUERIES, dim).split_off(n);
        let (mut hits, mut copy_hits) = (0, 0);
        for q in &queries {
            let truth = exact(distance, &column, dim, q, 10);
            let found = index.search(q, 10, 128, None, &column).unwrap();
            hits += found.iter().take(10).filter(|k| truth.contains(k)).count();
            let found = copy.search(q, 10, 128, None, &[]).unwrap();
            copy_hits += found.iter().take(10).filter(|k| truth.contains(k)).count();
        }
        let (recall, copy_recall) = (hits as f64 / (10 * QUERIES) as f64, copy_hits as f64 / (10 * QUERIES) as f64);
        eprintln!("{distance:?}: recall@10 {recall} (with a copy: {copy_recall})");
        assert!(recall >= 0.95 && recall >= copy_recall - 0.02, "{distance:?}: recall@10 {recall} vs {copy_recall}");
        // The copy's index holds the vectors besides the graph; this one only 8 bytes a key (its
        // file says what it holds: `memory_bytes` counts whole arenas).
        let dir = tempfile::tempdir().unwrap();
        let size = |index: &HnswIndex, name: &str| {
            let path = dir.path().join(format!("{name}-{distance:?}"));
            index.save(&path).unwrap();
            std::fs::metadata(&path).unwrap().len() as usize
        };
        let (with_copy, without) = (size(&copy, "copy"), size(&index, "slots"));
        assert!(with_copy - without >= n * dim * 4 * 9 / 10, "{distance:?}: {with_copy} vs {without} bytes");
    }
}

#[test]
fn an_index_reading_the_column_follows_it_when_it_moves_and_grows() {
    let dim = 24;
    let data = vectors(600, dim);
    let index = HnswIndex::new(Distance::Cosine, params(dim, IndexScalar::Table), 4).unwrap();
    let mut column: Vec<f32> = Vec::new();
    let mut moves = 0;
    for (slot, v) in data.iter().enumerate() {
        // Exactly the room needed: every push reallocates the column somewhere else.
        let before = column.as_ptr();
        column.shrink_to_fit();
        column.extend_from_slice(v);
        moves += usize::from(column.as_ptr() != before);
        index.upsert(slot as u64, v, &column).unwrap();
        let probe = slot / 2;
        let found = index.search(&data[probe], 1, 32, None, &column).unwrap();
        assert_eq!(found[0], probe as u64, "after adding slot {slot}");
    }
    assert!(moves > 10, "the column moved {moves} times");
    // A slot's vector changed in place and added again is found where it is now.
    column[7 * dim..8 * dim].copy_from_slice(&data[500]);
    index.upsert(7, &data[500], &column).unwrap();
    let found = index.search(&data[500], 2, 32, None, &column).unwrap();
    assert!(found[..2].contains(&7) && found[..2].contains(&500), "{found:?}");
    // A key past the column is refused; a wrong-sized query too; no column: nothing readable.
    assert!(index.upsert(600, &data[0], &column).is_err());
    assert!(index.search(&data[0][..dim - 1], 1, 8, None, &column).is_err());
    assert!(index.search(&data[0], 1, 8, None, &[]).is_ok());
}

#[test]
fn an_index_file_of_the_other_layout_is_refused() {
    let dim = 16;
    let column: Vec<f32> = vectors(300, dim).concat();
    let dir = tempfile::tempdir().unwrap();
    for (saved, loaded) in [(IndexScalar::F32, IndexScalar::Table), (IndexScalar::Table, IndexScalar::F32)] {
        let index = HnswIndex::new(Distance::Cosine, params(dim, saved), 16).unwrap();
        for (slot, v) in column.chunks_exact(dim).enumerate() {
            index.upsert(slot as u64, v, &column).unwrap();
        }
        let path = dir.path().join(format!("{saved:?}.usearch"));
        index.save(&path).unwrap();
        let refused = HnswIndex::load(Distance::Cosine, params(dim, loaded), &path, 300);
        assert!(matches!(refused, Err(StorageError::Corrupt(_))), "{saved:?} file loaded as {loaded:?}");
        let same = HnswIndex::load(Distance::Cosine, params(dim, saved), &path, 300).unwrap();
        assert_eq!(same.search(&column[42 * dim..43 * dim], 1, 32, None, &column).unwrap()[0], 42);
    }
}

/// A writer, the indexer's loop and searchers on one table whose f32 column an index reads.
#[test]
fn searches_beside_indexer_adds_and_writes_stay_sound() {
    use crate::points::{PointTable, StoredPoint};
    use crate::vectors::VectorSpec;
    use parking_lot::RwLock;
    use quiver_types::PointId;
    use quiver_types::point::{NamedVectors, Payload, Vector};
    use std::sync::atomic::{AtomicBool, Ordering};

    let dim = 16;
    let data = vectors(3000, dim);
    let spec = VectorSpec::plain(dim, Distance::Cosine);
    let table = RwLock::new(PointTable::new(&std::collections::BTreeMap::from([(String::new(), spec)])));
    let index: std::sync::Arc<dyn VectorIndex> =
        std::sync::Arc::new(HnswIndex::new(Distance::Cosine, params(dim, IndexScalar::Table), 64).unwrap());
    table.write().attach_index("", index);
    let point = |id: u64, v: &[f32]| StoredPoint {
        id: PointId::Num(id),
        version: id,
        vectors: NamedVectors::from([(String::new(), Vector::Dense(v.to_vec()))]),
        payload: Payload::new(),
    };
    let writing = AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| {
            // New points (the column grows and moves), changed vectors, deletes.
            for round in 0..30u64 {
                let mut t = table.write();
                for i in round * 100..(round + 1) * 100 {
                    t.upsert(point(i, &data[i as usize]));
                }
                for i in (0..round * 100).step_by(37) {
                    t.upsert(point(i, &data[(i as usize * 7 + round as usize) % 3000]));
                }
                t.delete(&PointId::Num(round * 50 + 1));
                drop(t);
                std::thread::yield_now();
            }
            writing.store(false, Ordering::SeqCst);
        });
        s.spawn(|| {
            // The indexer's loop: adds under the read lock, then `index_done`.
            loop {
                let writer_done = !writing.load(Ordering::SeqCst);
                let guard = table.read();
                let Some(batch) = guard.index_batch("", 32) else {
                    drop(guard);
                    if writer_done {
                        return;
                    }
                    std::thread::yield_now();
                    continue;
                };
                let done = add_batch(batch.index.as_ref(), &batch.items, 2, guard.dense_elements("")).unwrap();
                drop(guard);
                table.write().index_done("", &batch.index, &done);
            }
        });
        for t in 0..2 {
            let (table, writing, data) = (&table, &writing, &data);
            s.spawn(move || {
                let mut q = t;
                while writing.load(Ordering::SeqCst) {
                    let guard = table.read();
                    let view = guard.dense_index("").unwrap();
                    let allow = |key: u64| view.is_indexed(key);
                    let found = view.index.search(&data[q % 3000], 10, 32, Some(&allow), view.column).unwrap();
                    assert!(found.iter().all(|k| (*k as usize) < guard.slot_count() && view.is_indexed(*k)));
                    q += 7;
                }
            });
        }
    });
    // Caught up: every live slot is found by its own current vector, rescored exactly.
    let guard = table.read();
    let view = guard.dense_index("").unwrap();
    assert_eq!(view.pending_len(), 0);
    let live: Vec<u32> = guard.iter_slots().map(|p| p.slot()).collect();
    let mut found_self = 0;
    for slot in live.iter().step_by(13) {
        let v = guard.dense_at("", *slot).unwrap().to_vec();
        let keys = view.index.search(&v, 5, 64, None, view.column).unwrap();
        let best =
            keys.iter().map(|k| (crate::distance::dot(&v, &guard.dense_at("", *k as u32).unwrap().to_vec()), *k));
        let best = best.max_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
        found_self += usize::from(best.0 >= 1.0 - 1e-5);
    }
    let sampled = live.iter().step_by(13).count();
    assert!(found_self * 100 >= sampled * 98, "{found_self} of {sampled} found themselves");
}
