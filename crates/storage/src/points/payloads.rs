//! The payloads of a table's slots (design record 037): structured values in anonymous memory
//! (`on_disk_payload: false`), or, with `on_disk_payload: true`, each payload's MessagePack
//! encoding (the checkpoint's) in a log of bytes placed in a memory-mapped scratch file
//! (`mapped.rs`, design record 025), with only an offset and a length per slot in RAM. A read
//! decodes the bytes; the page cache decides which of them stay resident.
//!
//! Reads that need some top-level keys only (filters, facets, `order_by`) decode those
//! (`payload_keys.rs`).
//!
//! A payload rewritten to no more bytes than it had is written in place, else appended; the
//! bytes it leaves are garbage, compacted in place (live spans moved down in offset order, the
//! file cut) once they pass the live bytes. A log that cannot grow (a full disk) moves to
//! anonymous memory with its bytes (`Store::extend_from_slice`): no write is lost.

use crate::mapped::{Placement, Store};
use quiver_types::point::Payload;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Garbage below this many bytes is never compacted.
const MIN_COMPACT_BYTES: usize = 1 << 20;

/// Where the bytes of one slot's payload are in the log (`len` 0: the empty payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    offset: u64,
    len: u32,
}

impl Span {
    fn range(&self) -> std::ops::Range<usize> {
        self.offset as usize..self.offset as usize + self.len as usize
    }
}

/// Sizes of an encoded payload log, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLog {
    /// Bytes written (live and garbage).
    pub used: usize,
    /// Bytes no payload covers any more.
    pub garbage: usize,
    /// Bytes reserved: the mapped file's size (or the memory's capacity).
    pub reserved: usize,
    /// Whether the log is in its mapped file (false: moved to memory, e.g. by a full disk).
    pub mapped: bool,
}

/// Encoded payloads in a log of bytes.
#[derive(Debug, Default)]
pub(super) struct EncodedPayloads {
    log: Store<u8>,
    spans: Vec<Span>,
    /// Bytes of the log no span covers.
    garbage: usize,
}

/// The payloads of every slot.
#[derive(Debug)]
pub(super) enum Payloads {
    Memory(Vec<Payload>),
    Encoded(EncodedPayloads),
}

impl Default for Payloads {
    fn default() -> Self {
        Payloads::Memory(Vec::new())
    }
}

/// The payload's MessagePack bytes (none when it is empty); an error for one that cannot be
/// encoded or whose bytes a span cannot cover (4 GiB).
fn encode(payload: &Payload) -> Result<Vec<u8>, String> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = rmp_serde::to_vec_named(payload).map_err(|e| e.to_string())?;
    match u32::try_from(bytes.len()) {
        Ok(_) => Ok(bytes),
        Err(_) => Err(format!("{} bytes", bytes.len())),
    }
}

fn decode(bytes: &[u8]) -> Payload {
    if bytes.is_empty() {
        return Payload::new();
    }
    rmp_serde::from_slice(bytes).unwrap_or_else(|e| {
        // Only this module writes the log: this would be a bug, not damaged input.
        tracing::error!(error = %e, "an encoded payload does not decode: read as empty");
        Payload::new()
    })
}

/// The entries of an encoded payload under `keys`, the other values skipped unread.
fn decode_only(bytes: &[u8], keys: &BTreeSet<String>) -> Payload {
    if bytes.is_empty() || keys.is_empty() {
        return Payload::new();
    }
    super::payload_keys::decode_keys(bytes, keys).unwrap_or_else(|| {
        let mut payload = decode(bytes); // logs the damage
        payload.retain(|key, _| keys.contains(key));
        payload
    })
}

impl Payloads {
    /// Where the payloads live: `Mapped` with `on_disk_payload`, else `Memory`.
    pub(super) fn placement(&self) -> Placement {
        match self {
            Payloads::Memory(_) => Placement::Memory,
            Payloads::Encoded(e) => e.log.placement(),
        }
    }

    /// Number of slots.
    pub(super) fn len(&self) -> usize {
        match self {
            Payloads::Memory(v) => v.len(),
            Payloads::Encoded(e) => e.spans.len(),
        }
    }

    /// Appends an empty slot.
    pub(super) fn push(&mut self) {
        match self {
            Payloads::Memory(v) => v.push(Payload::new()),
            Payloads::Encoded(e) => e.spans.push(Span::default()),
        }
    }

