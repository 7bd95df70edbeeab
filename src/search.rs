//! What a search box finds: the text someone typed, read as a height, a
//! block hash or an entry id, or the start of one (8 hex digits or more),
//! and looked up through the store's reads: one block, one entry, nothing, or
//! the candidates when the text names more than one thing. The explorer's
//! box (`GET /v1/search`) and `jbc entry PREFIX` both come here.
//!
//! A height is written in decimal without leading zeros, so `00001234`
//! is only the start of a hash (proof of work makes hashes start with
//! zeros) while `12345678` may be both a height and the start of one;
//! when both name something, the answer lists both.

use std::str::FromStr;

use crate::consensus::{EntryId, Height};
use crate::store::{BlockMatch, EntryReads, HexPrefix, StoreError};

/// The fewest hex digits that make a prefix: fewer would match too much
/// to be worth a lookup.
pub const MIN_PREFIX_DIGITS: usize = 8;
/// A block hash or an entry id in full.
pub const MAX_DIGITS: usize = 64;
/// The most candidates an ambiguous answer lists.
pub const MAX_CANDIDATES: usize = 10;

/// What to look for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// Blocks and entries.
    #[default]
    Any,
    /// Blocks only (by height or hash).
    Block,
    /// Entries only (by id).
    Entry,
}

impl FromStr for Kind {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<Kind, QueryError> {
        match text {
            "block" => Ok(Kind::Block),
            "entry" => Ok(Kind::Entry),
            other => Err(QueryError::BadKind {
                shown: shown(other),
            }),
        }
    }
}

/// A search, checked: what the text can mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The text read as a height (decimal, no leading zeros).
    height: Option<Height>,
    /// The text read as the start of a hash or an id.
    prefix: Option<HexPrefix>,
    kind: Kind,
}

/// Why a text is no search. Each names the text (cut short when long).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error(
        "the search is empty: give {}, or its first {MIN_PREFIX_DIGITS} or more hex digits",
        what.full()
    )]
    Empty { what: Kind },
    #[error(
        "{shown} is too long to search for: {} has {MAX_DIGITS} hex digits, this has {len} \
         characters",
        what.hashed()
    )]
    TooLong {
        shown: String,
        len: usize,
        what: Kind,
    },
    #[error(
        "{shown} is not {}, nor its first {MIN_PREFIX_DIGITS} or more hex digits",
        what.full()
    )]
    NotHex { shown: String, what: Kind },
    #[error(
        "{shown} is too short to search for: the start of {} needs at least \
         {MIN_PREFIX_DIGITS} hex digits{}",
        what.hashed(),
        if *leading_zeros { " (and a height is written without leading zeros)" } else { "" }
    )]
    TooShort {
        shown: String,
        what: Kind,
        /// Decimal digits that would be a height but for a leading zero.
        leading_zeros: bool,
    },
    #[error("kind must be block or entry, not {shown}")]
    BadKind { shown: String },
}

impl Kind {
    /// Everything a search for this kind takes, for messages.
    fn full(self) -> &'static str {
        match self {
            Kind::Any => "a height, a block hash or an entry id",
            Kind::Block => "a height or a block hash",
            Kind::Entry => "an entry id",
        }
    }

    /// What a search for this kind takes the start of.
    fn hashed(self) -> &'static str {
        match self {
            Kind::Any => "a block hash or an entry id",
            Kind::Block => "a block hash",
            Kind::Entry => "an entry id",
        }
    }
}

/// A text as an error shows it: quoted, and cut after 40 characters (a
/// search box can be sent kilobytes of anything).
fn shown(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        return format!("{text:?}");
    }
    let start: String = text.chars().take(MAX).collect();
    format!("{start:?}...")
}

impl Query {
    /// Reads what someone typed (spaces around it and upper case are
    /// forgiven) for `kind` of thing.
    pub fn parse(text: &str, kind: Kind) -> Result<Query, QueryError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(QueryError::Empty { what: kind });
        }
        let len = text.chars().count();
        if len > MAX_DIGITS {
            return Err(QueryError::TooLong {
                shown: shown(text),
                len,
                what: kind,
            });
        }
        let digits = text.to_ascii_lowercase();
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(QueryError::NotHex {
                shown: shown(text),
                what: kind,
            });
        }
        let decimal = digits.bytes().all(|b| b.is_ascii_digit());
        let height =
            (kind != Kind::Entry && decimal && (digits == "0" || !digits.starts_with('0')))
                .then(|| digits.parse().ok().map(Height))
                .flatten();
        let prefix = (digits.len() >= MIN_PREFIX_DIGITS)
            .then(|| HexPrefix::new(&digits))
            .flatten();
        if height.is_none() && prefix.is_none() {
            return Err(QueryError::TooShort {
                shown: shown(text),
                what: kind,
                leading_zeros: decimal && kind != Kind::Entry,
            });
        }
        Ok(Query {
            height,
            prefix,
            kind,
        })
    }
}

