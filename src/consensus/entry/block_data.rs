//! A block's entries, in its two formats. `jbc-entries/1` (inline) puts
//! them in the block's `data`: a format line, the miner's note, then one
//! canonical entry per line. `jbc-entries/2` (committed) puts three lines
//! there, the format, the note and `entries N ROOT`, the Merkle root of
//! the N entries (`merkle`), which travel beside the block as its body.
//! Here both are read and written, and a block's valid entries found under
//! a network's rules. An original node sees only text.

use super::{
    CheckedEntry, Commit, Entry, EntryError, EntryRules, FORMAT_LINE, hex, hex_array, json_string,
};
use crate::consensus::hash::BlockHash;
use crate::consensus::merkle;

/// The first line of a block whose entries travel beside it.
pub const COMMITTED_FORMAT_LINE: &str = "jbc-entries/2";

/// What the `data` of a block of the committed format says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The miner's own text.
    pub note: String,
    pub count: u64,
    /// The Merkle root of the entries' canonical lines.
    pub root: merkle::Node,
}

impl Committed {
    /// The `data` of a block with this note carrying these entry lines.
    pub fn encode(note: &str, lines: &[impl AsRef<str>]) -> String {
        format!(
            "{COMMITTED_FORMAT_LINE}\nnote {}\nentries {} {}",
            json_string(note),
            lines.len(),
            hex(&merkle::root(&merkle::leaves_of(lines)))
        )
    }

    /// Reads a block's `data`. `None` when it is not of this format.
    pub fn parse(data: &str) -> Option<Result<Committed, EntryError>> {
        let mut lines = data.split('\n');
        if lines.next() != Some(COMMITTED_FORMAT_LINE) {
            return None;
        }
        let Some(note) = parse_note(lines.next()) else {
            return Some(Err(EntryError::MissingNote));
        };
        let count_line = lines.next().and_then(|l| l.strip_prefix("entries "));
        let parsed = count_line.and_then(|rest| {
            let (count, root) = rest.split_once(' ')?;
            let canonical = count == "0" || !count.starts_with('0');
            let count = count.parse::<u64>().ok().filter(|_| canonical)?;
            let root = hex_array::<32>("root", root).ok()?;
            Some((count, root))
        });
        let Some((count, root)) = parsed.filter(|_| lines.next().is_none()) else {
            return Some(Err(EntryError::MissingCount));
        };
        Some(Ok(Committed { note, count, root }))
    }
}

/// The note line, `note "..."`, its JSON string in canonical form.
fn parse_note(line: Option<&str>) -> Option<String> {
    let json = line?.strip_prefix("note ")?;
    let note = serde_json::from_str::<String>(json).ok()?;
    (json_string(&note) == json).then_some(note)
}

impl Commit {
    /// Bytes a block's entries take besides their lines (each of which
    /// costs its length and one): the format line and the note, and where
    /// the data commits to them, the count and the root.
    pub fn overhead(self, note: &str) -> usize {
        let header = FORMAT_LINE.len() + "\nnote ".len() + json_string(note).len();
        match self {
            Commit::Inline => header,
            // "\nentries " + up to 20 digits + " " + 64 hex digits.
            Commit::Merkle => header + 9 + 20 + 1 + 64,
        }
    }

