//! Compact blocks (after Bitcoin's BIP 152): a block whose data commits to
//! its entries by a Merkle root (`jbc-entries/2`) sent as the block alone
//! plus a 6-byte short id per entry, since the receiver usually holds the
//! entries already (they were gossiped to its pool before the block was
//! mined). The receiver fills the block from its pool and asks only for
//! the entries it lacks, by their place in the block.
//!
//! A short id is the first 6 bytes of SHA-256(salt || the entry's
//! canonical line). The sender picks the 8-byte salt, unknown to whoever
//! mined the block, so nobody can cheaply craft entries whose ids collide
//! with others'. A collision can still happen by chance (or by a lying
//! sender): the rebuilt entries then miss the block's root and the
//! receiver asks for the whole block instead.
//!
//! The JSON form, posted to `POST /v1/blocks/compact`:
//!
//! ```text
//! {"block": {the original's six fields}, "salt": "16 hex digits",
//!  "short_ids": "12 hex digits per entry, in block order, run together",
//!  "prefilled": [[place, "canonical line"], ...]}
//! ```
//!
//! `prefilled` carries the entries the receiver said it lacks (places in
//! increasing order); the first post of a block has none.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{BlockText, Numbers, WireError, parse_json, wrong_type as wrong};
use crate::consensus::entry::{hex, json_kind};
use crate::consensus::{Block, BlockAndBody};

/// The sender's salt for one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Salt(pub [u8; 8]);

/// An entry's short id under a salt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShortId(pub [u8; 6]);

impl ShortId {
    /// The short id of the entry whose canonical line is `line`.
    pub fn of(salt: &Salt, line: &str) -> ShortId {
        let digest = Sha256::new()
            .chain_update(salt.0)
            .chain_update(line.as_bytes())
            .finalize();
        let mut id = [0u8; 6];
        id.copy_from_slice(&digest[..6]);
        ShortId(id)
    }
}

/// A block sent as its header and the short ids of its entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactBlock {
    pub block: Block,
    pub salt: Salt,
    /// One per entry, in the block's order.
    pub short_ids: Vec<ShortId>,
    /// Entries sent whole: (place in the block, canonical line).
    pub prefilled: Vec<(u32, String)>,
}

impl CompactBlock {
    /// The compact form of `block` under `salt`, nothing prefilled.
    pub fn of(block: &BlockAndBody, salt: Salt) -> CompactBlock {
        CompactBlock {
            block: block.block.clone(),
            salt,
            short_ids: block.body.iter().map(|l| ShortId::of(&salt, l)).collect(),
            prefilled: Vec::new(),
        }
    }