/// One thing a search names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    Block(BlockMatch),
    Entry(EntryId),
}

/// What a search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    Nothing,
    One(Hit),
    /// More than one thing: the first `MAX_CANDIDATES` (the block at the
    /// height first, then blocks by hash, then entries by id), and whether
    /// there are more.
    Ambiguous {
        candidates: Vec<Hit>,
        more: bool,
    },
}

/// Looks `query` up. Each lookup reads at most one more row than
/// `MAX_CANDIDATES`, whatever the size of the chain.
pub fn find(reads: &impl EntryReads, query: &Query) -> Result<Found, StoreError> {
    let mut hits = Vec::new();
    if let Some(index) = query.height
        && let Some(hash) = reads.main_hash_at(index)?
    {
        hits.push(Hit::Block(BlockMatch {
            index,
            hash,
            on_main_chain: true,
        }));
    }
    if let Some(prefix) = &query.prefix {
        if query.kind != Kind::Entry {
            for block in reads.blocks_by_prefix(prefix, MAX_CANDIDATES + 1)? {
                // The block at the height may also start with its digits.
                if !hits.contains(&Hit::Block(block)) {
                    hits.push(Hit::Block(block));
                }
            }
        }
        if query.kind != Kind::Block {
            let entries = reads.entries_by_prefix(prefix, MAX_CANDIDATES + 1)?;
            hits.extend(entries.into_iter().map(Hit::Entry));
        }
    }
    Ok(match hits.len() {
        0 => Found::Nothing,
        1 => Found::One(hits[0]),
        _ => {
            let more = hits.len() > MAX_CANDIDATES;
            hits.truncate(MAX_CANDIDATES);
            Found::Ambiguous {
                candidates: hits,
                more,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Query, QueryError> {
        Query::parse(text, Kind::Any)
    }

    #[test]
    fn heights_prefixes_and_both() {
        let q = parse(" 42 ").unwrap();
        assert_eq!((q.height, q.prefix), (Some(Height(42)), None));
        assert_eq!(parse("0").unwrap().height, Some(Height(0)));
        let q = parse("0000ABCD").unwrap();
        assert_eq!(q.height, None);
        assert_eq!(q.prefix.unwrap().as_str(), "0000abcd");
        // Leading zeros: a hash, not a height.
        assert_eq!(parse("00001234").unwrap().height, None);
        let q = parse("12345678").unwrap();
        assert_eq!(q.height, Some(Height(12345678)));
        assert_eq!(q.prefix.unwrap().as_str(), "12345678");
        // Too large for a height, still a prefix.
        let q = parse("99999999999999999999").unwrap();
        assert_eq!(q.height, None);
        assert!(q.prefix.is_some());
        // An entry has no height.
        assert!(matches!(
            Query::parse("42", Kind::Entry),
            Err(QueryError::TooShort {
                what: Kind::Entry,
                leading_zeros: false,
                ..
            })
        ));
        let full = "a".repeat(64);
        assert_eq!(parse(&full).unwrap().prefix.unwrap().as_str(), full);
    }

    #[test]
    fn bad_text_is_refused_naming_it_and_never_at_length() {
        assert_eq!(parse("  "), Err(QueryError::Empty { what: Kind::Any }));
        let e = parse("abc").unwrap_err().to_string();
        assert!(
            e.contains("\"abc\"") && e.contains("at least 8 hex digits"),
            "{e}"
        );
        let e = parse("007").unwrap_err().to_string();
        assert!(e.contains("leading zeros"), "{e}");
        let e = parse("block 7").unwrap_err().to_string();
        assert_eq!(
            e,
            "\"block 7\" is not a height, a block hash or an entry id, nor its first 8 or more \
             hex digits"
        );
        let e = Query::parse("é".repeat(10).as_str(), Kind::Entry).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("\"éééééééééé\" is not an entry id"),
            "{e}"
        );
        let junk = "x".repeat(10_000);
        let e = parse(&junk).unwrap_err().to_string();
        assert!(e.contains("10000 characters") && e.len() < 200, "{e}");
        let e = parse(&"a".repeat(65)).unwrap_err().to_string();
        assert!(e.contains("65 characters"), "{e}");
        assert!(matches!(
            "blocks".parse::<Kind>(),
            Err(QueryError::BadKind { .. })
        ));
    }
}
