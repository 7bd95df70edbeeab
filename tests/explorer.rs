//! The explorer page, the live event stream and `/metrics`: the page in a
//! real headless Chromium driven over the WebDriver protocol (chromedriver),
//! the rest over plain HTTP.
//!
//! The browser test needs Debian's `chromium` and `chromium-driver`;
//! `./scripts/test` installs them when missing. Set `JBC_SKIP_BROWSER=1` to
//! skip it knowingly; without that, a missing chromedriver is a failure.

mod common;

use std::time::{Duration, Instant};

use common::blocks_on;
use common::net::{Fixture, get_json, node_with_chain};
use common::prometheus::{parse_prometheus, sample};
use common::webdriver::Browser;
use jbc::consensus::Block;
use serde_json::{Value, json};

// ---------------------------------------------------------------- metrics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_follow_the_tip() {
    let f = node_with_chain(5, "explorer").await;
    let url = &f.node.url;
    let scrape = || async {
        let response = reqwest::get(format!("{url}metrics")).await.unwrap();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        parse_prometheus(&response.text().await.unwrap())
    };
    let before = scrape().await;
    assert_eq!(sample(&before, "jbc_tip_height", ""), Some(5.0));
    for block in blocks_on(&f.params, &f.chain[4], 2, "more") {
        assert_eq!(f.node.post_block(&block).await.0, 201);
    }
    let mut bad = blocks_on(&f.params, &f.chain[4], 1, "bad").remove(0);
    bad.data.push('!');
    assert_eq!(f.node.post_block(&bad).await.0, 422);
    let after = scrape().await;
    assert_eq!(sample(&after, "jbc_tip_height", ""), Some(7.0));
    assert_eq!(
        sample(&after, "jbc_blocks_accepted_total", "source=\"posted\""),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &after,
            "jbc_blocks_rejected_total",
            "reason=\"hash_mismatch\""
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            "jbc_http_requests_total",
            "route=\"/v1/blocks\",status=\"201\""
        ),
        Some(2.0)
    );
    assert!(
        sample(
            &after,
            "jbc_http_request_duration_seconds_count",
            "route=\"/v1/blocks\""
        )
        .unwrap()
            >= 3.0
    );
    assert!(
        sample(&after, "jbc_chain_work", "").unwrap()
            > sample(&before, "jbc_chain_work", "").unwrap()
    );
    for name in [
        "jbc_peers",
        "jbc_hash_rate",
        "jbc_hashes_total",
        "jbc_syncing",
        "jbc_mining",
    ] {
        assert!(after.iter().any(|(n, _, _)| n == name), "{name} missing");
    }
}

// ----------------------------------------------------------------- search

