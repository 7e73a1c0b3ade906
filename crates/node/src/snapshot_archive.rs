//! Snapshot archives: tar files packed from regular files only, and unpacked defensively
//! (regular files and directories only; relative paths without `..`; only the entry names the
//! caller allows; caps on the entry count and on the total size, checked from each header
//! before its data is read), plus the sha256 checksum of a file.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    pub max_total_bytes: u64,
}

/// Why an archive was refused (the message names the entry).
#[derive(Debug)]
pub enum ArchiveError {
    /// The archive breaks a rule or is not a tar file: the client's fault.
    Invalid(String),
    /// The file system failed.
    Io(String),
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Invalid(m) | ArchiveError::Io(m) => f.write_str(m),
        }
    }
}

fn io(context: &str, e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Io(format!("{context}: {e}"))
}

/// Writes a tar at `out` holding each `(name in archive, file on disk)`, then fsyncs it.
pub fn pack(out: &Path, entries: &[(String, PathBuf)]) -> Result<u64, ArchiveError> {
    let file = std::fs::File::create(out).map_err(|e| io("create snapshot archive", e))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    builder.mode(tar::HeaderMode::Deterministic);
    for (name, path) in entries {
        let mut source = std::fs::File::open(path).map_err(|e| io("open snapshot part", e))?;
        let size = source.metadata().map_err(|e| io("stat snapshot part", e))?.len();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, &mut source).map_err(|e| io("write snapshot archive", e))?;
    }
    let mut writer = builder.into_inner().map_err(|e| io("finish snapshot archive", e))?;
    writer.flush().map_err(|e| io("flush snapshot archive", e))?;
    let file = writer.into_inner().map_err(|e| io("flush snapshot archive", e.into_error()))?;
    file.sync_all().map_err(|e| io("sync snapshot archive", e))?;
    file.metadata().map(|m| m.len()).map_err(|e| io("stat snapshot archive", e))
}

/// The entry's path if it is relative and made of plain names only.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Unpacks `archive` into the empty directory `dest`. `allowed` decides which file names
/// (relative, `/`-separated) may appear; anything else refuses the whole archive.
pub fn unpack(
    archive: &Path,
    dest: &Path,
    limits: Limits,
    allowed: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, ArchiveError> {
    let file = std::fs::File::open(archive).map_err(|e| io("open snapshot", e))?;
    let mut tar = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, file));
    let entries = tar.entries().map_err(|e| ArchiveError::Invalid(format!("not a snapshot archive: {e}")))?;
    let (mut count, mut total, mut names) = (0usize, 0u64, Vec::new());
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Invalid(format!("snapshot archive is damaged: {e}")))?;
        count += 1;
        if count > limits.max_entries {
            return Err(ArchiveError::Invalid(format!(
                "snapshot archive has more than {} entries",
                limits.max_entries
            )));
        }
        let raw = entry.path().map_err(|e| ArchiveError::Invalid(format!("bad entry name: {e}")))?.into_owned();
        let shown = raw.display().to_string();
        let relative = safe_relative(&raw)
            .ok_or_else(|| ArchiveError::Invalid(format!("snapshot entry `{shown}` is not a plain relative path")))?;
        let name = relative.to_string_lossy().replace('\\', "/");
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(dest.join(&relative)).map_err(|e| io("unpack snapshot", e))?;
            continue;
        }
        if !kind.is_file() {
            return Err(ArchiveError::Invalid(format!(
                "snapshot entry `{shown}` is a {kind:?}: only regular files and directories are allowed"
            )));
        }
        if !allowed(&name) {
            return Err(ArchiveError::Invalid(format!("unexpected entry `{shown}` in snapshot archive")));
        }
        let size = entry.header().size().map_err(|e| ArchiveError::Invalid(format!("bad entry size: {e}")))?;
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(ArchiveError::Invalid(format!(
                "snapshot archive unpacks to more than {} bytes",
                limits.max_total_bytes
            )));
        }
        write_entry(&mut entry, &dest.join(&relative), size)?;
        names.push(name);
    }
    Ok(names)
}

fn write_entry(entry: &mut impl Read, target: &Path, size: u64) -> Result<(), ArchiveError> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("unpack snapshot", e))?;
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
        .map_err(|e| ArchiveError::Invalid(format!("duplicate or unwritable snapshot entry: {e}")))?;
    let copied = std::io::copy(&mut entry.take(size), &mut out).map_err(|e| io("unpack snapshot", e))?;
    if copied != size {
        return Err(ArchiveError::Invalid("snapshot archive is truncated".into()));
    }
    out.sync_all().map_err(|e| io("sync unpacked snapshot", e))
}

/// The sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_entries: 10, max_total_bytes: 1 << 20 };

    fn raw_tar(out: &Path, name: &[u8], kind: tar::EntryType, data: &[u8], declared: Option<u64>) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_size(declared.unwrap_or(data.len() as u64));
        header.set_mode(0o644);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(data);
        bytes.resize(bytes.len().div_ceil(512) * 512 + 1024, 0);
        std::fs::write(out, bytes).unwrap();
    }

    fn any(_: &str) -> bool {
        true
    }

    #[test]
    fn round_trip_keeps_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"hello").unwrap();
        let archive = dir.path().join("x.tar");
        pack(
            &archive,
            &[("config.json".into(), dir.path().join("a")), ("shards/0.snapshot".into(), dir.path().join("a"))],
        )
        .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let names = unpack(&archive, &out, LIMITS, &any).unwrap();
        assert_eq!(names, vec!["config.json", "shards/0.snapshot"]);
        assert_eq!(std::fs::read(out.join("shards/0.snapshot")).unwrap(), b"hello");
        assert_eq!(sha256_file(&dir.path().join("a")).unwrap().len(), 64);
    }

    #[test]
    fn hostile_entries_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("x.tar");
        let cases: [(&[u8], tar::EntryType, Option<u64>); 6] = [
            (b"../evil", tar::EntryType::Regular, None),
            (b"/etc/evil", tar::EntryType::Regular, None),
            (b"link", tar::EntryType::Symlink, None),
            (b"hard", tar::EntryType::Link, None),
            (b"dev", tar::EntryType::Char, None),
            (b"big", tar::EntryType::Regular, Some(1 << 40)),
        ];
        for (name, kind, declared) in cases {
            raw_tar(&archive, name, kind, b"data", declared);
            let out = dir.path().join("out");
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir(&out).unwrap();
            let result = unpack(&archive, &out, LIMITS, &any);
            assert!(matches!(result, Err(ArchiveError::Invalid(_))), "{:?}", String::from_utf8_lossy(name));
            assert!(!dir.path().join("evil").exists());
        }
        raw_tar(&archive, b"other.txt", tar::EntryType::Regular, b"data", None);
        let out = dir.path().join("out2");
        std::fs::create_dir(&out).unwrap();
        assert!(matches!(unpack(&archive, &out, LIMITS, &|n| n == "config.json"), Err(ArchiveError::Invalid(_))));
        let many: Vec<(String, PathBuf)> = (0..11).map(|i| (format!("f{i}"), archive.clone())).collect();
        let packed = dir.path().join("many.tar");
        pack(&packed, &many).unwrap();
        let out = dir.path().join("out3");
        std::fs::create_dir(&out).unwrap();
        assert!(matches!(unpack(&packed, &out, LIMITS, &any), Err(ArchiveError::Invalid(m)) if m.contains("entries")));
        std::fs::write(&archive, b"definitely not a tar archive, just some bytes").unwrap();
        assert!(unpack(&archive, &out, LIMITS, &any).is_err());
    }
}