    /// A block's data and body with this note and these entry lines (at
    /// least one).
    pub fn encode(self, note: &str, lines: Vec<String>) -> (String, Vec<String>) {
        match self {
            Commit::Inline => (BlockEntries::encode(note, lines), Vec::new()),
            Commit::Merkle => (Committed::encode(note, &lines), lines),
        }
    }
}

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
        let Some(note) = parse_note(lines.next()) else {
            return Some(Err(EntryError::MissingNote));
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

/// The entries of a block under a network's rules: the valid ones, in
/// order. `body` is what travels beside a block of the committed format
/// (its entry lines; nothing for an inline block). On a strict network any
/// broken rule (a bad entry, a repeated one, data over the limit, a
/// malformed section, a body that does not match its root) is an error;
/// otherwise bad lines are skipped and a repeated entry counts once.
pub fn block_entries(
    data: &str,
    body: &[String],
    rules: &EntryRules,
    genesis: &BlockHash,
) -> Result<Vec<BlockEntry>, EntryError> {
    let size = data.len() + body.iter().map(|line| line.len() + 1).sum::<usize>();
    if rules.strict && size > rules.max_block_data_bytes {
        return Err(EntryError::DataTooLarge {
            size,
            max: rules.max_block_data_bytes,
        });
    }
    let check = |entry: Entry| CheckedEntry::new(entry, rules, genesis);
    // Checked one at a time: a strict network stops at the first bad one.
    let lines: Box<dyn ExactSizeIterator<Item = Result<CheckedEntry, EntryError>>> = match rules
        .commit
    {
        Commit::Inline => match BlockEntries::parse(data) {
            None => return Ok(Vec::new()),
            Some(Err(e)) if rules.strict => return Err(e),
            Some(Err(_)) => return Ok(Vec::new()),
            Some(Ok(parsed)) => Box::new(parsed.lines.into_iter().map(|e| e.and_then(check))),
        },
        Commit::Merkle => {
            let committed = match Committed::parse(data) {
                Some(committed) => committed?,
                // An original miner's note: no entries.
                None if !data.starts_with("jbc-entries/") => return Ok(Vec::new()),
                None if data.starts_with(&format!("{FORMAT_LINE}\n")) || data == FORMAT_LINE => {
                    return Err(EntryError::InlineOnMerkle);
                }
                None => {
                    let first = data.split('\n').next().unwrap_or_default();
                    return Err(EntryError::UnknownFormat(first.to_owned()));
                }
            };
            if committed.count != body.len() as u64 {
                return Err(EntryError::MissingBody {
                    expected: committed.count,
                    found: body.len(),
                });
            }
            let computed = merkle::root(&merkle::leaves_of(body));
            if computed != committed.root {
                return Err(EntryError::RootMismatch {
                    stated: hex(&committed.root),
                    computed: hex(&computed),
                });
            }
            Box::new(
                body.iter()
                    .map(|line| CheckedEntry::from_line(line, rules, genesis)),
            )
        }
    };
    let first_line = match rules.commit {
        // Entry lines come after the format line and the note.
        Commit::Inline => 3,
        Commit::Merkle => 1,
    };
    let mut found: Vec<BlockEntry> = Vec::with_capacity(lines.len());
    let mut seen = std::collections::HashSet::with_capacity(lines.len());
    for (position, line) in lines.enumerate() {
        let checked = line.and_then(|entry| {
            if !seen.insert(entry.id()) {
                return Err(EntryError::Repeated(entry.id()));
            }
            Ok(BlockEntry { position, entry })
        });
        match checked {
            Ok(entry) => found.push(entry),
            Err(error) if rules.strict => {
                return Err(EntryError::InBlock {
                    line: position + first_line,
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
    use super::super::tests::{genesis, text};
    use super::*;

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
        let found = block_entries(&data, &[], &strict, &genesis()).unwrap();
        assert_eq!(found[1].entry.id(), text("b").id());
        assert!(BlockEntries::parse("I block #3").is_none());
        // A repeated or malformed entry: invalid on a strict network,
        // skipped on the article's.
        let repeated = BlockEntries::encode("", [text("a").encoding(), text("a").encoding()]);
        assert!(matches!(
            block_entries(&repeated, &[], &strict, &genesis()),
            Err(EntryError::InBlock { line: 4, .. })
        ));
        assert_eq!(
            block_entries(&repeated, &[], &EntryRules::ORIGINAL, &genesis())
                .unwrap()
                .len(),
            1
        );
        let bad = BlockEntries::encode("", ["{\"text\":\"\"}", "not json"]);
        assert!(block_entries(&bad, &[], &strict, &genesis()).is_err());
        assert!(
            block_entries(&bad, &[], &EntryRules::ORIGINAL, &genesis())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_committed_block_carries_its_root_and_its_entries_beside_it() {
        let rules = EntryRules::STRICT;
        let lines: Vec<String> = ["a", "b", "c"].iter().map(|t| text(t).encoding()).collect();
        let data = Committed::encode("note", &lines);
        let committed = Committed::parse(&data).unwrap().unwrap();
        assert_eq!((committed.note.as_str(), committed.count), ("note", 3));
        let found = block_entries(&data, &lines, &rules, &genesis()).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[2].entry.id(), text("c").id());
        // Missing, reordered or changed entries do not match the root.
        assert!(matches!(
            block_entries(&data, &lines[..2], &rules, &genesis()),
            Err(EntryError::MissingBody {
                expected: 3,
                found: 2
            })
        ));
        let swapped = vec![lines[1].clone(), lines[0].clone(), lines[2].clone()];
        assert!(matches!(
            block_entries(&data, &swapped, &rules, &genesis()),
            Err(EntryError::RootMismatch { .. })
        ));
        // A plain note (an original miner's) has none; inline entries are
        // not this network's format.
        assert_eq!(
            block_entries("I block #3", &[], &rules, &genesis()),
            Ok(vec![])
        );
        let inline = BlockEntries::encode("n", &lines);
        assert_eq!(
            block_entries(&inline, &[], &rules, &genesis()),
            Err(EntryError::InlineOnMerkle)
        );
        // No entries: the root of nothing, no body.
        let empty = Committed::encode("n", &Vec::<String>::new());
        assert_eq!(block_entries(&empty, &[], &rules, &genesis()), Ok(vec![]));
        for bad in [
            "jbc-entries/2\nnote \"n\"",
            "jbc-entries/2\nnote \"n\"\nentries 01 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "jbc-entries/2\nnote \"n\"\nentries 0 xyz",
            "jbc-entries/2\nnote n\nentries 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(
                block_entries(bad, &[], &rules, &genesis()).is_err(),
                "{bad}"
            );
        }
    }
}
