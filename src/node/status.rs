//! `/v1/status`: what a node says of itself, gathered from its handles
//! (also the explorer's first paint, and what peers read).

use super::chain::out_of_reach_warning;
use super::handles::Node;
use super::protocol::{DifficultyInfo, NetworkInfo, StatusReply};

/// The `/v1/status` answer.
pub fn status(node: &Node) -> StatusReply {
    let params = node.chain.params();
    StatusReply {
        software: format!("jbc {}", env!("CARGO_PKG_VERSION")),
        node_id: node.net.node_id().to_owned(),
        network: NetworkInfo {
            genesis_hash: params.genesis_hash(),
            difficulty: params.difficulty().zeros(),
            rule: params.difficulty().to_string(),
            id: Some(params.id()),
            entry_rules: Some(*params.entry_rules()),
            name: params.name().to_owned(),
        },
        tip: node.chain.tip(),
        peers: node.net.peers.snapshot(false),
        mining: node.mining.info(),
        syncing: node.net.is_syncing(),
        addresses_version: Some(node.net.read_book(|book| book.version())),
        difficulty: difficulty(node),
        pool: node.chain.pool(),
        uptime_seconds: node.started.elapsed().as_secs(),
    }
}

/// The chain's pace as `/v1/status` tells it.
pub fn difficulty(node: &Node) -> Option<DifficultyInfo> {
    let pace = node.chain.pace()?;
    let retarget = node.chain.params().retarget();
    Some(DifficultyInfo {
        rule: retarget.map_or("fixed", |rule| rule.version.name()).into(),
        target: pace.next_target.to_string(),
        hashes_per_block: pace.next_target.work().as_f64(),
        block_time_ms: retarget.map(|rule| rule.block_time_ms),
        mean_block_time_ms: pace.mean_block_time_ms,
        measured_blocks: pace.measured_blocks,
        network_hashes_per_second: pace.hashes_per_second,
        next_block_expected_ms: pace.next_block_expected_ms(),
        warning: pace.out_of_reach().then(|| out_of_reach_warning(&pace)),
    })
}
