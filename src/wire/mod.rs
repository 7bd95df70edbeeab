//! The original's JSON form of a block, in and out: `BlockText`.
//!
//! `BlockText` is the one text form of a block in this program: the six
//! values as the original writes them, borrowed where they can be (from a
//! database row, from a request body) and owned where they must be. Blocks
//! come in three ways and all meet in `BlockText::to_block`, the one
//! parser from text to `Block`:
//!
//! - any JSON object from outside (`block_from_slice`, `BlockText::from_value`),
//!   where `index`, `timestamp` and `nonce` may be strings or numbers (the
//!   original writes strings to disk and sends numbers to `/mined`);
//! - our own `/v1` answers, always six strings, deserialized straight into
//!   `BlockText` (serde, no intermediate `Value`);
//! - a row of the store, which hands out `BlockText` borrowed from SQLite.
//!
//! And they leave through one writer, `BlockText::write_json`: all values as
//! strings, in the key order and `", "`/`": "` spacing of Python's
//! `json.dump`, so an original node reads our output as its own (or, for
//! `/mined`, with the original miner's numbers).
//!
//! The network file (a genesis and rules) is `network`; `compact` a block
//! sent as short ids of the entries its receiver holds; `stream` splits a
//! whole chain into blocks as it arrives.
//!
//! Every wrong shape is a `WireError` that names the field and the value.
//! This module converts; it does not validate rules (`consensus::validate`).

pub mod compact;
pub mod network;
pub mod stream;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::consensus::entry::json_kind;
use crate::consensus::{Block, BlockAndBody, BlockHash, HashParseError, Height, Nonce, Timestamp};

/// Why a JSON value is not a block (or a list of blocks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("a block is a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("a chain is a JSON array of blocks, found {0}")]
    NotAnArray(&'static str),
    #[error("field {0:?} is missing")]
    MissingField(&'static str),
    #[error("field {field:?} must be {expected}, found {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("field {field:?} must be a non-negative whole number in decimal, found {value}")]
    NotDecimal { field: &'static str, value: String },
    #[error("field {field:?} is {value}, more than the largest allowed, {max}")]
    OutOfRange {
        field: &'static str,
        value: String,
        max: String,
    },
    #[error("field {field:?}: {source}")]
    BadHash {
        field: &'static str,
        source: HashParseError,
    },
    #[error("block at position {position}: {error}")]
    InChain {
        position: usize,
        error: Box<WireError>,
    },
}

/// A block's six values as text, in the original's key order. Serde reads
/// it from our own `/v1` answers (strings only) and writes it into them;
/// `write_json` writes the original's exact form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockText<'a> {
    #[serde(borrow)]
    pub nonce: Cow<'a, str>,
    #[serde(borrow)]
    pub index: Cow<'a, str>,
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
    #[serde(borrow)]
    pub timestamp: Cow<'a, str>,
    /// `""` for a genesis block.
    #[serde(borrow)]
    pub prev_hash: Cow<'a, str>,
    #[serde(borrow)]
    pub data: Cow<'a, str>,
    /// The entries that travel beside a block whose data commits to them
    /// by a Merkle root (its body, `consensus::BlockAndBody`): only in our
    /// `/v1` answers and posts, never in the original's forms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<String>,
}

/// How `write_json` writes `index`, `timestamp` and `nonce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbers {
    /// As strings, like the original's files and `/blockchain.json`.
    AsStrings,
    /// As JSON numbers, like the original's miner posting to `/mined`.
    AsNumbers,
}

