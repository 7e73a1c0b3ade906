//! The vocabulary of access control, shared by key and token checks (`auth.rs`,
//! `auth_jwt.rs`): what an operation needs ([`Level`]), what a caller may do ([`Access`]), and
//! why a request was not authenticated ([`Refusal`]).

use crate::error::ApiError;
use axum::http::StatusCode;

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Read,
    Write,
    Manage,
}

/// What the caller may do: on everything (`r` read, `m` manage), or per collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Global { manage: bool },
    Collections(Vec<CollectionAccess>),
}

/// One collection of a collection-scoped token (`access: "r"` or `"rw"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionAccess {
    pub collection: String,
    pub write: bool,
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
        match level {
            Level::Read => Ok(()),
            Level::Write if entry.write => Ok(()),
            Level::Write => Err(forbidden(format!("Write access to collection {name} is required"))),
            Level::Manage => Err(forbidden("Manage access for this operation is required")),
        }
    }

    /// Whether a listing shows collection `name`.
    pub fn sees(&self, name: &str) -> bool {
        self.check_collection(name, Level::Read).is_ok()
    }

    fn check_mode(manage: bool, level: Level) -> Result<(), ApiError> {
        match (manage, level) {
            (true, _) | (false, Level::Read) => Ok(()),
            (false, Level::Write | Level::Manage) => Err(forbidden("Global manage access is required")),
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
