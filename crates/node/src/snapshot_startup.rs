//! Restoring snapshots at start-up (spec §7.3, §8.1): `--snapshot <path>:<collection>`,
//! `--storage-snapshot <path>` and `--force-snapshot`. Two steps, both before the APIs serve:
//! 1. `prepare_startup_restore`: every archive is unpacked under `<storage>/tmp/<job>` and
//!    checked whole with the rules of the REST recovery (`snapshot_recovery::unpack_collection`;
//!    a `<file>.checksum` found beside a snapshot is verified too). Nothing live changes, so a
//!    missing, damaged or hostile file stops the process with storage untouched.
//! 2. `restore_at_startup`: collections and aliases the restore would overwrite are refused
//!    unless forced; then each collection is built beside the live data and swapped in under
//!    the swap journal (`Node::swap_collection`), and the aliases are set. In cluster mode (once
//!    consensus runs) the restored collections are registered through consensus: placed on this
//!    peer only, `Active`, with their payload indexes and the aliases.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::service_collections::validate_name;
use crate::snapshot_archive::{self, Limits};
use crate::snapshot_recovery::{Unpacked, unpack_collection};
use crate::snapshots::{CONFIG_FILE, Staging, blocking, service, validate_snapshot_name};
use quiver_cluster::state::MetaOperation;
use quiver_types::cluster::AliasAction;
use quiver_types::replica::ReplicaState;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a peer waits to catch up with the cluster before it checks for conflicts.
const CATCH_UP_WAIT: Duration = Duration::from_secs(30);
/// The most collections one full snapshot may hold.
const MAX_COLLECTIONS: usize = 65536;

/// What the command line asks to restore.
#[derive(Debug, Clone, Default)]
pub struct StartupSnapshots {
    /// `--snapshot <path>:<collection>`, in order.
    pub collections: Vec<(PathBuf, String)>,
    /// `--storage-snapshot <path>`.
    pub storage: Option<PathBuf>,
    /// `--force-snapshot`: existing collections and aliases may be overwritten.
    pub force: bool,
}

/// Every snapshot of a `StartupSnapshots`, unpacked and checked (the files live in `_job`).
pub struct PreparedRestore {
    _job: Staging,
    collections: Vec<(String, Unpacked)>,
    aliases: BTreeMap<String, String>,
    force: bool,
}

impl PreparedRestore {
    /// The collections it restores, in order.
    pub fn collection_names(&self) -> Vec<String> {
        self.collections.iter().map(|(name, _)| name.clone()).collect()
    }
}

/// What a restore brings: the collections (name, unpacked snapshot) and aliases (alias → collection).
type Contents = (Vec<(String, Unpacked)>, BTreeMap<String, String>);

/// `config.json` of a full snapshot (spec §7.3).
#[derive(Debug, Deserialize)]
struct FullConfig {
    collections_mapping: BTreeMap<String, String>,
    #[serde(default)]
    collections_aliases: BTreeMap<String, String>,
}

/// Parses `--snapshot <path>:<collection>`: split on the last `:` (a path may hold colons, a
/// collection name may not); the name follows the rules of collection creation.
pub fn parse_snapshot_arg(arg: &str) -> std::result::Result<(PathBuf, String), String> {
    let (path, name) = arg.rsplit_once(':').ok_or_else(|| format!("expected <path>:<collection>, got `{arg}`"))?;
    if path.is_empty() {
        return Err(format!("the snapshot path is empty in `{arg}`"));
    }
    validate_name(name).map_err(|_| {
        format!("invalid collection name `{name}`: 1..255 characters, none of < > : \" / \\ | ? *, not `.`/`..`")
    })?;
    Ok((PathBuf::from(path), name.to_string()))
}

fn bad(path: &Path, message: impl std::fmt::Display) -> NodeError {
    NodeError::BadInput(format!("snapshot `{}`: {message}", path.display()))
}

/// The message of a recovery error, without its status prefix (it is wrapped in `bad`).
fn message(e: NodeError) -> String {
    if let NodeError::BadInput(m) = &e {
        return m.clone();
    }
    e.to_string()
}

