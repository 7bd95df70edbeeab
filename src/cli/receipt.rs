//! `jbc proof` and `jbc verify`: an entry's receipt from a node (made
//! again later with more blocks: `--update`), and its check with nothing
//! but the file: no node, no network, unless asked to compare with one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use jbc::clock::unix_ms;
use jbc::consensus::entry::{Content, hex_array};
use jbc::consensus::receipt::{Expectations, Receipt, Verified};
use jbc::consensus::{BlockHash, Entry, EntryId, Network};
use jbc::node::protocol::{EntryReply, EntryStatusWord};

use super::remote::{LOCAL_NODE, base_url, call, call_text, client, resolve_entry, runtime};

#[derive(Args, Debug)]
pub struct ProofArgs {
    /// The entry's id, or its first 8 or more hex digits.
    #[arg(
        value_name = "ID",
        required_unless_present = "update",
        conflicts_with = "update"
    )]
    id: Option<String>,
    /// N confirmations: the entry's block and N-1 after it (default: up
    /// to the node's tip, 1000 blocks after it at most).
    #[arg(long, value_name = "N")]
    confirmations: Option<u64>,
    /// Bring the receipt in FILE up to date: the same entry, with the
    /// blocks mined since (the file is replaced).
    #[arg(long, value_name = "FILE")]
    update: Option<PathBuf>,
    /// Write the receipt to FILE instead of printing it.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// The node to ask.
    #[arg(long, value_name = "URL", default_value = LOCAL_NODE)]
    node: String,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The receipt (`jbc proof ID > FILE`).
    #[arg(value_name = "RECEIPT")]
    receipt: PathBuf,
    /// The text the entry must be.
    #[arg(long, value_name = "TEXT", group = "holding")]
    text: Option<String>,
    /// The document the entry must stamp (its SHA-256 is compared).
    #[arg(long = "file", value_name = "FILE", group = "holding")]
    document: Option<PathBuf>,
    /// The SHA-256 (64 hex digits) the entry must stamp.
    #[arg(long, value_name = "HEX", group = "holding")]
    digest: Option<String>,
    /// A block you trust (from a node you trust, a newspaper...): it must
    /// be one of the receipt's blocks, or the one before them.
    #[arg(long, value_name = "HASH")]
    checkpoint: Option<BlockHash>,
    /// The least work the receipt's blocks must prove, in hashes (for
    /// example 1e12).
    #[arg(long, value_name = "HASHES")]
    min_work: Option<f64>,
    /// The id of the network the receipt must be of (the global
    /// `--network FILE` says it by its file).
    #[arg(long, value_name = "ID")]
    network_id: Option<BlockHash>,
    /// Ask this node whether the entry's block is on its main chain.
    #[arg(long, value_name = "URL")]
    node: Option<String>,
}