/// `GET /v1/search?q=...` with `q` percent-encoded: the status and answer.
async fn search(url: &str, q: &str) -> (u16, Value) {
    let encoded: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    common::net::request(
        reqwest::Method::GET,
        &format!("{url}v1/search?q={encoded}"),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_heights_hashes_and_ids_and_refuses_bad_text() {
    use jbc::node::protocol::{SearchBlock, SearchEntry, SearchHit, SearchReply};
    let f = node_with_chain(5, "explorer search").await;
    let url = &f.node.url;
    let side = blocks_on(&f.params, &f.chain[2], 1, "side").remove(0);
    assert_eq!(f.node.post_block(&side).await.0, 202);
    let (twin_a, twin_b, shared) = common::twin_entries();
    let entry = jbc::consensus::Entry::new(jbc::consensus::entry::Content::Text("found".into()));
    for e in [&entry, &twin_a, &twin_b] {
        let (code, answer) =
            common::net::post_json(&format!("{url}v1/entries"), e.encoding()).await;
        assert_eq!(code, 201, "{answer}");
    }
    let found = |q: String| async move {
        let (code, answer) = search(url, &q).await;
        assert_eq!(code, 200, "{q}: {answer}");
        serde_json::from_value::<SearchReply>(answer.clone())
            .unwrap_or_else(|e| panic!("{q}: {e}: {answer}"))
    };
    let block = |index: u64, hash, main_chain| {
        SearchReply::Block(SearchBlock {
            index: jbc::consensus::Height(index),
            hash,
            main_chain,
        })
    };
    // A height; a hash in full, or its start (in any case).
    assert_eq!(found("3".into()).await, block(3, f.chain[2].hash, true));
    assert_eq!(
        found(f.chain[4].hash.to_string()).await,
        block(5, f.chain[4].hash, true)
    );
    assert_eq!(
        found(f.chain[4].hash.short(10).to_uppercase()).await,
        block(5, f.chain[4].hash, true)
    );
    assert_eq!(found(side.hash.short(8)).await, block(4, side.hash, false));
    // An entry's id, or its start.
    assert_eq!(
        found(entry.id().short(8)).await,
        SearchReply::Entry(SearchEntry { id: entry.id() })
    );
    // One prefix, two entries: both named.
    let SearchReply::Ambiguous { candidates, more } = found(shared.into()).await else {
        panic!("{shared} names two entries");
    };
    assert!(!more);
    let mut ids: Vec<String> = candidates
        .iter()
        .map(|c| match c {
            SearchHit::Entry(e) => e.id.to_string(),
            SearchHit::Block(b) => panic!("block {b:?} under {shared}"),
        })
        .collect();
    ids.sort();
    let mut want = vec![twin_a.id().to_string(), twin_b.id().to_string()];
    want.sort();
    assert_eq!(ids, want);
    // The answer's shape, as docs/API.md shows it.
    let (_, raw) = search(url, &entry.id().short(8)).await;
    assert_eq!(raw, json!({"found": "entry", "id": entry.id().to_string()}));
    // Nothing: beyond the tip, or no such start; an entry is no block.
    for q in ["6", "deadbeef00"] {
        assert_eq!(found(q.into()).await, SearchReply::Nothing, "{q}");
    }
    let (code, answer) = common::net::request(
        reqwest::Method::GET,
        &format!("{url}v1/search?q={}&kind=block", entry.id().short(8)),
        None,
    )
    .await;
    assert_eq!((code, answer), (200, json!({"found": "nothing"})));
    // Bad text: a 400 that names it (cut short when long), never a panic.
    let junk = "<script>".repeat(1280);
    for (q, says) in [
        ("", "the search is empty"),
        ("abc", "\"abc\" is too short"),
        ("007", "written without leading zeros"),
        (
            "block 7",
            "\"block 7\" is not a height, a block hash or an entry id",
        ),
        (&"a".repeat(65), "this has 65 characters"),
        (&junk, "\"<script><script>"),
    ] {
        let (code, answer) = search(url, q).await;
        assert_eq!(code, 400, "{q:.40}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{q:.40}: {error}");
        assert!(error.len() < 300, "{error}");
    }
    for path in ["v1/search", "v1/search?q=3&kind=blocks"] {
        let (code, answer) =
            common::net::request(reqwest::Method::GET, &format!("{url}{path}"), None).await;
        assert_eq!(code, 400, "{path}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // The node still answers.
    assert_eq!(
        found("0".into()).await,
        block(0, f.params.genesis_hash(), true)
    );
}

// ------------------------------------------------------- events and tree

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_blocks_and_reorgs_and_the_tree_shows_side_branches() {
    let f = node_with_chain(5, "explorer").await;
    let url = &f.node.url;
    let mut events = reqwest::get(format!("{url}v1/events")).await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    // A fork at 4 that overtakes: one side block, then a reorg.
    let branch = blocks_on(&f.params, &f.chain[3], 3, "fork");
    for block in &branch {
        f.node.post_block(block).await;
    }
    let mut seen = Vec::new();
    let mut pending = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen
        .iter()
        .any(|e: &Value| e["type"] == "tip" && e["disconnected"] == json!(1))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, events.chunk())
            .await
            .expect("events in time")
            .unwrap()
            .unwrap();
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    seen.push(serde_json::from_str(data.trim()).unwrap());
                }
            }
        }
    }
    let blocks: Vec<&Value> = seen.iter().filter(|e| e["type"] == "block").collect();
    assert_eq!(blocks[0]["hash"], json!(branch[0].hash.to_string()));
    assert_eq!(blocks[0]["main_chain"], json!(false));
    let reorg = seen
        .iter()
        .find(|e| e["type"] == "tip" && e["disconnected"] == json!(1))
        .unwrap();
    assert_eq!(reorg["fork_index"], json!(4));
    assert_eq!(reorg["connected"], json!(2));

    let tree = get_json(&format!("{url}v1/tree?depth=4")).await;
    let entries = tree["blocks"].as_array().unwrap();
    let side: Vec<&Value> = entries
        .iter()
        .filter(|b| b["main_chain"] == json!(false))
        .collect();
    assert_eq!(side.len(), 1);
    assert_eq!(side[0]["hash"], json!(f.chain[4].hash.to_string()));
    assert_eq!(
        entries
            .iter()
            .filter(|b| b["main_chain"] == json!(true))
            .count(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_without_external_resources() {
    let f = node_with_chain(1, "explorer").await;
    let page = reqwest::get(&f.node.url).await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    for id in ["tip-index", "tree", "blocks", "detail", "peers", "events"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    // Everything the page loads comes from the node itself.
    for attr in ["src=\"", "href=\""] {
        for value in html.split(attr).skip(1) {
            assert!(
                value.starts_with('/') || value.starts_with('#'),
                "{attr}{value:.40}"
            );
        }
    }
    let css = reqwest::get(format!("{}explorer/style.css", f.node.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(css.contains("#tree") && !css.contains("url(") && !css.contains("@import"));
    let js = reqwest::get(format!("{}explorer/app.js", f.node.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.contains("EventSource(\"/v1/events\")"));
    // The one absolute URL is the SVG namespace name, which is never fetched.
    assert_eq!(
        js.matches("http").count(),
        js.matches("http://www.w3.org/2000/svg").count()
    );
    // The receipt check the page runs, from the node too, fetching nothing.
    let receipt_js = reqwest::get(format!("{}explorer/receipt.js", f.node.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(receipt_js.contains("jbc-receipt/1") && !receipt_js.contains("fetch("));
    assert!(!receipt_js.contains("http://") && !receipt_js.contains("https://"));
    assert!(html.contains("src=\"/explorer/receipt.js\""));
}

// ----------------------------------------------------------- the browser

async fn browse(browser: &Browser, f: &Fixture) -> Result<(), String> {
    let url = &f.node.url;
    browser.goto(url).await?;
    // The tip and a block's data, as the page first draws them.
    browser.wait_text("#tip-index", "5").await?;
    let third = &f.chain[2];
    browser
        .wait_text(
            &format!("#blocks tr[data-hash='{}'] td.data", third.hash),
            &third.data,
        )
        .await?;
    // A new block appears without a reload.
    let next = blocks_on(&f.params, &f.chain[4], 1, "live").remove(0);
    if f.node.post_block(&next).await.0 != 201 {
        return Err("posting the new block failed".into());
    }
    browser.wait_text("#tip-index", "6").await?;
    browser
        .wait_text(
            &format!("#blocks tr[data-hash='{}'] td.data", next.hash),
            &next.data,
        )
        .await?;
    // The pace: the chart has a dot per interval (6 after genesis), and
    // the network's rule is named.
    browser.wait_text("#pace-count", "7").await?;
    browser.find("#pace-chart circle:nth-of-type(6)").await?;
    if browser
        .find("#pace-chart circle:nth-of-type(7)")
        .await
        .is_ok()
    {
        return Err("the pace chart has more dots than intervals".into());
    }
    browser.wait_text("#difficulty", "1 leading zeros").await?;
    // Both axes say their unit.
    browser
        .wait_text("#pace-chart .axis.title.right", "hashes per block")
        .await?;
    // The network's hash rate, estimated from the chain (a few dozen
    // hashes a second here: blocks of 16 hashes, stamped close together).
    let status = f.node.status().await;
    let rate = status["difficulty"]["network_hashes_per_second"]
        .as_f64()
        .filter(|rate| (1.0..1000.0).contains(rate))
        .ok_or(format!("the network's rate: {}", status["difficulty"]))?;
    browser
        .wait_text("#network-rate", &format!("≈ {} H/s", rate.round()))
        .await?;
    // Clicking a block opens its address, with every field and a link to
    // its parent.
    browser
        .click(&format!("#blocks tr[data-hash='{}'] td.data", third.hash))
        .await?;
    browser
        .wait_url_ending(&format!("#/block/{}", third.hash))
        .await?;
    browser
        .wait_text("#detail-hash", &third.hash.to_string())
        .await?;
    browser.wait_text("#detail-index", "3").await?;
    browser.wait_text("#detail-data", &third.data).await?;
    browser
        .wait_text("#detail-nonce", &third.nonce.to_string())
        .await?;
    browser
        .wait_text("#detail-main", "yes, 4 confirmations")
        .await?;
    browser
        .wait_text("#detail-prev", &f.chain[1].hash.to_string())
        .await?;
    browser
        .wait_text("#detail-next", &f.chain[3].hash.to_string())
        .await?;
    browser.click("#detail-prev").await?;
    browser
        .wait_text("#detail-hash", &f.chain[1].hash.to_string())
        .await?;
    // The mining button is the operator's: it works from the link that
    // carries the operator's token, and that link's token leaves the
    // address bar (for the node's view).
    let token = f.node.token().await;
    browser.goto(&format!("{url}#token={token}")).await?;
    browser.wait_text("#mining-state", "off").await?;
    browser.click("#mining-toggle").await?;
    browser
        .wait_text("#mining-state", "on, 1 thread(s)")
        .await?;
    browser.click("#mining-toggle").await?;
    browser.wait_text("#mining-state", "off").await?;
    let address = browser.current_url().await?;
    if address.contains("token") {
        return Err(format!("the token stayed in the address bar: {address}"));
    }
    // The router carries on after it.
    search_for(browser, "2").await?;
    browser
        .wait_text("#detail-hash", &f.chain[1].hash.to_string())
        .await?;
    Ok(())
}

/// Types `text` into the search box and sends it.
async fn search_for(browser: &Browser, text: &str) -> Result<(), String> {
    browser.type_text("#search-input", text).await?;
    browser.click("#search button").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_the_chain_live_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut f = node_with_chain(5, "explorer").await;
    let result = browse(&browser, &f).await;
    finish(browser, &mut f, result).await;
}

/// Ends a browser test: on failure, a screenshot into the node's temp
/// dir, which is kept, and the panic; then the browser session closes.
async fn finish(browser: Browser, f: &mut Fixture, result: Result<(), String>) {
    if let Err(problem) = result {
        let shot = f.node.dir.path().join("explorer-failure.png");
        let saved = browser.screenshot(&shot).await;
        // Keep the temp dir so the screenshot survives the test.
        f.node.dir.disable_cleanup(true);
        panic!(
            "{problem}\nscreenshot: {} ({saved:?}); kept {}",
            shot.display(),
            f.node.dir.path().display()
        );
    }
    let _ = browser.close().await;
}

async fn follow_an_entry(browser: &Browser, f: &Fixture) -> Result<(), String> {
    use jbc::consensus::Entry;
    use jbc::consensus::entry::Content;
    let url = &f.node.url;
    browser.goto(url).await?;
    browser.wait_text("#tip-index", "5").await?;
    let entry = Entry::new(Content::Text("invoice 2026-117 paid".into()));
    let id = entry.id().to_string();
    let (code, answer) =
        common::net::post_json(&format!("{url}v1/entries"), entry.encoding()).await;
    if code != 201 {
        return Err(format!("submitting the entry: {code} {answer}"));
    }
    // Pending, live.
    browser
        .wait_text(
            &format!("#pool li[data-id='{id}'] .content"),
            "invoice 2026-117 paid",
        )
        .await?;
    browser.wait_text("#pool-count", "1").await?;
    browser
        .click(&format!("#pool li[data-id='{id}'] .id a"))
        .await?;
    browser.wait_url_ending(&format!("#/entry/{id}")).await?;
    browser
        .wait_text("#entry-status", "pending: waiting for a block")
        .await?;
    // Mined into block 6: the page follows it there.
    let block = common::block_with_entries(&f.params, &f.chain[4], &[entry.encoding()]);
    if f.node.post_block(&block).await.0 != 201 {
        return Err("posting the block with the entry failed".into());
    }
    browser
        .wait_text("#entry-status", "confirmed in block 6, 1 confirmation(s)")
        .await?;
    browser.click("#entry-status a").await?;
    browser
        .wait_text("#detail-hash", &block.block.hash.to_string())
        .await?;
    browser
        .wait_text("#detail-entries li .content", "invoice 2026-117 paid")
        .await?;
    browser
        .wait_text("#detail-entries li .state", "unsigned")
        .await?;
    // And from the block back to the entry.
    browser.click("#detail-entries li .id a").await?;
    browser.wait_text("#entry-id", &id).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_an_entry_pending_then_in_its_block() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut f = node_with_chain(5, "explorer entries").await;
    let result = follow_an_entry(&browser, &f).await;
    finish(browser, &mut f, result).await;
}

async fn search_and_addresses(browser: &Browser, f: &Fixture) -> Result<(), String> {
    use jbc::consensus::Entry;
    use jbc::consensus::entry::Content;
    let url = &f.node.url;
    let entry = Entry::new(Content::Text("paid in full".into()));
    let id = entry.id().to_string();
    let (twin_a, twin_b, shared) = common::twin_entries();
    for e in [&entry, &twin_a, &twin_b] {
        let (code, answer) =
            common::net::post_json(&format!("{url}v1/entries"), e.encoding()).await;
        if code != 201 {
            return Err(format!("submitting an entry: {code} {answer}"));
        }
    }
    browser.goto(url).await?;
    browser.wait_text("#tip-index", "5").await?;
    // A height, the start of a block hash, the start of an entry id: each
    // opens its view, at its address.
    search_for(browser, "3").await?;
    browser
        .wait_text("#detail-hash", &f.chain[2].hash.to_string())
        .await?;
    browser
        .wait_url_ending(&format!("#/block/{}", f.chain[2].hash))
        .await?;
    search_for(browser, &f.chain[4].hash.short(8)).await?;
    browser
        .wait_text("#detail-hash", &f.chain[4].hash.to_string())
        .await?;
    browser.wait_text("#detail-index", "5").await?;
    search_for(browser, &entry.id().short(8)).await?;
    browser.wait_text("#entry-id", &id).await?;
    browser.wait_url_ending(&format!("#/entry/{id}")).await?;
    browser
        .wait_text("#entry-content .content", "paid in full")
        .await?;
    browser
        .wait_text("#entry-status", "pending: waiting for a block")
        .await?;
    // Back: each view before, in turn, then the node's.
    browser.back().await?;
    browser
        .wait_text("#detail-hash", &f.chain[4].hash.to_string())
        .await?;
    browser.back().await?;
    browser
        .wait_text("#detail-hash", &f.chain[2].hash.to_string())
        .await?;
    browser.back().await?;
    browser.wait_text("#tip-index", "5").await?;
    browser.wait_url_ending(url).await?;
    // Two entries' ids start with the same digits: both offered.
    search_for(browser, shared).await?;
    browser.wait_count("#search-message a", 2).await?;
    let first = twin_a.id().min(twin_b.id()).to_string();
    browser.click("#search-message li:first-child a").await?;
    browser.wait_text("#entry-id", &first).await?;
    // Nothing, and text that is no search, said under the box.
    search_for(browser, "deadbeef00").await?;
    browser
        .wait_text(
            "#search-message",
            "Nothing on this node matches \"deadbeef00\".",
        )
        .await?;
    search_for(browser, "abc").await?;
    browser
        .wait_text(
            "#search-message",
            "\"abc\" is too short to search for: the start of a block hash or an entry id \
             needs at least 8 hex digits",
        )
        .await?;
    // Addresses pasted into a fresh page.
    browser.goto("about:blank").await?;
    browser
        .goto(&format!("{url}#/block/{}", f.chain[1].hash))
        .await?;
    browser
        .wait_text("#detail-hash", &f.chain[1].hash.to_string())
        .await?;
    browser.wait_text("#detail-index", "2").await?;
    browser.goto("about:blank").await?;
    browser.goto(&format!("{url}#/entry/{id}")).await?;
    browser.wait_text("#entry-id", &id).await?;
    browser
        .wait_text("#entry-content .content", "paid in full")
        .await?;
    let unknown = "0".repeat(64);
    browser.goto(&format!("{url}#/block/{unknown}")).await?;
    browser
        .wait_text("#detail-empty", &format!("no block {unknown} here"))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_box_and_pasted_addresses_open_blocks_and_entries_and_back_returns() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut f = node_with_chain(5, "explorer addresses").await;
    let result = search_and_addresses(&browser, &f).await;
    finish(browser, &mut f, result).await;
}

async fn fold_the_tree(browser: &Browser, f: &Fixture, side: &Block) -> Result<(), String> {
    browser.goto(&f.node.url).await?;
    browser.wait_text("#tip-index", "30").await?;
    // Drawn: the three newest heights, the side block and the main block
    // beside it, the fork point below them; folded: 21 to 27 and 0 to 18.
    browser.wait_count("#tree .block.side", 1).await?;
    browser
        .wait_attribute("#tree .block.side", "data-hash", &side.hash.to_string())
        .await?;
    browser
        .find(&format!(
            "#tree .block.main[data-hash='{}']",
            f.chain[18].hash
        ))
        .await?;
    browser.wait_count("#tree .fold", 2).await?;
    browser
        .wait_attribute("#tree .fold[data-to='27']", "data-count", "7")
        .await?;
    browser
        .wait_attribute("#tree .fold[data-to='18']", "data-count", "19")
        .await?;
    let blocks = browser.count("#tree .block").await?;
    if blocks != 6 {
        return Err(format!("{blocks} blocks drawn, not 6"));
    }
    let view_box = browser
        .attribute("#tree", "viewBox")
        .await?
        .unwrap_or_default();
    let height: f64 = view_box
        .split(' ')
        .nth(3)
        .and_then(|h| h.parse().ok())
        .ok_or(format!("viewBox {view_box:?}"))?;
    if height > 300.0 {
        return Err(format!("the tree of 31 blocks is {height} high"));
    }
    // The side block opens like any other.
    browser.click("#tree .block.side").await?;
    browser
        .wait_text("#detail-hash", &side.hash.to_string())
        .await?;
    browser
        .wait_text("#detail-main", "no: a side branch")
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_of_a_straight_chain_folds_around_its_side_branch() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut f = node_with_chain(30, "explorer tree").await;
    // A block that lost a race at height 20.
    let side = blocks_on(&f.params, &f.chain[18], 1, "side").remove(0);
    assert_eq!(f.node.post_block(&side).await.0, 202);
    let result = fold_the_tree(&browser, &f, &side).await;
    finish(browser, &mut f, result).await;
}

// ------------------------------------------------------------- receipts

/// The receipt `text` with its entry's text changed and its checksum made
/// again: only the checks of the entry in its block can refuse it.
fn forged(text: &str, from: &str, to: &str) -> String {
    use sha2::{Digest, Sha256};
    let changed = text.replacen(from, to, 1);
    assert_ne!(changed, text);
    let body = &changed[..changed.rfind("checksum ").unwrap()];
    let sum: String = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{body}checksum {sum}\n")
}

/// Pastes `receipt` (and `stamped`, the text it should stamp) into the
/// open `#/verify` page and checks it; waits for the verdict `want`.
async fn check_pasted(
    browser: &Browser,
    receipt: &str,
    stamped: &str,
    want: &str,
) -> Result<(), String> {
    browser.type_text("#verify-text", receipt).await?;
    browser.type_text("#verify-doc-text", stamped).await?;
    browser.click("#verify-button").await?;
    browser
        .wait_attribute("#verify-result", "data-verdict", want)
        .await
}

async fn download_and_verify(browser: &Browser, f: &Fixture) -> Result<(), String> {
    use jbc::consensus::Entry;
    use jbc::consensus::entry::Content;
    let url = &f.node.url;
    let entry = Entry::new(Content::Text("invoice 2026-117 paid".into()));
    let id = entry.id().to_string();
    let (code, answer) =
        common::net::post_json(&format!("{url}v1/entries"), entry.encoding()).await;
    if code != 201 {
        return Err(format!("submitting the entry: {code} {answer}"));
    }
    let block = common::block_with_entries(&f.params, &f.chain[4], &[entry.encoding()]);
    if f.node.post_block(&block).await.0 != 201 {
        return Err("posting the block with the entry failed".into());
    }
    let after = blocks_on(&f.params, &block.block, 1, "after").remove(0);
    if f.node.post_block(&after).await.0 != 201 {
        return Err("posting the block after it failed".into());
    }
    // The entry's view links to its receipt, named as `jbc proof` names it.
    browser.goto(&format!("{url}#/entry/{id}")).await?;
    browser
        .wait_text("#entry-status", "confirmed in block 6, 2 confirmation(s)")
        .await?;
    browser
        .wait_attribute(
            "#entry-receipt-link",
            "download",
            &format!("{}.jbcproof", &id[..16]),
        )
        .await?;
    let href = browser
        .attribute("#entry-receipt-link", "href")
        .await?
        .ok_or("the receipt link has no href")?;
    if !href.ends_with(&format!("/v1/entries/{id}/proof")) {
        return Err(format!("the receipt link points at {href}"));
    }
    let receipt = reqwest::get(format!("{url}v1/entries/{id}/proof"))
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    if !receipt.starts_with("jbc-receipt/1\n") {
        return Err(format!("the link gave {receipt:.80}"));
    }
    // The receipt, pasted with the text it stamps: accepted, in words.
    browser.goto(&format!("{url}#/verify")).await?;
    check_pasted(browser, &receipt, "invoice 2026-117 paid", "valid").await?;
    browser.wait_text("#verify-entry-id", &id).await?;
    browser
        .wait_text("#verify-content", "invoice 2026-117 paid")
        .await?;
    browser
        .wait_text(
            "#verify-block",
            &format!("6 {}…", &block.block.hash.to_string()[..16]),
        )
        .await?;
    browser
        .wait_text("#verify-confirmations", "2 (its block and 1 after it)")
        .await?;
    browser
        .wait_text("#verify-document", "the text you gave is the one stamped")
        .await?;
    // Another text than the one stamped: refused.
    check_pasted(browser, &receipt, "invoice 2026-118 paid", "invalid").await?;
    expect_verdict(browser, "Not a valid receipt: the document failed.").await?;
    // A changed byte: the checksum refuses it.
    let damaged = receipt.replacen("invoice 2026-117", "invoice 2026-118", 1);
    check_pasted(browser, &damaged, "", "invalid").await?;
    expect_verdict(browser, "Not a valid receipt: the checksum failed.").await?;
    // A forged entry with a checksum made again: its block does not hold it.
    let forgery = forged(&receipt, "invoice 2026-117", "invoice 2026-118");
    check_pasted(browser, &forgery, "", "invalid").await?;
    expect_verdict(
        browser,
        "Not a valid receipt: the entry in its block failed.",
    )
    .await?;
    // A forged nonce: the block after it no longer meets its target.
    let missed = (after.nonce.0 + 1..)
        .find(|&n| {
            let mut b = after.clone();
            b.nonce = jbc::consensus::Nonce(n);
            !b.compute_hash().to_string().starts_with('0')
        })
        .unwrap();
    let line = format!("block 7 {} ", after.timestamp.0);
    let forgery = forged(
        &receipt,
        &format!("{line}{} \"", after.nonce.0),
        &format!("{line}{missed} \""),
    );
    check_pasted(browser, &forgery, "", "invalid").await?;
    expect_verdict(browser, "Not a valid receipt: the chain of blocks failed.").await?;
    // The downloaded file, chosen as a file: accepted too.
    let file = f.node.dir.path().join(format!("{}.jbcproof", &id[..16]));
    std::fs::write(&file, &receipt).map_err(|e| e.to_string())?;
    browser.goto("about:blank").await?;
    browser.goto(&format!("{url}#/verify")).await?;
    browser.choose_file("#verify-file", &file).await?;
    browser.click("#verify-button").await?;
    browser
        .wait_attribute("#verify-result", "data-verdict", "valid")
        .await?;
    browser
        .wait_text(
            "#verify-document",
            "not compared: give the text or the file to check that the entry is it",
        )
        .await?;
    browser.wait_text("#verify-anchored", "none given").await?;
    // Asked, the node serving the page confirms the block is on its chain.
    browser.click("#verify-anchors summary").await?;
    browser.click("#verify-ask-node").await?;
    browser.click("#verify-button").await?;
    browser
        .wait_text(
            "#verify-anchored",
            "this node has the block on its main chain",
        )
        .await?;
    Ok(())
}

/// Waits until the verdict starts with `start`.
async fn expect_verdict(browser: &Browser, start: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = browser.text("#verify-verdict").await?;
        if text.starts_with(start) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the verdict reads {text:?}, not {start:?}..."));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fills the verify page's anchors (opening them first), each `""` left
/// empty.
async fn anchor(
    browser: &Browser,
    network_id: &str,
    checkpoint: &str,
    min_work: &str,
) -> Result<(), String> {
    if browser
        .attribute("#verify-anchors", "open")
        .await?
        .is_none()
    {
        browser.click("#verify-anchors summary").await?;
    }
    browser.type_text("#verify-network-id", network_id).await?;
    browser.type_text("#verify-checkpoint", checkpoint).await?;
    browser.type_text("#verify-min-work", min_work).await
}

/// Receipts of every kind of network (fixed target or block time, Merkle
/// root or inline) made from stores here, pasted into the page: each
/// checks, a changed nonce is refused, and the anchors (`jbc verify`'s
/// options) hold or fail as they do there.
async fn every_kind_and_anchors(browser: &Browser, f: &Fixture) -> Result<(), String> {
    use common::receipts::{chain_with, entries, every_kind};
    let url = &f.node.url;
    browser.goto(&format!("{url}#/verify")).await?;
    for (kind, network) in every_kind() {
        let carried = entries(kind, &network, 2);
        let built = chain_with(&network, &carried);
        let receipt = built.receipt(&carried[0], 3);
        let text = receipt.to_text();
        let stamped = format!("{kind} entry 0");
        check_pasted(browser, &text, &stamped, "valid")
            .await
            .map_err(|e| format!("{kind}: {e}"))?;
        // The last block's nonce moved to one whose hash misses every
        // kind's target (none starts with a nonzero digit here).
        let verified = receipt
            .verify(jbc::clock::unix_ms())
            .map_err(|e| e.to_string())?;
        let prev = verified.hashes[verified.hashes.len() - 2];
        let last = receipt.blocks.last().unwrap();
        let missed = (last.nonce.0 + 1..)
            .find(|n| {
                let mut header = jbc::consensus::block::header_prefix(
                    last.index,
                    Some(&prev),
                    &last.data,
                    last.timestamp,
                );
                header.extend_from_slice(n.to_string().as_bytes());
                !jbc::consensus::BlockHash::of(&header)
                    .to_string()
                    .starts_with('0')
            })
            .unwrap();
        let line = format!(
            "block {} {} {} ",
            last.index.0, last.timestamp.0, last.nonce.0
        );
        let changed = format!("block {} {} {missed} ", last.index.0, last.timestamp.0);
        if !text.contains(&line) {
            return Err(format!("{kind}: no line {line:?} in {text}"));
        }
        check_pasted(browser, &forged(&text, &line, &changed), "", "invalid").await?;
        expect_verdict(browser, "Not a valid receipt: the chain of blocks failed.")
            .await
            .map_err(|e| format!("{kind}: {e}"))?;
    }

    // The anchors, on a block-time receipt.
    let (_, network) = every_kind().remove(1);
    let carried = entries("anchored", &network, 1);
    let built = chain_with(&network, &carried);
    let receipt = built.receipt(&carried[0], 3);
    let verified = receipt
        .verify(jbc::clock::unix_ms())
        .map_err(|e| e.to_string())?;
    let text = receipt.to_text();
    let id = network.id().to_string();
    let inside = verified.block.hash.to_string();
    let elsewhere = common::strict_network(1, "elsewhere", 0).id().to_string();
    let work = verified.work.as_f64();
    anchor(browser, &id, &inside, "1").await?;
    check_pasted(browser, &text, "", "valid").await?;
    browser
        .wait_text(
            "#verify-anchored",
            "of the network you named; holds the block you trust; proves at least 1 hashes",
        )
        .await?;
    let too_much = format!("{:e}", work * 4.0);
    let refused = [
        (
            elsewhere.as_str(),
            "",
            "",
            "invalid",
            "Not a valid receipt: the network failed.",
        ),
        (
            "",
            elsewhere.as_str(),
            "",
            "invalid",
            "Not a valid receipt: the checkpoint failed.",
        ),
        (
            "",
            "",
            too_much.as_str(),
            "invalid",
            "Not a valid receipt: the work failed.",
        ),
        (
            "",
            "xyz",
            "",
            "error",
            "The block you trust must be given by its hash",
        ),
        (
            "",
            "",
            "lots",
            "error",
            "The least work must be a number of hashes",
        ),
    ];
    for (network_id, checkpoint, min_work, want, says) in refused {
        anchor(browser, network_id, checkpoint, min_work).await?;
        check_pasted(browser, &text, "", want)
            .await
            .map_err(|e| format!("anchors {network_id:.8}/{checkpoint:.8}/{min_work}: {e}"))?;
        expect_verdict(browser, says).await?;
    }
    // This node never saw that chain: asked, it does not confirm the block.
    anchor(browser, "", "", "").await?;
    browser.click("#verify-ask-node").await?;
    check_pasted(browser, &text, "", "invalid").await?;
    expect_verdict(browser, "Not a valid receipt: this node failed.").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_of_every_kind_and_their_anchors_are_checked_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut f = node_with_chain(2, "explorer receipt kinds").await;
    let result = every_kind_and_anchors(&browser, &f).await;
    finish(browser, &mut f, result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_s_receipt_downloads_and_the_verify_page_checks_it_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut f = node_with_chain(5, "explorer receipts").await;
    let result = download_and_verify(&browser, &f).await;
    finish(browser, &mut f, result).await;
}
