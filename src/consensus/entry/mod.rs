//! Entries: the data users put on the chain, and how they travel inside a
//! block's `data` without changing the original's block format.
//!
//! An `Entry` is a small typed value: its content (UTF-8 text, or the
//! SHA-256 digest of a file: a notary stamp), optionally an author (an
//! ed25519 public key) with a signature, and optionally a stamp (a nonce
//! that gives the entry's id leading zero bits, a small proof of work
//! against spam).
//!
//! Its one canonical encoding is a line of JSON, exactly what Python's
//! `json.dumps(obj, separators=(",", ":"), ensure_ascii=True)` writes for
//! the keys in this order: `text` or `sha256`, `author`, `stamp`, `sig`.
//! Being pure ASCII, it is carried by every original node, even the
//! Python 2 one. The unsigned form (without `sig`) is what the id hashes
//! and what the signature covers, after a domain tag and the network's
//! genesis hash, so a signed entry cannot be replayed on another network.
//!
//! A block carries entries when its `data` reads:
//!
//! ```text
//! jbc-entries/1
//! note "the miner's own text (its data.txt)"
//! {"text":"invoice 2026-117 paid"}
//! {"sha256":"9f86d0...","author":"3d4017...","sig":"..."}
//! ```
//!
//! Anything else in `data` is a plain note, as in the original. This module
//! reads only its arguments; it decides what an entry is and whether it is
//! valid, not where entries are kept (`crate::pool`, `crate::store`).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Signer;

use super::hash::{BlockHash, HashParseError, from_lowercase_hex};

/// The first line of a block's `data` that carries entries.
pub const FORMAT_LINE: &str = "jbc-entries/1";
/// What the signature covers before the genesis hash and the entry.
const SIGNATURE_DOMAIN: &str = "jbc-entry-signature/1";

/// An entry's id: SHA-256 of its canonical unsigned encoding.
pub type EntryId = BlockHash;

/// An author: an ed25519 public key (hex in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthorKey(pub [u8; 32]);

/// An ed25519 signature (hex in JSON).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex(&self.0))
    }
}

/// What an entry says.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Content {
    Text(String),
    /// The SHA-256 digest of a document: the entry proves the document
    /// existed when the entry's block was mined, without revealing it.
    Sha256([u8; 32]),
}

/// Who wrote an entry, provably.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Authorship {
    pub key: AuthorKey,
    pub signature: Signature,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub content: Content,
    /// For a signed entry: the key and its signature.
    pub author: Option<Authorship>,
    /// The anti-spam nonce, when the network asks for one.
    pub stamp: Option<u64>,
}

/// Why an entry (or a block's entry section) is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("an entry is a JSON object, {0}")]
    NotJson(String),
    #[error("an entry has a \"text\" or a \"sha256\", not both and not neither")]
    NoContent,
    #[error("field \"text\" is empty")]
    EmptyText,
    #[error("field {field:?}: {problem}")]
    BadField {
        field: &'static str,
        problem: String,
    },
    #[error("field {0:?} is not part of an entry")]
    UnknownField(String),
    #[error("a signed entry has both \"author\" and \"sig\"; this one has only {0:?}")]
    HalfSigned(&'static str),
    #[error("the entry is {size} bytes, more than the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("the signature does not match the entry, its author and this network")]
    BadSignature,
    #[error(
        "the entry's id {id} has {found} leading zero bits; this network wants {required} (a stamp)"
    )]
    MissingStamp {
        id: EntryId,
        found: u32,
        required: u8,
    },
    #[error("the entry is not in canonical form; it should read {expected}")]
    NotCanonical { expected: String },
    #[error("line {line} of the entries: {error}")]
    InBlock { line: usize, error: Box<EntryError> },
    #[error("the block's data is {size} bytes, more than the {max}-byte limit")]
    DataTooLarge { size: usize, max: usize },
    #[error("the entry {0} appears twice in the block")]
    Repeated(EntryId),
    #[error("{0:?} is not an entries format this node knows (it knows {FORMAT_LINE:?})")]
    UnknownFormat(String),
    #[error("the second line of the entries must be the note: note \"...\"")]
    MissingNote,
    #[error("the third line of the entries must say how many and their root: entries N ROOT")]
    MissingCount,
    #[error("the block commits to {expected} entries but {found} came with it")]
    MissingBody { expected: u64, found: usize },
    #[error(
        "the entries that came with the block have root {computed}, not the {stated} it commits to"
    )]
    RootMismatch { stated: String, computed: String },
    #[error("this network commits entries by their Merkle root (jbc-entries/2), not inline")]
    InlineOnMerkle,
}

