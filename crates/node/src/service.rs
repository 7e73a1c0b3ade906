//! Request types of the node's service functions that the API layer builds.

pub use crate::service_points::{QueryInput, QueryPoints, ScrollPage};
pub use quiver_collection::SearchRequest;
