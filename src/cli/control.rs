//! The operator's commands: `jbc mining on|off`, `jbc peers` (the peers
//! and the address book; add, remove) and `jbc stop`. They read the operator's token from the node's
//! data directory (`--data-dir`, the `.cookie` file the node writes when it
//! starts), so only someone who can read that directory can use them.

use std::path::Path;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use jbc::node::protocol::{AddPeerReply, AddressBookReply, MiningReply, PeersReply};

use super::remote::{LOCAL_NODE, base_url, call, client, runtime};

#[derive(Args, Debug)]
pub struct MiningArgs {
    /// `on` or `off`.
    #[arg(value_name = "on|off", value_parser = ["on", "off"])]
    state: String,
    /// The node (default: the one running on --data-dir, which holds the
    /// token, else http://127.0.0.1:5000/).
    #[arg(long, value_name = "URL")]
    node: Option<String>,
}

#[derive(Args, Debug)]
pub struct PeersArgs {
    #[command(subcommand)]
    action: Option<PeersAction>,
    /// The node (default: the one running on --data-dir, which holds the
    /// token, else http://127.0.0.1:5000/).
    #[arg(long, value_name = "URL", global = true)]
    node: Option<String>,
}

#[derive(Subcommand, Debug)]
enum PeersAction {
    /// Add a peer by its base URL, like http://10.0.0.7:5000/.
    Add { url: String },
    /// Remove a peer.
    Remove { url: String },
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// The node (default: the one running on --data-dir, which holds the
    /// token, else http://127.0.0.1:5000/).
    #[arg(long, value_name = "URL")]
    node: Option<String>,
}

/// The node to talk to: `--node`, else the node running on the data
/// directory (its lock file says where it listens), else the default.
fn node_url(data_dir: &Path, given: &Option<String>) -> Result<String> {
    let running = || jbc::datadir::holder(data_dir).and_then(|holder| holder.url);
    let url = given.clone().or_else(running);
    base_url(url.as_deref().unwrap_or(LOCAL_NODE))
}

fn token(data_dir: &Path) -> Result<String> {
    jbc::node::operator::read_token(data_dir).with_context(|| {
        format!(
            "cannot read the operator's token in {} (is the node running with --data-dir {}?)",
            data_dir.join(jbc::node::operator::COOKIE_FILE).display(),
            data_dir.display()
        )
    })
}

pub fn mining(data_dir: &Path, args: MiningArgs) -> Result<()> {
    let node = node_url(data_dir, &args.node)?;
    let request = client()?
        .post(format!("{node}v1/mining"))
        .bearer_auth(token(data_dir)?)
        .body(json!({ "mine": args.state == "on" }).to_string());
    let reply: MiningReply = runtime()?.block_on(call(request, &node))?;
    println!(
        "mining {} at {node}; tip {} {}",
        if reply.mining { "on" } else { "off" },
        reply.tip.index,
        reply.tip.hash
    );
    Ok(())
}

pub fn peers(data_dir: &Path, args: PeersArgs) -> Result<()> {
    let node = node_url(data_dir, &args.node)?;
    let client = client()?;
    let runtime = runtime()?;
    let (url, delete) = match args.action {
        None => {
            // As the operator: with what each peer did wrong, in detail.
            let request = client
                .get(format!("{node}v1/peers"))
                .bearer_auth(token(data_dir)?);
            let reply: PeersReply = runtime.block_on(call(request, &node))?;
            for peer in &reply.peers {
                let mut line = format!("{}  {}, {}", peer.url, peer.state, peer.kind);
                if let Some(seen) = peer.last_seen_ms_ago {
                    line.push_str(&format!(", last seen {} s ago", seen / 1000));
                }
                let fault = match (&peer.ignored_reason, &peer.last_error) {
                    (Some(reason), _) => Some(("dropped", reason, &peer.ignored_detail)),
                    (None, Some(error)) => Some(("last error", error, &peer.last_error_detail)),
                    (None, None) => None,
                };
                if let Some((what, trouble, detail)) = fault {
                    let detail = detail.as_ref().map_or(String::new(), |d| format!(" ({d})"));
                    line.push_str(&format!(", {what}: {trouble}{detail}"));
                }
                println!("{line}");
            }
            if reply.peers.is_empty() {
                println!("(no peers)");
            }
            // The whole address book is the operator's to see.
            let request = client
                .get(format!("{node}v1/addresses/book"))
                .bearer_auth(token(data_dir)?);
            let book: AddressBookReply = runtime.block_on(call(request, &node))?;
            let tried = book.addresses.iter().filter(|a| a.table == "tried").count();
            println!(
                "\naddress book: {tried} reached (tried), {} heard of (new)",
                book.addresses.len() - tried
            );
            for a in &book.addresses {
                let seen = a.last_success_s_ago.map_or("never reached".into(), |s| {
                    format!("last reached {s} s ago")
                });
                let mut line = format!("{}  {}, {seen}", a.url, a.table);
                if a.connected {
                    line.push_str(", connected");
                }
                if a.manual {
                    line.push_str(", given by the operator");
                } else {
                    line.push_str(&format!(", from {}", a.source));
                }
                if a.failures > 0 {
                    line.push_str(&format!(", {} failures in a row", a.failures));
                }
                println!("{line}");
            }
            return Ok(());
        }
        Some(PeersAction::Add { url }) => (url, false),
        Some(PeersAction::Remove { url }) => (url, true),
    };
    let route = format!("{node}v1/peers");
    let request = match delete {
        true => client.delete(route),
        false => client.post(route),
    }
    .bearer_auth(token(data_dir)?)
    .body(json!({ "url": url }).to_string());
    let reply: AddPeerReply = runtime.block_on(call(request, &node))?;
    match (delete, reply.added) {
        (true, _) => println!("removed {}", reply.url),
        (false, true) => println!("added {}", reply.url),
        (false, false) => println!("{} was a peer already", reply.url),
    }
    Ok(())
}

pub fn stop(data_dir: &Path, args: StopArgs) -> Result<()> {
    let node = node_url(data_dir, &args.node)?;
    let request = client()?
        .post(format!("{node}v1/shutdown"))
        .bearer_auth(token(data_dir)?);
    let _: serde_json::Value = runtime()?.block_on(call(request, &node))?;
    println!("the node at {node} is stopping");
    Ok(())
}