impl<'a> BlockText<'a> {
    /// The text of `block` (its `data` borrowed).
    pub fn from_block(block: &'a Block) -> BlockText<'a> {
        BlockText {
            nonce: Cow::Owned(block.nonce.to_string()),
            index: Cow::Owned(block.index.to_string()),
            hash: Cow::Owned(block.hash.to_string()),
            timestamp: Cow::Owned(block.timestamp.to_string()),
            prev_hash: Cow::Owned(block.prev_hash.map(|h| h.to_string()).unwrap_or_default()),
            data: Cow::Borrowed(&block.data),
            entries: Vec::new(),
        }
    }

    /// The text of a block with its body.
    pub fn from_block_and_body(block: &'a BlockAndBody) -> BlockText<'a> {
        BlockText {
            entries: block.body.clone(),
            ..BlockText::from_block(&block.block)
        }
    }

    /// The same text, owning all of it.
    pub fn into_owned(self) -> BlockText<'static> {
        let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        BlockText {
            nonce: own(self.nonce),
            index: own(self.index),
            hash: own(self.hash),
            timestamp: own(self.timestamp),
            prev_hash: own(self.prev_hash),
            data: own(self.data),
            entries: self.entries,
        }
    }

    /// Reads a JSON object whose numbers may be strings or JSON numbers.
    pub fn from_value(value: &'a Value) -> Result<BlockText<'a>, WireError> {
        let Value::Object(fields) = value else {
            return Err(WireError::NotAnObject(json_kind(value)));
        };
        let get = |field: &'static str| fields.get(field).ok_or(WireError::MissingField(field));
        Ok(BlockText {
            index: string_or_number(get("index")?, "index")?,
            timestamp: string_or_number(get("timestamp")?, "timestamp")?,
            nonce: string_or_number(get("nonce")?, "nonce")?,
            data: Cow::Borrowed(string(get("data")?, "data")?),
            prev_hash: Cow::Borrowed(string(get("prev_hash")?, "prev_hash")?),
            hash: Cow::Borrowed(string(get("hash")?, "hash")?),
            entries: match fields.get("entries") {
                None => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| string(item, "entries").map(str::to_owned))
                    .collect::<Result<_, _>>()?,
                Some(other) => return Err(wrong_type("entries", "a list of entry lines", other)),
            },
        })
    }

    /// The one parser from text to `Block`. Whole numbers are decimal
    /// digits; leading zeros are accepted (the original's `int("007")` is
    /// 7; the hash uses the canonical text either way); signs, fractions,
    /// exponents, whitespace and anything else are not.
    pub fn to_block(&self) -> Result<Block, WireError> {
        let index = unsigned(&self.index, "index", u128::from(u64::MAX))?;
        let timestamp = unsigned(&self.timestamp, "timestamp", u128::MAX)?;
        let nonce = unsigned(&self.nonce, "nonce", u128::from(u64::MAX))?;
        let prev_hash = match &*self.prev_hash {
            "" => None,
            text => Some(hash(text, "prev_hash")?),
        };
        Ok(Block {
            index: Height(index as u64),
            timestamp: Timestamp(timestamp),
            data: self.data.clone().into_owned(),
            prev_hash,
            nonce: Nonce(nonce as u64),
            hash: hash(&self.hash, "hash")?,
        })
    }

    /// The block and its body (the entries beside it).
    pub fn to_block_and_body(&self) -> Result<BlockAndBody, WireError> {
        Ok(BlockAndBody {
            block: self.to_block()?,
            body: self.entries.clone(),
        })
    }

    /// Our `/v1` form: the original's object with `"entries"` after
    /// `"data"` when the block has a body.
    pub fn write_v1_json(&self, out: &mut Vec<u8>) {
        self.write_json(Numbers::AsStrings, out);
        if self.entries.is_empty() {
            return;
        }
        out.pop();
        out.extend_from_slice(b", \"entries\": ");
        serde_json::to_writer(&mut *out, &self.entries).expect("strings serialize into a Vec");
        out.push(b'}');
    }

    /// The one writer of the original's JSON: appends the block as an
    /// object in the key order and spacing of the original's files. Every
    /// value is escaped, so even odd text cannot break the JSON. With
    /// `Numbers::AsNumbers` the three numbers are written bare, as an
    /// original miner posts them (they are digits, so they are valid JSON
    /// numbers).
    pub fn write_json(&self, numbers: Numbers, out: &mut Vec<u8>) {
        let fields: [(&str, &str, bool); 6] = [
            ("nonce", &self.nonce, true),
            ("index", &self.index, true),
            ("hash", &self.hash, false),
            ("timestamp", &self.timestamp, true),
            ("prev_hash", &self.prev_hash, false),
            ("data", &self.data, false),
        ];
        out.push(b'{');
        for (i, (key, value, is_number)) in fields.into_iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\": ");
            if is_number && numbers == Numbers::AsNumbers {
                out.extend_from_slice(value.as_bytes());
            } else {
                serde_json::to_writer(&mut *out, value)
                    .expect("writing a string into a Vec<u8> cannot fail");
            }
        }
        out.push(b'}');
    }
}

/// A short, printable rendering of a bad value for error messages.
fn shown(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 80 {
        let mut end = 77;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

fn wrong_type(field: &'static str, expected: &'static str, found: &Value) -> WireError {
    let found = format!("{} {}", json_kind(found), shown(found));
    WireError::WrongType {
        field,
        expected,
        found,
    }
}

fn string<'a>(value: &'a Value, field: &'static str) -> Result<&'a str, WireError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(wrong_type(field, "a string", other)),
    }
}

