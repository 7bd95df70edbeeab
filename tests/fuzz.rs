//! Fuzzing, the property way: every parser that reads what strangers send
//! (a block, a chain as it streams in, a sync locator, a peer URL, an
//! entry) is fed arbitrary input and must answer with a value or an error,
//! never a panic, and what it accepts must hold its promises. Runs briefly
//! with the suite (proptest's 256 cases each; `PROPTEST_CASES=100000` for a
//! longer run).

mod common;

use jbc::consensus::Entry;
use jbc::node::normalize_url;
use jbc::node::protocol::{MAX_LOCATOR, parse_locator};
use jbc::wire::stream::ArraySplitter;
use proptest::prelude::*;

/// Text that looks somewhat like what is parsed: JSON punctuation, digits,
/// hex, quotes and escapes, plus anything.
fn jsonish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\"index\"".to_owned()),
            Just("\"hash\"".to_owned()),
            Just("\"prev_hash\"".to_owned()),
            Just("\"text\"".to_owned()),
            "[0-9]{1,25}",
            "[0-9a-f]{64}",
            any::<String>(),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn the_block_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), text in jsonish()) {
        let _ = jbc::wire::block_from_slice(&bytes);
        let _ = jbc::wire::block_from_slice(text.as_bytes());
        let _ = jbc::wire::chain_from_slice(text.as_bytes());
    }

    #[test]
    fn a_mutated_block_is_parsed_or_refused(position in 0usize..300, byte in any::<u8>()) {
        let mut json = jbc::wire::block_to_json(&common::seed_blocks()[1]);
        let at = position % json.len();
        json[at] = byte;
        if let Ok(block) = jbc::wire::block_from_slice(&json) {
            // What parses is a block: written back, it parses the same.
            let again = jbc::wire::block_from_slice(&jbc::wire::block_to_json(&block)).unwrap();
            prop_assert_eq!(again, block);
        }
    }

    #[test]
    fn the_chain_stream_splitter_never_panics_and_splits_right(
        noise in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(1usize..50, 1..20),
    ) {
        let mut splitter = ArraySplitter::new(1000);
        let _ = splitter.feed(&noise);
        // The seed chain, cut into arbitrary pieces, comes out whole.
        let chain = jbc::wire::chain_to_json(&common::seed_blocks());
        let mut splitter = ArraySplitter::new(10_000);
        let mut objects = Vec::new();
        let mut rest = chain.as_slice();
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at((*cut).min(rest.len()));
            objects.extend(splitter.feed(piece).unwrap());
            rest = tail;
        }
        splitter.finish().unwrap();
        let blocks: Vec<_> = objects
            .iter()
            .map(|o| jbc::wire::block_from_slice(o).unwrap())
            .collect();
        prop_assert_eq!(blocks, common::seed_blocks());
    }

    #[test]
    fn the_locator_parser_never_panics(text in jsonish(), hashes in proptest::collection::vec("[0-9a-f]{64}", 0..120)) {
        let _ = parse_locator(&text);
        let joined = hashes.join(",");
        match parse_locator(&joined) {
            Ok(parsed) => {
                prop_assert!(!parsed.is_empty() && parsed.len() <= MAX_LOCATOR);
                prop_assert_eq!(parsed.len(), hashes.len());
            }
            Err(_) => prop_assert!(hashes.is_empty() || hashes.len() > MAX_LOCATOR),
        }
    }

    #[test]
    fn the_peer_url_parser_never_panics_and_keeps_its_promises(
        text in prop_oneof![
            any::<String>(),
            "(http|https|ftp)://([a-z0-9.-]{0,20}|\\[::1\\]|[a-z]+:[a-z]+@[a-z]+)(:[0-9]{0,6})?(/[a-z/]{0,10})?(\\?[a-z=]{0,5})?",
        ],
    ) {
        if let Ok(url) = normalize_url(&text) {
            prop_assert!(url.starts_with("http://") && url.ends_with('/'));
            prop_assert!(url.len() <= 220);
            let authority = &url["http://".len()..url.len() - 1];
            prop_assert!(!authority.contains('@') && !authority.contains('/'), "{}", url);
            // Written once, it stays as it is.
            prop_assert_eq!(normalize_url(&url), Ok(url.clone()));
        }
    }

    #[test]
    fn the_entry_parser_never_panics(text in jsonish()) {
        if let Ok(entry) = Entry::parse_line(&text) {
            prop_assert_eq!(entry.encoding(), text.clone());
        }
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            let _ = Entry::from_json(&value, true);
        }
    }
}
