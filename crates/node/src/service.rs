//! Request types of the node's service functions that the API layer builds.

pub use crate::query_formula::{Decay, Expression, Formula, parse_datetime};
pub use crate::service_groups::{GroupBy, GroupLookup, PointGroup};
pub use crate::service_points::ScrollPage;
pub use crate::service_query::{
    ContextInput, FeedbackInput, Fusion, LookupFrom, Mmr, NaiveFeedback, Prefetch, QueryInput, QueryPoints, VectorInput,
};
pub use crate::strict::{RequestShape, with_request_shape};
pub use quiver_collection::SearchRequest;
pub use quiver_collection::{INLINE_READ_BUDGET, with_inline_reads, with_read_consistency};