/// Checks that `path` is a file and, when `<path>.checksum` is beside it, that its sha256 matches.
fn check_file(path: &Path) -> Result<()> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Err(bad(path, "no such file"));
    }
    let beside = PathBuf::from(format!("{}.checksum", path.display()));
    let Ok(expected) = std::fs::read_to_string(&beside) else { return Ok(()) };
    let actual = snapshot_archive::sha256_file(path).map_err(|e| bad(path, e))?;
    match actual.eq_ignore_ascii_case(expected.trim()) {
        true => Ok(()),
        false => Err(bad(path, format!("sha256 {actual} differs from {} in {}", expected.trim(), beside.display()))),
    }
}

/// Unpacks and checks one collection snapshot file into `dest`.
fn unpack_file(path: &Path, dest: &Path, max_bytes: u64) -> Result<Unpacked> {
    check_file(path)?;
    unpack_collection(path, dest, None, max_bytes).map_err(|e| bad(path, message(e)))
}

/// Unpacks a full snapshot: its `config.json` and each collection snapshot it maps.
fn unpack_full(path: &Path, dest: &Path, max_bytes: u64) -> Result<Contents> {
    check_file(path)?;
    let outer = dest.join("full");
    std::fs::create_dir_all(&outer).map_err(|e| service("create staging dir", e))?;
    let allowed = |name: &str| name == CONFIG_FILE || (!name.contains('/') && validate_snapshot_name(name).is_ok());
    let limits = Limits { max_entries: MAX_COLLECTIONS + 1, max_total_bytes: max_bytes };
    let names = snapshot_archive::unpack(path, &outer, limits, &allowed).map_err(|e| bad(path, e))?;
    let bytes = std::fs::read(outer.join(CONFIG_FILE)).map_err(|_| bad(path, format!("`{CONFIG_FILE}` is missing")))?;
    let config: FullConfig =
        serde_json::from_slice(&bytes).map_err(|e| bad(path, format!("`{CONFIG_FILE}` is malformed: {e}")))?;
    let mut collections = Vec::new();
    for (i, (name, file)) in config.collections_mapping.iter().enumerate() {
        validate_name(name).map_err(|_| bad(path, format!("invalid collection name `{name}`")))?;
        if !names.contains(file) || file == CONFIG_FILE {
            return Err(bad(path, format!("the snapshot `{file}` of collection `{name}` is missing")));
        }
        let inner = outer.join(file);
        let unpacked = unpack_collection(&inner, &dest.join(i.to_string()), None, max_bytes)
            .map_err(|e| bad(path, format!("collection `{name}`: {}", message(e))))?;
        std::fs::remove_file(&inner).map_err(|e| service("remove unpacked snapshot", e))?;
        collections.push((name.clone(), unpacked));
    }
    for (alias, target) in &config.collections_aliases {
        validate_name(alias).map_err(|_| bad(path, format!("invalid alias name `{alias}`")))?;
        if !config.collections_mapping.contains_key(target) {
            return Err(bad(path, format!("alias `{alias}` points to `{target}`, which the snapshot lacks")));
        }
    }
    Ok((collections, config.collections_aliases))
}

/// Refuses a restore that would overwrite an existing collection or alias without `force`, that
/// names a collection twice, or whose alias has the name of a collection.
fn check_conflicts(
    restored: &[String],
    aliases: &BTreeMap<String, String>,
    existing_collections: &BTreeSet<String>,
    existing_aliases: &BTreeMap<String, String>,
    force: bool,
) -> Result<()> {
    let conflict = |what: String| {
        NodeError::BadInput(format!(
            "{what} already exists; pass --force-snapshot to overwrite it (nothing was changed)"
        ))
    };
    let mut seen = BTreeSet::new();
    for name in restored {
        if !seen.insert(name) {
            return Err(NodeError::BadInput(format!("collection `{name}` is restored more than once")));
        }
        if !force && existing_collections.contains(name) {
            return Err(conflict(format!("Collection `{name}`")));
        }
        if !force && existing_aliases.contains_key(name) {
            return Err(conflict(format!("Alias `{name}`")));
        }
    }
    for (alias, target) in aliases {
        if seen.contains(alias) || existing_collections.contains(alias) {
            return Err(NodeError::BadInput(format!("alias `{alias}` has the name of a collection")));
        }
        if !force && existing_aliases.get(alias).is_some_and(|t| t != target) {
            return Err(conflict(format!("Alias `{alias}`")));
        }
    }
    Ok(())
}

