//! A standalone write (`update_owned`, points moved into the table) logs the same record and
//! leaves the same table as `update` (points copied); the record's bytes are those of the
//! encoding before `WalRecordRef` (design record 024).

use crate::index_config::IndexConfig;
use crate::record::{decode_record, encode_record};
use crate::shard::{LocalShard, ShardConfig};
use quiver_storage::vectors::VectorSpec;
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::filter::Filter;
use quiver_types::ops::{PointSelector, UpdateMode, UpdateOperation};
use quiver_types::point::{PointStruct, Vector};
use serde::Serialize;

fn config() -> ShardConfig {
    ShardConfig {
        dense: [("".to_string(), VectorSpec::plain(2, Distance::Dot))].into(),
        sparse: Default::default(),
        wal_segment_bytes: 1 << 20,
        index: IndexConfig::default(),
    }
}

fn upsert(ids: std::ops::Range<u64>, tag: &str, mode: UpdateMode, update_filter: Option<Filter>) -> UpdateOperation {
    let point = |i: u64| PointStruct {
        id: PointId::Num(i),
        vectors: [("".to_string(), Vector::Dense(vec![i as f32, 1.0]))].into(),
        payload: serde_json::json!({"tag": tag, "i": i}).as_object().cloned(),
    };
    UpdateOperation::Upsert { points: ids.map(point).collect(), mode, update_filter }
}

fn operations() -> Vec<UpdateOperation> {
    let only_a: Filter = serde_json::from_value(serde_json::json!({"must": [{"key": "tag", "match": {"value": "a"}}]}))
        .expect("a filter");
    vec![
        upsert(0..10, "a", UpdateMode::Upsert, None),
        upsert(5..15, "b", UpdateMode::InsertOnly, None),
        upsert(12..20, "c", UpdateMode::UpdateOnly, None),
        upsert(0..20, "d", UpdateMode::Upsert, Some(only_a)),
        UpdateOperation::Delete { selector: PointSelector::Ids(vec![PointId::Num(3)]) },
    ]
}

/// Every point as text: id, version, vectors, payload.
fn table_text(shard: &LocalShard) -> Vec<String> {
    let table = shard.table.read();
    table.iter_from(None).map(|p| format!("{} {} {:?} {:?}", p.id(), p.version(), p.vectors(), p.payload())).collect()
}

fn records(shard: &LocalShard) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let each = |_, bytes: &[u8]| {
        out.push(bytes.to_vec());
        Ok(())
    };
    shard.wal.for_each_in(1, u64::MAX, each).unwrap();
    out
}

