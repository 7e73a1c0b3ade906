//! Reads on the caller's thread (`ReadNow`): the same answers as the locking reads, costs that
//! follow the plan (a graph walk costs by its beam, a scan by the shard's size, filters have no
//! bound), and no table while a writer holds it.

use crate::tests_search::{centers, load, request, shard, vector, wait_frozen, wait_indexed};
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::filter::Filter;
use quiver_types::query::{ScrollRequest, SearchParams, WithPayload, WithVector};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn red() -> Filter {
    serde_json::from_value(serde_json::json!({"must": [{"key": "color", "match": {"value": "red"}}]})).unwrap()
}

fn page(offset: Option<u64>, limit: usize, filter: Option<Filter>) -> ScrollRequest {
    ScrollRequest {
        offset: offset.map(PointId::Num),
        limit,
        filter,
        with_payload: WithPayload::Bool(true),
        with_vector: WithVector::Bool(false),
        order_by: None,
    }
}

#[test]
fn reads_now_answer_as_the_locking_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(21);
    let centers = centers(&mut rng);
    let shard = shard(dir.path(), Distance::Cosine, 1, 1);
    load(&shard, 1500, &mut rng, &centers);
    wait_indexed(&shard, 1500);
    let queries: Vec<Vec<f32>> = (0..20).map(|_| vector(&mut rng, &centers)).collect();
    // The indexer's last change (the frozen copy) is in, so the two kinds of reads see the same
    // table. They never overlap: a `ReadNow` holds the table's read lock, and a second read
    // lock taken on the same thread waits behind a queued writer (parking_lot is fair).
    wait_frozen(&shard, &queries[0]);
    let ids: Vec<PointId> = [3, 7, 99_999, 1200].into_iter().map(PointId::Num).collect();
    let (payload, vectors) = (WithPayload::Bool(true), WithVector::Bool(true));
    let page = page(Some(40), 25, None);
    let searches: Vec<_> = queries.iter().map(|q| request(q, 10, false, None)).collect();
    let locking = (
        searches.iter().map(|r| shard.search(r).unwrap()).collect::<Vec<_>>(),
        shard.retrieve(&ids, &payload, &vectors),
        shard.scroll(&page).unwrap(),
        shard.count(None).unwrap(),
    );
    let now = shard.try_read_now().expect("no writer");
    let answered_now = (
        searches.iter().map(|r| now.search(r).unwrap()).collect::<Vec<_>>(),
        now.retrieve(&ids, &payload, &vectors),
        now.scroll(&page).unwrap(),
        now.count_all(),
    );
    drop(now);
    assert_eq!(answered_now, locking);
}

#[test]
fn costs_follow_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(22);
    let centers = centers(&mut rng);
    let indexed = shard(&dir.path().join("indexed"), Distance::Cosine, 1, 1);
    load(&indexed, 3000, &mut rng, &centers);
    wait_indexed(&indexed, 3000);
    let q = vector(&mut rng, &centers);
    let now = indexed.try_read_now().unwrap();
    let graph = now.search_cost(&request(&q, 10, false, None)).unwrap();
    let exact = now.search_cost(&request(&q, 10, true, None)).unwrap();
    // Exact: every point's vector (3000 × 16) is scored.
    assert!(exact >= 3000 * 16, "{exact}");
    let mut wide = request(&q, 10, false, None);
    wide.params = Some(SearchParams { hnsw_ef: Some(512), ..SearchParams::default() });
    let wide = now.search_cost(&wide).unwrap();
    assert!(wide > graph, "a wider beam costs more: {wide} vs {graph}");
    assert_eq!(now.search_cost(&request(&q, 10, false, Some(red()))), None, "a filter has no bound");
    assert_eq!(now.scroll_cost(&page(None, 10, Some(red()))), None);
    assert!(now.scroll_cost(&page(None, 10, None)).unwrap() < now.scroll_cost(&page(None, 1000, None)).unwrap());
    let with = now.retrieve_cost(10, &WithVector::Bool(true));
    assert!(with > now.retrieve_cost(10, &WithVector::Bool(false)));
    drop(now);

    let small = shard(&dir.path().join("small"), Distance::Cosine, 10_000, 10_000);
    load(&small, 300, &mut rng, &centers);
    let scan = small.try_read_now().unwrap().search_cost(&request(&q, 10, false, None)).unwrap();
    assert!((300 * 16..graph).contains(&scan), "a small shard's scan: {scan}, graph {graph}");
}

#[test]
fn no_table_while_a_writer_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let shard = shard(dir.path(), Distance::Cosine, 1, 1);
    let writing = shard.table.write();
    assert!(shard.try_read_now().is_none());
    drop(writing);
    assert!(shard.try_read_now().is_some());
}
