//! Issues (`GET`/`DELETE /issues`): performance problems this peer noticed, with the action
//! that fixes them. Today one kind: a read filtering on a payload key without an index in a
//! collection of at least [`UNINDEXED_FIELD_MIN_POINTS`] points (Qdrant's `UnindexedField`).

use crate::node::Node;
use quiver_collection::Collection;
use quiver_types::filter::{Condition, Filter, Match, MatchValue};
use serde_json::{Value, json};

/// Below this many points a scan is cheap and no issue is raised.
pub const UNINDEXED_FIELD_MIN_POINTS: usize = 1000;

/// The index type a condition on a key calls for.
fn schema_for(condition: &quiver_types::filter::FieldCondition) -> &'static str {
    match (&condition.r#match, &condition.range) {
        (Some(Match::Value { value: MatchValue::Integer(_) }), _) => "integer",
        (Some(Match::Value { value: MatchValue::Bool(_) }), _) => "bool",
        (Some(Match::Text { .. } | Match::TextAny { .. } | Match::Phrase { .. }), _) => "text",
        (Some(_), _) => "keyword",
        (None, Some(_)) => "float",
        (None, None) if condition.geo_radius.is_some() || condition.geo_bounding_box.is_some() => "geo",
        (None, None) => "keyword",
    }
}

fn field_conditions<'f>(filter: &'f Filter, out: &mut Vec<&'f quiver_types::filter::FieldCondition>) {
    let lists = [filter.must.as_deref(), filter.should.as_deref(), filter.must_not.as_deref()];
    let min_should = filter.min_should.as_ref().map(|m| m.conditions.as_slice());
    for condition in lists.into_iter().chain([min_should]).flatten().flatten() {
        match condition {
            Condition::Field(f) => out.push(f),
            Condition::Filter(f) => field_conditions(f, out),
            Condition::Nested(_)
            | Condition::IsEmpty(_)
            | Condition::IsNull(_)
            | Condition::HasId(_)
            | Condition::HasVector(_)
            | Condition::Slice(_) => {}
        }
    }
}

impl Node {
    /// Records an issue for each unindexed key `filter` conditions on (large collections only).
    pub(crate) fn note_unindexed_filter(&self, collection: &Collection, filter: &Filter) {
        if collection.points_count() < UNINDEXED_FIELD_MIN_POINTS {
            return;
        }
        let indexes = collection.payload_index();
        let mut conditions = Vec::new();
        field_conditions(filter, &mut conditions);
        for condition in conditions.into_iter().filter(|c| !indexes.contains_key(&c.key)) {
            let name = collection.name();
            let id = format!("UNINDEXED_FIELD/{name}/{}", condition.key);
            let issue = json!({
                "id": id,
                "description": format!("Unindexed field '{}' might be slowing queries down in collection '{name}'", condition.key),
                "solution": {"immediate": {
                    "message": format!("Create an index on field '{}' of schema {} in collection '{name}'. Check the documentation for more details: https://qdrant.tech/documentation/concepts/indexing/#payload-index", condition.key, schema_for(condition)),
                    "action": {"method": "PUT", "uri": format!("/collections/{name}/index"), "headers": {},
                               "body": {"field_name": condition.key, "field_schema": schema_for(condition)}}}},
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            });
            self.issues.0.lock().entry(id).or_insert(issue);
        }
    }

    /// `GET /issues`, minus those whose index exists by now.
    pub fn issues(&self) -> Vec<Value> {
        let mut issues = self.issues.0.lock();
        issues.retain(|id, _| {
            let mut parts = id.splitn(3, '/').skip(1);
            let (Some(name), Some(key)) = (parts.next(), parts.next()) else { return true };
            self.resolve(name).is_ok_and(|c| !c.payload_index().contains_key(key))
        });
        issues.values().cloned().collect()
    }

    /// `DELETE /issues`.
    pub fn clear_issues(&self) {
        self.issues.0.lock().clear();
    }
}