#[test]
fn moved_and_copied_writes_log_and_apply_the_same() {
    let (dir_copied, dir_moved) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let copied = LocalShard::open(dir_copied.path(), config()).unwrap();
    let moved = LocalShard::open(dir_moved.path(), config()).unwrap();
    for op in operations() {
        let a = copied.update(&op, true).unwrap();
        let b = moved.update_owned(op, true).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
    assert_eq!(table_text(&moved), table_text(&copied));
    assert_eq!(table_text(&moved).len(), 19, "0..20 upserted, 3 deleted");
    assert_eq!(records(&moved), records(&copied));
    drop(moved);
    let reopened = LocalShard::open(dir_moved.path(), config()).unwrap();
    assert_eq!(table_text(&reopened), table_text(&copied));
}

#[test]
fn records_keep_the_encoding_of_an_owned_record() {
    #[derive(Serialize)]
    struct OwnedRecord {
        op: UpdateOperation,
    }
    for op in operations() {
        let mut owned = vec![1u8];
        rmp_serde::encode::write_named(&mut owned, &OwnedRecord { op: op.clone() }).unwrap();
        let record = encode_record(&op).unwrap();
        assert_eq!(record, owned);
        assert_eq!(format!("{:?}", decode_record(&record).unwrap()), format!("{op:?}"));
    }
}

/// A replica applying the primary's records (`apply_logged_at`) logs the same bytes and holds
/// the same table; bytes that are not a record are refused before anything is logged.
#[test]
fn replicas_log_the_primarys_records_and_refuse_malformed_ones() {
    let (dir_primary, dir_replica) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let primary = LocalShard::open(dir_primary.path(), config()).unwrap();
    let replica = LocalShard::open(dir_replica.path(), config()).unwrap();
    for op in operations() {
        let (result, logged) = primary.update_resolved(&op, true).unwrap();
        let seq = result.operation_id.unwrap();
        let received = crate::LoggedRecord::decode(logged.bytes().to_vec()).unwrap();
        assert_eq!(replica.apply_logged_at(seq, &received, true, None).unwrap(), crate::ApplyOutcome::Applied);
        // A retry of the same record is a duplicate.
        assert_eq!(replica.apply_logged_at(seq, &received, false, None).unwrap(), crate::ApplyOutcome::Duplicate);
    }
    assert_eq!(records(&replica), records(&primary));
    assert_eq!(table_text(&replica), table_text(&primary));
    let good = records(&primary).remove(0);
    let mut wrong_version = good.clone();
    wrong_version[0] = 9;
    for bad in [Vec::new(), good[..good.len() / 2].to_vec(), wrong_version] {
        assert!(crate::LoggedRecord::decode(bad).is_err());
    }
    assert_eq!(replica.applied_seq(), primary.applied_seq());
}

/// Design record 003 §3: a record at a sequence number the replica is past, and that its WAL no
/// longer holds (an install emptied it, a checkpoint dropped it), is a duplicate only when the
/// tenure that sent it also sent the replica's records from before it on. From another tenure
/// the replica cannot show it holds the same record: it answers `Diverged` and takes no record
/// from any primary until an install replaces its data (unless the record was one the last install
/// covered). A tenure older than one it took records from is refused as `Stale`, with no effect.
#[test]
fn records_the_wal_no_longer_holds_are_duplicates_only_within_their_tenure() {
    use crate::ApplyOutcome::{Applied, Diverged, Duplicate, Stale};
    use crate::Tenure;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let primary = LocalShard::open(dirs[0].path(), config()).unwrap();
    // One record per WAL segment, so that a checkpoint drops the records it covers.
    let replica = LocalShard::open(dirs[1].path(), ShardConfig { wal_segment_bytes: 1, ..config() }).unwrap();
    let logged: Vec<crate::LoggedRecord> =
        operations().iter().map(|op| primary.update_resolved(op, true).unwrap().1).collect();
    let record = |seq: u64| crate::LoggedRecord::decode(logged[seq as usize - 1].bytes().to_vec()).unwrap();
    // A transfer's copy of the primary as of `seq`: installed, it leaves the WAL empty.
    let copy_at = |seq: u64, dir: &std::path::Path| {
        let copy = LocalShard::open(dir, config()).unwrap();
        for (_, op) in primary.wal_records(1, seq).unwrap() {
            copy.update(&op, false).unwrap();
        }
        copy.snapshot_points().1
    };
    let (old, new) = (Some(Tenure { primary: 1, term: 10 }), Some(Tenure { primary: 2, term: 20 }));
    replica.install(2, copy_at(2, dirs[2].path())).unwrap();
    // Fetched by the replica itself (catch-up, from the primary's WAL): trusted.
    assert_eq!(replica.apply_logged_at(2, &record(2), false, None).unwrap(), Duplicate);
    assert_eq!(replica.apply_logged_at(3, &record(3), false, old).unwrap(), Applied);
    assert_eq!(replica.apply_logged_at(3, &record(3), false, old).unwrap(), Duplicate, "held: compared");
    assert_eq!(replica.apply_logged_at(4, &record(4), false, old).unwrap(), Applied);
    replica.checkpoint().unwrap();
    assert!(replica.wal_records(3, 3).unwrap().is_empty(), "the checkpoint dropped record 3");
    assert_eq!(replica.apply_logged_at(3, &record(3), false, old).unwrap(), Duplicate, "within its tenure");
    assert_eq!(replica.apply_logged_at(3, &record(3), false, new).unwrap(), Diverged, "another tenure");
    // Diverged: nothing more from any primary, the next record included.
    assert_eq!(replica.apply_logged_at(5, &record(5), false, new).unwrap(), Diverged);
    // The older tenure is refused as stale (its primary lost the role since).
    assert_eq!(replica.apply_logged_at(5, &record(5), false, old).unwrap(), Stale);
    assert_eq!(replica.applied_seq(), 4);
    // An install replaces the data and the history. A record it covered cannot be verified
    // (`Diverged`), but it came with the copy: the replica still takes the next ones.
    replica.install(4, copy_at(4, dirs[3].path())).unwrap();
    assert_eq!(replica.apply_logged_at(4, &record(4), false, new).unwrap(), Diverged, "covered by the install");
    assert_eq!(replica.apply_logged_at(5, &record(5), false, new).unwrap(), Applied);
    assert_eq!(replica.apply_logged_at(5, &record(5), false, old).unwrap(), Stale, "through the install");
    assert_eq!(replica.apply_logged_at(5, &record(5), false, new).unwrap(), Duplicate, "held: compared");
    assert_eq!(table_text(&replica), table_text(&primary));
}

#[test]
fn payload_operations_naming_missing_points_apply_to_the_others_and_log_only_those() {
    let (dir_copied, dir_moved) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let copied = LocalShard::open(dir_copied.path(), config()).unwrap();
    let moved = LocalShard::open(dir_moved.path(), config()).unwrap();
    let ids = |ids: &[u64]| PointSelector::Ids(ids.iter().map(|i| PointId::Num(*i)).collect());
    let payload = serde_json::json!({"seen": true}).as_object().cloned().unwrap();
    let set = UpdateOperation::SetPayload { payload, selector: ids(&[2, 50, 3, 40]), key: None };
    let clear = UpdateOperation::ClearPayload { selector: ids(&[60]) };
    for shard in [&copied, &moved] {
        shard.update(&upsert(0..5, "a", UpdateMode::Upsert, None), true).unwrap();
    }
    for op in [set, clear] {
        let a = copied.update(&op, true).unwrap();
        let b = moved.update_owned(op, true).unwrap();
        assert_eq!(a, b);
    }
    let first = |i: u64| Some(PointId::Num(i));
    assert_eq!(
        copied.update(&UpdateOperation::ClearPayload { selector: ids(&[70, 1]) }, true).unwrap().missing_point,
        first(70)
    );
    let tagged: Vec<PointId> = {
        let table = copied.table.read();
        table.iter_from(None).filter(|p| p.payload().contains_key("seen")).map(|p| p.id()).collect()
    };
    assert_eq!(tagged, vec![PointId::Num(2), PointId::Num(3)]);
    // The records hold only the points that exist: a replica applies exactly the same.
    let logged: Vec<UpdateOperation> = records(&moved).iter().map(|r| decode_record(r).unwrap()).collect();
    assert!(matches!(&logged[1], UpdateOperation::SetPayload { selector, .. } if *selector == ids(&[2, 3])));
    assert!(matches!(&logged[2], UpdateOperation::ClearPayload { selector } if *selector == ids(&[])));
    assert_eq!(records(&moved), records(&copied)[..3]);
}

#[test]
fn vector_operations_naming_missing_points_apply_to_the_others_and_log_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let shard = LocalShard::open(dir.path(), config()).unwrap();
    shard.update(&upsert(0..5, "a", UpdateMode::Upsert, None), true).unwrap();
    let vectors = |i: u64| quiver_types::ops::PointVectors {
        id: PointId::Num(i),
        vectors: [("".to_string(), Vector::Dense(vec![-1.0, i as f32]))].into(),
    };
    let update = UpdateOperation::UpdateVectors { points: [1, 90, 2].map(vectors).to_vec(), update_filter: None };
    assert_eq!(shard.update(&update, true).unwrap().missing_point, Some(PointId::Num(90)));
    let ids = |ids: &[u64]| PointSelector::Ids(ids.iter().map(|i| PointId::Num(*i)).collect());
    let delete = UpdateOperation::DeleteVectors { selector: ids(&[80, 3]), names: vec![String::new()] };
    assert_eq!(shard.update_owned(delete, true).unwrap().missing_point, Some(PointId::Num(80)));
    let text = table_text(&shard);
    assert!(text[1].contains("[-1.0, 1.0]") && text[2].contains("[-1.0, 2.0]"), "updated: {text:?}");
    assert!(text[0].contains("[0.0, 1.0]") && text[4].contains("[4.0, 1.0]"), "untouched: {text:?}");
    assert!(!text[3].contains("Dense"), "point 3 lost its vector: {text:?}");
    assert_eq!(text.len(), 5, "no point created for a missing id");
    // Logged restricted to the points that exist: a replica applies exactly the same.
    let logged: Vec<UpdateOperation> = records(&shard).iter().map(|r| decode_record(r).unwrap()).collect();
    let UpdateOperation::UpdateVectors { points, .. } = &logged[1] else { panic!("{:?}", logged[1]) };
    assert_eq!(points.iter().map(|p| p.id).collect::<Vec<_>>(), vec![PointId::Num(1), PointId::Num(2)]);
    assert!(matches!(&logged[2], UpdateOperation::DeleteVectors { selector, .. } if *selector == ids(&[3])));
}
