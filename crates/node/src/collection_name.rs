//! Collection and alias names: Qdrant's rule for the `{collection_name}` path parameter.

use crate::error::{NodeError, Result};

/// Characters a collection or alias name must not contain.
pub(crate) const FORBIDDEN_NAME_CHARS: [char; 11] = ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0', '\u{1f}'];

/// A name breaking the rule is Qdrant's 422 path-parameter validation error, whatever the
/// endpoint: creating a collection, or naming one that does not exist (`Node::resolve`).
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let bad_char = name.chars().find(|c| FORBIDDEN_NAME_CHARS.contains(c));
    if name.is_empty() || name.len() > 255 || name == "." || name == ".." || bad_char.is_some() {
        return Err(NodeError::Validation(format!(
            "Validation error in path parameters: [name: Collection name must be 1..255 characters and must not contain any of < > : \" / \\ | ? * or be `.`/`..`: `{name}`]"
        )));
    }
    Ok(())
}
