//! `jbc chain show | verify | import | export`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;

use jbc::chaindata;
use jbc::consensus::Height;
use jbc::store::BlockReads;

use super::config::Config;
use super::progress::progress_bar;

#[derive(Subcommand, Debug)]
pub enum ChainCommand {
    /// Print blocks of the main chain (default: the last 10).
    Show {
        /// First index to show.
        #[arg(long, value_name = "I")]
        from: Option<u64>,
        /// How many blocks to show.
        #[arg(long, value_name = "N", default_value_t = 10)]
        limit: usize,
        /// Print the original's JSON (an array of blocks) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Re-validate every block of the main chain, from genesis to the tip.
    Verify,
    /// Read an original node's chaindata/ folder (NNNNNN.json files) into
    /// this node's chain. Stops at the first bad file and names it; the
    /// valid blocks before it are kept.
    Import {
        /// The folder to read.
        dir: PathBuf,
    },
    /// Write the main chain as an original chaindata/ folder, which an
    /// original node reads as its own.
    Export {
        /// The folder to write (created if missing).
        dir: PathBuf,
    },
}

pub fn run(config: &Config, command: ChainCommand) -> Result<()> {
    match command {
        ChainCommand::Show { from, limit, json } => show(config, from, limit, json),
        ChainCommand::Verify => verify(config),
        ChainCommand::Import { dir } => import(config, &dir),
        ChainCommand::Export { dir } => export(config, &dir),
    }
}

fn show(config: &Config, from: Option<u64>, limit: usize, json: bool) -> Result<()> {
    let chain = config.open_chain()?;
    let tip = chain.tip();
    let from = from.unwrap_or_else(|| (tip.index.0 + 1).saturating_sub(limit as u64));
    let blocks = chain.store().main_blocks(Height(from), limit)?;
    if json {
        let json = jbc::wire::chain_to_json(&blocks);
        println!("{}", String::from_utf8_lossy(&json));
        return Ok(());
    }
    println!(
        "tip: block {} {} (cumulative work {}), difficulty {}",
        tip.index,
        tip.hash,
        tip.chain_work,
        chain.params().difficulty()
    );
    println!(
        "{:>8}  {:>20}  {:<16}  {:>12}  data",
        "index", "timestamp", "hash", "nonce"
    );
    for block in &blocks {
        println!(
            "{:>8}  {:>20}  {:<16}  {:>12}  {}",
            block.index,
            block.timestamp,
            block.hash.short(16),
            block.nonce,
            block.data.escape_debug()
        );
    }
    if blocks.is_empty() {
        println!("(no blocks from index {from}; the tip is at {})", tip.index);
    }
    Ok(())
}

fn verify(config: &Config) -> Result<()> {
    let chain = config.open_chain()?;
    let tip = chain.tip();
    let bar = progress_bar(tip.index.0 + 1, "verifying");
    let started = Instant::now();
    let report = chain.verify(|done| bar.set_position(done));
    bar.finish_and_clear();
    let report = report.context("verification failed")?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "verified {} blocks in {:.2} s ({:.0} blocks/s): every block is valid and linked; tip {} {}",
        report.blocks,
        seconds,
        report.blocks as f64 / seconds.max(1e-9),
        report.tip.index,
        report.tip.hash
    );
    Ok(())
}

fn import(config: &Config, dir: &std::path::Path) -> Result<()> {
    let mut chain = config.open_chain()?;
    let bar = progress_bar(0, "importing");
    let started = Instant::now();
    let result = chaindata::import(dir, &mut chain, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let tip = chain.tip();
    let report = result.with_context(|| {
        format!(
            "import from {} stopped; the chain now ends at block {} {}",
            dir.display(),
            tip.index,
            tip.hash
        )
    })?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "imported {} blocks from {} in {:.2} s ({:.0} blocks/s): {} new, {} already known, {} other files skipped; tip {} {}",
        report.blocks,
        dir.display(),
        seconds,
        report.blocks as f64 / seconds.max(1e-9),
        report.added,
        report.already_known,
        report.skipped,
        tip.index,
        tip.hash
    );
    Ok(())
}

fn export(config: &Config, dir: &std::path::Path) -> Result<()> {
    let chain = config.open_chain()?;
    let bar = progress_bar(chain.tip().index.0 + 1, "exporting");
    let written = chaindata::export(chain.store(), dir, |done| bar.set_position(done));
    bar.finish_and_clear();
    let written = written.with_context(|| format!("export to {} failed", dir.display()))?;
    println!("wrote {written} block files to {}", dir.display());
    Ok(())
}
