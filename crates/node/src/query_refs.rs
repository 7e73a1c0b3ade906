//! The examples a universal query gives by id, resolved ahead of a refusal of its shape: Qdrant
//! looks up every referenced point (in the queried collection or the one `lookup_from` names)
//! before it checks how the query's levels fit together, so a request with both faults is
//! answered with the lookup's error (`No point with id 3 found`, `Collection x not found`, a
//! vector name the lookup collection lacks).

use crate::error::NodeError;
use crate::keyed::Keyed;
use crate::node::Node;
use crate::query_examples::Examples;
use crate::query_plan;
use crate::query_request::{LookupFrom, Prefetch, QueryInput, QueryPoints};

/// One level of the query: its input, vector name and lookup collection.
type Level<'a> = (Option<&'a QueryInput>, String, Option<&'a LookupFrom>);

fn levels<'a>(prefetches: &'a [Prefetch], out: &mut Vec<Level<'a>>) {
    for p in prefetches {
        out.push((p.query.as_ref(), p.using.clone().unwrap_or_default(), p.lookup_from.as_ref()));
        levels(&p.prefetch, out);
    }
}

impl Node {
    /// The first error resolving the examples given by id at any level of `query`, if any.
    pub(crate) async fn unresolvable_example(&self, collection: &Keyed, query: &QueryPoints) -> Option<NodeError> {
        let mut all = vec![(query.query.as_ref(), query.using.clone().unwrap_or_default(), query.lookup_from.as_ref())];
        levels(&query.prefetch, &mut all);
        for (input, using, lookup_from) in all {
            let Some(input) = input else { continue };
            let lookup = match self.lookup(collection, &using, lookup_from) {
                Ok(lookup) => lookup,
                Err(e) => return Some(e),
            };
            let examples = Examples { lookup: &lookup };
            for example in query_plan::example_inputs(input) {
                if let Err(e) = examples.one(example).await {
                    return Some(e);
                }
            }
        }
        None
    }
}