impl Entry {
    /// An unsigned, unstamped entry.
    pub fn new(content: Content) -> Entry {
        Entry {
            content,
            author: None,
            stamp: None,
        }
    }

    /// The canonical encoding without the signature: what the id hashes
    /// and the signature covers.
    pub fn unsigned_encoding(&self) -> String {
        self.encode(false)
    }

    /// The canonical encoding, as it stands in a block.
    pub fn encoding(&self) -> String {
        self.encode(true)
    }

    fn encode(&self, with_signature: bool) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(96);
        out.push('{');
        match &self.content {
            Content::Text(text) => {
                out.push_str("\"text\":");
                push_json_string(&mut out, text);
            }
            Content::Sha256(digest) => {
                let _ = write!(out, "\"sha256\":\"{}\"", hex(digest));
            }
        }
        if let Some(author) = &self.author {
            let _ = write!(out, ",\"author\":\"{}\"", author.key);
        }
        if let Some(stamp) = self.stamp {
            let _ = write!(out, ",\"stamp\":{stamp}");
        }
        if let (true, Some(author)) = (with_signature, &self.author) {
            let _ = write!(out, ",\"sig\":\"{}\"", hex(&author.signature.0));
        }
        out.push('}');
        out
    }

    pub fn id(&self) -> EntryId {
        EntryId::of(self.unsigned_encoding().as_bytes())
    }

    /// Reads an entry from a JSON object in any spelling (key order,
    /// spaces, escapes). With `strict`, a key that is not part of an entry
    /// is an error; otherwise it is ignored.
    pub fn from_json(value: &serde_json::Value, strict: bool) -> Result<Entry, EntryError> {
        use serde_json::Value;
        let Value::Object(fields) = value else {
            return Err(EntryError::NotJson(format!("found {}", json_kind(value))));
        };
        if strict
            && let Some(unknown) = fields
                .keys()
                .find(|k| !["text", "sha256", "author", "sig", "stamp"].contains(&k.as_str()))
        {
            return Err(EntryError::UnknownField(unknown.clone()));
        }
        let string = |field: &'static str| -> Result<Option<&str>, EntryError> {
            match fields.get(field) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(EntryError::BadField {
                    field,
                    problem: format!("must be a string, found {other}"),
                }),
            }
        };
        let content = match (string("text")?, string("sha256")?) {
            (Some(""), None) => return Err(EntryError::EmptyText),
            (Some(text), None) => Content::Text(text.to_owned()),
            (None, Some(digest)) => Content::Sha256(hex_array("sha256", digest)?),
            _ => return Err(EntryError::NoContent),
        };
        let author = match (string("author")?, string("sig")?) {
            (None, None) => None,
            (Some(key), Some(sig)) => Some(Authorship {
                key: AuthorKey(hex_array("author", key)?),
                signature: Signature(hex_array("sig", sig)?),
            }),
            (Some(_), None) => return Err(EntryError::HalfSigned("author")),
            (None, Some(_)) => return Err(EntryError::HalfSigned("sig")),
        };
        let stamp = fields.get("stamp").map(|value| {
            value.as_u64().ok_or_else(|| EntryError::BadField {
                field: "stamp",
                problem: format!("must be a whole number from 0 to 2^64-1, found {value}"),
            })
        });
        Ok(Entry {
            content,
            author,
            stamp: stamp.transpose()?,
        })
    }

    /// `parse_line` (in `plain.rs`) by way of a JSON tree: any spelling is
    /// read, and one that is not canonical is named.
    fn parse_json_line(line: &str) -> Result<Entry, EntryError> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| EntryError::NotJson(e.to_string()))?;
        let entry = Entry::from_json(&value, true)?;
        let canonical = entry.encoding();
        if canonical != line {
            return Err(EntryError::NotCanonical {
                expected: canonical,
            });
        }
        Ok(entry)
    }

    /// Checks the entry against a network's rules; its id when valid.
    pub fn check(&self, rules: &EntryRules, genesis: &BlockHash) -> Result<EntryId, EntryError> {
        self.check_encoded(&self.encoding(), rules, genesis)
    }

    /// `check`, given the entry's canonical line (computed once by the
    /// caller that keeps it).
    fn check_encoded(
        &self,
        line: &str,
        rules: &EntryRules,
        genesis: &BlockHash,
    ) -> Result<EntryId, EntryError> {
        if matches!(&self.content, Content::Text(text) if text.is_empty()) {
            return Err(EntryError::EmptyText);
        }
        if line.len() > rules.max_entry_bytes {
            return Err(EntryError::TooLarge {
                size: line.len(),
                max: rules.max_entry_bytes,
            });
        }
        let unsigned = match &self.author {
            Some(_) => std::borrow::Cow::Owned(self.unsigned_encoding()),
            // Without a signature the two forms are the same text.
            None => std::borrow::Cow::Borrowed(line),
        };
        let id = EntryId::of(unsigned.as_bytes());
        let found = leading_zero_bits(&id);
        if found < u32::from(rules.stamp_bits) {
            return Err(EntryError::MissingStamp {
                id,
                found,
                required: rules.stamp_bits,
            });
        }
        if let Some(author) = &self.author {
            let key = ed25519_dalek::VerifyingKey::from_bytes(&author.key.0)
                .map_err(|_| EntryError::BadSignature)?;
            let signature = ed25519_dalek::Signature::from_bytes(&author.signature.0);
            key.verify_strict(&signing_message(&unsigned, genesis), &signature)
                .map_err(|_| EntryError::BadSignature)?;
        }
        Ok(id)
    }

    /// What `jbc submit` sends: the author's key in place (it is part of
    /// the id), then a stamp of `bits` (the id must have them), then the
    /// signature (which covers the stamp).
    pub fn prepared(mut self, stamp_bits: u8, signer: Option<(&[u8; 32], &BlockHash)>) -> Entry {
        if let Some((secret, _)) = signer {
            self.author = Some(Authorship {
                key: public_key(secret),
                signature: Signature([0; 64]),
            });
        }
        let entry = self.stamped(stamp_bits);
        match signer {
            Some((secret, genesis)) => entry.signed(secret, genesis),
            None => entry,
        }
    }

    /// Finds a stamp that gives the id `bits` leading zero bits (about
    /// 2^bits tries). The id covers the author's key: set it first (see
    /// `prepared`), and sign after.
    pub fn stamped(mut self, bits: u8) -> Entry {
        if bits == 0 {
            return self;
        }
        for stamp in 0u64.. {
            self.stamp = Some(stamp);
            if leading_zero_bits(&self.id()) >= u32::from(bits) {
                break;
            }
        }
        self
    }

    /// Signs the entry (with its stamp, if any) for the network whose
    /// genesis is `genesis`.
    pub fn signed(mut self, secret: &[u8; 32], genesis: &BlockHash) -> Entry {
        let key = ed25519_dalek::SigningKey::from_bytes(secret);
        // The author's key is part of the signed form; the signature not.
        let mut author = Authorship {
            key: AuthorKey(key.verifying_key().to_bytes()),
            signature: Signature([0; 64]),
        };
        self.author = Some(author.clone());
        let message = signing_message(&self.unsigned_encoding(), genesis);
        author.signature = Signature(key.sign(&message).to_bytes());
        self.author = Some(author);
        self
    }
}

