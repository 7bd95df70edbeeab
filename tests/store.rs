//! The chain store and fork choice, on a real SQLite file in a temp dir.

mod common;

use common::{blocks_on, easy_params, seed_blocks};
use jbc::chain::{Accepted, AddError, ChainState};
use jbc::consensus::{BlockAndBody, BlockHash, Height, Network, ValidationError};
use jbc::store::{BlockReads, Durability, EntryReads, StoreError, StoreReader};

#[test]
fn a_new_store_holds_only_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainState::open(dir.path(), Network::seed()).unwrap();
    let tip = chain.tip();
    assert_eq!(tip.index, Height(0));
    assert_eq!(tip.hash, Network::seed().genesis_hash());
    assert_eq!(tip.chain_work, Network::seed().genesis_work());
    assert_eq!(chain.store().block_count().unwrap(), 1);
}

#[test]
fn seed_blocks_extend_the_tip_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = seed_blocks();
    {
        let mut chain = ChainState::open(dir.path(), Network::seed()).unwrap();
        for block in &blocks[1..4] {
            let outcome = chain.add_block(block.clone()).unwrap();
            assert!(
                matches!(outcome, Accepted::TipMoved { reorg, .. } if reorg.disconnected == 0 && reorg.connected == 1)
            );
        }
        assert_eq!(chain.tip().hash, blocks[3].hash);
    }
    let chain = ChainState::open(dir.path(), Network::seed()).unwrap();
    assert_eq!(chain.tip().index, Height(3));
    assert_eq!(chain.tip().hash, blocks[3].hash);
    assert_eq!(
        chain.store().main_blocks(Height(0), 10).unwrap(),
        blocks[..4].to_vec()
    );
    assert_eq!(chain.verify(|_| {}).unwrap().blocks, 4);
}

#[test]
fn equal_work_keeps_the_first_seen_tip_and_stores_the_other_as_a_side_branch() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = seed_blocks();
    let mut chain = ChainState::open(dir.path(), Network::seed()).unwrap();
    chain.add_blocks(blocks[1..4].iter().cloned(), Durability::Acknowledged);
    let outcome = chain.add_block(blocks[4].clone()).unwrap();
    assert_eq!(
        outcome,
        Accepted::SideBranch {
            index: Height(3),
            hash: blocks[4].hash
        }
    );
    assert_eq!(chain.tip().hash, blocks[3].hash);
    let side = chain.store().block(&blocks[4].hash).unwrap().unwrap();
    assert_eq!(side.block, blocks[4]);
    assert_eq!(side.chain_work, chain.tip().chain_work);
    let tree = chain.store().tree(Height(3), Height(3)).unwrap();
    assert_eq!(tree.len(), 2);
    assert_eq!(tree.iter().filter(|e| e.on_main_chain).count(), 1);
}

#[test]
fn more_work_on_a_branch_reorganises_atomically() {
    let params = easy_params(1, "reorg");
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(dir.path(), params.clone()).unwrap();
    let common = blocks_on(&params, params.genesis(), 5, "common");
    let branch_a = blocks_on(&params, &common[4], 3, "a");
    let branch_b = blocks_on(&params, &common[4], 4, "b");
    chain.add_blocks(
        common.iter().chain(&branch_a).cloned(),
        Durability::Acknowledged,
    );
    assert_eq!(chain.tip().hash, branch_a[2].hash);

    // b's first three blocks tie or trail: the tip stays on a.
    for block in &branch_b[..3] {
        assert!(matches!(
            chain.add_block(block.clone()).unwrap(),
            Accepted::SideBranch { .. }
        ));
    }
    assert_eq!(chain.tip().hash, branch_a[2].hash);
    // The fourth gives b more work: back 3 to the fork at 5, forward 4.
    let outcome = chain.add_block(branch_b[3].clone()).unwrap();
    let Accepted::TipMoved { tip, reorg } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(tip.hash, branch_b[3].hash);
    assert_eq!(
        (reorg.fork_index, reorg.disconnected, reorg.connected),
        (Height(5), 3, 4)
    );
    let main = chain.store().main_blocks(Height(0), 100).unwrap();
    let expected: Vec<_> = std::iter::once(params.genesis().clone())
        .chain(common)
        .chain(branch_b)
        .collect();
    assert_eq!(main, expected);
    // The losing branch is still stored.
    for block in &branch_a {
        assert!(chain.store().contains(&block.hash).unwrap());
    }
    chain.verify(|_| {}).unwrap();
}

#[test]
fn a_batch_that_reorganises_reports_one_move() {
    let params = easy_params(1, "batch");
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(dir.path(), params.clone()).unwrap();
    let a = blocks_on(&params, params.genesis(), 3, "a");
    let b = blocks_on(&params, params.genesis(), 6, "b");
    chain.add_blocks(a.iter().cloned(), Durability::Acknowledged);
    let outcome = chain.add_blocks(b.iter().cloned(), Durability::Acknowledged);
    assert!(outcome.error.is_none());
    let (tip, reorg) = outcome.tip_moved.unwrap();
    assert_eq!(tip.hash, b[5].hash);
    assert_eq!(
        (reorg.fork_index, reorg.disconnected, reorg.connected),
        (Height(0), 3, 6)
    );
}

