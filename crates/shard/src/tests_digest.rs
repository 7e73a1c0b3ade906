//! The content digest (design record 052): equal on replicas that applied the same records
//! whatever slots their points took, changed by any one element of any vector kind and
//! datatype, a payload value or a version; the legacy digest still answered to older peers
//! keeps telling the same differences.

use crate::shard::{LocalShard, ShardConfig};
use crate::tests_transfer::upsert;
use quiver_types::ops::UpdateOperation;
use quiver_types::point::{PointStruct, Vector};

/// Every dense kind and datatype of the transfer tests, and their sparse vector.
fn config() -> ShardConfig {
    ShardConfig { sparse: ["sparse".to_string()].into(), ..crate::tests_transfer::config() }
}

fn shard(dir: &std::path::Path, name: &str, op: &UpdateOperation) -> LocalShard {
    let shard = LocalShard::open(&dir.join(name), config()).unwrap();
    shard.update(op, true).unwrap();
    shard
}

fn points(op: UpdateOperation) -> Vec<PointStruct> {
    let UpdateOperation::Upsert { points, .. } = op else { unreachable!("`upsert` makes an upsert") };
    points
}

fn upsert_of(points: Vec<PointStruct>) -> UpdateOperation {
    UpdateOperation::Upsert { points, mode: quiver_types::ops::UpdateMode::Upsert, update_filter: None }
}

/// The same points with one change made to the point at `at`.
fn changed(at: usize, change: impl FnOnce(&mut PointStruct)) -> UpdateOperation {
    let mut points = points(upsert(0..40));
    change(&mut points[at]);
    upsert_of(points)
}

fn first_element(vector: &mut Vector) -> &mut f32 {
    match vector {
        Vector::Dense(elements) => &mut elements[1],
        Vector::Multi(rows) => &mut rows.last_mut().unwrap()[2],
        Vector::Sparse(sparse) => &mut sparse.values[0],
    }
}

#[test]
fn replicas_with_the_same_records_have_the_same_digest_whatever_their_slots() {
    let dir = tempfile::tempdir().unwrap();
    let forward = shard(dir.path(), "forward", &upsert(0..40));
    let mut reversed = points(upsert(0..40));
    reversed.reverse();
    let backward = shard(dir.path(), "backward", &upsert_of(reversed));
    assert_eq!(forward.digest(), backward.digest());
    assert_eq!(forward.legacy_digest(), backward.legacy_digest());
    let reopened = {
        drop(backward);
        LocalShard::open(&dir.path().join("backward"), config()).unwrap()
    };
    assert_eq!(reopened.digest(), forward.digest(), "the same after a reopen (points read back from disk)");
}

#[test]
fn one_element_of_any_vector_a_payload_value_or_a_version_changes_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let base = shard(dir.path(), "base", &upsert(0..40));
    let names = ["f32", "f16", "u8", "multi", "multi_u8", "sparse"];
    for name in names {
        let op = changed(7, |p| *first_element(p.vectors.get_mut(name).unwrap()) += 1.0);
        let other = shard(dir.path(), &format!("vector-{name}"), &op);
        assert_eq!(other.points_count(), base.points_count());
        assert_ne!(other.digest(), base.digest(), "a changed element of {name}");
        assert_ne!(other.legacy_digest(), base.legacy_digest(), "legacy: a changed element of {name}");
    }
    let payload = changed(7, |p| {
        p.payload.as_mut().unwrap().insert("i".into(), serde_json::json!(1000));
    });
    let other = shard(dir.path(), "payload", &payload);
    assert_ne!(other.digest(), base.digest(), "a changed payload value");
    let missing = changed(7, |p| {
        p.vectors.remove("f16");
    });
    let other = shard(dir.path(), "missing", &missing);
    assert_ne!(other.digest(), base.digest(), "a vector less");
    // The same points written again: every version moves on.
    let again = shard(dir.path(), "again", &upsert(0..40));
    again.update(&upsert(0..40), true).unwrap();
    assert_ne!(again.digest(), base.digest(), "newer versions");
}
