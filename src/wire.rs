//! The original's JSON form of a block, in and out.
//!
//! In: a JSON object with the six fields, where `index`, `timestamp` and
//! `nonce` may be strings or numbers (the original writes strings to disk and
//! sends numbers to `/mined`). Every wrong shape is a `WireError` that names
//! the field and the value. Out: all six values as strings, in the order and
//! spacing Python's `json.dump` gave the original's files, so an original
//! node reads our output as its own.
//!
//! This module converts; it does not validate rules (`consensus::validate`).

use serde_json::Value;

use crate::consensus::{Block, BlockHash, HashParseError, Height, Nonce, Timestamp};

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

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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

/// Parses one block from JSON bytes.
pub fn block_from_slice(bytes: &[u8]) -> Result<Block, WireError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| WireError::Json(e.to_string()))?;
    block_from_value(&value)
}

/// Parses a JSON array of blocks (an original node's `/blockchain.json`).
pub fn chain_from_slice(bytes: &[u8]) -> Result<Vec<Block>, WireError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| WireError::Json(e.to_string()))?;
    blocks_from_value(&value)
}

pub fn blocks_from_value(value: &Value) -> Result<Vec<Block>, WireError> {
    let Value::Array(items) = value else {
        return Err(WireError::NotAnArray(kind(value)));
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

pub fn block_from_value(value: &Value) -> Result<Block, WireError> {
    let Value::Object(fields) = value else {
        return Err(WireError::NotAnObject(kind(value)));
    };
    let get = |field: &'static str| fields.get(field).ok_or(WireError::MissingField(field));

    let index = unsigned(get("index")?, "index", u128::from(u64::MAX))?;
    let timestamp = unsigned(get("timestamp")?, "timestamp", u128::MAX)?;
    let nonce = unsigned(get("nonce")?, "nonce", u128::from(u64::MAX))?;
    let data = string(get("data")?, "data")?.to_owned();
    let prev_hash = match string(get("prev_hash")?, "prev_hash")? {
        "" => None,
        text => Some(hash(text, "prev_hash")?),
    };
    let hash = hash(string(get("hash")?, "hash")?, "hash")?;
    Ok(Block {
        index: Height(index as u64),
        timestamp: Timestamp(timestamp),
        data,
        prev_hash,
        nonce: Nonce(nonce as u64),
        hash,
    })
}

fn string<'a>(value: &'a Value, field: &'static str) -> Result<&'a str, WireError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(WireError::WrongType {
            field,
            expected: "a string",
            found: format!("{} {}", kind(other), shown(other)),
        }),
    }
}

fn hash(text: &str, field: &'static str) -> Result<BlockHash, WireError> {
    text.parse()
        .map_err(|source| WireError::BadHash { field, source })
}

/// A whole number given as a JSON number or a string of decimal digits.
/// Leading zeros are accepted (the original's `int("007")` is 7; the hash
/// uses the canonical text either way); signs, fractions, exponents,
/// whitespace and anything else are not.
fn unsigned(value: &Value, field: &'static str, max: u128) -> Result<u128, WireError> {
    match value {
        Value::String(text) => unsigned_text(text, field, max),
        // With serde_json's arbitrary_precision, this is the literal as sent.
        Value::Number(number) => unsigned_text(&number.to_string(), field, max),
        other => Err(WireError::WrongType {
            field,
            expected: "a number or a string of digits",
            found: format!("{} {}", kind(other), shown(other)),
        }),
    }
}

fn unsigned_text(text: &str, field: &'static str, max: u128) -> Result<u128, WireError> {
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

/// A block's six values as text, ready to print: what `write_text_json`
/// takes, so that stored rows can be served without parsing them.
#[derive(Clone, Copy, Debug)]
pub struct BlockText<'a> {
    pub index: &'a str,
    pub timestamp: &'a str,
    pub data: &'a str,
    pub prev_hash: &'a str,
    pub nonce: &'a str,
    pub hash: &'a str,
}

