//! Receipts: made from a store (`jbc::receipts`), by a node
//! (`GET /v1/entries/{id}/proof`, `jbc proof`, `jbc submit --wait`), and
//! checked with nothing but the file (`Receipt::verify`, `jbc verify`):
//! on every kind of network; every kind of tampering refused with its own
//! message; a receipt outliving its node; a reorg that drops the entry's
//! block; and an independent verifier written in Python from
//! docs/RECEIPTS.md agreeing on all of it.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use jbc::consensus::entry::{Content, hex};
use jbc::consensus::receipt::{Expectations, Receipt, ReceiptError};
use jbc::consensus::{Block, BlockAndBody, Entry, Height, Network, Target, Timestamp};

use common::chains::preload;
use common::process::ProcessNode;
use common::receipts::{Built, block_time_network, chain_with, entries, every_kind};
use common::{easy_params, jbc_bin, strict_network};

fn now_ms() -> u128 {
    jbc::clock::unix_ms()
}

#[test]
fn receipts_of_every_kind_of_network_check_and_read_back_the_same() {
    for (kind, network) in every_kind() {
        let carried = entries(kind, &network, 5);
        let built = chain_with(&network, &carried);
        for entry in &carried {
            let receipt = built.receipt(entry, 1000);
            let text = receipt.to_text();
            assert_eq!(Receipt::parse(&text).unwrap(), receipt, "{kind}");
            let verified = Receipt::parse(&text)
                .unwrap()
                .verify(now_ms())
                .unwrap_or_else(|e| panic!("{kind}: {e}\n{text}"));
            assert_eq!(verified.entry.id(), entry.id(), "{kind}");
            assert_eq!(verified.block.index, Height(4), "{kind}");
            assert_eq!(verified.blocks_after, 3, "{kind}");
            assert_eq!(verified.network.id(), network.id(), "{kind}");
            assert_eq!(verified.hashes.len(), 4);
            // Fewer blocks after it, when asked.
            assert_eq!(built.receipt(entry, 1).blocks.len(), 2);
        }
    }
}

/// A receipt changed by `change`, sealed again (as a forger would).
fn tampered(receipt: &Receipt, change: impl FnOnce(&mut Receipt)) -> String {
    let mut changed = receipt.clone();
    change(&mut changed);
    changed.to_text()
}

/// Whether a refusal is the one a case expects.
type Expected = fn(&ReceiptError) -> bool;

fn refusal(text: &str) -> ReceiptError {
    match Receipt::parse(text).and_then(|r| r.verify(now_ms())) {
        Ok(verified) => panic!(
            "a tampered receipt checked (block {}):\n{text}",
            verified.block.index
        ),
        Err(e) => e,
    }
}

