//! The one error enum of this crate: input that cannot become a domain value.

/// Why a value from a client could not become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypesError {
    /// The input is well-formed JSON but not a valid value (maps to HTTP 400 `Wrong input`).
    #[error("{0}")]
    BadInput(String),
    /// The input breaks a validation rule (maps to HTTP 422).
    #[error("{0}")]
    Validation(String),
}