/// The public key of a secret key.
pub fn public_key(secret: &[u8; 32]) -> AuthorKey {
    AuthorKey(
        ed25519_dalek::SigningKey::from_bytes(secret)
            .verifying_key()
            .to_bytes(),
    )
}

/// What an author signs: the domain tag, the network's genesis hash, and
/// the entry's unsigned encoding, one per line.
pub fn signing_message(unsigned: &str, genesis: &BlockHash) -> Vec<u8> {
    format!("{SIGNATURE_DOMAIN}\n{genesis}\n{unsigned}").into_bytes()
}

pub fn leading_zero_bits(id: &EntryId) -> u32 {
    let bytes = id.as_bytes();
    let first = bytes.iter().position(|byte| *byte != 0);
    first.map_or(256, |i| 8 * i as u32 + bytes[i].leading_zeros())
}

/// An entry that passed a network's rules, with its id and its canonical
/// line, each computed once: what HTTP, sync, the pool and relay pass
/// around. Only `CheckedEntry::new` (or `from_json`, `from_line`) makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedEntry {
    id: EntryId,
    entry: Entry,
    line: String,
}

impl CheckedEntry {
    /// Checks `entry` against the rules of the network whose genesis is
    /// `genesis`.
    pub fn new(
        entry: Entry,
        rules: &EntryRules,
        genesis: &BlockHash,
    ) -> Result<CheckedEntry, EntryError> {
        let line = entry.encoding();
        let id = entry.check_encoded(&line, rules, genesis)?;
        Ok(CheckedEntry { id, entry, line })
    }