impl Node {
    /// Step 1: unpacks and checks every snapshot the command line names (nothing live changes).
    pub async fn prepare_startup_restore(&self, request: StartupSnapshots) -> Result<PreparedRestore> {
        let job = self.snapshot_staging()?;
        let (dir, max_bytes) = (job.path.clone(), self.config.snapshot_max_bytes);
        let (collections, aliases) = blocking(move || {
            let (mut collections, mut aliases) = (Vec::new(), BTreeMap::new());
            if let Some(path) = &request.storage {
                (collections, aliases) = unpack_full(path, &dir.join("storage"), max_bytes)?;
            }
            for (i, (path, name)) in request.collections.iter().enumerate() {
                collections.push((name.clone(), unpack_file(path, &dir.join(format!("c{i}")), max_bytes)?));
            }
            Ok((collections, aliases))
        })
        .await?;
        Ok(PreparedRestore { _job: job, collections, aliases, force: request.force })
    }

    /// Step 2: restores the prepared collections and aliases (standalone: before the APIs serve;
    /// cluster mode: once consensus runs, before the reconciler starts). Returns their names.
    pub async fn restore_at_startup(&self, prepared: PreparedRestore) -> Result<Vec<String>> {
        let names = prepared.collection_names();
        if self.cluster().is_some() {
            self.restore_in_cluster_at_startup(prepared).await?;
            return Ok(names);
        }
        let _meta = self.meta_lock.lock().await;
        let existing: BTreeSet<String> = self.collections.read().keys().cloned().collect();
        let mut aliases = self.aliases.all();
        check_conflicts(&names, &prepared.aliases, &existing, &aliases, prepared.force)?;
        let PreparedRestore { _job, collections, aliases: restored_aliases, .. } = prepared;
        for (name, unpacked) in collections {
            self.swap_collection(&name, unpacked, self.snapshot_staging()?, None).await?;
            aliases.remove(&name);
        }
        aliases.extend(restored_aliases);
        self.aliases.replace(aliases)?;
        Ok(names)
    }

    /// Cluster mode: catches up with the cluster, checks conflicts against its state, deletes
    /// what `--force-snapshot` overwrites, swaps the collections in locally and registers them.
    async fn restore_in_cluster_at_startup(&self, prepared: PreparedRestore) -> Result<()> {
        let consensus = &self.cluster().ok_or(NodeError::StandaloneMode)?.consensus;
        let commit = consensus.cluster_commit(CATCH_UP_WAIT).await?;
        consensus.wait_applied(commit, CATCH_UP_WAIT).await?;
        let _meta = self.meta_lock.lock().await;
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        let names = prepared.collection_names();
        // A local directory the state does not list is a leftover the reconciler removes (e.g. of
        // a restore that crashed before registering): it does not count, and is swapped over.
        let existing: BTreeSet<String> = state.collections.keys().cloned().collect();
        check_conflicts(&names, &prepared.aliases, &existing, &state.aliases, prepared.force)?;
        for name in names.iter().filter(|n| state.collections.contains_key(*n)) {
            self.propose(MetaOperation::DeleteCollection { name: name.clone() }, None).await?;
        }
        let stale_aliases: Vec<AliasAction> = names
            .iter()
            .filter(|n| state.aliases.contains_key(*n))
            .map(|n| AliasAction::DeleteAlias { alias_name: n.clone() })
            .collect();
        if !stale_aliases.is_empty() {
            self.propose(MetaOperation::UpdateAliases { actions: stale_aliases }, None).await?;
        }
        // Until they are registered the reconciler must neither drop nor change them.
        let _hold = RestoringGuard::new(self, &names);
        let PreparedRestore { _job, collections, aliases, .. } = prepared;
        for (name, unpacked) in collections {
            let payload_index = unpacked.payload_index.clone();
            let config = unpacked.config.clone();
            let keys = unpacked.shard_keys.clone();
            self.swap_collection(&name, unpacked, self.snapshot_staging()?, None).await?;
            self.register_restored(&name, config, payload_index).await?;
            let me = self.peer_id();
            self.create_snapshot_keys(&name, &keys, ReplicaState::Active, |key| vec![vec![me]; key.shards.len()])
                .await?;
        }
        let actions: Vec<AliasAction> = aliases
            .into_iter()
            .map(|(alias_name, collection_name)| AliasAction::CreateAlias { collection_name, alias_name })
            .collect();
        if !actions.is_empty() {
            self.propose(MetaOperation::UpdateAliases { actions }, None).await?;
        }
        drop(_hold);
        self.reconcile_now();
        Ok(())
    }