#[test]
fn errors_say_whose_fault_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = seed_blocks();
    let mut chain = ChainState::open(dir.path(), Network::seed()).unwrap();
    // Block 2 before block 1: its parent is unknown.
    let err = chain.add_block(blocks[2].clone()).unwrap_err();
    assert!(
        matches!(err, AddError::ParentUnknown { prev_hash, .. } if prev_hash == blocks[1].hash)
    );
    assert!(!err.is_invalid());
    // A tampered block is invalid, and nothing is stored.
    let mut tampered = blocks[1].clone();
    tampered.data = "tampered".into();
    let err = chain.add_block(tampered).unwrap_err();
    assert!(matches!(
        err,
        AddError::Invalid(ValidationError::HashMismatch { .. })
    ));
    assert_eq!(chain.store().block_count().unwrap(), 1);
    // Another network's genesis is invalid.
    let other = easy_params(5, "elsewhere");
    let err = chain.add_block(other.genesis().clone()).unwrap_err();
    assert!(matches!(
        err,
        AddError::Invalid(ValidationError::WrongGenesis { .. })
    ));
}

#[test]
fn a_batch_keeps_what_came_before_the_bad_block() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = seed_blocks();
    let mut chain = ChainState::open(dir.path(), Network::seed()).unwrap();
    let mut bad = blocks[2].clone();
    bad.nonce.0 += 1;
    let outcome = chain.add_blocks(
        vec![blocks[1].clone(), bad, blocks[3].clone()],
        Durability::Acknowledged,
    );
    assert_eq!(outcome.added, 1);
    assert!(matches!(outcome.error, Some((1, AddError::Invalid(_)))));
    assert_eq!(chain.tip().hash, blocks[1].hash);
}

#[test]
fn the_first_version_of_a_hash_is_the_block_forever() {
    // The header has no separators: data "I block #3" + timestamp
    // 1508895777 reads the same as data "I block #31" + timestamp 508895777.
    let dir = tempfile::tempdir().unwrap();
    let blocks = seed_blocks();
    let mut chain = ChainState::open(dir.path(), Network::seed()).unwrap();
    chain.add_blocks(blocks[1..4].iter().cloned(), Durability::Acknowledged);
    let mut twin = blocks[3].clone();
    twin.data = "I block #31".into();
    twin.timestamp.0 = 508895777;
    assert_eq!(twin.compute_hash(), blocks[3].hash);
    assert_eq!(chain.add_block(twin).unwrap(), Accepted::AlreadyKnown);
    let stored = chain.store().block(&blocks[3].hash).unwrap().unwrap();
    assert_eq!(stored.block.data, "I block #3");
}