    /// The JSON form (see the module's documentation).
    pub fn to_json(&self) -> Vec<u8> {
        let prefilled: usize = self.prefilled.iter().map(|(_, l)| l.len() + 16).sum();
        let mut out =
            Vec::with_capacity(300 + self.block.data.len() + self.short_ids.len() * 12 + prefilled);
        out.extend_from_slice(b"{\"block\": ");
        BlockText::from_block(&self.block).write_json(Numbers::AsStrings, &mut out);
        out.extend_from_slice(
            format!(", \"salt\": \"{}\", \"short_ids\": \"", hex(&self.salt.0)).as_bytes(),
        );
        for id in &self.short_ids {
            out.extend_from_slice(hex(&id.0).as_bytes());
        }
        out.extend_from_slice(b"\", \"prefilled\": [");
        for (i, (place, line)) in self.prefilled.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(format!("[{place}, ").as_bytes());
            serde_json::to_writer(&mut out, line).expect("strings serialize into a Vec");
            out.push(b']');
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// Reads the JSON form. Checks shapes only: whether the short ids
    /// match the block's entry count is the receiver's business.
    pub fn from_slice(bytes: &[u8]) -> Result<CompactBlock, WireError> {
        let value = parse_json(bytes)?;
        let Value::Object(fields) = &value else {
            return Err(WireError::NotAnObject(json_kind(&value)));
        };
        let field = |name: &'static str| fields.get(name).ok_or(WireError::MissingField(name));
        let block = BlockText::from_value(field("block")?)?.to_block()?;
        let salt = Salt(hex_bytes::<8>("salt", field("salt")?)?);
        let short_ids = match field("short_ids")? {
            Value::String(text) if text.len() % 12 == 0 && is_hex(text) => text
                .as_bytes()
                .chunks(12)
                .map(|chunk| {
                    let mut id = [0u8; 6];
                    for (i, pair) in chunk.chunks(2).enumerate() {
                        id[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
                    }
                    ShortId(id)
                })
                .collect(),
            other => {
                return Err(wrong(
                    "short_ids",
                    "lowercase hex, 12 digits per entry",
                    other,
                ));
            }
        };
        let mut prefilled = Vec::new();
        let expected = "a list of [place, line] pairs, places increasing";
        let none = Value::Array(Vec::new());
        let pairs = match fields.get("prefilled").unwrap_or(&none) {
            Value::Array(pairs) => pairs,
            other => return Err(wrong("prefilled", expected, other)),
        };
        for pair in pairs {
            let parsed = match pair.as_array().map(Vec::as_slice) {
                Some([Value::Number(place), Value::String(line)]) => place
                    .as_u64()
                    .and_then(|p| u32::try_from(p).ok())
                    .map(|p| (p, line.clone())),
                _ => None,
            };
            let in_order = |p: u32| prefilled.last().is_none_or(|(last, _)| *last < p);
            match parsed {
                Some((place, line)) if in_order(place) => prefilled.push((place, line)),
                _ => return Err(wrong("prefilled", expected, pair)),
            }
        }
        Ok(CompactBlock {
            block,
            salt,
            short_ids,
            prefilled,
        })
    }
}

/// Rebuilding a block's entries from a compact block and the lines a
/// receiver holds. Each line offered comes with a tag of the receiver's
/// (where it holds the line), handed back for each place the line fills.
pub struct Filling<T> {
    slots: Vec<Option<(String, Option<T>)>>,
    /// Where each short id of an unfilled place points (several places
    /// when two entries of the block share one).
    wanted: HashMap<ShortId, Vec<u32>>,
    /// Places two held lines matched: asked for, never guessed.
    ambiguous: Vec<u32>,
    /// Places no line has filled yet: once none is left, a receiver stops
    /// offering (its pool in arrival order holds a block's entries, the
    /// oldest, near its start). A line held further on with the short id
    /// of a filled place goes unseen; if the first one was the wrong
    /// entry, the block's root tells, as for any collision.
    empty: usize,
    salt: Salt,
}

/// A block's entry lines, all found, and the tag of each held one (`None`
/// where the line came prefilled by the sender).
#[derive(Debug, PartialEq)]
pub struct Filled<T> {
    pub lines: Vec<String>,
    pub tags: Vec<Option<T>>,
}

impl<T: Copy> Filling<T> {
    /// Starts with the prefilled entries in place. Prefilled places past
    /// the last entry are ignored (the entry count is the block's).
    pub fn new(compact: &CompactBlock) -> Filling<T> {
        let mut slots: Vec<Option<(String, Option<T>)>> = vec![None; compact.short_ids.len()];
        for (place, line) in &compact.prefilled {
            if let Some(slot) = slots.get_mut(*place as usize) {
                *slot = Some((line.clone(), None));
            }
        }
        let mut wanted: HashMap<ShortId, Vec<u32>> = HashMap::new();
        for (place, id) in compact.short_ids.iter().enumerate() {
            if slots[place].is_none() {
                wanted.entry(*id).or_default().push(place as u32);
            }
        }
        let empty = slots.iter().filter(|slot| slot.is_none()).count();
        Filling {
            slots,
            wanted,
            empty,
            ambiguous: Vec::new(),
            salt: compact.salt,
        }
    }

    /// True while some place is still empty and could be filled.
    pub fn wants_more(&self) -> bool {
        self.empty > 0
    }

    /// Offers a line the receiver holds; it fills the places whose short
    /// id it has. A second line with the same short id makes those places
    /// ambiguous: they are left to be asked for.
    pub fn offer(&mut self, line: &str, tag: T) {
        self.offer_as(ShortId::of(&self.salt, line), line, tag);
    }

    fn offer_as(&mut self, id: ShortId, line: &str, tag: T) {
        let Some(places) = self.wanted.get(&id) else {
            return;
        };
        for &place in places {
            match &self.slots[place as usize] {
                None => {
                    self.slots[place as usize] = Some((line.to_owned(), Some(tag)));
                    self.empty -= 1;
                }
                Some((held, _)) if held != line => self.ambiguous.push(place),
                Some(_) => {}
            }
        }
    }

    /// All the lines, or the places still missing (in increasing order).
    pub fn finish(mut self) -> Result<Filled<T>, Vec<u32>> {
        for &place in &self.ambiguous {
            self.slots[place as usize] = None;
        }
        let missing: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&p| self.slots[p as usize].is_none())
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let (lines, tags) = self.slots.into_iter().flatten().unzip();
        Ok(Filled { lines, tags })
    }
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => digit - b'a' + 10,
    }
}

