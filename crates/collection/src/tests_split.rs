//! An operation moved whole to its shard is split exactly as a copied one.

use super::*;
use crate::hash_ring::HashRing;
use quiver_types::ops::PointSelector;
use quiver_types::point::PointStruct;

fn upsert(ids: &[u64]) -> UpdateOperation {
    let point = |i: &u64| PointStruct { id: PointId::Num(*i), vectors: Default::default(), payload: None };
    UpdateOperation::Upsert { points: ids.iter().map(point).collect(), mode: Default::default(), update_filter: None }
}

fn delete(ids: &[u64]) -> UpdateOperation {
    UpdateOperation::Delete { selector: PointSelector::Ids(ids.iter().map(|i| PointId::Num(*i)).collect()) }
}

#[test]
fn an_operation_moved_whole_splits_as_a_copied_one() {
    for shard_number in [1u32, 3] {
        let target = WriteTarget { ring: Arc::new(HashRing::new(shard_number)), shards: (0..shard_number).collect() };
        let home = target.shard_of(&PointId::Num(0));
        let same: Vec<u64> = (0..500).filter(|i| target.shard_of(&PointId::Num(*i)) == home).take(6).collect();
        let all: Vec<u64> = (0..50).chain([7, 7]).collect();
        let filter = UpdateOperation::ClearPayload { selector: PointSelector::Filter(Default::default()) };
        for op in [upsert(&all), upsert(&same), upsert(&[]), delete(&all), delete(&same), filter] {
            let copied = split_by_shard(&target, &op);
            let moved = split_by_shard_owned(&target, op);
            assert_eq!(format!("{moved:?}"), format!("{copied:?}"), "{shard_number} shards");
            let whole = shard_number == 1 || copied.len() == 1;
            assert_eq!(moved.len() == 1, whole);
        }
    }
}