#[test]
fn a_store_of_another_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(ChainState::open(dir.path(), Network::seed()).unwrap());
    let other = easy_params(1, "other");
    let err = ChainState::open(dir.path(), other).err().unwrap();
    assert!(
        matches!(
            err,
            StoreError::OtherNetwork {
                what: "genesis",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("another network"), "{err}");
    let harder = Network::original(
        Network::seed().genesis().clone(),
        jbc::consensus::Difficulty::new(4).unwrap(),
    )
    .unwrap();
    let err = ChainState::open(dir.path(), harder).err().unwrap();
    assert!(
        matches!(
            err,
            StoreError::OtherNetwork {
                what: "difficulty",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_reader_sees_committed_blocks_only() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = seed_blocks();
    let mut chain = ChainState::open(dir.path(), Network::seed()).unwrap();
    let reader = StoreReader::open(chain.store().path()).unwrap();
    assert_eq!(reader.tip().unwrap().index, Height(0));
    chain.add_blocks(blocks[1..3].iter().cloned(), Durability::Acknowledged);
    assert_eq!(reader.tip().unwrap().hash, blocks[2].hash);
    assert_eq!(
        reader.main_hash_at(Height(1)).unwrap(),
        Some(blocks[1].hash)
    );
    assert_eq!(reader.main_hash_at(Height(9)).unwrap(), None);
    assert!(
        reader
            .block(&BlockHash::from_bytes([3; 32]))
            .unwrap()
            .is_none()
    );
}

#[test]
fn garbage_in_the_database_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(jbc::store::DB_FILE),
        b"this is not a database, just text that goes on and on",
    )
    .unwrap();
    let err = ChainState::open(dir.path(), Network::seed()).err().unwrap();
    assert!(err.to_string().contains("chain.sqlite3"), "{err}");
}

#[test]
fn a_branch_that_confirms_an_entry_twice_is_never_taken() {
    use jbc::consensus::entry::Content;
    use jbc::consensus::{Entry, ValidationError};
    let network = common::strict_network(1, "twice", 0);
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
    let base = blocks_on(&network, network.genesis(), 3, "base");
    chain.add_blocks(base.iter().cloned(), Durability::Acknowledged);
    let entry = Entry::new(Content::Text("only once".into()));
    let line = vec![entry.encoding()];
    // Main chain: block 4 confirms the entry.
    let main4 = common::block_with_entries(&network, &base[2], &line);
    chain.add_block(main4.clone()).unwrap();
    // A branch from block 1 carries it at 2 (fine on its own: it does not
    // contain block 4), and again at 4 (twice on that branch).
    let side2 = common::block_with_entries(&network, &base[0], &line);
    let side3 = blocks_on(&network, &side2.block, 1, "side").remove(0);
    let side4 = common::block_with_entries(&network, &side3, &line);
    let side5 = blocks_on(&network, &side4.block, 1, "side more").remove(0);
    for block in [&side2, &side3.into(), &side4] {
        assert!(matches!(
            chain.add_block(block.clone()).unwrap(),
            Accepted::SideBranch { .. }
        ));
    }
    // Block 5 of the branch would give it more work: the reorg is tried,
    // finds the entry twice, and is not taken.
    let err = chain.add_block(side5.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            AddError::Invalid(ValidationError::EntryConfirmedTwice { index, id })
                if index == Height(4) && id == entry.id()
        ),
        "{err}"
    );
    assert_eq!(chain.tip().hash, main4.block.hash);
    assert_eq!(
        chain.store().confirmed_index(&entry.id()).unwrap(),
        Some(Height(4))
    );
    // The bad part of the branch is remembered: what builds on it is
    // refused at once.
    let side6 = blocks_on(&network, &side5, 1, "on a bad branch").remove(0);
    assert!(matches!(
        chain.add_block(side6).unwrap_err(),
        AddError::Invalid(ValidationError::KnownInvalid { .. })
    ));
    chain.verify(|_| {}).unwrap();
}

#[test]
fn a_block_on_the_tip_may_not_confirm_an_entry_again() {
    use jbc::consensus::Entry;
    use jbc::consensus::entry::Content;
    let network = common::strict_network(1, "again", 0);
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
    let line = |text: &str| Entry::new(Content::Text(text.into())).encoding();
    let (old, older) = (line("confirmed at 1"), line("confirmed at 2"));
    let one = common::block_with_entries(&network, network.genesis(), std::slice::from_ref(&old));
    let two = common::block_with_entries(&network, &one.block, std::slice::from_ref(&older));
    chain.add_blocks([one, two.clone()], Durability::Acknowledged);
    // New entries, then both confirmed ones: the first of those, by place
    // in the block, is named.
    let lines = [line("new a"), line("new b"), older.clone(), old.clone()];
    let again = common::block_with_entries(&network, &two.block, &lines);
    let err = chain.add_block(again).unwrap_err();
    assert!(
        matches!(
            err,
            AddError::Invalid(ValidationError::EntryConfirmedTwice { index, id })
                if index == Height(3) && id == Entry::parse_line(&older).unwrap().id()
        ),
        "{err}"
    );
    assert_eq!(chain.tip().hash, two.block.hash);
    // The new ones alone are fine, and stored in their places.
    let fine = common::block_with_entries(&network, &two.block, &lines[..2]);
    chain.add_block(fine.clone()).unwrap();
    assert_eq!(chain.tip().hash, fine.block.hash);
    assert_eq!(
        chain.store().block_body(&fine.block.hash).unwrap(),
        &lines[..2]
    );
    chain.verify(|_| {}).unwrap();
}

/// Reorgs both ways on a strict network: the pool never holds an entry
/// the main chain confirms. A block rebuilt from the pool leans on that:
/// what the pool showed on the block's parent skips the confirmed-twice
/// query, and nothing else does (a stale tip, places sent along).
#[test]
fn the_pool_never_holds_a_confirmed_entry_and_a_block_rebuilt_from_it_leans_on_that() {
    use jbc::chain::{FromPool, PendingSeen};
    use jbc::consensus::entry::{CheckedEntry, Content};
    use jbc::consensus::{Entry, EntryId, IntoChecked};
    use jbc::store::EntryKey;
    let network = common::strict_network(1, "pool and main chain", 0);
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
    let line = |text: &str| Entry::new(Content::Text(text.into())).encoding();
    let id = |line: &String| Entry::parse_line(line).unwrap().id();
    let [x, y, z, w] = ["x", "y", "z", "w"].map(line);
    let checked: Vec<CheckedEntry> = [&x, &y, &z, &w]
        .iter()
        .map(|l| {
            let entry = Entry::parse_line(l).unwrap();
            CheckedEntry::new(entry, network.entry_rules(), &network.genesis_hash()).unwrap()
        })
        .collect();
    chain.add_entries(&checked, "test").unwrap();
    let block = |parent: &BlockAndBody, lines: &[&String]| {
        let lines: Vec<String> = lines.iter().map(|l| (*l).clone()).collect();
        common::block_with_entries(&network, &parent.block, &lines)
    };
    let genesis = BlockAndBody::from(network.genesis().clone());
    let pending_are = |chain: &ChainState, expected: &[&String]| {
        let store = chain.store();
        let pending: Vec<String> = store
            .pending_entries(0, 10)
            .unwrap()
            .into_iter()
            .map(|p| p.line)
            .collect();
        for line in &pending {
            assert_eq!(store.confirmed_index(&id(line)).unwrap(), None, "{line}");
        }
        let mut pending = pending;
        pending.sort();
        let mut expected: Vec<String> = expected.iter().map(|l| (*l).clone()).collect();
        expected.sort();
        assert_eq!(pending, expected);
    };
    let a1 = block(&genesis, &[&x, &y]);
    chain.add_block(a1.clone()).unwrap();
    pending_are(&chain, &[&z, &w]);
    let b1 = block(&genesis, &[&y, &z]);
    let b2 = block(&b1, &[&w]);
    chain.add_blocks([b1, b2.clone()], Durability::Acknowledged);
    assert_eq!(chain.tip().hash, b2.block.hash);
    pending_are(&chain, &[&x]);
    let a2 = block(&a1, &[]);
    let a3 = block(&a2, &[&z]);
    chain.add_blocks([a2.clone(), a3.clone()], Durability::Acknowledged);
    assert_eq!(chain.tip().hash, a3.block.hash);
    pending_are(&chain, &[&w]);

    // The pool's rows, as a scan hands them out: w's, and v's once added.
    let row_of = |chain: &ChainState, wanted: &String| {
        let mut found = None;
        let store = chain.store();
        store
            .for_each_pending_line(|line, row| {
                if line == wanted {
                    found = Some(row);
                }
                true
            })
            .unwrap();
        found.unwrap()
    };
    let w_row = Some(row_of(&chain, &w));

    // x and y are confirmed at 1: only the places not spared are queried.
    let again = block(&a3, &[&w, &y, &x]);
    let mut refused = |tip: &BlockAndBody, rows: Vec<Option<EntryKey>>| -> EntryId {
        let seen = PendingSeen {
            tip: tip.block.hash,
            rows,
            forgotten: chain.store().entries_forgotten().unwrap(),
        };
        let block = again.clone().into_checked(&network).unwrap();
        match chain.add_block(FromPool { block, seen }) {
            Err(AddError::Invalid(ValidationError::EntryConfirmedTwice { index, id })) => {
                assert_eq!(index, Height(4));
                id
            }
            other => panic!("{other:?}"),
        }
    };
    // Seen on another tip: every place is queried, the first named.
    assert_eq!(refused(&a2, vec![w_row; 3]), id(&y));
    assert_eq!(refused(&a3, vec![w_row, None, None]), id(&y));
    // Seen on the parent: place 1 is spared (the pool said so).
    assert_eq!(refused(&a3, vec![w_row, w_row, None]), id(&x));
    assert_eq!(chain.tip().hash, a3.block.hash);

    // A row read before an entry was forgotten is checked, not trusted:
    // u is read, evicted and forgotten (no block carries it), and its row
    // number goes to t, the next entry; a block of u rebuilt from that
    // read still stores u.
    let checked_line = |l: &String| {
        let entry = Entry::parse_line(l).unwrap();
        CheckedEntry::new(entry, network.entry_rules(), &network.genesis_hash()).unwrap()
    };
    let u = line("u, a line longer than w's: its source holds the most bytes");
    chain.add_entries(&[checked_line(&u)], "test").unwrap();
    let (u_row, forgotten) = (
        row_of(&chain, &u),
        chain.store().entries_forgotten().unwrap(),
    );
    chain.set_pool_limits(jbc::store::PoolLimits {
        max_entries: 1,
        max_bytes: u64::MAX,
    });
    chain.add_entries(&[], "test").unwrap(); // evicts down to the limits
    pending_are(&chain, &[&w]);
    assert_eq!(chain.store().entries_forgotten().unwrap(), forgotten + 1);
    chain.set_pool_limits(jbc::store::PoolLimits::default());
    let t = line("t");
    chain.add_entries(&[checked_line(&t)], "test").unwrap();
    assert_eq!(row_of(&chain, &t), u_row, "t was given u's row number");
    let fine = block(&a3, &[&u]);
    let rebuilt = FromPool {
        block: fine.clone().into_checked(&network).unwrap(),
        seen: PendingSeen {
            tip: a3.block.hash,
            rows: vec![Some(u_row)],
            forgotten,
        },
    };
    chain.add_block(rebuilt).unwrap();
    let body = chain.store().block_body(&fine.block.hash).unwrap();
    assert_eq!(body, std::slice::from_ref(&u));
    assert_eq!(chain.tip().hash, fine.block.hash);
    pending_are(&chain, &[&w, &t]);
    chain.verify(|_| {}).unwrap();
}

#[test]
fn a_store_of_the_first_version_is_upgraded_and_keeps_its_chain() {
    // Build a version-1 store by hand: the tables it had, and its meta.
    let dir = tempfile::tempdir().unwrap();
    let network = easy_params(1, "old store");
    let blocks = blocks_on(&network, network.genesis(), 3, "old");
    {
        let chain = ChainState::open(dir.path(), network.clone()).unwrap();
        drop(chain);
    }
    preload_v1(dir.path(), &network, &blocks);
    let chain = ChainState::open(dir.path(), network.clone()).unwrap();
    assert_eq!(chain.tip().hash, blocks[2].hash);
    assert_eq!(chain.verify(|_| {}).unwrap().blocks, 4);
    assert_eq!(
        jbc::store::Store::network_in(dir.path()).unwrap().unwrap(),
        network
    );
}

/// Rewrites the store in `dir` as the first version wrote it (no entry
/// tables, genesis hash and difficulty in meta), holding `blocks`.
fn preload_v1(dir: &std::path::Path, network: &Network, blocks: &[jbc::consensus::Block]) {
    common::net::preload(dir, network, blocks);
    let conn = rusqlite::Connection::open(dir.join(jbc::store::DB_FILE)).unwrap();
    conn.execute_batch(&format!(
        "DROP TABLE entries; DROP TABLE block_entries; DROP TABLE pool; DROP TABLE invalid_blocks;
         DELETE FROM meta WHERE key = 'network';
         INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '1');
         INSERT OR REPLACE INTO meta (key, value) VALUES ('genesis_hash', '{}');
         INSERT OR REPLACE INTO meta (key, value) VALUES ('difficulty', '{}');",
        network.genesis_hash(),
        network.difficulty().zeros()
    ))
    .unwrap();
}

