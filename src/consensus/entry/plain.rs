//! Reading an entry line, fast: a block of 5,000 entries is read line by
//! line at every hop of its relay, and nearly every line is the canonical
//! form with nothing to unescape. Such a line is read here by its fixed
//! shape, without building a JSON tree; anything else (escapes, another
//! spelling, an error) is left to the JSON reader
//! (`Entry::parse_json_line`), which also says what is wrong.
//!
//! A line is read here only if it is exactly its entry's canonical
//! encoding, so both readers agree on every line this one takes.

use super::super::hash::from_lowercase_hex;
use super::{AuthorKey, Authorship, Content, Entry, EntryError, Signature};

impl Entry {
    /// Reads an entry line of a block: it must be the canonical encoding,
    /// byte for byte (one entry, one spelling, one id).
    pub fn parse_line(line: &str) -> Result<Entry, EntryError> {
        match read(line) {
            Some(entry) => Ok(entry),
            None => Entry::parse_json_line(line),
        }
    }
}

/// The entry `line` encodes, when it is canonical and its text (if any)
/// is printable ASCII without `"` or `\`; `None` otherwise.
fn read(line: &str) -> Option<Entry> {
    let mut rest = line.strip_prefix('{')?.strip_suffix('}')?;
    let content = match rest.strip_prefix("\"text\":\"") {
        Some(after) => {
            let end = after.find('"')?;
            let text = &after[..end];
            let plain = |b: u8| (b' '..=b'~').contains(&b) && b != b'\\';
            if text.is_empty() || !text.bytes().all(plain) {
                return None;
            }
            rest = &after[end + 1..];
            Content::Text(text.to_owned())
        }
        None => Content::Sha256(hex_field(&mut rest, "\"sha256\":\"")?),
    };
    let key = match rest.starts_with(",\"author\":") {
        true => Some(AuthorKey(hex_field(&mut rest, ",\"author\":\"")?)),
        false => None,
    };
    let stamp = match rest.strip_prefix(",\"stamp\":") {
        Some(after) => {
            let end = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            let digits = &after[..end];
            // One spelling of a number: no leading zero but for 0 itself.
            if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
                return None;
            }
            rest = &after[end..];
            Some(digits.parse::<u64>().ok()?)
        }
        None => None,
    };
    let author = match key {
        Some(key) => Some(Authorship {
            key,
            signature: Signature(hex_field(&mut rest, ",\"sig\":\"")?),
        }),
        None => None,
    };
    rest.is_empty().then_some(Entry {
        content,
        author,
        stamp,
    })
}

/// Reads `prefix`, `N` bytes in lowercase hex and a closing quote off the
/// front of `rest`.
fn hex_field<const N: usize>(rest: &mut &str, prefix: &str) -> Option<[u8; N]> {
    let after = rest.strip_prefix(prefix)?;
    let digits = after.get(..2 * N)?;
    *rest = after[2 * N..].strip_prefix('"')?;
    from_lowercase_hex(digits.as_bytes())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn entry() -> impl Strategy<Value = Entry> {
        let content = prop_oneof![
            // Printable ASCII (read here) and anything else (left).
            "[ -~]{0,40}".prop_map(Content::Text),
            any::<String>().prop_map(Content::Text),
            any::<[u8; 32]>().prop_map(Content::Sha256),
        ];
        let author =
            proptest::option::of((any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()))
                .prop_map(|a| {
                    a.map(|(key, s1, s2)| Authorship {
                        key: AuthorKey(key),
                        signature: Signature([s1, s2].concat().try_into().unwrap()),
                    })
                });
        (content, author, proptest::option::of(any::<u64>())).prop_map(
            |(content, author, stamp)| Entry {
                content,
                author,
                stamp,
            },
        )
    }

    proptest! {
        /// Whatever this reader takes, the JSON reader reads the same.
        #[test]
        fn agrees_with_the_json_reader(entry in entry(), cut in any::<prop::sample::Index>(),
                                       byte in 0x20u8..0x7f, edit in 0u8..3) {
            let line = entry.encoding();
            let plain_text = match &entry.content {
                Content::Text(t) => !t.is_empty() && t.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\'),
                Content::Sha256(_) => true,
            };
            prop_assert_eq!(read(&line).is_some(), plain_text);
            if let Some(read) = read(&line) {
                prop_assert_eq!(&read, &entry);
            }
            // The line changed by one byte (put in, taken out or replaced).
            let at = cut.index(line.len() + 1);
            let mut bytes = line.clone().into_bytes();
            match edit {
                0 => bytes.insert(at, byte),
                1 if at < bytes.len() => { bytes.remove(at); }
                _ if at < bytes.len() => bytes[at] = byte,
                _ => {}
            }
            let changed = String::from_utf8(bytes).unwrap();
            if let Some(read) = read(&changed) {
                prop_assert_eq!(read.encoding(), changed.clone());
                prop_assert_eq!(Entry::parse_json_line(&changed), Ok(read));
            }
        }
    }

    #[test]
    fn takes_only_the_canonical_form() {
        let key = "ab".repeat(32);
        let sig = "cd".repeat(64);
        for line in [
            r#"{"text":"hi"}"#.to_owned(),
            format!(r#"{{"sha256":"{key}","stamp":0}}"#),
            format!(r#"{{"text":"x","author":"{key}","stamp":7,"sig":"{sig}"}}"#),
        ] {
            assert_eq!(read(&line).unwrap().encoding(), line);
        }
        for line in [
            r#"{"text":""}"#.to_owned(),
            r#"{"text":"caf\u00e9"}"#.to_owned(),
            r#"{"text":"hi","stamp":07}"#.to_owned(),
            r#"{"text":"hi" }"#.to_owned(),
            format!(r#"{{"sha256":"{}"}}"#, key.to_uppercase()),
            format!(r#"{{"text":"x","author":"{key}"}}"#),
            format!(r#"{{"text":"x","stamp":1,"author":"{key}","sig":"{sig}"}}"#),
            r#"{"text":"hi","stamp":18446744073709551616}"#.to_owned(),
        ] {
            assert_eq!(read(&line), None, "{line}");
        }
    }
}
