//! A graph released for a view of its saved file (design record 041): the same answers, loaded
//! back at the next change, never a file that is not the index as it is.

use super::*;
use crate::graph_file::{self, GraphKey};

fn vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        crate::distance::normalize(&mut v);
        out.extend(v);
    }
    out
}

const DIM: usize = 32;

fn params() -> HnswParams {
    HnswParams { dim: DIM, m: 16, ef_construct: 64, scalar: IndexScalar::Table, normalize: false }
}

/// An index reading `column` (its first `n` slots), saved in `dir` as vector "v".
fn saved_index(dir: &std::path::Path, column: &[f32], n: usize) -> HnswIndex {
    let index = HnswIndex::new(Distance::Cosine, params(), 16).unwrap();
    for slot in 0..n {
        index.upsert(slot as u64, &column[slot * DIM..(slot + 1) * DIM], column).unwrap();
    }
    graph_file::save(dir, "v", &index, GraphKey::new(Distance::Cosine, &params()), Vec::new()).unwrap();
    index
}

fn answers(index: &HnswIndex, column: &[f32], queries: &[f32]) -> Vec<Vec<u64>> {
    queries.chunks_exact(DIM).map(|q| index.search(q, 10, 64, None, column).unwrap()).collect()
}

fn usearch_file(dir: &std::path::Path) -> std::path::PathBuf {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "usearch"));
    file.expect("a saved usearch file")
}

#[test]
fn a_released_graph_answers_as_before_and_is_loaded_back_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let column = vectors(2100, DIM, 7);
    let index = saved_index(dir.path(), &column, 2000);
    let queries = vectors(50, DIM, 99);
    let (before, graph_before) = (answers(&index, &column, &queries), index.export_graph(&[0, 1, 2, 1999]));
    let held = index.memory_bytes();
    assert!(index.release_graph().unwrap(), "a current saved file is viewed");
    assert!(index.graph_viewed());
    assert_eq!(answers(&index, &column, &queries), before);
    assert_eq!(index.export_graph(&[0, 1, 2, 1999]), graph_before);
    assert_eq!(index.len(), 2000);
    assert!(index.memory_bytes() * 4 < held, "viewed {} bytes vs {held} held", index.memory_bytes());
    // A change loads the graph back, and it keeps its keys.
    index.upsert(2000, &column[2000 * DIM..2001 * DIM], &column).unwrap();
    assert!(!index.graph_viewed());
    assert_eq!(index.len(), 2001);
    assert_eq!(index.search(&column[2000 * DIM..2001 * DIM], 1, 64, None, &column).unwrap()[0], 2000);
    assert_eq!(index.search(&column[5 * DIM..6 * DIM], 1, 64, None, &column).unwrap()[0], 5);
    // The file no longer holds the index: it is not viewed again until saved again.
    assert!(!index.release_graph().unwrap());
    graph_file::save(dir.path(), "v", &index, GraphKey::new(Distance::Cosine, &params()), Vec::new()).unwrap();
    assert!(index.release_graph().unwrap());
    // A removal loads it back too (a key it does not hold changes nothing).
    index.remove(4242).unwrap();
    assert!(index.graph_viewed());
    index.remove(3).unwrap();
    assert!(!index.graph_viewed());
    assert_eq!(index.len(), 2000);
}

#[test]
fn a_viewed_graph_saves_the_same_bytes_and_loads_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let column = vectors(800, DIM, 3);
    let index = saved_index(dir.path(), &column, 800);
    let queries = vectors(20, DIM, 5);
    let before = answers(&index, &column, &queries);
    assert!(index.release_graph().unwrap());
    let copy = dir.path().join("copy.usearch");
    index.save(&copy).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(usearch_file(dir.path())).unwrap());
    let loaded = HnswIndex::load(Distance::Cosine, params(), &copy, 900).unwrap();
    assert_eq!(answers(&loaded, &column, &queries), before);
    // Saved over while viewed (a checkpoint's save renames a new file into place): the view
    // keeps the file it mapped.
    graph_file::save(dir.path(), "v", &index, GraphKey::new(Distance::Cosine, &params()), Vec::new()).unwrap();
    graph_file::remove(dir.path(), "v");
    assert_eq!(answers(&index, &column, &queries), before);
    index.upsert(0, &column[..DIM], &column).unwrap();
    assert!(!index.graph_viewed());
    assert_eq!(index.len(), 800);
}

#[test]
fn a_damaged_or_replaced_file_is_never_viewed() {
    let dir = tempfile::tempdir().unwrap();
    let column = vectors(500, DIM, 11);
    let index = saved_index(dir.path(), &column, 500);
    let before = answers(&index, &column, &column[..10 * DIM]);
    let path = usearch_file(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(index.release_graph(), Err(StorageError::Corrupt(_))));
    assert!(!index.graph_viewed());
    assert_eq!(answers(&index, &column, &column[..10 * DIM]), before);
    // Not tried again until a save gives another file.
    assert!(!index.release_graph().unwrap());
    // A file gone: the same.
    graph_file::save(dir.path(), "v", &index, GraphKey::new(Distance::Cosine, &params()), Vec::new()).unwrap();
    graph_file::remove(dir.path(), "v");
    assert!(index.release_graph().is_err());
    assert!(!index.graph_viewed());
    // An index never saved has nothing to view.
    let unsaved = HnswIndex::new(Distance::Cosine, params(), 16).unwrap();
    assert!(!unsaved.release_graph().unwrap());
}

#[test]
fn searches_stay_right_while_the_graph_is_released_and_loaded_back() {
    let dir = tempfile::tempdir().unwrap();
    let column = vectors(1500, DIM, 13);
    let index = saved_index(dir.path(), &column, 1500);
    let queries = vectors(30, DIM, 17);
    let expected = answers(&index, &column, &queries);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let searchers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut rounds = 0;
                    while !stop.load(Ordering::Relaxed) || rounds == 0 {
                        assert_eq!(answers(&index, &column, &queries), expected);
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();
        for round in 0..20 {
            assert!(index.release_graph().unwrap(), "round {round}");
            // Re-adding a slot's own vector changes the graph's links: the file no longer holds
            // it; removing and adding back a key the queries never find keeps their answers.
            let slot = 1400 + round;
            index.upsert(slot as u64, &column[slot * DIM..(slot + 1) * DIM], &column).unwrap();
            assert!(!index.graph_viewed());
            graph_file::save(dir.path(), "v", &index, GraphKey::new(Distance::Cosine, &params()), Vec::new()).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for searcher in searchers {
            assert!(searcher.join().unwrap() > 0);
        }
    });
}