fn string_or_number<'a>(value: &'a Value, field: &'static str) -> Result<Cow<'a, str>, WireError> {
    match value {
        Value::String(text) => Ok(Cow::Borrowed(text)),
        // With serde_json's arbitrary_precision, this is the literal as sent.
        Value::Number(number) => Ok(Cow::Owned(number.to_string())),
        other => Err(wrong_type(field, "a number or a string of digits", other)),
    }
}

fn hash(text: &str, field: &'static str) -> Result<BlockHash, WireError> {
    text.parse()
        .map_err(|source| WireError::BadHash { field, source })
}

fn unsigned(text: &str, field: &'static str, max: u128) -> Result<u128, WireError> {
    let value = || shown(&Value::String(text.to_owned()));
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WireError::NotDecimal {
            field,
            value: value(),
        });
    }
    let out_of_range = || WireError::OutOfRange {
        field,
        value: value(),
        max: max.to_string(),
    };
    let parsed: u128 = text.parse().map_err(|_| out_of_range())?;
    if parsed > max {
        return Err(out_of_range());
    }
    Ok(parsed)
}

fn parse_json(bytes: &[u8]) -> Result<Value, WireError> {
    serde_json::from_slice(bytes).map_err(|e| WireError::Json(e.to_string()))
}

/// Parses one block from JSON bytes (strings or numbers).
pub fn block_from_slice(bytes: &[u8]) -> Result<Block, WireError> {
    block_from_value(&parse_json(bytes)?)
}

pub fn block_from_value(value: &Value) -> Result<Block, WireError> {
    BlockText::from_value(value)?.to_block()
}

/// Parses a JSON array of blocks (an original node's `/blockchain.json`).
pub fn chain_from_slice(bytes: &[u8]) -> Result<Vec<Block>, WireError> {
    blocks_from_value(&parse_json(bytes)?)
}

pub fn blocks_from_value(value: &Value) -> Result<Vec<Block>, WireError> {
    let Value::Array(items) = value else {
        return Err(WireError::NotAnArray(json_kind(value)));
    };
    items
        .iter()
        .enumerate()
        .map(|(position, item)| {
            block_from_value(item).map_err(|error| WireError::InChain {
                position,
                error: Box::new(error),
            })
        })
        .collect()
}

/// A posted block and what travels beside it (nothing from an original
/// node or miner).
pub fn block_and_body_from_slice(bytes: &[u8]) -> Result<BlockAndBody, WireError> {
    BlockText::from_value(&parse_json(bytes)?)?.to_block_and_body()
}

/// A block with its body, as one jbc node posts it to another.
pub fn block_and_body_to_json(block: &BlockAndBody) -> Vec<u8> {
    let body_bytes: usize = block.body.iter().map(|line| line.len() + 8).sum();
    let mut out = Vec::with_capacity(256 + block.block.data.len() + body_bytes);
    BlockText::from_block_and_body(block).write_v1_json(&mut out);
    out
}

/// The block in the original's file form.
pub fn block_to_json(block: &Block) -> Vec<u8> {
    block_json(block, Numbers::AsStrings)
}

/// The block as the original's miner posts it to `/mined`.
pub fn block_to_json_numbers(block: &Block) -> Vec<u8> {
    block_json(block, Numbers::AsNumbers)
}

fn block_json(block: &Block, numbers: Numbers) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + block.data.len());
    BlockText::from_block(block).write_json(numbers, &mut out);
    out
}

/// The block as a JSON value (its text form), for building larger values.
pub fn block_to_value(block: &Block) -> Value {
    serde_json::to_value(BlockText::from_block(block)).expect("text serializes into a Value")
}

