//! Local reads on the calling worker (design record 022): cheap reads spend the request's
//! budget and answer as the blocking pool does; reads without a bound, reads beyond the budget
//! and reads outside `with_inline_reads` keep going to the blocking pool.

use crate::remote::ShardRequest;
use crate::serve::{INLINE_BUDGET, InlineSlot, execute_read};
use crate::{INLINE_READ_BUDGET, with_inline_reads};
use quiver_shard::vectors::VectorSpec;
use quiver_shard::{IndexConfig, LocalShard, ShardConfig};
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use quiver_types::query::{CoreSearch, QueryVector, WithPayload, WithVector};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The tests share the process's count of inline reads: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn shard(dir: &std::path::Path) -> Arc<LocalShard> {
    let config = ShardConfig {
        dense: BTreeMap::from([(String::new(), VectorSpec::plain(4, Distance::Dot))]),
        sparse: Default::default(),
        wal_segment_bytes: 1 << 20,
        index: IndexConfig::default(),
    };
    let shard = LocalShard::open(dir, config).unwrap();
    let points = (0..50u64)
        .map(|i| PointStruct {
            id: PointId::Num(i),
            vectors: NamedVectors::from([(String::new(), Vector::Dense(vec![i as f32, 1.0, 0.5, -1.0]))]),
            payload: Some(serde_json::json!({"n": i}).as_object().unwrap().clone()),
        })
        .collect();
    shard.update(&UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }, true).unwrap();
    Arc::new(shard)
}

fn search(filter: Option<serde_json::Value>) -> ShardRequest {
    ShardRequest::Search(CoreSearch {
        vector_name: String::new(),
        query: QueryVector::Dense(vec![1.0, 0.0, 0.0, 0.0]),
        filter: filter.map(|f| serde_json::from_value(f).unwrap()),
        params: None,
        limit: 5,
        score_threshold: None,
        with_payload: WithPayload::Bool(true),
        with_vector: WithVector::Bool(false),
    })
}

/// Runs `request` with `budget` and returns its answer and the budget left.
async fn read(shard: &Arc<LocalShard>, budget: u64, request: ShardRequest) -> (crate::remote::ShardResponse, u64) {
    with_inline_reads(budget, async {
        let answer = execute_read(shard, request).await.unwrap();
        (answer, INLINE_BUDGET.with(Cell::get))
    })
    .await
}

#[tokio::test]
async fn cheap_reads_spend_the_budget_and_answer_as_the_blocking_pool() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shard = shard(dir.path());
    let (inline, left) = read(&shard, INLINE_READ_BUDGET, search(None)).await;
    assert!(left < INLINE_READ_BUDGET, "the search ran inline");
    let pooled = execute_read(&shard, search(None)).await.unwrap();
    let inline = inline.into_scored().unwrap();
    assert_eq!(inline.iter().map(|p| p.id).collect::<Vec<_>>(), (45..50).rev().map(PointId::Num).collect::<Vec<_>>());
    assert_eq!(inline, pooled.into_scored().unwrap());

    let ids = vec![PointId::Num(3), PointId::Num(77)];
    let retrieve =
        ShardRequest::Retrieve { ids, with_payload: WithPayload::Bool(true), with_vector: WithVector::Bool(true) };
    let (records, left) = read(&shard, INLINE_READ_BUDGET, retrieve).await;
    assert!(left < INLINE_READ_BUDGET);
    assert_eq!(records.into_records().unwrap().len(), 1);
    let (count, left) = read(&shard, INLINE_READ_BUDGET, ShardRequest::Count(None)).await;
    assert_eq!((count.into_count().unwrap(), left), (50, INLINE_READ_BUDGET - 1));
}

#[tokio::test]
async fn unbounded_or_over_budget_reads_go_to_the_blocking_pool() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shard = shard(dir.path());
    let filter = serde_json::json!({"must": [{"key": "n", "range": {"lt": 10}}]});
    let (filtered, left) = read(&shard, INLINE_READ_BUDGET, search(Some(filter))).await;
    assert_eq!(left, INLINE_READ_BUDGET, "a filtered search has no bound known in advance");
    assert_eq!(filtered.into_scored().unwrap().len(), 5);
    let filter =
        Some(serde_json::from_value(serde_json::json!({"must": [{"key": "n", "range": {"gte": 48}}]})).unwrap());
    let (count, left) = read(&shard, INLINE_READ_BUDGET, ShardRequest::Count(filter)).await;
    assert_eq!((count.into_count().unwrap(), left), (2, INLINE_READ_BUDGET));
    // 50 points × 4 dimensions and the records: more than 100 units.
    let (small, left) = read(&shard, 100, search(None)).await;
    assert_eq!((small.into_scored().unwrap().len(), left), (5, 100));
    let (_, left) = read(&shard, 0, ShardRequest::Count(None)).await;
    assert_eq!(left, 0);
    // This runtime has one worker: while a read holds the one place, others go to the pool.
    let running = InlineSlot::take().expect("a free place");
    let (pooled, left) = read(&shard, INLINE_READ_BUDGET, search(None)).await;
    assert_eq!((pooled.into_scored().unwrap().len(), left), (5, INLINE_READ_BUDGET));
    drop(running);
    let (_, left) = read(&shard, INLINE_READ_BUDGET, search(None)).await;
    assert!(left < INLINE_READ_BUDGET);
}

/// A read's scoping wrappers hold the read once: an `async fn` wrapper held its argument beside
/// the scoped future it moved it into, and four such layers made a search's future 84 KB.
#[test]
fn scoping_a_read_does_not_copy_it() {
    let read = async {
        let state = [7u8; 16 << 10];
        tokio::task::yield_now().await;
        state.iter().map(|b| u64::from(*b)).sum::<u64>()
    };
    let alone = std::mem::size_of_val(&read);
    let scoped = crate::serve::limit_inline_reads(
        Some(0),
        crate::with_read_consistency(Default::default(), with_inline_reads(INLINE_READ_BUDGET, read)),
    );
    assert!(alone >= 16 << 10, "{alone}");
    assert!(
        std::mem::size_of_val(&scoped) < alone + 256,
        "{} bytes around a {alone}-byte read",
        std::mem::size_of_val(&scoped)
    );
}
