//! Payloads encoded in a mapped log (`on_disk_payload`, design record 037) against payloads in
//! memory: the same random operations give the same points, filter results and payload index
//! answers; the log's garbage stays bounded; a full disk moves the log to memory.

use super::{PointTable, StoredPoint, VectorSchema};
use crate::filter::CompiledFilter;
use crate::mapped::Placement;
use quiver_types::PointId;
use quiver_types::filter::Filter;
use quiver_types::point::{NamedVectors, Payload};
use serde_json::{Value, json};
use std::path::Path;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn table(mapped_dir: Option<&Path>) -> PointTable {
    PointTable::with_schema(VectorSchema {
        mapped_dir: mapped_dir.map(Path::to_path_buf),
        on_disk_payload: true,
        ..VectorSchema::default()
    })
}

fn object(v: Value) -> Payload {
    v.as_object().cloned().unwrap_or_default()
}

/// A payload of 0 to ~3 KB with the JSON kinds a filter meets.
fn payload(rng: &mut Rng) -> Payload {
    let text = "x".repeat(rng.below(3_000) as usize);
    match rng.below(6) {
        0 => Payload::new(),
        1 => object(json!({"n": rng.below(10), "f": rng.below(100) as f64 / 4.0, "text": text})),
        2 => object(json!({"n": -(rng.below(10) as i64), "tags": ["a", rng.below(3).to_string()], "nul": null})),
        3 => object(json!({"nested": [{"k": rng.below(4)}, {"k": "s"}], "b": rng.below(2) == 0, "text": text})),
        4 => object(json!({"n": u64::MAX - rng.below(3), "f": 1.0, "e": [], "o": {"deep": {"n": rng.below(5)}}})),
        _ => object(json!({"text": text, "n": rng.below(10)})),
    }
}

fn point(id: u64, payload: Payload) -> StoredPoint {
    StoredPoint { id: PointId::Num(id), version: id, vectors: NamedVectors::new(), payload }
}

/// One random operation, applied to every table.
fn step(rng: &mut Rng, tables: &mut [&mut PointTable]) {
    let id = PointId::Num(rng.below(300));
    let key = ["n", "text", "tags", "new"][rng.below(4) as usize].to_string();
    let (kind, value) = (rng.below(6), payload(rng));
    for t in tables.iter_mut() {
        match kind {
            0 | 1 => _ = t.upsert(point(id.as_u64_or_zero(), value.clone())),
            2 => _ = t.delete(&id),
            3 => _ = t.update_payload(&id, 1, |p| p.extend(value.clone())),
            4 => _ = t.update_payload(&id, 2, |p| _ = p.remove(&key)),
            _ => _ = t.update_payload(&id, 3, |p| p.clear()),
        }
    }
}

trait NumId {
    fn as_u64_or_zero(&self) -> u64;
}

impl NumId for PointId {
    fn as_u64_or_zero(&self) -> u64 {
        match self {
            PointId::Num(n) => *n,
            PointId::Uuid(_) => 0,
        }
    }
}

fn stored(t: &PointTable) -> Vec<StoredPoint> {
    t.iter_from(None).map(|p| p.to_stored()).collect()
}

fn matches(t: &PointTable, filter: &Value) -> Vec<PointId> {
    let filter: Filter = serde_json::from_value(filter.clone()).unwrap();
    let compiled = CompiledFilter::compile(&filter).unwrap();
    t.iter_slots().filter(|p| compiled.check(p)).map(|p| p.id()).collect()
}

const FILTERS: [&str; 5] = [
    r#"{"must": [{"key": "n", "range": {"gte": 3}}]}"#,
    r#"{"must": [{"key": "tags", "match": {"value": "a"}}]}"#,
    r#"{"must": [{"nested": {"key": "nested", "filter": {"must": [{"key": "k", "match": {"value": 2}}]}}}]}"#,
    r#"{"should": [{"is_empty": {"key": "text"}}, {"is_null": {"key": "nul"}}]}"#,
    r#"{"must_not": [{"key": "o.deep.n", "match": {"any": [1, 2]}}], "must": [{"has_id": [1, 2, 3, 50]}]}"#,
];

