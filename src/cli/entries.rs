//! `jbc submit`, `jbc entry` and `jbc key`: putting entries on the chain
//! through a running node, finding where they stand (by id, or by its
//! first hex digits, which the node resolves with `/v1/search`), and the
//! keys that sign them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use jbc::consensus::Entry;
use jbc::consensus::entry::{Content, hex, hex_array, public_key};
use jbc::node::protocol::{EntryReply, EntryStatusWord, StatusReply, SubmittedEntry};

use super::receipt;
use super::remote::{LOCAL_NODE, base_url, call, client, resolve_entry, runtime};

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The text of the entry.
    #[arg(
        value_name = "TEXT",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    text: Option<String>,
    /// Put the SHA-256 digest of this file on the chain (a notary stamp:
    /// it proves the file existed, without revealing it).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Sign the entry with this key (see `jbc key new`): its author is then
    /// provable.
    #[arg(long, value_name = "KEYFILE")]
    key: Option<PathBuf>,
    /// The node to send it to.
    #[arg(long, value_name = "URL", default_value = LOCAL_NODE)]
    node: String,
    /// Wait until the entry has --confirmations, then write its receipt
    /// (see `jbc verify`).
    #[arg(long)]
    wait: bool,
    /// With --wait: how many confirmations to wait for (its block and
    /// N-1 after it).
    #[arg(long, value_name = "N", default_value_t = 6, requires = "wait")]
    confirmations: u64,
    /// With --wait: where to write the receipt (default: the entry's first
    /// 16 hex digits, .jbcproof, in this directory).
    #[arg(long, value_name = "FILE", requires = "wait")]
    receipt: Option<PathBuf>,
    /// With --wait: give up after this long (for example 90s, 10m), saying
    /// how far the entry got. Default: wait as long as it takes.
    #[arg(long, value_name = "TIME", requires = "wait", value_parser = super::args::duration_ms)]
    timeout: Option<u64>,
}

#[derive(Args, Debug)]
pub struct EntryArgs {
    /// The entry's id (as `jbc submit` printed it), or its first 8 or more
    /// hex digits.
    #[arg(value_name = "ID")]
    id: String,
    /// The node to ask.
    #[arg(long, value_name = "URL", default_value = LOCAL_NODE)]
    node: String,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Make a new ed25519 key pair in FILE (readable by its owner only) and
    /// print its public key.
    New {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the public key of the key in FILE.
    Show {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn submit(args: SubmitArgs) -> Result<()> {
    let node = base_url(&args.node)?;
    let content = match (&args.text, &args.file) {
        (Some(text), None) => Content::Text(text.clone()),
        (None, Some(path)) => Content::Sha256(receipt::file_digest(path)?),
        _ => bail!("give the entry's TEXT or --file FILE"),
    };
    let secret = args.key.as_deref().map(read_key).transpose()?;
    let client = client()?;
    runtime()?.block_on(async {
        // The node's network says what an entry needs: a stamp, and the
        // genesis hash a signature covers.
        let status: StatusReply = call(client.get(format!("{node}v1/status")), &node).await?;
        let stamp_bits = status.network.entry_rules.map_or(0, |r| r.stamp_bits);
        let genesis = status.network.genesis_hash;
        let signer = secret.as_ref().map(|secret| (secret, &genesis));
        let entry = Entry::new(content).prepared(stamp_bits, signer);
        let request = client
            .post(format!("{node}v1/entries"))
            .header("content-type", "application/json")
            .body(entry.encoding());
        let answer: SubmittedEntry = call(request, &node).await?;
        println!("{}", answer.id);
        eprintln!(
            "{} at {node}{}",
            match answer.status {
                EntryStatusWord::Pending => "pending",
                EntryStatusWord::Confirmed => "confirmed already",
                EntryStatusWord::Evicted => "evicted at once (the pool is full)",
            },
            if answer.new { "" } else { " (the node had it)" }
        );
        if !args.wait {
            return Ok(());
        }
        let (text, verified) =
            receipt::wait_for_receipt(&client, &node, &answer.id, args.confirmations, args.timeout)
                .await?;
        let path = args
            .receipt
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.jbcproof", answer.id.short(16))));
        receipt::write_atomically(&path, &text)?;
        eprintln!(
            "confirmed in block {} with {} confirmations; wrote its receipt to {} \
             (check it anywhere with `jbc verify {}`)",
            verified.block.index,
            verified.blocks_after + 1,
            path.display(),
            path.display()
        );
        Ok(())
    })
}

pub fn entry(args: EntryArgs) -> Result<()> {
    let node = base_url(&args.node)?;
    let client = client()?;
    let reply: EntryReply = runtime()?.block_on(async {
        let id = resolve_entry(&client, &node, &args.id).await?;
        call(client.get(format!("{node}v1/entries/{id}")), &node)
            .await
            .with_context(|| format!("entry {id} is unknown (or the node cannot say)"))
    })?;
    match (reply.status, reply.block, reply.confirmations) {
        (EntryStatusWord::Confirmed, Some(block), Some(confirmations)) => println!(
            "confirmed in block {} ({}), {confirmations} confirmation{}",
            block.index,
            block.hash,
            if confirmations == 1 { "" } else { "s" }
        ),
        (EntryStatusWord::Evicted, _, _) => {
            let ago = reply
                .evicted_at
                .map(|at| jbc::clock::unix_seconds().saturating_sub(at));
            println!(
                "evicted from the node's full pool {} ago: it will not be mined unless \
                 submitted again (`jbc submit` with the same text gives the same id)",
                ago.map_or("a while".into(), |s| format!("{s} s"))
            );
            return Ok(());
        }
        _ => println!("pending"),
    }
    println!("{}", reply.entry);
    Ok(())
}

pub fn key(command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::New { file } => {
            let mut secret = [0u8; 32];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut secret))
                .context("cannot read random bytes from /dev/urandom")?;
            write_key(&file, &secret)?;
            println!("{}", public_key(&secret));
            eprintln!(
                "wrote a new key to {} (readable by you only); the line above is its public key",
                file.display()
            );
        }
        KeyCommand::Show { file } => println!("{}", public_key(&read_key(&file)?)),
    }
    Ok(())
}

/// Writes a key file that only its owner can read; never overwrites one.
fn write_key(path: &Path, secret: &[u8; 32]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (a key file is never overwritten)",
                path.display()
            )
        })?;
    let text = format!(
        "# A jbc signing key (ed25519). Keep this file secret: it signs as you.\npublic {}\nsecret {}\n",
        public_key(secret),
        hex(secret)
    );
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn read_key(path: &Path) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let secret = text
        .lines()
        .find_map(|line| line.strip_prefix("secret "))
        .with_context(|| {
            format!(
                "{} has no `secret` line: not a jbc key file",
                path.display()
            )
        })?;
    hex_array("secret", secret.trim()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
