//! Writes selected by a filter that matches text (`resolve.rs`): they change what a read with
//! the same filter returns, and their records replay by id.

use crate::index_config::IndexConfig;
use crate::shard::{LocalShard, ShardConfig};
use quiver_types::PointId;
use quiver_types::filter::Filter;
use quiver_types::ops::{PointSelector, UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct};
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use serde_json::json;
use std::collections::BTreeMap;

const TITLES: [&str; 5] = ["Hello World", "helloworld", "world peace", "HELLO again", "othello"];

fn open_shard(dir: &std::path::Path) -> LocalShard {
    let config = ShardConfig {
        dense: BTreeMap::new(),
        sparse: Default::default(),
        wal_segment_bytes: 1 << 20,
        index: IndexConfig::default(),
    };
    LocalShard::open(dir, config).unwrap()
}

fn text_filter(word: &str) -> Filter {
    serde_json::from_value(json!({"must": [{"key": "title", "match": {"text": word}}]})).unwrap()
}

fn ids(shard: &LocalShard, filter: Option<Filter>) -> Vec<PointId> {
    let request = ScrollRequest {
        offset: None,
        limit: 100,
        filter,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
        order_by: None,
    };
    shard.scroll(&request).unwrap().points.into_iter().map(|p| p.id).collect()
}

#[test]
fn delete_by_text_filter_removes_what_a_scroll_returns_and_replays_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open_shard(dir.path());
    let points = TITLES
        .iter()
        .enumerate()
        .map(|(i, t)| PointStruct {
            id: PointId::Num(i as u64),
            vectors: NamedVectors::new(),
            payload: Some(json!({"title": t}).as_object().unwrap().clone()),
        })
        .collect();
    shard.update(&UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }, true).unwrap();
    shard.set_payload_indexes(&BTreeMap::from([(
        "title".to_string(),
        json!({"type": "text", "tokenizer": "word", "lowercase": true}),
    )]));
    let selected = ids(&shard, Some(text_filter("hello")));
    assert_eq!(selected, vec![PointId::Num(0), PointId::Num(3)], "tokens, not substrings");
    let delete = UpdateOperation::Delete { selector: PointSelector::Filter(text_filter("hello")) };
    let (_, logged) = shard.update_resolved(&delete, true).unwrap();
    assert_eq!(logged.op(), &UpdateOperation::Delete { selector: PointSelector::Ids(selected) });
    // The bytes a replica logs are the resolved operation's.
    assert_eq!(crate::LoggedRecord::decode(logged.bytes().to_vec()).unwrap().op(), logged.op());
    let left = vec![PointId::Num(1), PointId::Num(2), PointId::Num(4)];
    assert_eq!(ids(&shard, None), left);
    // Replayed without any text index (definitions are not in the WAL): the same points go.
    drop(shard);
    assert_eq!(ids(&open_shard(dir.path()), None), left);
}

#[test]
fn filters_without_text_stay_filters() {
    let dir = tempfile::tempdir().unwrap();
    let shard = open_shard(dir.path());
    let filter: Filter = serde_json::from_value(json!({"must": [{"key": "n", "match": {"value": 1}}]})).unwrap();
    let op = UpdateOperation::ClearPayload { selector: PointSelector::Filter(filter) };
    assert!(!crate::resolve::needs_resolution(&op));
    assert_eq!(shard.update_resolved(&op, false).unwrap().1.op(), &op);
}