#[test]
fn blocks_and_entries_are_found_by_the_start_of_their_hash() {
    use jbc::consensus::Entry;
    use jbc::consensus::entry::Content;
    use jbc::search::{Found, Hit, Kind, Query, find};
    use jbc::store::HexPrefix;

    let params = easy_params(1, "prefix search");
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(dir.path(), params.clone()).unwrap();
    let main = blocks_on(&params, params.genesis(), 5, "main");
    let side = blocks_on(&params, &main[2], 1, "side").remove(0);
    // An entry only a side branch carries: known, but neither pending nor
    // confirmed, so not found.
    let stranded = Entry::new(Content::Text("only on a side branch".into()));
    let side_with_entry = common::block_with_entries(&params, &main[1], &[stranded.encoding()]);
    let all = main
        .iter()
        .chain([&side])
        .cloned()
        .map(BlockAndBody::from)
        .chain([side_with_entry]);
    assert!(
        chain
            .add_blocks(all, Durability::Acknowledged)
            .error
            .is_none()
    );
    let pending = Entry::new(Content::Text("waiting".into()));
    let checked = |entry: &Entry| {
        jbc::consensus::entry::CheckedEntry::new(
            entry.clone(),
            params.entry_rules(),
            &params.genesis_hash(),
        )
        .unwrap()
    };
    chain.add_entries(&[checked(&pending)], "test").unwrap();
    // An entry whose id (as the store is told it, written in by hand) is a
    // block's hash, so that one prefix names both.
    let twin = r#"{"text":"twin"}"#;
    rusqlite::Connection::open(dir.path().join(jbc::store::DB_FILE))
        .unwrap()
        .execute_batch(&format!(
            "INSERT INTO entries (id, line, bytes) VALUES ('{hash}', '{twin}', 15);
             INSERT INTO pool (entry, bytes) VALUES (last_insert_rowid(), 15);",
            hash = main[3].hash
        ))
        .unwrap();
    let store = chain.store();
    let prefix = |hash: &BlockHash, digits: usize| HexPrefix::new(&hash.short(digits)).unwrap();

    // A whole hash, and eight digits, of a main-chain block and a side one.
    for digits in [64, 8] {
        let found = store
            .blocks_by_prefix(&prefix(&main[1].hash, digits), 11)
            .unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].index, found[0].hash), (Height(2), main[1].hash));
        assert!(found[0].on_main_chain);
        let found = store
            .blocks_by_prefix(&prefix(&side.hash, digits), 11)
            .unwrap();
        assert_eq!((found[0].index, found[0].on_main_chain), (Height(4), false));
    }
    // Every hash starts with a zero here: a short prefix is cut at the limit,
    // in hash order.
    let zeros = store
        .blocks_by_prefix(&HexPrefix::new("0").unwrap(), 3)
        .unwrap();
    assert_eq!(zeros.len(), 3);
    assert!(zeros.windows(2).all(|w| w[0].hash < w[1].hash));
    assert_eq!(
        store
            .entries_by_prefix(&prefix(&pending.id(), 8), 11)
            .unwrap(),
        vec![pending.id()]
    );
    assert!(
        store
            .entries_by_prefix(&prefix(&stranded.id(), 64), 11)
            .unwrap()
            .is_empty()
    );

    let search = |text: &str, kind| find(store, &Query::parse(text, kind).unwrap()).unwrap();
    assert_eq!(
        search("2", Kind::Any),
        Found::One(Hit::Block(jbc::store::BlockMatch {
            index: Height(2),
            hash: main[1].hash,
            on_main_chain: true
        }))
    );
    assert_eq!(search("9", Kind::Any), Found::Nothing);
    assert_eq!(
        search(&pending.id().short(10), Kind::Any),
        Found::One(Hit::Entry(pending.id()))
    );
    assert_eq!(
        search(&stranded.id().to_string(), Kind::Any),
        Found::Nothing
    );
    // A block and an entry under one prefix: ambiguous, unless told which.
    let both = main[3].hash.short(12);
    let Found::Ambiguous { candidates, more } = search(&both, Kind::Any) else {
        panic!("{both} should name two things");
    };
    assert!(!more);
    assert!(
        matches!(candidates[..], [Hit::Block(b), Hit::Entry(id)] if b.hash == main[3].hash && id == main[3].hash)
    );
    assert!(matches!(
        search(&both, Kind::Block),
        Found::One(Hit::Block(_))
    ));
    assert_eq!(
        search(&both, Kind::Entry),
        Found::One(Hit::Entry(main[3].hash))
    );
}

