//! Entries inside a block: the `jbc-entries/1` format of a block's `data`
//! (a format line, the miner's note, then one canonical entry per line),
//! read and written, and the valid entries of a block under a network's
//! rules. An original node sees only text.

use super::{CheckedEntry, Entry, EntryError, EntryRules, FORMAT_LINE, json_string};
use crate::consensus::hash::BlockHash;

/// The entries a block carries, as its `data` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockEntries {
    /// The miner's own text.
    pub note: String,
    /// Each line after the note: the entry, or why it is not one.
    pub lines: Vec<Result<Entry, EntryError>>,
}

impl BlockEntries {
    /// Reads a block's `data`. `None` when it is a plain note (no entries
    /// format line), as every original block is.
    pub fn parse(data: &str) -> Option<Result<BlockEntries, EntryError>> {
        let mut lines = data.split('\n');
        let first = lines.next().unwrap_or_default();
        if !first.starts_with("jbc-entries/") {
            return None;
        }
        if first != FORMAT_LINE {
            return Some(Err(EntryError::UnknownFormat(first.to_owned())));
        }
        let note = match lines.next().and_then(|l| l.strip_prefix("note ")) {
            Some(json) => match serde_json::from_str::<String>(json) {
                Ok(note) if json_string(&note) == json => note,
                _ => return Some(Err(EntryError::MissingNote)),
            },
            None => return Some(Err(EntryError::MissingNote)),
        };
        let lines = lines.map(Entry::parse_line).collect();
        Some(Ok(BlockEntries { note, lines }))
    }

    /// The `data` of a block with this note and these entries.
    pub fn encode(note: &str, entries: impl IntoIterator<Item = impl AsRef<str>>) -> String {
        let mut data = format!("{FORMAT_LINE}\nnote {}", json_string(note));
        for line in entries {
            data.push('\n');
            data.push_str(line.as_ref());
        }
        data
    }
}

/// An entry found in a block, valid under the network's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockEntry {
    /// Its place among the block's entry lines, from 0.
    pub position: usize,
    pub entry: CheckedEntry,
}

/// The entries of a block's `data` under a network's rules: the valid
/// ones, in order. On a strict network any broken rule (a bad entry, a
/// repeated one, data over the limit, a malformed section) is an error;
/// otherwise bad lines are skipped and a repeated entry counts once.
pub fn block_entries(
    data: &str,
    rules: &EntryRules,
    genesis: &BlockHash,
) -> Result<Vec<BlockEntry>, EntryError> {
    if rules.strict && data.len() > rules.max_block_data_bytes {
        return Err(EntryError::DataTooLarge {
            size: data.len(),
            max: rules.max_block_data_bytes,
        });
    }
    let parsed = match BlockEntries::parse(data) {
        None => return Ok(Vec::new()),
        Some(Err(e)) if rules.strict => return Err(e),
        Some(Err(_)) => return Ok(Vec::new()),
        Some(Ok(parsed)) => parsed,
    };
    let mut found: Vec<BlockEntry> = Vec::with_capacity(parsed.lines.len());
    let mut seen = std::collections::HashSet::with_capacity(parsed.lines.len());
    for (position, line) in parsed.lines.into_iter().enumerate() {
        let checked = line.and_then(|entry| {
            let entry = CheckedEntry::new(entry, rules, genesis)?;
            if !seen.insert(entry.id()) {
                return Err(EntryError::Repeated(entry.id()));
            }
            Ok(BlockEntry { position, entry })
        });
        match checked {
            Ok(entry) => found.push(entry),
            Err(error) if rules.strict => {
                return Err(EntryError::InBlock {
                    line: position + 3,
                    error: Box::new(error),
                });
            }
            Err(_) => {}
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::entry::Content;

    fn genesis() -> BlockHash {
        "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c"
            .parse()
            .unwrap()
    }

    fn text(t: &str) -> Entry {
        Entry::new(Content::Text(t.into()))
    }

    #[test]
    fn block_data_round_trip_and_strictness() {
        let entries = [text("a"), text("b")];
        let data = BlockEntries::encode("note \u{e9}", entries.iter().map(Entry::encoding));
        assert!(data.is_ascii());
        let parsed = BlockEntries::parse(&data).unwrap().unwrap();
        assert_eq!(parsed.note, "note \u{e9}");
        assert_eq!(parsed.lines.len(), 2);
        let strict = EntryRules {
            strict: true,
            ..EntryRules::ORIGINAL
        };
        let found = block_entries(&data, &strict, &genesis()).unwrap();
        assert_eq!(found[1].entry.id(), text("b").id());
        assert!(BlockEntries::parse("I block #3").is_none());
        // A repeated or malformed entry: invalid on a strict network,
        // skipped on the article's.
        let repeated = BlockEntries::encode("", [text("a").encoding(), text("a").encoding()]);
        assert!(matches!(
            block_entries(&repeated, &strict, &genesis()),
            Err(EntryError::InBlock { line: 4, .. })
        ));
        assert_eq!(
            block_entries(&repeated, &EntryRules::ORIGINAL, &genesis())
                .unwrap()
                .len(),
            1
        );
        let bad = BlockEntries::encode("", ["{\"text\":\"\"}", "not json"]);
        assert!(block_entries(&bad, &strict, &genesis()).is_err());
        assert!(
            block_entries(&bad, &EntryRules::ORIGINAL, &genesis())
                .unwrap()
                .is_empty()
        );
    }
}
