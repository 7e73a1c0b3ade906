//! Qdrant's validation texts: `<json path>: value <v> invalid, must be <min> or larger` and the
//! other range forms, so every crate words a rejected value the same way.

use std::fmt::Display;

/// `path: value v invalid, must be min or larger`.
pub fn at_least(path: &str, value: impl Display, min: impl Display) -> String {
    format!("{path}: value {value} invalid, must be {min} or larger")
}

/// `path: value v invalid, must be max or smaller`.
pub fn at_most(path: &str, value: impl Display, max: impl Display) -> String {
    format!("{path}: value {value} invalid, must be {max} or smaller")
}

/// `path: value v invalid, must be from min to max`.
pub fn between(path: &str, value: impl Display, min: impl Display, max: impl Display) -> String {
    format!("{path}: value {value} invalid, must be from {min} to {max}")
}

/// Qdrant's whole message for a validation failure of a JSON body (422).
pub fn json_body(issue: impl Display) -> String {
    format!("Validation error in JSON body: [{issue}]")
}

/// Where `field` (`hnsw_config`, `quantization_config`) of the vector `name` is in a create
/// or update body (`""`: the unnamed vector).
pub fn vector_field_path(name: &str, field: &str) -> String {
    match name.is_empty() {
        true => format!("vectors.{field}"),
        false => format!("vectors.{name}.{field}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_qdrants() {
        assert_eq!(
            json_body(at_least("limit", 0, 1)),
            "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]"
        );
        assert_eq!(
            between("vectors.size", 70000, 1, 65536),
            "vectors.size: value 70000 invalid, must be from 1 to 65536"
        );
        assert_eq!(at_most("x", 5, 3), "x: value 5 invalid, must be 3 or smaller");
    }
}