/// Forgeries sealed again (a new checksum): each change meets the check
/// it breaks.
fn forgeries(receipt: &Receipt) -> Vec<(&'static str, String, Expected)> {
    let other = Entry::new(Content::Text("tampering entry 8".into()));
    vec![
        (
            "another entry",
            tampered(receipt, |r| r.entry = other.encoding()),
            |e| matches!(e, ReceiptError::NotCommitted { .. }),
        ),
        (
            "another place",
            tampered(receipt, |r| r.position += 1),
            |e| matches!(e, ReceiptError::NotCommitted { .. }),
        ),
        ("another count", tampered(receipt, |r| r.count += 1), |e| {
            matches!(e, ReceiptError::CountMismatch { .. })
        }),
        (
            "a path step changed",
            tampered(receipt, |r| r.path[2][31] ^= 1),
            |e| matches!(e, ReceiptError::NotCommitted { .. }),
        ),
        (
            "a path step missing",
            tampered(receipt, |r| {
                r.path.pop();
            }),
            |e| matches!(e, ReceiptError::Path(_)),
        ),
        (
            "a block missing",
            tampered(receipt, |r| {
                r.blocks.remove(2);
            }),
            |e| matches!(e, ReceiptError::Gap { .. }),
        ),
        (
            "a block's data changed",
            tampered(receipt, |r| r.blocks[2].data.push('!')),
            |e| matches!(e, ReceiptError::AboveTarget { .. }),
        ),
        (
            "a nonce changed",
            tampered(receipt, |r| r.blocks[0].nonce.0 += 1),
            |e| matches!(e, ReceiptError::AboveTarget { .. }),
        ),
        (
            "another parent",
            tampered(receipt, |r| r.prev = r.genesis_hash()),
            |e| matches!(e, ReceiptError::AboveTarget { .. }),
        ),
        (
            "the genesis block changed",
            tampered(receipt, |r| r.genesis.nonce.0 += 1),
            |e| matches!(e, ReceiptError::Rules(_)),
        ),
        (
            "rules that are not a network's",
            tampered(receipt, |r| {
                r.rules = r.rules.replace("strict true", "strict yes")
            }),
            |e| matches!(e, ReceiptError::Rules(_)),
        ),
        (
            "rules in another spelling",
            tampered(receipt, |r| {
                r.rules = r.rules.replace("stamp_bits 0", "stamp_bits 00")
            }),
            |e| matches!(e, ReceiptError::Rules(_)),
        ),
        (
            "an entry the network does not allow",
            tampered(receipt, |r| {
                r.rules = r.rules.replace("stamp_bits 0", "stamp_bits 20")
            }),
            |e| matches!(e, ReceiptError::Entry(_)),
        ),
        ("no context", tampered(receipt, |r| r.context = None), |e| {
            matches!(e, ReceiptError::MissingContext)
        }),
        (
            "a context easier than the network allows",
            tampered(receipt, |r| {
                if let Some(context) = &mut r.context {
                    context.target = Target::from_be_bytes([0xff; 32]);
                }
            }),
            |e| matches!(e, ReceiptError::ContextTarget { .. }),
        ),
        (
            "a context much harder",
            tampered(receipt, |r| {
                if let Some(context) = &mut r.context {
                    context.target = Target::from_be_bytes([0; 32]).scaled(1, 8);
                }
            }),
            |e| matches!(e, ReceiptError::AboveTarget { .. }),
        ),
        ("no blocks", tampered(receipt, |r| r.blocks.clear()), |e| {
            matches!(e, ReceiptError::NoBlocks)
        }),
    ]
}