    /// An entry line as a block carries it: canonical, then checked (its
    /// encoding is the line itself, not made again).
    pub fn from_line(
        line: &str,
        rules: &EntryRules,
        genesis: &BlockHash,
    ) -> Result<CheckedEntry, EntryError> {
        let entry = Entry::parse_line(line)?;
        let id = entry.check_encoded(line, rules, genesis)?;
        Ok(CheckedEntry {
            id,
            entry,
            line: line.to_owned(),
        })
    }

    /// An entry as a JSON object arrives (HTTP, a peer's pending list):
    /// read in any spelling, then checked.
    pub fn from_json(
        value: &serde_json::Value,
        rules: &EntryRules,
        genesis: &BlockHash,
    ) -> Result<CheckedEntry, EntryError> {
        CheckedEntry::new(Entry::from_json(value, rules.strict)?, rules, genesis)
    }

    pub fn id(&self) -> EntryId {
        self.id
    }

    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The canonical encoding, as a block carries it.
    pub fn line(&self) -> &str {
        &self.line
    }
}

mod block_data;
mod plain;
mod rules;
pub use block_data::{BlockEntries, BlockEntry, COMMITTED_FORMAT_LINE, Committed, block_entries};
pub use rules::{Commit, EntryRules};

/// What a JSON value is, in words, for errors: "an array", "null".
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Lowercase hex of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// Lowercase hex of exactly `N` bytes into an array.
pub fn hex_array<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], EntryError> {
    let bad = |problem: String| EntryError::BadField { field, problem };
    if text.len() != 2 * N {
        return Err(bad(format!(
            "must be {} lowercase hex digits, found {} characters",
            2 * N,
            text.chars().count()
        )));
    }
    from_lowercase_hex(text.as_bytes())
        .ok_or_else(|| bad(format!("must be lowercase hex, found {text:?}")))
}

/// A JSON string literal as Python's `json.dumps(s, ensure_ascii=True)`
/// writes it: pure ASCII, `\uXXXX` (lowercase, surrogate pairs) for the
/// rest.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_json_string(&mut out, text);
    out
}