    /// The payload of `slot` (empty past the end).
    pub(super) fn get(&self, slot: u32) -> Cow<'_, Payload> {
        match self {
            Payloads::Memory(v) => v.get(slot as usize).map_or_else(|| Cow::Owned(Payload::new()), Cow::Borrowed),
            Payloads::Encoded(e) => Cow::Owned(e.spans.get(slot as usize).map_or_else(Payload::new, |s| e.read(*s))),
        }
    }

    /// The entries of `slot`'s payload under the top-level `keys` (all of them from memory).
    pub(super) fn get_keys(&self, slot: u32, keys: &BTreeSet<String>) -> Cow<'_, Payload> {
        match self {
            Payloads::Memory(_) => self.get(slot),
            Payloads::Encoded(e) => {
                let span = e.spans.get(slot as usize).copied().unwrap_or_default();
                Cow::Owned(decode_only(e.log.get(span.range()).unwrap_or_default(), keys))
            }
        }
    }

    /// Makes `payload` the payload of `slot`; returns it as stored, for the payload indexes.
    pub(super) fn set(&mut self, slot: u32, payload: Payload) -> Cow<'_, Payload> {
        match self {
            Payloads::Memory(v) => {
                v[slot as usize] = payload;
                Cow::Borrowed(&v[slot as usize])
            }
            Payloads::Encoded(e) => match encode(&payload) {
                Ok(bytes) => {
                    e.write(slot, &bytes);
                    Cow::Owned(payload)
                }
                Err(err) => {
                    tracing::error!(error = %err, "a payload cannot be encoded: payloads kept in memory");
                    self.place(&Placement::Memory);
                    self.set(slot, payload)
                }
            },
        }
    }

    /// Makes the MessagePack `bytes` (a checkpoint's) the payload of `slot`: kept as they are
    /// when encoded, once their structure is checked; decoded for memory.
    pub(super) fn set_encoded(&mut self, slot: u32, bytes: &[u8]) -> Result<(), String> {
        match self {
            Payloads::Memory(v) => v[slot as usize] = rmp_serde::from_slice(bytes).map_err(|e| e.to_string())?,
            Payloads::Encoded(e) => {
                super::payload_keys::decode_keys(bytes, &BTreeSet::new()).ok_or("not a MessagePack map")?;
                e.write(slot, bytes);
            }
        }
        Ok(())
    }

    /// Changes the payload of `slot` with `f`; returns it as stored.
    pub(super) fn update(&mut self, slot: u32, f: impl FnOnce(&mut Payload)) -> Cow<'_, Payload> {
        match self {
            Payloads::Memory(v) => {
                f(&mut v[slot as usize]);
                Cow::Borrowed(&v[slot as usize])
            }
            Payloads::Encoded(_) => {
                let mut payload = self.get(slot).into_owned();
                f(&mut payload);
                self.set(slot, payload)
            }
        }
    }

    /// Every slot's payload with its slot, in slot order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, Cow<'_, Payload>)> {
        (0..self.len() as u32).map(|slot| (slot, self.get(slot)))
    }

    /// Moves the payloads to `placement`: memory, or a log in a mapped file of its directory
    /// (kept where they are if the file cannot be made, which is logged).
    pub(super) fn place(&mut self, placement: &Placement) {
        // A log moved to memory by a full disk is decoded when memory is asked for, mapped
        // again when its directory is.
        let already = match (&*self, placement) {
            (Payloads::Memory(_), Placement::Memory) => true,
            (Payloads::Encoded(_), Placement::Memory) => false,
            (Payloads::Memory(_) | Payloads::Encoded(_), Placement::Mapped(_)) => self.placement() == *placement,
        };
        if already {
            return;
        }
        let moved = match placement {
            Placement::Memory => Payloads::Memory(self.iter().map(|(_, p)| p.into_owned()).collect()),
            Placement::Mapped(_) => {
                let mut encoded = EncodedPayloads { log: Store::new(placement), ..EncodedPayloads::default() };
                if encoded.log.placement() != *placement {
                    return; // logged by `Store::new`
                }
                encoded.spans = vec![Span::default(); self.len()];
                for (slot, payload) in self.iter() {
                    match encode(&payload) {
                        Ok(bytes) => encoded.write(slot, &bytes),
                        Err(err) => {
                            tracing::error!(error = %err, "a payload cannot be encoded: payloads kept in memory");
                            return;
                        }
                    }
                }
                Payloads::Encoded(encoded)
            }
        };
        *self = moved;
    }

    /// The sizes of the encoded log; `None` for payloads in memory.
    pub(super) fn log(&self) -> Option<PayloadLog> {
        match self {
            Payloads::Memory(_) => None,
            Payloads::Encoded(e) => Some(PayloadLog {
                used: e.log.len(),
                garbage: e.garbage,
                reserved: e.log.reserved_bytes(),
                mapped: matches!(e.log, Store::Mapped(_)),
            }),
        }
    }
}

impl EncodedPayloads {
    fn read(&self, span: Span) -> Payload {
        decode(self.log.get(span.range()).unwrap_or_default())
    }

    /// Stores `bytes` as the payload of `slot`: in place when they fit in its span, else at
    /// the end of the log; compacts when the garbage passes the live bytes.
    fn write(&mut self, slot: u32, bytes: &[u8]) {
        let old = self.spans[slot as usize];
        let len = bytes.len() as u32;
        let span = match len <= old.len {
            true => {
                self.log[old.offset as usize..old.offset as usize + bytes.len()].copy_from_slice(bytes);
                self.garbage += (old.len - len) as usize;
                Span { offset: old.offset, len }
            }
            false => {
                let offset = self.log.len() as u64;
                self.log.extend_from_slice(bytes);
                self.garbage += old.len as usize;
                Span { offset, len }
            }
        };
        self.spans[slot as usize] = if len == 0 { Span::default() } else { span };
        if self.garbage >= MIN_COMPACT_BYTES && self.garbage * 2 > self.log.len() {
            self.compact();
        }
    }

    /// Moves every live span down over the garbage (in offset order, so no span is overwritten
    /// before it has moved), then cuts the log after the last one: no second file is needed.
    fn compact(&mut self) {
        let mut slots: Vec<u32> = (0..self.spans.len() as u32).filter(|s| self.spans[*s as usize].len > 0).collect();
        slots.sort_unstable_by_key(|s| self.spans[*s as usize].offset);
        let mut end = 0usize;
        for slot in slots {
            let span = &mut self.spans[slot as usize];
            let from = span.range();
            self.log.copy_within(from, end);
            span.offset = end as u64;
            end += span.len as usize;
        }
        self.log.truncate(end);
        self.log.shrink();
        self.garbage = 0;
    }
}