pub fn proof(args: ProofArgs) -> Result<()> {
    let node = base_url(&args.node)?;
    let client = client()?;
    let old = args.update.as_deref().map(read_receipt).transpose()?;
    let (text, verified) = runtime()?.block_on(async {
        let id = match (&old, &args.id) {
            // Read, not checked: the node's new receipt is checked.
            (Some(old), _) => Entry::parse_line(&old.entry)
                .context("the receipt's entry")?
                .id(),
            (None, Some(text)) => resolve_entry(&client, &node, text).await?,
            (None, None) => bail!("give the entry's ID, or --update FILE"),
        };
        fetch(&client, &node, &id, args.confirmations).await
    })?;
    if let Some(before) = old.and_then(|old| old.verify(unix_ms()).ok())
        && before.block.hash != verified.block.hash
    {
        eprintln!(
            "the entry is now in block {} ({}), no longer in block {} ({}): the chain was \
             reorganized; the old receipt no longer matches the node's chain",
            verified.block.index, verified.block.hash, before.block.index, before.block.hash
        );
    }
    match args.output.as_deref().or(args.update.as_deref()) {
        Some(path) => {
            write_atomically(path, &text)?;
            eprintln!(
                "wrote the receipt of entry {} to {}: block {}, {} confirmations, {} bytes",
                verified.entry.id(),
                path.display(),
                verified.block.index,
                verified.blocks_after + 1,
                text.len()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The receipt of entry `id` from the node, checked here before it is
/// handed on (a node cannot make us write a receipt that fails).
pub async fn fetch(
    client: &reqwest::Client,
    node: &str,
    id: &EntryId,
    confirmations: Option<u64>,
) -> Result<(String, Verified)> {
    let query = confirmations.map(|n| format!("?confirmations={n}"));
    let url = format!("{node}v1/entries/{id}/proof{}", query.unwrap_or_default());
    let text = call_text(client.get(url), node).await?;
    let verified = Receipt::parse(&text)
        .and_then(|receipt| receipt.verify(unix_ms()))
        .with_context(|| format!("the node at {node} sent a receipt that does not check"))?;
    if verified.entry.id() != *id {
        bail!(
            "the node at {node} sent the receipt of entry {}, not of {id}",
            verified.entry.id()
        );
    }
    Ok((text, verified))
}

/// Waits until entry `id` has `confirmations` at the node (its block and
/// `confirmations - 1` after it), then fetches its receipt with that many;
/// gives up after `timeout_ms`, if given.
pub async fn wait_for_receipt(
    client: &reqwest::Client,
    node: &str,
    id: &EntryId,
    confirmations: u64,
    timeout_ms: Option<u64>,
) -> Result<(String, Verified)> {
    let deadline = timeout_ms.map(|ms| std::time::Instant::now() + Duration::from_millis(ms));
    let mut shown = None;
    loop {
        let reply: EntryReply = call(client.get(format!("{node}v1/entries/{id}")), node).await?;
        match (reply.status, reply.confirmations) {
            (EntryStatusWord::Evicted, _) => bail!(
                "the entry was evicted from the node's full pool before it was mined; submit it again"
            ),
            (EntryStatusWord::Confirmed, Some(have)) if have >= confirmations => break,
            (_, have) => {
                if shown != Some(have) {
                    match have {
                        Some(have) => eprintln!("{have} of {confirmations} confirmations"),
                        None => eprintln!("pending: waiting for a block to confirm it"),
                    }
                    shown = Some(have);
                }
                if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
                    bail!(
                        "gave up after --timeout: the entry has {} of {confirmations} confirmations at {node}",
                        have.unwrap_or(0)
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    fetch(client, node, id, Some(confirmations)).await
}

pub fn verify(network_file: Option<&Network>, args: VerifyArgs) -> Result<()> {
    let receipt = read_receipt(&args.receipt)?;
    let verified = receipt
        .verify(unix_ms())
        .with_context(|| format!("{} does not prove its entry", args.receipt.display()))?;
    let holding = match (&args.text, &args.document, &args.digest) {
        (Some(text), _, _) => Some(Content::Text(text.clone())),
        (_, Some(path), _) => Some(Content::Sha256(file_digest(path)?)),
        (_, _, Some(digest)) => Some(Content::Sha256(
            hex_array::<32>("--digest", digest.trim()).map_err(|e| anyhow::anyhow!("{e}"))?,
        )),
        _ => None,
    };
    let expectations = Expectations {
        holding,
        network: args
            .network_id
            .or_else(|| network_file.map(|network| network.id())),
        checkpoint: args.checkpoint,
        min_work: args.min_work,
    };
    verified
        .expect(&expectations)
        .with_context(|| format!("{} does not prove what was asked", args.receipt.display()))?;
    let block = &verified.block;
    println!(
        "entry {} existed at {} (block {}, {})",
        verified.entry.id(),
        utc(block.timestamp.0 * u128::from(verified.network.timestamp_unit_ms())),
        block.index,
        block.hash
    );
    println!(
        "{} confirmations (its block and {} after it); about {:.3e} hashes of work in them",
        verified.blocks_after + 1,
        verified.blocks_after,
        verified.work.as_f64(),
    );
    let name = network_file
        .filter(|network| network.id() == verified.network.id() && !network.name().is_empty())
        .map(|network| format!("\"{}\" ", network.name()))
        .unwrap_or_default();
    println!(
        "network {name}{} (genesis {})",
        verified.network.id(),
        verified.network.genesis_hash()
    );
    println!("{}", verified.entry.line());
    if let Some(node) = &args.node {
        check_at_node(&base_url(node)?, &verified)?;
    }
    Ok(())
}

/// Asks a node whether the receipt's entry block is on its main chain.
fn check_at_node(node: &str, verified: &Verified) -> Result<()> {
    let hash = verified.block.hash;
    let client = client()?;
    /// What this check reads of `BlockReply`.
    #[derive(serde::Deserialize)]
    struct OnMainChain {
        main_chain: bool,
    }
    let reply: OnMainChain = runtime()?
        .block_on(call(client.get(format!("{node}v1/blocks/{hash}")), node))
        .with_context(|| {
            format!("the node at {node} does not confirm block {hash}: it is not on its chain")
        })?;
    if !reply.main_chain {
        bail!(
            "block {hash} is on a side branch at {node}: the node's chain moved to another \
             branch, and the entry is not confirmed by this block there (make a new receipt \
             with `jbc proof`)"
        );
    }
    println!("the node at {node} has block {hash} on its main chain");
    Ok(())
}

fn read_receipt(path: &Path) -> Result<Receipt> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the receipt {}", path.display()))?;
    Receipt::parse(&text).with_context(|| format!("{} is not a readable receipt", path.display()))
}

/// Writes a file whole or not at all (a receipt half-written would fail).
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let temp = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    std::fs::write(&temp, text).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Unix milliseconds as a UTC date and time, `2026-12-02 21:00:00.123 UTC`.
pub fn utc(ms: u128) -> String {
    let seconds = (ms / 1000) as i64;
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian
    // calendar), by 400-year eras of 146,097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        ms % 1000
    )
}

/// SHA-256 of a file, read in pieces.
pub fn file_digest(path: &Path) -> Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates_are_the_calendars() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(super::utc(1_508_895_381_000), "2017-10-25 01:36:21.000 UTC");
        assert_eq!(super::utc(1_764_709_200_123), "2025-12-02 21:00:00.123 UTC");
    }
}