    /// Creates a restored collection through consensus: every shard on this peer only, `Active`
    /// (its data is already in place), then its payload indexes.
    async fn register_restored(
        &self,
        name: &str,
        config: quiver_types::config::CollectionConfig,
        payload_index: BTreeMap<String, serde_json::Value>,
    ) -> Result<()> {
        let me = self.peer_id();
        // A custom-sharded collection starts without shards; its keys bring them.
        let auto_shards = match config.params.is_custom_sharding() {
            true => 0,
            false => config.params.shard_number,
        };
        let placement = (0..auto_shards).map(|shard_id| (shard_id, vec![me])).collect();
        let initial_state = ReplicaState::Active;
        let incarnation = crate::cluster_context::new_incarnation();
        self.propose(
            MetaOperation::CreateCollection { name: name.to_string(), config, placement, initial_state, incarnation },
            None,
        )
        .await?;
        for (field, schema) in payload_index {
            self.propose(MetaOperation::CreatePayloadIndex { collection: name.to_string(), field, schema }, None)
                .await?;
        }
        tracing::info!(collection = %name, "restored collection registered in the cluster");
        Ok(())
    }
}

/// Names the reconciler leaves alone while a start-up restore registers them (removed on drop).
struct RestoringGuard<'a> {
    node: &'a Node,
    names: Vec<String>,
}

impl<'a> RestoringGuard<'a> {
    fn new(node: &'a Node, names: &[String]) -> RestoringGuard<'a> {
        node.restoring.lock().extend(names.iter().cloned());
        RestoringGuard { node, names: names.to_vec() }
    }
}

impl Drop for RestoringGuard<'_> {
    fn drop(&mut self) {
        let mut restoring = self.node.restoring.lock();
        for name in &self.names {
            restoring.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_args_split_on_the_last_colon() {
        let parsed = parse_snapshot_arg("/data/a:b/c.snapshot:my_coll").unwrap();
        assert_eq!(parsed, (PathBuf::from("/data/a:b/c.snapshot"), "my_coll".to_string()));
        assert_eq!(parse_snapshot_arg("x.snapshot:c").unwrap().1, "c");
        for bad in
            ["no-name.snapshot", "x.snapshot:", ":c", "x:..", "x:a/b", "x:a*b", &format!("x:{}", "n".repeat(256))]
        {
            assert!(parse_snapshot_arg(bad).is_err(), "{bad}");
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn conflicts_need_force() {
        let existing: BTreeSet<String> = names(&["a", "b"]).into_iter().collect();
        let aliases = map(&[("x", "a"), ("y", "b")]);
        let check = |restored: &[&str], new_aliases: &[(&str, &str)], force| {
            check_conflicts(&names(restored), &map(new_aliases), &existing, &aliases, force)
        };
        assert!(check(&["c"], &[("z", "c"), ("x", "a")], false).is_ok());
        let refused = check(&["a"], &[], false).unwrap_err().to_string();
        assert!(refused.contains("Collection `a`") && refused.contains("--force-snapshot"), "{refused}");
        assert!(check(&["a"], &[], true).is_ok());
        assert!(check(&["x"], &[], false).unwrap_err().to_string().contains("Alias `x`"));
        assert!(check(&["x"], &[], true).is_ok());
        assert!(check(&["c"], &[("y", "c")], false).unwrap_err().to_string().contains("Alias `y`"));
        assert!(check(&["c"], &[("y", "c")], true).is_ok());
        // A collection twice, an alias named like a restored or an existing collection.
        assert!(check(&["c", "c"], &[], true).is_err());
        assert!(check(&["c"], &[("c", "c")], true).is_err());
        assert!(check(&["c"], &[("b", "c")], true).is_err());
    }
}