/// A store of the third version (a pool without sources) opens as the
/// fourth: its pending entries form one share, and a flood from a new
/// source evicts the flood's own entries first.
#[test]
fn a_store_of_the_third_version_gains_pool_shares() {
    use jbc::consensus::Entry;
    use jbc::consensus::entry::Content;
    use jbc::store::pool::PoolLimits;
    let network = common::strict_network(1, "pool shares", 0);
    let dir = tempfile::tempdir().unwrap();
    let entry = |text: String| {
        let entry = Entry::new(Content::Text(text));
        jbc::consensus::entry::CheckedEntry::new(
            entry,
            network.entry_rules(),
            &network.genesis_hash(),
        )
        .unwrap()
    };
    let old: Vec<_> = (0..3).map(|i| entry(format!("old {i}"))).collect();
    {
        let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
        chain.add_entries(&old, "x").unwrap();
    }
    {
        // Back to the third version's shape.
        let conn = rusqlite::Connection::open(dir.path().join(jbc::store::DB_FILE)).unwrap();
        to_v4_shape(&conn);
        conn.execute_batch(
            "DROP TRIGGER pool_source_in; DROP TRIGGER pool_source_out;
             DROP INDEX pool_by_source; DROP TABLE pool_sources; DROP TABLE evicted_entries;
             ALTER TABLE pool DROP COLUMN source;
             UPDATE meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
    chain.set_pool_limits(PoolLimits {
        max_entries: 5,
        max_bytes: u64::MAX,
    });
    let flood: Vec<_> = (0..6).map(|i| entry(format!("flood {i}"))).collect();
    chain.add_entries(&flood, "203.0.113.0/24").unwrap();
    let reader = chain.store().reader().unwrap();
    // The old three stay; of the flood only the newest two do.
    for entry in &old {
        assert!(
            reader
                .entry(&entry.id())
                .unwrap()
                .is_some_and(|e| e.status == jbc::store::EntryStatus::Pending)
        );
    }
    for (i, entry) in flood.iter().enumerate() {
        let status = reader.entry(&entry.id()).unwrap().map(|e| e.status);
        match i {
            0..4 => assert!(
                matches!(status, Some(jbc::store::EntryStatus::Evicted { .. })),
                "{i}: {status:?}"
            ),
            _ => assert_eq!(status, Some(jbc::store::EntryStatus::Pending), "{i}"),
        }
    }
    let conn = rusqlite::Connection::open(dir.path().join(jbc::store::DB_FILE)).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "5");
}

/// Rewrites the entry tables of a store of this version as the fourth
/// version had them: rows pointing to entries by their 64-digit id, the
/// pool keeping lines, per-source counts kept by triggers.
fn to_v4_shape(conn: &rusqlite::Connection) {
    conn.execute_batch(
        r#"CREATE TABLE v4_entries (id TEXT PRIMARY KEY, line TEXT NOT NULL, author TEXT,
               bytes INTEGER NOT NULL) WITHOUT ROWID;
           INSERT INTO v4_entries SELECT id, line, author, bytes FROM entries;
           CREATE TABLE v4_block_entries (block_id INTEGER NOT NULL, position INTEGER NOT NULL,
               entry_id TEXT NOT NULL, PRIMARY KEY (block_id, position)) WITHOUT ROWID;
           INSERT INTO v4_block_entries SELECT be.block_id, be.position, e.id
               FROM block_entries be JOIN entries e ON e.key = be.entry;
           CREATE TABLE v4_pool (seq INTEGER PRIMARY KEY, entry_id TEXT NOT NULL UNIQUE,
               line TEXT NOT NULL, bytes INTEGER NOT NULL, source TEXT NOT NULL DEFAULT '');
           INSERT INTO v4_pool SELECT p.seq, e.id, e.line, p.bytes, p.source
               FROM pool p JOIN entries e ON e.key = p.entry;
           DROP VIEW pending; DROP TABLE pool; DROP TABLE block_entries; DROP TABLE entries;
           ALTER TABLE v4_entries RENAME TO entries;
           ALTER TABLE v4_block_entries RENAME TO block_entries;
           ALTER TABLE v4_pool RENAME TO pool;
           CREATE INDEX entries_by_author ON entries (author) WHERE author IS NOT NULL;
           CREATE INDEX entries_by_digest ON entries (substr(line, 12, 64))
               WHERE line LIKE '{"sha256":%';
           CREATE INDEX block_entries_by_entry ON block_entries (entry_id);
           CREATE INDEX pool_by_source ON pool (source, seq);
           CREATE TRIGGER pool_source_in AFTER INSERT ON pool BEGIN
               INSERT INTO pool_sources (source, entries, bytes) VALUES (NEW.source, 1, NEW.bytes)
               ON CONFLICT (source) DO UPDATE SET entries = entries + 1, bytes = bytes + NEW.bytes;
           END;
           CREATE TRIGGER pool_source_out AFTER DELETE ON pool BEGIN
               UPDATE pool_sources SET entries = entries - 1, bytes = bytes - OLD.bytes
               WHERE source = OLD.source;
               DELETE FROM pool_sources WHERE source = OLD.source AND entries <= 0;
           END;
           UPDATE meta SET value = '4' WHERE key = 'schema_version';"#,
    )
    .unwrap();
}

