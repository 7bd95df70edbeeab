//! What the devnet asks its nodes and tells a person about them: each
//! node's `/v1/status`, the links not up yet, the periodic summary line,
//! and at the end the summary (blocks mined, reorgs, time split, and
//! whether the nodes agree, one miner kept on until they do).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::chaos::Chaos;
use crate::cli::watch::Names;

/// How long the summary waits for the nodes to agree.
const AGREEMENT_LIMIT: Duration = Duration::from_secs(30);

/// `1 min`, `30 s`, `500 ms`.
pub fn duration_text(duration: Duration) -> String {
    let ms = duration.as_millis();
    match ms {
        ms if ms >= 60_000 && ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms >= 1000 => format!("{:.0} s", duration.as_secs_f64()),
        ms => format!("{ms} ms"),
    }
}

/// The links not up yet, one line each ("node 0 does not reach node 2 yet
/// (refused)"), from the nodes' own view of their peers.
pub async fn missing_links(
    client: &reqwest::Client,
    urls: &[String],
    names: &Names,
) -> Vec<String> {
    let mut missing = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let Some(status) = status(client, url).await else {
            missing.push(format!("node {i} does not answer"));
            continue;
        };
        let peers = status["peers"].as_array().cloned().unwrap_or_default();
        for j in (0..urls.len()).filter(|j| *j != i) {
            let peer = peers
                .iter()
                .find(|p| p["url"].as_str().is_some_and(|u| names.node(u) == Some(j)));
            let state = peer.and_then(|p| p["state"].as_str()).unwrap_or("unknown");
            if state != "up" {
                let why = peer
                    .and_then(|p| p["last_error"].as_str())
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                missing.push(format!("node {i} does not reach node {j} yet{why}"));
            }
        }
    }
    missing
}

/// A node's `/v1/status`, `None` when it does not answer.
pub async fn status(client: &reqwest::Client, url: &str) -> Option<Value> {
    let answer = client.get(format!("{url}v1/status")).send().await.ok()?;
    if !answer.status().is_success() {
        return None;
    }
    serde_json::from_slice(&answer.bytes().await.ok()?).ok()
}

pub async fn statuses(client: &reqwest::Client, urls: &[String]) -> Vec<Option<Value>> {
    let mut all = Vec::with_capacity(urls.len());
    for url in urls {
        all.push(status(client, url).await);
    }
    all
}

/// A status's tip: (index, hash).
fn tip(status: &Value) -> Option<(u64, String)> {
    Some((
        status["tip"]["index"].as_u64()?,
        status["tip"]["hash"].as_str()?.to_owned(),
    ))
}

/// The highest value at `pointer` (`/tip/index`: the highest tip) among
/// the nodes that answered.
pub fn highest(statuses: &[Option<Value>], pointer: &str) -> u64 {
    let values = statuses.iter().flatten();
    let values = values.filter_map(|s| s.pointer(pointer)?.as_u64());
    values.max().unwrap_or(0)
}

/// Where the devnet stood at the last summary line.
pub struct Progress {
    pub at: Instant,
    pub height: u64,
    pub reorgs: u64,
}

/// The periodic line: "height 412, 59.5 blocks/min, 1 reorg in the last
/// 1 min (13 in all), 0 entries pending".
pub async fn progress(
    client: &reqwest::Client,
    urls: &[String],
    last: &mut Progress,
    reorgs: u64,
) -> String {
    let statuses = statuses(client, urls).await;
    let height = highest(&statuses, "/tip/index");
    let minutes = last.at.elapsed().as_secs_f64() / 60.0;
    let per_minute = height.saturating_sub(last.height) as f64 / minutes.max(1e-9);
    let pending = highest(&statuses, "/pool/entries");
    let silent = statuses.iter().filter(|s| s.is_none()).count();
    let new_reorgs = reorgs - last.reorgs;
    let line = format!(
        "height {height}, {per_minute:.1} blocks/min, {new_reorgs} reorg{} in the last {} ({reorgs} in all), \
         {pending} entr{} pending{}",
        if new_reorgs == 1 { "" } else { "s" },
        duration_text(last.at.elapsed()),
        if pending == 1 { "y" } else { "ies" },
        match silent {
            0 => String::new(),
            n => format!(", {n} node{} not answering", if n == 1 { "" } else { "s" }),
        }
    );
    *last = Progress {
        at: Instant::now(),
        height: height.max(last.height),
        reorgs,
    };
    line
}

