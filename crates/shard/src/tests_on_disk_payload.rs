//! `on_disk_payload` (design record 037): a shard whose payloads are encoded in a mapped scratch
//! file answers every read like one whose payloads are in memory, after payload updates, a
//! reopen (the log rebuilt from the checkpoint and the WAL) and a snapshot restored.

use crate::index_config::IndexConfig;
use crate::shard::{LocalShard, ShardConfig};
use quiver_storage::mapped::Placement;
use quiver_storage::vectors::VectorSpec;
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::filter::Filter;
use quiver_types::ops::{PointSelector, UpdateMode, UpdateOperation};
use quiver_types::point::{PointStruct, Vector};
use quiver_types::query::{
    CoreSearch, FacetRequest, OrderBy, QueryVector, ScrollRequest, SearchParams, WithPayload, WithVector,
};
use serde_json::{Value, json};
use std::path::Path;

fn open(dir: &Path, on_disk_payload: bool) -> LocalShard {
    let config = ShardConfig {
        dense: [(String::new(), VectorSpec::plain(2, Distance::Dot))].into(),
        sparse: Default::default(),
        wal_segment_bytes: 1 << 20,
        index: IndexConfig { on_disk_payload, ..IndexConfig::default() },
    };
    LocalShard::open(dir, config).unwrap()
}

fn payload(v: Value) -> quiver_types::Payload {
    v.as_object().cloned().unwrap_or_default()
}

fn ids(ids: &[u64]) -> PointSelector {
    PointSelector::Ids(ids.iter().map(|i| PointId::Num(*i)).collect())
}

fn filter(v: Value) -> Filter {
    serde_json::from_value(v).unwrap()
}

/// Upserts with ~1 KB payloads, then each kind of payload change.
fn operations() -> Vec<UpdateOperation> {
    let cities = ["Berlin", "Paris", "Rome"];
    let point = |i: u64| PointStruct {
        id: PointId::Num(i),
        vectors: [(String::new(), Vector::Dense(vec![i as f32, 1.0]))].into(),
        payload: Some(payload(json!({
            "n": i % 7, "city": cities[i as usize % 3],
            "body": "w".repeat(900 + i as usize % 200), "nested": [{"k": i % 4}],
        }))),
    };
    let odd = filter(json!({"must": [{"key": "n", "match": {"any": [1, 3, 5]}}]}));
    vec![
        UpdateOperation::Upsert {
            points: (0..400).map(point).collect(),
            mode: UpdateMode::Upsert,
            update_filter: None,
        },
        UpdateOperation::SetPayload { payload: payload(json!({"extra": "x"})), selector: ids(&[1, 2, 3]), key: None },
        UpdateOperation::SetPayload {
            payload: payload(json!({"deep": 5})),
            selector: PointSelector::Filter(odd),
            key: Some("nested[0]".into()),
        },
        UpdateOperation::OverwritePayload { payload: payload(json!({"n": 100})), selector: ids(&[4, 5]), key: None },
        UpdateOperation::DeletePayload { keys: vec!["body".into()], selector: ids(&[6, 7, 8, 9]) },
        UpdateOperation::ClearPayload { selector: ids(&[10]) },
        UpdateOperation::Delete { selector: ids(&[11, 12]) },
    ]
}