/// A store of the fourth version (rows pointing to entries by id) opens
/// as the fifth and keeps what it knew: confirmed entries where their
/// blocks are, bodies in order, pending ones in arrival order with their
/// sources' shares, found by the start of their id; and a block taking
/// pending entries then empties the pool as before.
#[test]
fn a_store_of_the_fourth_version_keeps_its_entries() {
    use jbc::consensus::Entry;
    use jbc::consensus::entry::{CheckedEntry, Content};
    use jbc::store::EntryStatus;
    let network = common::strict_network(1, "fourth version", 0);
    let dir = tempfile::tempdir().unwrap();
    let lines = |tag: &str| -> Vec<String> {
        (0..4)
            .map(|i| Entry::new(Content::Text(format!("{tag} {i}"))).encoding())
            .collect()
    };
    let checked = |line: &String| {
        CheckedEntry::new(
            Entry::parse_line(line).unwrap(),
            network.entry_rules(),
            &network.genesis_hash(),
        )
        .unwrap()
    };
    let first = common::block_with_entries(&network, network.genesis(), &lines("first"));
    let second = common::block_with_entries(&network, &first.block, &lines("second"));
    let waiting = lines("waiting");
    {
        let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
        chain.add_block(first.clone()).unwrap();
        chain.add_block(second.clone()).unwrap();
        let pending: Vec<_> = waiting.iter().map(checked).collect();
        chain.add_entries(&pending[..2], "a").unwrap();
        chain.add_entries(&pending[2..], "b").unwrap();
    }
    let conn = rusqlite::Connection::open(dir.path().join(jbc::store::DB_FILE)).unwrap();
    to_v4_shape(&conn);
    drop(conn);

    let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
    let store = chain.store();
    for (block, index) in [(&first, 1), (&second, 2)] {
        assert_eq!(store.block_body(&block.block.hash).unwrap(), block.body);
        for (position, line) in block.body.iter().enumerate() {
            let id = checked(line).id();
            let record = store.entry(&id).unwrap().unwrap();
            assert_eq!(&record.line, line);
            assert_eq!(
                record.status,
                EntryStatus::Confirmed {
                    index: Height(index),
                    hash: block.block.hash
                }
            );
            assert_eq!(
                store.entry_position(&id, &block.block.hash).unwrap(),
                Some(position as u64)
            );
        }
    }
    let pending = store.pending_entries(0, 10).unwrap();
    let in_order: Vec<&str> = pending.iter().map(|p| p.line.as_str()).collect();
    assert_eq!(
        in_order,
        waiting.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let id = checked(&waiting[3]).id();
    let prefix = jbc::store::HexPrefix::new(&id.short(10)).unwrap();
    assert_eq!(store.entries_by_prefix(&prefix, 5).unwrap(), vec![id]);
    assert_eq!(store.pool().entries, 4);

    // A block carrying the pending entries takes them out of the pool.
    let third = common::block_with_entries(&network, &second.block, &waiting);
    chain.add_block(third.clone()).unwrap();
    assert_eq!(chain.store().pool().entries, 0);
    assert!(chain.store().pending_entries(0, 10).unwrap().is_empty());
    assert_eq!(
        chain.store().entry(&id).unwrap().unwrap().status,
        EntryStatus::Confirmed {
            index: Height(3),
            hash: third.block.hash
        }
    );
    chain.verify(|_| {}).unwrap();
}

/// A data directory closed by one thread opens again at once while other
/// threads start processes. From fork to exec a child holds a copy of
/// every open file, the lock file too, and with it the lock: a node in
/// the explorer tests was refused its own data directory that way, just
/// after `preload` closed it, while another test started chromedriver. A
/// directory still open in this process stays refused, at once.
#[test]
fn a_store_closed_here_opens_again_while_this_process_starts_others() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let params = easy_params(1, "lock and fork");
    let done = Arc::new(AtomicBool::new(false));
    let starter = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut started = 0u32;
            while !done.load(Ordering::SeqCst) {
                let status = std::process::Command::new("true").status();
                assert!(status.is_ok_and(|s| s.success()));
                started += 1;
            }
            started
        })
    };
    for round in 0..200 {
        let chain = ChainState::open(dir.path(), params.clone())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        drop(chain);
    }
    let open = ChainState::open(dir.path(), params.clone()).unwrap();
    let asked = std::time::Instant::now();
    let refused = ChainState::open(dir.path(), params.clone()).err();
    assert!(
        refused
            .as_ref()
            .is_some_and(|e| e.to_string().contains("in use")),
        "{refused:?}"
    );
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(1),
        "a lock held here was waited for: {:?}",
        asked.elapsed()
    );
    drop(open);
    done.store(true, Ordering::SeqCst);
    let started = starter.join().unwrap();
    assert!(started > 0);
}