#[test]
fn encoded_payloads_give_what_payloads_in_memory_give() {
    let dir = tempfile::tempdir().unwrap();
    let mut mapped = table(Some(dir.path()));
    let mut memory = table(None);
    assert_eq!(mapped.payload_placement(), Placement::Mapped(dir.path().to_path_buf()));
    assert_eq!(memory.payload_placement(), Placement::Memory);
    let index = quiver_types::index_params::FieldSchema::parse(&json!("integer")).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut compactions = 0;
    for round in 0..6_000 {
        let before = mapped.payload_log().unwrap();
        step(&mut rng, &mut [&mut mapped, &mut memory]);
        let log = mapped.payload_log().unwrap();
        assert!(log.mapped);
        // Garbage is compacted once it passes the live bytes (and 1 MiB).
        assert!(log.garbage < 1 << 20 || log.garbage * 2 <= log.used, "{log:?}");
        compactions += usize::from(log.used < before.used && log.garbage == 0);
        if round == 3_000 {
            mapped.set_payload_indexes(&[("n".to_string(), index.clone())].into());
            memory.set_payload_indexes(&[("n".to_string(), index.clone())].into());
        }
        if round % 1_000 == 999 {
            assert_eq!(stored(&mapped), stored(&memory));
            for filter in FILTERS {
                let filter: Value = serde_json::from_str(filter).unwrap();
                assert_eq!(matches(&mapped, &filter), matches(&memory, &filter), "{filter}");
            }
        }
    }
    assert!(compactions > 0, "the garbage was never compacted");
    // Only some top-level keys decoded: those entries, as in memory.
    let keys: std::collections::BTreeSet<String> = ["n".into(), "nested".into(), "absent".into()].into();
    for (a, b) in mapped.iter_from(None).zip(memory.iter_from(None)) {
        let mut only = b.payload().into_owned();
        only.retain(|k, _| keys.contains(k));
        assert_eq!(a.payload_keys(&keys).into_owned(), only);
        assert!(matches!(b.payload_keys(&keys), std::borrow::Cow::Borrowed(_)));
    }
    let ranged: Filter = serde_json::from_value(json!({"must": [{"key": "n", "range": {"gt": 4}}]})).unwrap();
    let indexed = |t: &PointTable| {
        let mut slots: Vec<u32> = t.payload_index().candidates(&ranged).unwrap().into_iter().collect();
        slots.sort_unstable();
        slots
    };
    assert_eq!(indexed(&mapped), indexed(&memory));
    // 3 MB of payloads, then everything deleted: the log is compacted on the way and its file
    // cut back; what is left is under the 1 MiB never compacted.
    for id in 0..1_500 {
        mapped.upsert(point(id, object(json!({"text": "y".repeat(2_000)}))));
    }
    assert!(mapped.payload_log().unwrap().reserved > 3 << 20);
    for id in 0..1_500 {
        mapped.delete(&PointId::Num(id));
    }
    let log = mapped.payload_log().unwrap();
    assert!(log.used < 1 << 20 && log.garbage == log.used, "{log:?}");
    assert!(log.reserved < 2 << 20, "{log:?}");
    // The file has no name in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn payloads_move_between_memory_and_the_log_with_on_disk_payload() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = table(None);
    let mut rng = Rng(7);
    for id in 0..500 {
        t.upsert(point(id, payload(&mut rng)));
    }
    let before = stored(&t);
    let mut schema = t.schema().unwrap().clone();
    schema.mapped_dir = Some(dir.path().to_path_buf());
    assert!(t.set_schema(schema.clone()).is_empty());
    assert!(t.payload_log().unwrap().mapped);
    assert_eq!(stored(&t), before);
    schema.on_disk_payload = false;
    t.set_schema(schema);
    assert_eq!(t.payload_placement(), Placement::Memory);
    assert!(t.payload_log().is_none());
    assert_eq!(stored(&t), before);
}

#[test]
fn a_full_disk_moves_the_log_to_memory_and_loses_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut mapped = table(Some(dir.path()));
    let mut memory = table(None);
    let mut rng = Rng(11);
    for id in 0..200 {
        let p = point(id, payload(&mut rng));
        mapped.upsert(p.clone());
        memory.upsert(p);
    }
    assert!(mapped.payload_log().unwrap().mapped);
    crate::mapped::tests::FULL_DISK.set(true);
    // ~1.5 KB a point on average: past the first 1 MiB mapping.
    for id in 200..1_500 {
        let p = point(id, payload(&mut rng));
        mapped.upsert(p.clone());
        memory.upsert(p);
    }
    crate::mapped::tests::FULL_DISK.set(false);
    assert!(!mapped.payload_log().unwrap().mapped);
    assert_eq!(stored(&mapped), stored(&memory));
    // Mapped again by the next placement (a PATCH or an open), or decoded into memory.
    let mut schema = mapped.schema().unwrap().clone();
    mapped.set_schema(schema.clone());
    assert!(mapped.payload_log().unwrap().mapped);
    schema.on_disk_payload = false;
    mapped.set_schema(schema);
    assert!(mapped.payload_log().is_none());
    assert_eq!(stored(&mapped), stored(&memory));
}

#[test]
fn a_checkpoint_payload_is_taken_as_encoded_and_damaged_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut mapped, mut memory) = (table(Some(dir.path())), table(None));
    let index = quiver_types::index_params::FieldSchema::parse(&json!("integer")).unwrap();
    let mut rng = Rng(5);
    for t in [&mut mapped, &mut memory] {
        t.set_payload_indexes(&[("n".to_string(), index.clone())].into());
    }
    let mut expected = Vec::new();
    for id in 0..300 {
        let p = point(id, payload(&mut rng));
        let bytes = rmp_serde::to_vec_named(&p.payload).unwrap();
        expected.push(p.clone());
        for t in [&mut mapped, &mut memory] {
            t.upsert(StoredPoint { payload: Payload::new(), ..p.clone() });
            t.set_loaded_payload(&p.id, &bytes).unwrap();
        }
    }
    assert_eq!(stored(&mapped), expected);
    assert_eq!(stored(&memory), expected);
    let ranged: Filter = serde_json::from_value(json!({"must": [{"key": "n", "range": {"gte": 4}}]})).unwrap();
    let indexed = |t: &PointTable| {
        let mut slots: Vec<u32> = t.payload_index().candidates(&ranged).unwrap().into_iter().collect();
        slots.sort_unstable();
        slots
    };
    assert!(!indexed(&memory).is_empty());
    assert_eq!(indexed(&mapped), indexed(&memory));
    for t in [&mut mapped, &mut memory] {
        assert!(t.set_loaded_payload(&PointId::Num(1), &[0x81, 0xa1, b'n']).is_err(), "a cut map");
        assert!(t.set_loaded_payload(&PointId::Num(1), &[0x05]).is_err(), "not a map");
    }
}
