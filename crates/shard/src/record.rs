//! The WAL record of an operation: its encoding (a version byte, then the MessagePack of the
//! operation with named fields) and [`LoggedRecord`], an operation with the bytes the primary
//! logged, which replicas and `wal_delta` targets log as they are (design record 027).

use crate::error::Result;
use quiver_storage::StorageError;
use quiver_types::ops::UpdateOperation;
use serde::{Deserialize, Serialize};

/// Version of the WAL record encoding.
const WAL_RECORD_VERSION: u8 = 1;

#[derive(Deserialize)]
struct WalRecord {
    op: UpdateOperation,
}

/// A [`WalRecord`] to encode: the same fields, borrowed (the operation is not copied).
#[derive(Serialize)]
struct WalRecordRef<'a> {
    op: &'a UpdateOperation,
}

pub(crate) fn encode_record(op: &UpdateOperation) -> Result<Vec<u8>> {
    let mut out = vec![WAL_RECORD_VERSION];
    rmp_encode(&mut out, &WalRecordRef { op })?;
    Ok(out)
}

fn rmp_encode(out: &mut Vec<u8>, record: &WalRecordRef) -> Result<()> {
    rmp_serde::encode::write_named(out, record).map_err(|e| StorageError::Encoding(e.to_string()).into())
}

pub(crate) fn decode_record(bytes: &[u8]) -> Result<UpdateOperation> {
    match bytes.split_first() {
        Some((&WAL_RECORD_VERSION, rest)) => rmp_serde::from_slice::<WalRecord>(rest)
            .map(|r| r.op)
            .map_err(|e| StorageError::Encoding(e.to_string()).into()),
        Some((v, _)) => Err(StorageError::Corrupt(format!("unknown WAL record version {v}")).into()),
        None => Err(StorageError::Corrupt("empty WAL record".into()).into()),
    }
}

/// An operation with its WAL record, as the primary logged it: a replica or a `wal_delta`
/// target logs the same bytes (no second encoding) and applies the operation read from them.
#[derive(Debug, Clone)]
pub struct LoggedRecord {
    op: UpdateOperation,
    bytes: Vec<u8>,
}

impl LoggedRecord {
    /// The record of `op` (encoded once).
    pub fn encode(op: UpdateOperation) -> Result<LoggedRecord> {
        let bytes = encode_record(&op)?;
        Ok(LoggedRecord { op, bytes })
    }

    /// Reads a record received from another peer; malformed bytes are an error, never logged.
    pub fn decode(bytes: Vec<u8>) -> Result<LoggedRecord> {
        Ok(LoggedRecord { op: decode_record(&bytes)?, bytes })
    }

    pub fn op(&self) -> &UpdateOperation {
        &self.op
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_op(self) -> UpdateOperation {
        self.op
    }
}
