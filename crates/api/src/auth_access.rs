//! The vocabulary of access control, shared by key and token checks (`auth.rs`,
//! `auth_jwt.rs`): what an operation needs ([`Level`]), what a caller may do ([`Access`]), and
//! why a request was not authenticated ([`Refusal`]).

use crate::error::ApiError;
use axum::http::StatusCode;

/// What an operation needs. The collection's *extras* (Qdrant's word) are its snapshots and
/// payload indexes: a points-only token (`prw`) reads and writes points but not those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Read,
    /// Reading snapshots (list, download).
    ReadExtras,
    Write,
    /// Creating or deleting snapshots and payload indexes.
    WriteExtras,
    Manage,
}

/// What the caller may do: on everything (`r` read, `m` manage), or per collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Global { manage: bool },
    Collections(Vec<CollectionAccess>),
}

/// One collection of a collection-scoped token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionAccess {
    pub collection: String,
    pub mode: CollectionMode,
}

/// The `access` of one collection of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionMode {
    /// `"r"`: read points and the collection's extras.
    Read,
    /// `"rw"`: read and write points and extras.
    ReadWrite,
    /// `"prw"`: read and write points only (no snapshots, no payload indexes).
    PointsReadWrite,
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, format!("Forbidden: {}", message.into()))
}

impl Access {
    /// Full access (the API key, a token without `access`).
    pub const MANAGE: Access = Access::Global { manage: true };
    /// Read access to everything (the read-only key, `access: "r"`).
    pub const READ: Access = Access::Global { manage: false };

    /// An operation on no collection in particular (listing full snapshots, the cluster, …).
    pub fn check_global(&self, level: Level) -> Result<(), ApiError> {
        match self {
            Access::Global { manage } => Self::check_mode(*manage, level),
            Access::Collections(_) => Err(forbidden("Global access is required")),
        }
    }

    /// An operation on collection `name` (as the request names it: an alias is its own name).
    pub fn check_collection(&self, name: &str, level: Level) -> Result<(), ApiError> {
        let list = match self {
            Access::Global { manage } => return Self::check_mode(*manage, level),
            Access::Collections(list) => list,
        };
        let Some(entry) = list.iter().find(|a| a.collection == name) else {
            return Err(forbidden(format!("Access to collection {name} is required")));
        };
        let points_only = || Err(forbidden(format!("Only points access is allowed for collection {name}")));
        let write_needed = || Err(forbidden(format!("Write access to collection {name} is required")));
        match (level, entry.mode) {
            (Level::Manage, _) => Err(forbidden("Manage access for this operation is required")),
            (Level::ReadExtras | Level::WriteExtras, CollectionMode::PointsReadWrite) => points_only(),
            (Level::Write | Level::WriteExtras, CollectionMode::Read) => write_needed(),
            (Level::Read | Level::ReadExtras, _)
            | (Level::Write, CollectionMode::ReadWrite | CollectionMode::PointsReadWrite)
            | (Level::WriteExtras, CollectionMode::ReadWrite) => Ok(()),
        }
    }

    /// Whether a listing shows collection `name`.
    pub fn sees(&self, name: &str) -> bool {
        self.check_collection(name, Level::Read).is_ok()
    }

    fn check_mode(manage: bool, level: Level) -> Result<(), ApiError> {
        match (manage, level) {
            (true, _) | (false, Level::Read | Level::ReadExtras) => Ok(()),
            (false, Level::Write | Level::WriteExtras | Level::Manage) => {
                Err(forbidden("Global manage access is required"))
            }
        }
    }
}

/// Why a request was not authenticated: 401 (no or unknown key, a token that fails its
/// `value_exists` check) or 403 (a token with a bad signature or expired), as Qdrant answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub(crate) fn unauthorized(message: impl Into<String>) -> Refusal {
        Refusal { status: StatusCode::UNAUTHORIZED, message: message.into() }
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal { status: StatusCode::FORBIDDEN, message: message.into() }
    }
}