/// A JSON array of blocks in the original's form, as `/blockchain.json`
/// serves it.
pub fn chain_to_json<'a>(blocks: impl IntoIterator<Item = &'a Block>) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, block) in blocks.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        BlockText::from_block(block).write_json(Numbers::AsStrings, &mut out);
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_vectors::seed_blocks;

    const FIXTURE: &str = include_str!("../../tests/fixtures/seed_vectors.json");

    #[test]
    fn fixture_matches_the_seed_vectors() {
        assert_eq!(chain_from_slice(FIXTURE.as_bytes()).unwrap(), seed_blocks());
    }

    #[test]
    fn numbers_and_strings_both_parse() {
        let as_numbers = r#"{"index": 1, "timestamp": 1508895386, "nonce": 1225518,
            "data": "I block #1", "hash": "00000c575050241e0a4df1acd7e6fb90cc1f599e2cc2908ec8225e10915006cc",
            "prev_hash": "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c"}"#;
        assert_eq!(
            block_from_slice(as_numbers.as_bytes()).unwrap(),
            seed_blocks()[1]
        );
    }

    #[test]
    fn twenty_digit_timestamps_survive_as_numbers() {
        let text = r#"{"index": 0, "timestamp": 20171025134501123456, "nonce": 0, "data": "",
            "prev_hash": "", "hash": "0000000000000000000000000000000000000000000000000000000000000000"}"#;
        let block = block_from_slice(text.as_bytes()).unwrap();
        assert_eq!(block.timestamp, Timestamp(20171025134501123456));
        let out = String::from_utf8(block_to_json(&block)).unwrap();
        assert!(out.contains(r#""timestamp": "20171025134501123456""#));
    }

    fn with_field(field: &str, value: Value) -> Value {
        let mut object = block_to_value(&seed_blocks()[1]);
        object[field] = value;
        object
    }

    #[test]
    fn bad_values_are_named() {
        use serde_json::json;
        let cases = [
            ("index", json!(-1), "NotDecimal"),
            ("index", json!(1.5), "NotDecimal"),
            ("index", json!("+1"), "NotDecimal"),
            ("index", json!("0x10"), "NotDecimal"),
            ("index", json!(" 1"), "NotDecimal"),
            ("index", json!(""), "NotDecimal"),
            ("nonce", json!(true), "WrongType"),
            ("nonce", json!("18446744073709551616"), "OutOfRange"),
            ("timestamp", json!(null), "WrongType"),
            ("hash", json!(12), "WrongType"),
            ("hash", json!("ABC"), "BadHash"),
            ("prev_hash", json!("zz"), "BadHash"),
            ("data", json!(["x"]), "WrongType"),
        ];
        for (field, value, expected) in cases {
            let err = block_from_value(&with_field(field, value.clone())).unwrap_err();
            let debug = format!("{err:?}");
            assert!(debug.starts_with(expected), "{field}={value}: {debug}");
            assert!(err.to_string().contains(field), "{err}");
        }
        let mut missing = block_to_value(&seed_blocks()[1]);
        missing.as_object_mut().unwrap().remove("nonce");
        assert_eq!(
            block_from_value(&missing),
            Err(WireError::MissingField("nonce"))
        );
        assert!(matches!(block_from_slice(b"[1,2"), Err(WireError::Json(_))));
        assert_eq!(
            block_from_slice(b"[]"),
            Err(WireError::NotAnObject("an array"))
        );
    }

    #[test]
    fn the_numbers_form_parses_back() {
        for block in seed_blocks() {
            let json = block_to_json_numbers(&block);
            let value: Value = serde_json::from_slice(&json).unwrap();
            assert!(
                value["index"].is_number()
                    && value["nonce"].is_number()
                    && value["timestamp"].is_number()
            );
            assert_eq!(block_from_slice(&json).unwrap(), block);
        }
    }

    #[test]
    fn leading_zeros_parse_to_the_same_block() {
        let block =
            block_from_value(&with_field("nonce", Value::String("001225518".into()))).unwrap();
        assert_eq!(block, seed_blocks()[1]);
    }

    #[test]
    fn output_is_the_original_file_format() {
        let text = String::from_utf8(block_to_json(&seed_blocks()[0])).unwrap();
        assert_eq!(
            text,
            r#"{"nonce": "631412", "index": "0", "hash": "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c", "timestamp": "1508895381", "prev_hash": "", "data": "First block data"}"#
        );
        let quoted = Block {
            data: "say \"hi\"\n\u{e9}".into(),
            ..seed_blocks()[1].clone()
        };
        let back = block_from_slice(&block_to_json(&quoted)).unwrap();
        assert_eq!(back, quoted);
    }

    #[test]
    fn serde_reads_our_own_answers_borrowing_plain_strings() {
        let json = block_to_json(&seed_blocks()[2]);
        let text: BlockText<'_> = serde_json::from_slice(&json).unwrap();
        assert!(matches!(text.hash, Cow::Borrowed(_)));
        assert_eq!(text.to_block().unwrap(), seed_blocks()[2]);
        // Written back through the one writer: the same bytes.
        let mut again = Vec::new();
        text.write_json(Numbers::AsStrings, &mut again);
        assert_eq!(again, json);
    }

    #[test]
    fn chain_errors_carry_the_position() {
        let text = format!(
            "[{}, {{\"index\": 1}}]",
            String::from_utf8(block_to_json(&seed_blocks()[0])).unwrap()
        );
        let err = chain_from_slice(text.as_bytes()).unwrap_err();
        assert!(
            matches!(err, WireError::InChain { position: 1, .. }),
            "{err}"
        );
        assert_eq!(
            chain_from_slice(b"{}"),
            Err(WireError::NotAnArray("an object"))
        );
    }
}