/// Appends the block as the original's JSON object (all values strings, the
/// key order and `", "`/`": "` spacing of its files).
pub fn write_block_json(block: &Block, out: &mut Vec<u8>) {
    let hash = block.hash.hex_digits();
    let prev = block.prev_hash.map(|h| h.hex_digits());
    let text = |digits: &[u8]| std::str::from_utf8(digits).unwrap_or_default().to_owned();
    write_text_json(
        &BlockText {
            index: &block.index.0.to_string(),
            timestamp: &block.timestamp.0.to_string(),
            data: &block.data,
            prev_hash: &prev.map(|p| text(&p)).unwrap_or_default(),
            nonce: &block.nonce.0.to_string(),
            hash: &text(&hash),
        },
        out,
    );
}

/// Appends a block given as text in the original's JSON form. Every value
/// is escaped, so even odd text cannot break the JSON.
pub fn write_text_json(block: &BlockText<'_>, out: &mut Vec<u8>) {
    let fields = [
        ("nonce", block.nonce),
        ("index", block.index),
        ("hash", block.hash),
        ("timestamp", block.timestamp),
        ("prev_hash", block.prev_hash),
        ("data", block.data),
    ];
    out.push(b'{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\": ");
        // Writing a &str into a Vec cannot fail; escaping is serde_json's.
        let _ = serde_json::to_writer(&mut *out, value);
    }
    out.push(b'}');
}

/// A block in our own `/v1` answers: always six strings. Parsing into
/// this is much faster than into a `Value`; `block_from_text` then applies
/// the same checks as `block_from_value`.
#[derive(Debug, serde::Deserialize)]
pub struct TextBlock {
    pub index: String,
    pub timestamp: String,
    pub data: String,
    pub prev_hash: String,
    pub nonce: String,
    pub hash: String,
}

pub fn block_from_text(block: &TextBlock) -> Result<Block, WireError> {
    let index = unsigned_text(&block.index, "index", u128::from(u64::MAX))?;
    let timestamp = unsigned_text(&block.timestamp, "timestamp", u128::MAX)?;
    let nonce = unsigned_text(&block.nonce, "nonce", u128::from(u64::MAX))?;
    let prev_hash = match block.prev_hash.as_str() {
        "" => None,
        text => Some(hash(text, "prev_hash")?),
    };
    Ok(Block {
        index: Height(index as u64),
        timestamp: Timestamp(timestamp),
        data: block.data.clone(),
        prev_hash,
        nonce: Nonce(nonce as u64),
        hash: hash(&block.hash, "hash")?,
    })
}

/// The block as the original's miner posts it to `/mined`: `index`,
/// `timestamp` and `nonce` as JSON numbers, the rest as strings.
pub fn block_to_json_numbers(block: &Block) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + block.data.len());
    out.extend_from_slice(b"{\"index\": ");
    out.extend_from_slice(block.index.0.to_string().as_bytes());
    out.extend_from_slice(b", \"timestamp\": ");
    out.extend_from_slice(block.timestamp.0.to_string().as_bytes());
    out.extend_from_slice(b", \"nonce\": ");
    out.extend_from_slice(block.nonce.0.to_string().as_bytes());
    out.extend_from_slice(b", \"prev_hash\": \"");
    if let Some(prev) = &block.prev_hash {
        out.extend_from_slice(&prev.hex_digits());
    }
    out.extend_from_slice(b"\", \"hash\": \"");
    out.extend_from_slice(&block.hash.hex_digits());
    out.extend_from_slice(b"\", \"data\": ");
    let _ = serde_json::to_writer(&mut out, &block.data);
    out.push(b'}');
    out
}

pub fn block_to_json(block: &Block) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + block.data.len());
    write_block_json(block, &mut out);
    out
}

/// The block as a JSON value (for embedding in larger API answers).
pub fn block_to_value(block: &Block) -> Value {
    serde_json::json!({
        "index": block.index.0.to_string(),
        "timestamp": block.timestamp.0.to_string(),
        "data": block.data,
        "prev_hash": block.prev_hash.map(|h| h.to_string()).unwrap_or_default(),
        "nonce": block.nonce.0.to_string(),
        "hash": block.hash.to_string(),
    })
}

/// A JSON array of blocks, in the original's form.
pub fn chain_to_json<'a>(blocks: impl IntoIterator<Item = &'a Block>) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, block) in blocks.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        write_block_json(block, &mut out);
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::test_vectors::seed_blocks;

    const FIXTURE: &str = include_str!("../tests/fixtures/seed_vectors.json");

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