/// What each read path answers, as text.
fn reads(shard: &LocalShard) -> Vec<String> {
    let everything = (0..400).map(PointId::Num).collect::<Vec<_>>();
    let unindexed =
        filter(json!({"must": [{"key": "city", "match": {"value": "Rome"}}, {"key": "n", "range": {"lt": 5}}],
        "must_not": [{"nested": {"key": "nested", "filter": {"must": [{"key": "k", "match": {"value": 1}}]}}}]}));
    let search = CoreSearch {
        vector_name: String::new(),
        query: QueryVector::Dense(vec![1.0, 0.5]),
        filter: Some(unindexed.clone()),
        params: Some(SearchParams { exact: true, ..SearchParams::default() }),
        limit: 20,
        score_threshold: None,
        with_payload: WithPayload::Bool(true),
        with_vector: WithVector::Bool(false),
    };
    let scroll = |filter: Option<Filter>, order_by: Option<OrderBy>| ScrollRequest {
        offset: None,
        limit: 500,
        filter,
        with_payload: WithPayload::Bool(true),
        with_vector: WithVector::Bool(true),
        order_by,
    };
    let by_n = OrderBy { key: "n".into(), direction: None, start_from: None };
    let mut facet: Vec<_> =
        shard.facet(&FacetRequest { key: "city".into(), filter: None }).unwrap().into_iter().collect();
    facet.sort_by_key(|(value, _)| format!("{value:?}"));
    vec![
        format!("{:?}", shard.retrieve(&everything, &WithPayload::Bool(true), &WithVector::Bool(true))),
        format!("{:?}", shard.scroll(&scroll(Some(unindexed.clone()), None)).unwrap()),
        format!("{:?}", shard.scroll(&scroll(None, Some(by_n))).unwrap()),
        format!("{:?}", shard.search(&search).unwrap()),
        format!("{:?}", shard.count(Some(&unindexed)).unwrap()),
        format!("{facet:?}"),
        format!("{}", shard.payload_bytes()),
    ]
}

#[test]
fn payloads_on_disk_answer_like_payloads_in_memory_and_come_back_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (disk_dir, memory_dir) = (dir.path().join("disk"), dir.path().join("memory"));
    let (disk, memory) = (open(&disk_dir, true), open(&memory_dir, false));
    assert_eq!(disk.table.read().payload_placement(), Placement::Mapped(disk_dir.join("mapped")));
    assert_eq!(memory.table.read().payload_placement(), Placement::Memory);
    let indexes = [("n".to_string(), json!("integer"))].into();
    disk.set_payload_indexes(&indexes);
    memory.set_payload_indexes(&indexes);
    for op in operations() {
        assert_eq!(format!("{:?}", disk.update(&op, true)), format!("{:?}", memory.update(&op, true)));
    }
    let expected = reads(&memory);
    assert!(expected[0].contains("extra") && expected[0].contains("deep"), "the updates took effect");
    assert_eq!(reads(&disk), expected);
    assert!(disk.table.read().payload_log().unwrap().used > 400_000, "~1 KB a point in the log");
    // Half of the points rewritten after a checkpoint: reopened from the checkpoint + WAL.
    disk.checkpoint().unwrap();
    let rewrite = UpdateOperation::SetPayload {
        payload: payload(json!({"body": "z".repeat(1_500)})),
        selector: PointSelector::Filter(filter(json!({"must": [{"key": "n", "range": {"gte": 3}}]}))),
        key: None,
    };
    disk.update(&rewrite, true).unwrap();
    memory.update(&rewrite, true).unwrap();
    drop(disk);
    let disk = open(&disk_dir, true);
    disk.set_payload_indexes(&indexes);
    assert!(disk.table.read().payload_log().unwrap().mapped);
    let expected = reads(&memory);
    assert_eq!(reads(&disk), expected);
    // A snapshot of the on-disk shard restored into an in-memory one, and back.
    let snapshot = dir.path().join("shard.snapshot");
    disk.write_snapshot(&snapshot).unwrap();
    let restored = open(&dir.path().join("restored"), false);
    restored.set_payload_indexes(&indexes);
    restored.restore_snapshot(&snapshot).unwrap();
    assert_eq!(reads(&restored), expected);
    memory.write_snapshot(&snapshot).unwrap();
    let restored = open(&dir.path().join("restored-disk"), true);
    restored.set_payload_indexes(&indexes);
    restored.restore_snapshot(&snapshot).unwrap();
    assert!(restored.table.read().payload_log().unwrap().mapped);
    assert_eq!(reads(&restored), expected);
}