#[test]
fn every_kind_of_tampering_is_refused_with_its_own_message() {
    let network = block_time_network("tampering");
    let carried = entries("tampering", &network, 40);
    let built = chain_with(&network, &carried);
    let receipt = built.receipt(&carried[7], 1000);
    let text = receipt.to_text();
    assert!(receipt.path.len() >= 5, "a path of several steps");

    // Any byte changed, the checksum not made again: the file says so,
    // whichever line the byte was on (the first line is the version).
    let bytes = text.as_bytes();
    let checksum_at = text.rfind("checksum ").unwrap();
    for at in 0..checksum_at {
        if bytes[at] == b'\n' {
            continue;
        }
        let mut changed = bytes.to_vec();
        changed[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        let Ok(changed) = String::from_utf8(changed) else {
            continue;
        };
        let error = refusal(&changed);
        assert!(
            matches!(
                error,
                ReceiptError::Checksum { .. } | ReceiptError::Version(_)
            ),
            "byte {at}: {error}"
        );
    }

    // Sealed again: each change meets the check it breaks.
    let cases = forgeries(&receipt);
    for (what, text, expected) in cases {
        let error = refusal(&text);
        assert!(expected(&error), "{what}: {error}");
    }

    // Digits moved between timestamp and nonce hash the same header: the
    // time rules catch them.
    let mut moved = 0;
    for (block, direction) in [(0, true), (0, false), (2, true), (2, false)] {
        let mut changed = receipt.clone();
        if !move_digit(&mut changed.blocks[block], direction) {
            continue;
        }
        moved += 1;
        let error = refusal(&changed.to_text());
        assert!(
            matches!(
                error,
                ReceiptError::InTheFuture { .. }
                    | ReceiptError::BeforeGenesis { .. }
                    | ReceiptError::TooEarly { .. }
            ),
            "a digit moved in block {block}: {error}"
        );
    }
    assert!(moved > 0, "no digit could be moved");

    // What the person holds.
    let verified = receipt.verify(now_ms()).unwrap();
    let expect = |wanted: Expectations| verified.expect(&wanted).unwrap_err();
    assert!(matches!(
        expect(Expectations {
            holding: Some(Content::Text("tampering entry 6".into())),
            ..Default::default()
        }),
        ReceiptError::OtherEntry { .. }
    ));
    assert!(matches!(
        expect(Expectations {
            network: Some(strict_network(1, "another", 0).id()),
            ..Default::default()
        }),
        ReceiptError::OtherNetwork { .. }
    ));
    assert!(matches!(
        expect(Expectations {
            checkpoint: Some(network.genesis_hash()),
            ..Default::default()
        }),
        ReceiptError::NoCheckpoint(_)
    ));
    assert!(matches!(
        expect(Expectations {
            min_work: Some(verified.work.as_f64() * 2.0),
            ..Default::default()
        }),
        ReceiptError::TooLittleWork { .. }
    ));
    verified
        .expect(&Expectations {
            holding: Some(carried[7].content.clone()),
            network: Some(network.id()),
            checkpoint: Some(receipt.prev),
            min_work: Some(verified.work.as_f64() / 2.0),
        })
        .unwrap();
}

/// Moves the last digit of the timestamp to the front of the nonce, or
/// the first digit of the nonce to the end of the timestamp: the header's
/// text, and so its hash, stays the same. False when that move would
/// leave a number the format does not write (a leading zero, nothing).
fn move_digit(block: &mut jbc::consensus::receipt::HeaderFields, to_nonce: bool) -> bool {
    let (time, nonce) = (block.timestamp.0.to_string(), block.nonce.0.to_string());
    let joined = format!("{time}{nonce}");
    let split = if to_nonce {
        time.len() - 1
    } else {
        time.len() + 1
    };
    let (time, nonce) = joined.split_at(split);
    if nonce.starts_with('0') || nonce.is_empty() {
        return false;
    }
    block.timestamp = Timestamp(time.parse().unwrap());
    block.nonce = jbc::consensus::Nonce(nonce.parse().unwrap());
    true
}

/// An inline block carries its entries in its data: a receipt holds the
/// data, and the entry must be the line it says.
#[test]
fn an_inline_receipt_is_checked_against_the_blocks_data() {
    let network = easy_params(1, "inline tampering");
    let carried = entries("inline", &network, 3);
    let built = chain_with(&network, &carried);
    let receipt = built.receipt(&carried[1], 2);
    receipt.verify(now_ms()).unwrap();
    let error = refusal(&tampered(&receipt, |r| r.position = 0));
    assert!(matches!(error, ReceiptError::NotInData { .. }), "{error}");
    let error = refusal(&tampered(&receipt, |r| r.path = vec![[0; 32]]));
    assert!(matches!(error, ReceiptError::PathOnInline), "{error}");
    let error = refusal(&tampered(&receipt, |r| r.context = receipt_context()));
    assert!(matches!(error, ReceiptError::UnexpectedContext), "{error}");
}

fn receipt_context() -> Option<jbc::consensus::receipt::TimeContext> {
    Some(jbc::consensus::receipt::TimeContext {
        target: Target::from_be_bytes([0x0f; 32]),
        times: vec![Timestamp(1)],
    })
}

fn run(args: &[&str]) -> Output {
    Command::new(jbc_bin())
        .args(args)
        .output()
        .expect("run jbc")
}

fn text_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write_network(dir: &Path, network: &Network) -> String {
    let path = dir.join("network.json");
    std::fs::write(&path, jbc::wire::network::to_json(network)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A node mines an entry submitted with `jbc submit --wait`; the receipt
/// it writes checks with `jbc verify` once the node is gone, and says
/// what it proves; another text, another network or a node that is not
/// there make `jbc verify` fail, each saying why.
#[test]
fn a_receipt_outlives_its_node() {
    let network = block_time_network("outlives");
    let dir = tempfile::tempdir().unwrap();
    let network_file = write_network(dir.path(), &network);
    let mut node = ProcessNode::start(
        &dir.path().join("node"),
        &["--network", &network_file],
        &["--mine", "--threads", "1"],
    );
    let receipt = dir.path().join("invoice.jbcproof");
    let submit = run(&[
        "submit",
        "invoice 2026-117 paid",
        "--node",
        &node.url,
        "--wait",
        "--confirmations",
        "3",
        "--receipt",
        receipt.to_str().unwrap(),
        "--timeout",
        "120s",
    ]);
    assert!(submit.status.success(), "{}", text_of(&submit));
    let url = node.url.clone();
    node.terminate();

    let receipt = receipt.to_str().unwrap();
    let verify = run(&["verify", receipt, "--text", "invoice 2026-117 paid"]);
    let said = text_of(&verify);
    assert!(verify.status.success(), "{said}");
    let id = Entry::new(Content::Text("invoice 2026-117 paid".into())).id();
    assert!(said.contains(&format!("entry {id} existed at ")), "{said}");
    assert!(
        said.contains("3 confirmations (its block and 2 after it)"),
        "{said}"
    );
    assert!(
        said.contains(&format!("network {}", network.id())),
        "{said}"
    );

    let checks: [(&[&str], &str); 3] = [
        (&["--text", "invoice 2026-118 paid"], "not the text"),
        (
            &[
                "--network-id",
                &strict_network(1, "elsewhere", 0).id().to_string(),
            ],
            "not of network",
        ),
        (&["--node", &url], "cannot reach the node"),
    ];
    for (flags, why) in checks {
        let mut args = vec!["verify", receipt];
        args.extend_from_slice(flags);
        let output = run(&args);
        assert!(!output.status.success(), "{flags:?}: {}", text_of(&output));
        assert!(
            text_of(&output).contains(why),
            "{flags:?}: {}",
            text_of(&output)
        );
    }
    // A damaged file says so.
    let mut damaged = std::fs::read_to_string(receipt).unwrap();
    damaged = damaged.replacen("block ", "block 1", 1);
    std::fs::write(receipt, damaged).unwrap();
    let output = run(&["verify", receipt]);
    assert!(!output.status.success());
    assert!(
        text_of(&output).contains("changed after it was made"),
        "{}",
        text_of(&output)
    );
}

/// A reorg drops the entry's block: the old receipt still checks alone,
/// but a node on the new chain does not confirm its block, and a block of
/// the new chain is not in it. Once the entry is mined again, `jbc proof
/// --update` makes the new receipt, which passes both.
#[test]
fn after_a_reorg_the_old_receipt_fails_the_new_chain_and_a_new_one_is_made() {
    let network = strict_network(1, "receipt reorg", 0);
    let dir = tempfile::tempdir().unwrap();
    let network_file = write_network(dir.path(), &network);
    let entry = Entry::new(Content::Text("reorged entry".into()));
    // Chain A: 1, 2, then the entry at 3, then 4, 5.
    let base = common::blocks_on(&network, network.genesis(), 2, "base");
    let a3 = common::block_with_entries(&network, &base[1], &[entry.encoding()]);
    let a_rest = common::blocks_on(&network, &a3.block, 2, "chain a");
    let mut chain_a: Vec<BlockAndBody> = base.iter().cloned().map(BlockAndBody::from).collect();
    chain_a.push(a3.clone());
    chain_a.extend(a_rest.iter().cloned().map(BlockAndBody::from));
    // Chain B: from 2, four blocks without it (more work).
    let chain_b = common::blocks_on(&network, &base[1], 4, "chain b");
    let data_dir = dir.path().join("node");
    preload(&data_dir, &network, &chain_a);
    let node = ProcessNode::start(&data_dir, &["--network", &network_file], &[]);

    let receipt = dir.path().join("r.jbcproof");
    let receipt = receipt.to_str().unwrap();
    let id = entry.id().to_string();
    let proof = run(&["proof", &id, "--node", &node.url, "-o", receipt]);
    assert!(proof.status.success(), "{}", text_of(&proof));
    let verify = run(&["verify", receipt, "--node", &node.url]);
    assert!(verify.status.success(), "{}", text_of(&verify));

    for block in &chain_b {
        let (code, answer) = common::post_at(
            node.port,
            "/v1/blocks",
            &String::from_utf8(jbc::wire::block_to_json(block)).unwrap(),
        )
        .expect("the node answers");
        assert!(code < 300, "{code} {answer}");
    }
    let b_tip = chain_b.last().unwrap().hash.to_string();
    node.wait_status("chain b to be the tip", Duration::from_secs(30), |s| {
        s["tip"]["hash"] == b_tip.as_str()
    });
    // Alone it still checks; against the new chain it does not.
    assert!(run(&["verify", receipt]).status.success());
    let at_node = run(&["verify", receipt, "--node", &node.url]);
    assert!(!at_node.status.success());
    assert!(
        text_of(&at_node).contains("side branch"),
        "{}",
        text_of(&at_node)
    );
    let checkpoint = run(&["verify", receipt, "--checkpoint", &b_tip]);
    assert!(!checkpoint.status.success());
    assert!(
        text_of(&checkpoint).contains("is not among the receipt's blocks"),
        "{}",
        text_of(&checkpoint)
    );
    // The entry is pending again: no receipt until it is mined.
    let pending = run(&["proof", &id, "--node", &node.url]);
    assert!(!pending.status.success());
    assert!(
        text_of(&pending).contains("pending"),
        "{}",
        text_of(&pending)
    );

    let again = common::block_with_entries(&network, chain_b.last().unwrap(), &[entry.encoding()]);
    let (code, answer) = common::post_at(
        node.port,
        "/v1/blocks",
        &String::from_utf8(jbc::wire::block_and_body_to_json(&again)).unwrap(),
    )
    .expect("the node answers");
    assert_eq!(code, 201, "{answer}");
    let update = run(&["proof", "--update", receipt, "--node", &node.url]);
    assert!(update.status.success(), "{}", text_of(&update));
    assert!(
        text_of(&update).contains("the chain was reorganized"),
        "{}",
        text_of(&update)
    );
    for flags in [
        ["--node", node.url.as_str()],
        ["--checkpoint", b_tip.as_str()],
    ] {
        let mut args = vec!["verify", receipt];
        args.extend_from_slice(&flags);
        let output = run(&args);
        assert!(output.status.success(), "{flags:?}: {}", text_of(&output));
    }
}

/// `GET /v1/entries?digest=` finds the entries stamping a file, pending
/// or confirmed; the receipt route answers 404, 409 and 400 as it should.
#[test]
fn a_files_stamp_is_found_by_its_digest_and_the_proof_route_explains_itself() {
    let network = strict_network(1, "digest search", 0);
    let dir = tempfile::tempdir().unwrap();
    let network_file = write_network(dir.path(), &network);
    let confirmed = Entry::new(Content::Sha256([0x11; 32]));
    let base = common::blocks_on(&network, network.genesis(), 1, "base");
    let carrier = common::block_with_entries(&network, &base[0], &[confirmed.encoding()]);
    let mut chain: Vec<BlockAndBody> = base.iter().cloned().map(BlockAndBody::from).collect();
    chain.push(carrier);
    let data_dir = dir.path().join("node");
    preload(&data_dir, &network, &chain);
    let node = ProcessNode::start(&data_dir, &["--network", &network_file], &[]);
    let pending = Entry::new(Content::Sha256([0x22; 32]));
    let (code, answer) = common::post_at(node.port, "/v1/entries", &pending.encoding()).unwrap();
    assert_eq!(code, 201, "{answer}");

    for (entry, status) in [(&confirmed, "confirmed"), (&pending, "pending")] {
        let Content::Sha256(digest) = entry.content else {
            unreachable!()
        };
        let found = node
            .get(&format!("/v1/entries?digest={}", hex(&digest)))
            .unwrap();
        assert_eq!(found["entries"].as_array().unwrap().len(), 1, "{found}");
        assert_eq!(found["entries"][0]["id"], entry.id().to_string());
        assert_eq!(found["entries"][0]["status"], status);
    }
    let none = node
        .get(&format!("/v1/entries?digest={}", hex(&[0x33; 32])))
        .unwrap();
    assert_eq!(none["entries"].as_array().unwrap().len(), 0);
    let bad = proof_status(node.port, "v1/entries?digest=xyz");
    assert_eq!(bad, 400);
    // The receipt route.
    assert_eq!(
        proof_status(node.port, &format!("v1/entries/{}/proof", pending.id())),
        409
    );
    assert_eq!(
        proof_status(node.port, &format!("v1/entries/{}/proof", hex(&[0x44; 32]))),
        404
    );
    assert_eq!(
        proof_status(
            node.port,
            &format!("v1/entries/{}/proof?confirmations=0", confirmed.id())
        ),
        400
    );
    assert_eq!(
        proof_status(
            node.port,
            &format!("v1/entries/{}/proof?confirmations=1", confirmed.id())
        ),
        200
    );
}

/// The HTTP status of a GET.
fn proof_status(port: u16, path: &str) -> u16 {
    common::get_text_at(port, &format!("/{path}"))
        .expect("the node answers")
        .0
}

trait GenesisHash {
    fn genesis_hash(&self) -> jbc::consensus::BlockHash;
}

impl GenesisHash for Receipt {
    /// The genesis block's hash (a hash that is certainly not the parent).
    fn genesis_hash(&self) -> jbc::consensus::BlockHash {
        Block::with_computed_hash(
            Height(0),
            None,
            self.genesis.data.clone(),
            self.genesis.timestamp,
            self.genesis.nonce,
        )
        .hash
    }
}

/// What tests/fixtures/verify_receipt.py (written from docs/RECEIPTS.md,
/// not from this code) says of a receipt: `Ok("ok ID INDEX HASH BLOCKS
/// WORK")` or `Err("fail: WHY")`.
fn python_verdict(dir: &Path, text: &str, now: u128, flags: &[&str]) -> Result<String, String> {
    let file = dir.join("receipt.jbcproof");
    std::fs::write(&file, text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/verify_receipt.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(&file)
        .args(["--now-ms", &now.to_string()])
        .args(flags)
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    match output.status.code() {
        Some(0) => Ok(said),
        Some(1) => Err(said),
        _ => panic!("the Python verifier broke: {}", text_of(&output)),
    }
}

/// The independent Python verifier accepts exactly what `Receipt::verify`
/// accepts, and computes the same entry, block, hashes and work.
#[test]
fn an_independent_python_verifier_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    for (kind, network) in every_kind() {
        let carried = entries(kind, &network, 4);
        let built = chain_with(&network, &carried);
        for entry in &carried {
            let receipt = built.receipt(entry, 2);
            let verified = receipt.verify(now).unwrap();
            let expected = format!(
                "ok {} {} {} {} {}",
                verified.entry.id(),
                verified.block.index,
                verified.block.hash,
                verified.hashes.len(),
                verified.work
            );
            let said = python_verdict(dir.path(), &receipt.to_text(), now, &[]);
            assert_eq!(said, Ok(expected), "{kind}");
        }
        // What the holder expects: the right document, network, block
        // and work pass; others fail.
        let receipt = built.receipt(&carried[0], 2);
        let verified = receipt.verify(now).unwrap();
        let text = receipt.to_text();
        let (id, prev) = (network.id().to_string(), receipt.prev.to_string());
        let (half, double) = (
            format!("{}", verified.work.as_f64() / 2.0),
            format!("{}", verified.work.as_f64() * 2.0),
        );
        let holding = match &carried[0].content {
            Content::Text(text) => ["--text", text.as_str()],
            Content::Sha256(_) => unreachable!("the first entry is a text"),
        };
        let passes: [&[&str]; 4] = [
            &holding,
            &["--network-id", &id],
            &["--checkpoint", &prev],
            &["--min-work", &half],
        ];
        for flags in passes {
            let said = python_verdict(dir.path(), &text, now, flags);
            assert!(said.is_ok(), "{kind} {flags:?}: {said:?}");
        }
        let other_network = strict_network(1, "another", 0).id().to_string();
        let genesis = network.genesis_hash().to_string();
        let fails: [&[&str]; 4] = [
            &["--text", "another text"],
            &["--network-id", &other_network],
            &["--checkpoint", &genesis],
            &["--min-work", &double],
        ];
        for flags in fails {
            let said = python_verdict(dir.path(), &text, now, flags);
            assert!(said.is_err(), "{kind} {flags:?}: {said:?}");
        }
    }

    // Every forgery `Receipt::verify` refuses, Python refuses.
    let network = block_time_network("python forgeries");
    let carried = entries("python forgeries", &network, 40);
    let built = chain_with(&network, &carried);
    let receipt = built.receipt(&carried[7], 1000);
    for (what, text, _) in forgeries(&receipt) {
        let said = python_verdict(dir.path(), &text, now, &[]);
        assert!(said.is_err(), "{what}: Python accepted it");
    }
    // And a changed byte, here and there, without a new checksum.
    let text = receipt.to_text();
    let bytes = text.as_bytes();
    for at in (0..text.rfind("checksum ").unwrap()).step_by(97) {
        let mut changed = bytes.to_vec();
        changed[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        if let Ok(changed) = String::from_utf8(changed) {
            let said = python_verdict(dir.path(), &changed, now, &[]);
            assert!(said.is_err(), "byte {at}: Python accepted it");
        }
    }
}

/// A stranger may ask any node for a receipt: what it reads and sends is
/// bounded in blocks and in bytes, whatever the blocks after hold.
#[test]
fn a_receipt_is_bounded_in_blocks_and_bytes() {
    let network = easy_params(1, "receipt budget");
    let carried = entries("receipt budget", &network, 1);
    let mut built = Built::new(&network);
    built.grow("the entry's block", &carried);
    let big = "x".repeat(200_000);
    for i in 0..8 {
        built.grow(&format!("{i} {big}"), &[]);
    }
    let receipt = built.receipt(&carried[0], 1000);
    let after = receipt.blocks.len() - 1;
    // 1 MiB of data holds five 200 kB blocks, not six.
    assert_eq!(after, 5, "{after} blocks after the entry's");
    assert!(receipt.to_text().len() < 1_200_000 + 1000);
    receipt.verify(now_ms()).unwrap();
    // Asking for more than the most is the most.
    let mut built = Built::new(&network);
    built.grow("the entry's block", &carried);
    for i in 0..3 {
        built.grow(&format!("after {i}"), &[]);
    }
    assert_eq!(built.receipt(&carried[0], u64::MAX).blocks.len(), 4);
}