fn push_json_string(out: &mut String, text: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl FromStr for AuthorKey {
    type Err = EntryError;

    fn from_str(text: &str) -> Result<AuthorKey, EntryError> {
        hex_array("author", text).map(AuthorKey)
    }
}

impl From<HashParseError> for EntryError {
    fn from(e: HashParseError) -> EntryError {
        EntryError::BadField {
            field: "id",
            problem: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn genesis() -> BlockHash {
        crate::consensus::network::SEED_GENESIS_HASH
            .parse()
            .unwrap()
    }

    pub(super) fn text(t: &str) -> Entry {
        Entry::new(Content::Text(t.into()))
    }

    #[test]
    fn encoding_is_pythons_ascii_json() {
        assert_eq!(text("hi").encoding(), r#"{"text":"hi"}"#);
        assert_eq!(
            text("caf\u{e9} \"q\" \\ \n\u{1}\u{7f}\u{1f600}").encoding(),
            r#"{"text":"caf\u00e9 \"q\" \\ \n\u0001\u007f\ud83d\ude00"}"#
        );
        let stamped = Entry {
            stamp: Some(42),
            ..Entry::new(Content::Sha256([0xab; 32]))
        };
        assert_eq!(
            stamped.encoding(),
            format!("{{\"sha256\":\"{}\",\"stamp\":42}}", "ab".repeat(32))
        );
    }

    #[test]
    fn lines_must_be_canonical() {
        let entry = text("invoice 2026-117 paid");
        assert_eq!(Entry::parse_line(&entry.encoding()).unwrap(), entry);
        for other in [
            r#"{ "text":"invoice 2026-117 paid"}"#,
            r#"{"text":"invoice 2026-117 paid","x":1}"#,
            r#"{"text":"caf\u00E9"}"#,
        ] {
            assert!(Entry::parse_line(other).is_err(), "{other}");
        }
        assert!(matches!(
            Entry::parse_line(r#"{"text":"café"}"#),
            Err(EntryError::NotCanonical { .. })
        ));
    }

    #[test]
    fn signatures_bind_the_entry_and_the_network() {
        let rules = EntryRules::ORIGINAL;
        let secret = [7u8; 32];
        let signed = text("release v1.2 approved").signed(&secret, &genesis());
        signed.check(&rules, &genesis()).unwrap();
        assert_eq!(signed.author.as_ref().unwrap().key, public_key(&secret));
        // One byte changed: refused.
        let mut changed = signed.clone();
        changed.content = Content::Text("release v1.3 approved".into());
        assert_eq!(
            changed.check(&rules, &genesis()),
            Err(EntryError::BadSignature)
        );
        // Another network: refused.
        let other = BlockHash::from_bytes([1; 32]);
        assert_eq!(signed.check(&rules, &other), Err(EntryError::BadSignature));
        // The id ignores the signature but not the author.
        assert_ne!(signed.id(), text("release v1.2 approved").id());
    }

    #[test]
    fn stamps_give_the_id_its_zero_bits() {
        let rules = EntryRules {
            stamp_bits: 10,
            ..EntryRules::ORIGINAL
        };
        let plain = text("spam?");
        if leading_zero_bits(&plain.id()) < 10 {
            assert!(matches!(
                plain.check(&rules, &genesis()),
                Err(EntryError::MissingStamp { .. })
            ));
        }
        let stamped = plain.stamped(10);
        assert!(leading_zero_bits(&stamped.check(&rules, &genesis()).unwrap()) >= 10);
        // Signed too: the key is in place before the stamp is found.
        let secret = [5u8; 32];
        let both = text("spam?").prepared(10, Some((&secret, &genesis())));
        assert!(leading_zero_bits(&both.check(&rules, &genesis()).unwrap()) >= 10);
        assert_eq!(both.author.unwrap().key, public_key(&secret));
    }
}