/// The queries the README suggests for a look inside the store run as
/// written, and `pending` shows a pending entry's line.
#[test]
fn the_readmes_queries_read_the_store() {
    use jbc::consensus::Entry;
    use jbc::consensus::entry::{CheckedEntry, Content};
    let network = common::strict_network(1, "readme queries", 0);
    let dir = tempfile::tempdir().unwrap();
    let entry = Entry::new(Content::Text("waiting for a block".into()));
    {
        let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
        let checked = CheckedEntry::new(
            entry.clone(),
            network.entry_rules(),
            &network.genesis_hash(),
        )
        .unwrap();
        chain.add_entries(&[checked], "test").unwrap();
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .unwrap()
        .replace('\n', " ");
    let queries: Vec<&str> = readme
        .split('`')
        .filter(|part| part.starts_with("SELECT "))
        .collect();
    assert!(queries.len() >= 2, "{queries:?}");
    let conn = rusqlite::Connection::open(dir.path().join(jbc::store::DB_FILE)).unwrap();
    for query in &queries {
        let mut stmt = conn.prepare(query).unwrap();
        let rows = stmt
            .query_map([], |row| row.get::<_, rusqlite::types::Value>(0))
            .unwrap()
            .count();
        assert!(rows > 0, "{query} found nothing");
    }
    let line: String = conn
        .query_row("SELECT line FROM pending", [], |row| row.get(0))
        .unwrap();
    assert_eq!(line, entry.encoding());
}

/// The address book writes to the same file from its own connection
/// while blocks are stored: neither side gets "database is locked" (a
/// write transaction that read first, then found the other's commit,
/// failed at once before it took the lock at its start).
#[test]
fn the_address_book_and_the_chain_write_side_by_side() {
    use jbc::store::{PeerAddress, PeerStore};
    let network = easy_params(1, "two writers");
    let dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(dir.path(), network.clone()).unwrap();
    let blocks = blocks_on(&network, network.genesis(), 1000, "side by side");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let book = {
        let (dir, stop) = (dir.path().to_owned(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut peers = PeerStore::open(&dir).unwrap();
            let mut saves = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let address = PeerAddress {
                    url: format!("http://192.0.2.{}:3000/", saves % 250),
                    source: "operator".into(),
                    tried: false,
                    manual: true,
                    heard_at: saves,
                    last_success: None,
                    last_attempt: None,
                    failures: 0,
                };
                peers.save_addresses(&[address], &[]).unwrap();
                saves += 1;
            }
            saves
        })
    };
    for block in &blocks {
        chain.add_block(block.clone()).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let saves = book.join().unwrap();
    assert!(saves > 0);
    assert_eq!(chain.tip().hash, blocks[999].hash);
}