/// Switches node `i`'s miner on or off, as its operator (the token in its
/// data directory); whether the node said yes.
async fn set_mining(client: &reqwest::Client, url: &str, data_dir: &Path, on: bool) -> bool {
    let Ok(token) = jbc::node::operator::read_token(data_dir) else {
        return false;
    };
    client
        .post(format!("{url}v1/mining"))
        .bearer_auth(token)
        .body(format!(r#"{{"mine": {on}}}"#))
        .send()
        .await
        .is_ok_and(|answer| answer.status().is_success())
}

/// Waits until every node answers with the same tip, up to `limit`: that
/// tip, or every node's tip as last seen.
async fn agreement(
    client: &reqwest::Client,
    urls: &[String],
    limit: Duration,
) -> Result<(u64, String), Vec<Option<(u64, String)>>> {
    let deadline = Instant::now() + limit;
    loop {
        let tips: Vec<Option<(u64, String)>> = statuses(client, urls)
            .await
            .iter()
            .map(|s| s.as_ref().and_then(tip))
            .collect();
        if let Some(Some(first)) = tips.first()
            && tips.iter().all(|t| t.as_ref() == Some(first))
        {
            return Ok(first.clone());
        }
        if Instant::now() > deadline {
            return Err(tips);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A counter or gauge's value in a `/metrics` text (labels included in
/// `name`, as written there).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Brings the nodes to one tip and prints what happened: blocks mined,
/// reorgs, time split, agreement.
///
/// Stopping every miner at once can leave two tips of equal work (two
/// nodes found a block at the same height in the last moment), and no
/// node leaves a tip for one of equal work: they would disagree for good.
/// So one miner goes on until the nodes agree (its next block ends any
/// tie), and stops last.
pub async fn summarize(
    client: &reqwest::Client,
    urls: &[String],
    data_dirs: &[PathBuf],
    chaos: Option<&Arc<Chaos>>,
    seed: Option<u64>,
    ran: Duration,
) {
    let miners: Vec<usize> = statuses(client, urls)
        .await
        .iter()
        .enumerate()
        .filter(|(_, s)| s.as_ref().is_some_and(|s| s["mining"]["enabled"] == true))
        .map(|(i, _)| i)
        .collect();
    for i in miners.iter().skip(1) {
        set_mining(client, &urls[*i], &data_dirs[*i], false).await;
    }
    let (split, cuts) = chaos.map_or((Duration::ZERO, 0), |chaos| {
        let split = chaos.split_time();
        chaos.heal_all();
        split
    });
    let healed = Instant::now();
    let mut agreed = agreement(client, urls, AGREEMENT_LIMIT).await;
    if let Some(last_miner) = miners.first() {
        set_mining(client, &urls[*last_miner], &data_dirs[*last_miner], false).await;
        if agreed.is_ok() {
            // Its last block, if one came as it stopped.
            agreed = agreement(client, urls, AGREEMENT_LIMIT).await;
        }
    }
    let agreed_after = healed.elapsed();
    let (mut mined, mut reorgs, mut deepest) = (0.0, 0.0, 0.0f64);
    for url in urls {
        let Ok(answer) = client.get(format!("{url}metrics")).send().await else {
            continue;
        };
        let text = answer.text().await.unwrap_or_default();
        mined += metric(&text, "jbc_blocks_accepted_total{source=\"mined\"}");
        reorgs += metric(&text, "jbc_reorgs_total");
        deepest = deepest.max(metric(&text, "jbc_reorg_deepest_blocks"));
    }
    let minutes = ran.as_secs_f64() / 60.0;
    let mode = match (chaos, seed) {
        (Some(_), Some(seed)) => format!(", chaos seed {seed}"),
        (Some(_), None) => ", chaos".into(),
        _ => String::new(),
    };
    println!("devnet summary ({:.0} s{mode}):", ran.as_secs_f64());
    println!("  blocks mined: {mined:.0}");
    println!(
        "  reorgs: {reorgs:.0} ({:.1} a minute), the deepest {deepest:.0} block(s)",
        reorgs / minutes.max(1e-9)
    );
    if chaos.is_some() {
        println!(
            "  network split: {:.1} s of {:.0} s, {cuts} cuts",
            split.as_secs_f64(),
            ran.as_secs_f64()
        );
    }
    let all = match urls.len() {
        1 => "the node".to_owned(),
        n => format!("all {n} nodes"),
    };
    match (agreed, chaos) {
        (Ok((index, hash)), Some(_)) => println!(
            "  agreement: {all} on block {index} {hash} ({:.1} s after every link was healed)",
            agreed_after.as_secs_f64()
        ),
        (Ok((index, hash)), None) => println!("  agreement: {all} on block {index} {hash}"),
        (Err(tips), chaos) => {
            let tips: Vec<String> = tips
                .iter()
                .enumerate()
                .map(|(i, tip)| match tip {
                    Some((index, hash)) => {
                        format!(
                            "node {i} on block {index} {}",
                            hash.get(..16).unwrap_or(hash)
                        )
                    }
                    None => format!("node {i} not answering"),
                })
                .collect();
            println!(
                "  agreement: NO, the nodes did not agree within {} s{}: {}",
                AGREEMENT_LIMIT.as_secs(),
                if chaos.is_some() {
                    " of healing every link"
                } else {
                    ""
                },
                tips.join(", ")
            );
        }
    }
}