fn hex_bytes<const N: usize>(field: &'static str, value: &Value) -> Result<[u8; N], WireError> {
    match value {
        Value::String(text) if text.len() == 2 * N && is_hex(text) => {
            let mut out = [0u8; N];
            for (i, pair) in text.as_bytes().chunks(2).enumerate() {
                out[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
            }
            Ok(out)
        }
        other => Err(wrong(field, "lowercase hex", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::{BlockHash, Height, Nonce, Timestamp};

    fn block_of(lines: &[&str]) -> BlockAndBody {
        let block = Block {
            index: Height(1),
            timestamp: Timestamp(5),
            data: "jbc-entries/2\nnote \"\"\nentries 2 00".into(),
            prev_hash: Some(BlockHash::of(b"parent")),
            nonce: Nonce(7),
            hash: BlockHash::of(b"block"),
        };
        BlockAndBody {
            block,
            body: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn the_json_form_reads_back_as_written() {
        let block = block_of(&["{\"a\":1}", "{\"b\":\"\\u00e9\"}", "{\"c\":3}"]);
        let mut compact = CompactBlock::of(&block, Salt([1, 2, 3, 4, 5, 6, 7, 8]));
        compact.prefilled = vec![(0, block.body[0].clone()), (2, block.body[2].clone())];
        let json = compact.to_json();
        assert_eq!(CompactBlock::from_slice(&json).unwrap(), compact);
        // 12 hex digits per entry, whatever an entry's size.
        let text = String::from_utf8(json).unwrap();
        let ids = text.split("\"short_ids\": \"").nth(1).unwrap();
        assert_eq!(ids.find('"'), Some(36));
    }

    #[test]
    fn bad_shapes_are_named() {
        let good = CompactBlock::of(&block_of(&["{}"]), Salt([0; 8])).to_json();
        let good: Value = serde_json::from_slice(&good).unwrap();
        let with = |key: &str, value: Value| {
            let mut v = good.clone();
            v[key] = value;
            CompactBlock::from_slice(v.to_string().as_bytes()).unwrap_err()
        };
        for (key, value, field) in [
            ("salt", Value::from("00"), "salt"),
            ("short_ids", Value::from("abc"), "short_ids"),
            ("short_ids", Value::from("ABCDEF012345"), "short_ids"),
            (
                "prefilled",
                serde_json::json!([[1, "x"], [0, "y"]]),
                "prefilled",
            ),
            ("prefilled", serde_json::json!([[-1, "x"]]), "prefilled"),
            ("prefilled", serde_json::json!({}), "prefilled"),
        ] {
            match with(key, value) {
                WireError::WrongType { field: named, .. } => assert_eq!(named, field),
                other => panic!("{key}: {other}"),
            }
        }
        assert!(matches!(
            CompactBlock::from_slice(b"[]"),
            Err(WireError::NotAnObject(_))
        ));
    }

    #[test]
    fn a_filling_takes_held_lines_and_names_the_missing_places() {
        let block = block_of(&["one", "two", "three", "four"]);
        let compact = CompactBlock::of(&block, Salt([9; 8]));
        let mut filling = Filling::new(&compact);
        for line in ["four", "unrelated", "two"] {
            filling.offer(line, ());
        }
        assert!(filling.wants_more());
        assert_eq!(filling.finish(), Err(vec![0, 2]));
        // Once every place is filled, nothing more is wanted: a pool scan
        // stops there.
        let mut filling = Filling::new(&compact);
        for line in ["four", "one", "three", "two"] {
            assert!(filling.wants_more());
            filling.offer(line, ());
        }
        assert!(!filling.wants_more());
        filling.offer("two", ());
        assert_eq!(
            filling.finish().map(|filled| filled.lines),
            Ok(block.body.clone())
        );

        // Held lines hand their tags back; prefilled ones have none.
        let mut with_prefilled = compact.clone();
        with_prefilled.prefilled = vec![(0, "one".into()), (2, "three".into())];
        let mut filling = Filling::new(&with_prefilled);
        filling.offer("two", 20);
        assert!(filling.wants_more());
        filling.offer("four", 40);
        assert!(!filling.wants_more());
        let filled = filling.finish().unwrap();
        assert_eq!(filled.lines, block.body);
        assert_eq!(filled.tags, [None, Some(20), None, Some(40)]);
    }

    #[test]
    fn a_colliding_line_fills_a_place_and_two_are_asked_for() {
        let block = block_of(&["one", "two"]);
        let mut compact = CompactBlock::of(&block, Salt([3; 8]));
        // A sender (or chance) giving place 1 the short id of "other":
        // "other" fills it, and only the block's root can tell.
        compact.short_ids[1] = ShortId::of(&compact.salt, "other");
        let mut filling = Filling::new(&compact);
        for line in ["one", "other", "two"] {
            filling.offer(line, ());
        }
        let lines = filling.finish().map(|filled| filled.lines);
        assert_eq!(lines, Ok(vec!["one".into(), "other".into()]));
        // Two held lines under one short id: that place is asked for.
        let mut filling = Filling::new(&compact);
        filling.offer("one", ());
        filling.offer("other", ());
        filling.offer_as(compact.short_ids[1], "another", ());
        assert_eq!(filling.finish(), Err(vec![1]));
    }
}
