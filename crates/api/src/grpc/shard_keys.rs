//! Shard keys over gRPC (custom sharding, design record 016): keys and selectors between the
//! proto messages and Quiver's types, and the `CreateShardKey` / `DeleteShardKey` requests as
//! the REST bodies of `PUT /collections/{c}/shards` and `POST …/shards/delete`.

use crate::grpc::status::missing;
use qdrant_client::qdrant as pb;
use quiver_types::cluster::{CreateShardingKey, DropShardingKey};
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::{KeyWithFallback, ShardKey, ShardKeySelector};
use tonic::Status;

pub fn key_in(key: Option<pb::ShardKey>) -> Result<ShardKey, Status> {
    use pb::shard_key::Key;
    match key.and_then(|k| k.key).ok_or_else(|| missing("shard_key"))? {
        Key::Keyword(k) => Ok(ShardKey::Keyword(k)),
        Key::Number(n) => Ok(ShardKey::Number(n)),
    }
}

pub fn key_out(key: &ShardKey) -> pb::ShardKey {
    use pb::shard_key::Key;
    let key = match key {
        ShardKey::Keyword(k) => Key::Keyword(k.clone()),
        ShardKey::Number(n) => Key::Number(*n),
    };
    pb::ShardKey { key: Some(key) }
}

/// A request's `shard_key_selector`: no keys selects nothing (as an absent field does); one
/// key with a `fallback` is a fallback selector.
pub fn selector_in(selector: Option<pb::ShardKeySelector>) -> Result<Option<ShardKeySelector>, Status> {
    let Some(selector) = selector else { return Ok(None) };
    let mut keys = selector.shard_keys.into_iter().map(|k| key_in(Some(k))).collect::<Result<Vec<_>, _>>()?;
    let fallback = selector.fallback.map(|f| key_in(Some(f))).transpose()?;
    match (keys.len(), fallback) {
        (0, _) => Ok(None),
        (1, Some(fallback)) => {
            let target = keys.remove(0);
            Ok(Some(ShardKeySelector::WithFallback(KeyWithFallback { target, fallback })))
        }
        (_, Some(_)) => Err(Status::invalid_argument("Bad request: a fallback shard key needs exactly one target key")),
        (1, None) => Ok(Some(ShardKeySelector::Key(keys.remove(0)))),
        (_, None) => Ok(Some(ShardKeySelector::Keys(keys))),
    }
}

fn initial_state_in(state: Option<i32>) -> Result<Option<ReplicaState>, Status> {
    let Some(state) = state else { return Ok(None) };
    match pb::ReplicaState::try_from(state) {
        Ok(pb::ReplicaState::Active) => Ok(Some(ReplicaState::Active)),
        Ok(pb::ReplicaState::Partial) => Ok(Some(ReplicaState::Partial)),
        Ok(other) => Err(Status::invalid_argument(format!(
            "Bad request: Initial state cannot be {}, only Active or Partial are allowed",
            other.as_str_name()
        ))),
        Err(_) => Err(Status::invalid_argument(format!("Wrong input: unknown replica state {state}"))),
    }
}

pub fn create_in(request: Option<pb::CreateShardKey>) -> Result<CreateShardingKey, Status> {
    let r = request.ok_or_else(|| missing("request"))?;
    Ok(CreateShardingKey {
        shard_key: key_in(r.shard_key)?,
        shards_number: r.shards_number,
        replication_factor: r.replication_factor,
        // An empty list means every peer (proto3 cannot tell it from an absent one).
        placement: (!r.placement.is_empty()).then_some(r.placement),
        initial_state: initial_state_in(r.initial_state)?,
    })
}

pub fn drop_in(request: Option<pb::DeleteShardKey>) -> Result<DropShardingKey, Status> {
    Ok(DropShardingKey { shard_key: key_in(request.ok_or_else(|| missing("request"))?.shard_key)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> pb::ShardKey {
        key_out(&ShardKey::from(k))
    }

    #[test]
    fn selectors_convert_as_qdrant_defines_them() {
        let selector =
            |keys: Vec<pb::ShardKey>, fallback| selector_in(Some(pb::ShardKeySelector { shard_keys: keys, fallback }));
        assert_eq!(selector(vec![], None).unwrap(), None);
        assert_eq!(selector(vec![key("a")], None).unwrap(), Some(ShardKeySelector::Key("a".into())));
        let two = selector(vec![key("a"), key_out(&ShardKey::Number(3))], None).unwrap();
        assert_eq!(two, Some(ShardKeySelector::Keys(vec!["a".into(), 3.into()])));
        let fallback = selector(vec![key("a")], Some(key("b"))).unwrap();
        let expected = KeyWithFallback { target: "a".into(), fallback: "b".into() };
        assert_eq!(fallback, Some(ShardKeySelector::WithFallback(expected)));
        assert!(selector(vec![key("a"), key("c")], Some(key("b"))).is_err());
        assert!(key_in(Some(pb::ShardKey { key: None })).is_err());
        assert_eq!(initial_state_in(Some(pb::ReplicaState::Partial as i32)).unwrap(), Some(ReplicaState::Partial));
        assert!(initial_state_in(Some(pb::ReplicaState::Dead as i32)).is_err());
    }
}
