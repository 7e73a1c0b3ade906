//! Aliases: alternative names of collections, persisted as one JSON map.

use crate::error::{NodeError, Result};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// alias → collection, kept in `aliases/data.json`.
pub struct Aliases {
    path: PathBuf,
    map: RwLock<BTreeMap<String, String>>,
}

impl Aliases {
    pub fn load(dir: &Path) -> Result<Aliases> {
        std::fs::create_dir_all(dir).map_err(|e| NodeError::Service(format!("create aliases dir: {e}")))?;
        let path = dir.join("data.json");
        let map = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| NodeError::Service(format!("parse aliases: {e}")))?
            }
            Err(_) => BTreeMap::new(),
        };
        Ok(Aliases { path, map: RwLock::new(map) })
    }

    pub fn target(&self, alias: &str) -> Option<String> {
        self.map.read().get(alias).cloned()
    }

    pub fn all(&self) -> BTreeMap<String, String> {
        self.map.read().clone()
    }

    /// Replaces the whole map and persists it atomically.
    pub fn replace(&self, map: BTreeMap<String, String>) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&map).map_err(|e| NodeError::Service(format!("encode aliases: {e}")))?;
        quiver_collection::write_atomic(&self.path, &bytes)
            .map_err(|e| NodeError::Service(format!("write aliases: {e}")))?;
        *self.map.write() = map;
        Ok(())
    }
}
