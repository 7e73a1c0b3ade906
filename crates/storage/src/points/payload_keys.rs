//! Decoding some top-level entries of an encoded payload (design record 037): the MessagePack
//! map is walked entry by entry, a wanted key's value decoded, every other value stepped over
//! by its length alone (a long string is neither copied nor checked as UTF-8), so a filter on
//! `city` does not pay for a payload's long `text`.

use quiver_types::point::Payload;
use std::collections::BTreeSet;

/// The entries of the MessagePack map `bytes` under `keys`; `None` when the bytes are not a map
/// of string keys (the caller decodes the whole payload, which reports the damage).
pub(super) fn decode_keys(bytes: &[u8], keys: &BTreeSet<String>) -> Option<Payload> {
    let mut reader = Reader { bytes, at: 0 };
    let entries = reader.map_len()?;
    let mut payload = Payload::new();
    for _ in 0..entries {
        let key = reader.str()?;
        let start = reader.at;
        reader.skip()?;
        if keys.contains(key) {
            let value = rmp_serde::from_slice(&bytes[start..reader.at]).ok()?;
            payload.insert(key.to_string(), value);
        }
    }
    Some(payload)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let taken = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// A big-endian unsigned integer of `n` bytes (1, 2 or 4).
    fn uint(&mut self, n: usize) -> Option<usize> {
        Some(self.take(n)?.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
    }

    fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x80..=0x8f => Some(usize::from(m & 0x0f)),
            0xde => self.uint(2),
            0xdf => self.uint(4),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.uint(1)?,
            0xda => self.uint(2)?,
            0xdb => self.uint(4)?,
            _ => return None,
        };
        std::str::from_utf8(self.take(len)?).ok()
    }

    /// Steps over one value (with everything nested in it), without recursion.
    fn skip(&mut self) -> Option<()> {
        let mut values = 1usize;
        while values > 0 {
            values -= 1;
            let marker = self.byte()?;
            let (bytes, nested) = match marker {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
                0x80..=0x8f => (0, 2 * usize::from(marker & 0x0f)),
                0x90..=0x9f => (0, usize::from(marker & 0x0f)),
                0xa0..=0xbf => (usize::from(marker & 0x1f), 0),
                0xc4 | 0xd9 => (self.uint(1)?, 0),
                0xc5 | 0xda => (self.uint(2)?, 0),
                0xc6 | 0xdb => (self.uint(4)?, 0),
                0xc7 => (self.uint(1)? + 1, 0),
                0xc8 => (self.uint(2)? + 1, 0),
                0xc9 => (self.uint(4)? + 1, 0),
                0xcc | 0xd0 => (1, 0),
                0xcd | 0xd1 | 0xd4 => (2, 0),
                0xd5 => (3, 0),
                0xca | 0xce | 0xd2 => (4, 0),
                0xd6 => (5, 0),
                0xcb | 0xcf | 0xd3 => (8, 0),
                0xd7 => (9, 0),
                0xd8 => (17, 0),
                0xdc => (0, self.uint(2)?),
                0xdd => (0, self.uint(4)?),
                0xde => (0, 2 * self.uint(2)?),
                0xdf => (0, 2 * self.uint(4)?),
                0xc1 => return None,
            };
            self.take(bytes)?;
            values = values.checked_add(nested)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wanted_entries_are_decoded_and_the_others_stepped_over() {
        let long = "ü".repeat(40_000); // a str32
        let payload = json!({
            "a": 1, "neg": -5, "big": u64::MAX, "i64": i64::MIN, "f": 1.5, "t": true, "n": null,
            "s": "x".repeat(40), "s8": "y".repeat(200), "s16": "z".repeat(1_000), "s32": long,
            "arr": [1, [2, {"k": [3]}], {}], "obj": {"deep": {"x": [null, false]}}, "u16": 60_000, "u32": 70_000,
            "wide": (0..20).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>(),
            "many": (0..70_000).collect::<Vec<u32>>(), "last": "end",
        });
        let payload = payload.as_object().unwrap().clone();
        let bytes = rmp_serde::to_vec_named(&payload).unwrap();
        // Every key alone, and all at once: exactly those entries.
        for key in payload.keys() {
            let got = decode_keys(&bytes, &BTreeSet::from([key.clone()])).unwrap();
            assert_eq!(got.get(key), payload.get(key), "{key}");
            assert_eq!(got.len(), 1);
        }
        let all: BTreeSet<String> = payload.keys().cloned().collect();
        assert_eq!(decode_keys(&bytes, &all).unwrap(), payload);
        assert!(decode_keys(&bytes, &BTreeSet::from(["absent".to_string()])).unwrap().is_empty());
        // Cut or damaged bytes: no answer rather than a wrong one.
        let last = BTreeSet::from(["last".to_string()]);
        assert_eq!(decode_keys(&bytes[..bytes.len() - 2], &last), None);
        assert_eq!(decode_keys(&[0xc1], &last), None);
    }
}
