//! The explorer page, the live event stream and `/metrics`: the page in a
//! real headless Chromium driven over the WebDriver protocol (chromedriver),
//! the rest over plain HTTP.
//!
//! The browser test needs Debian's `chromium` and `chromium-driver`;
//! `./scripts/test` installs them when missing. Set `JBC_SKIP_BROWSER=1` to
//! skip it knowingly; without that, a missing chromedriver is a failure.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::blocks_on;
use common::net::{Fixture, get_json, node_with_chain};
use jbc::consensus::Block;
use serde_json::{Value, json};

async fn post_block(url: &str, block: &Block) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}v1/blocks"))
        .body(jbc::wire::block_to_json(block))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

// ---------------------------------------------------------------- metrics

/// Checks the Prometheus text exposition format (0.0.4) line by line and
/// returns the samples as (name, labels, value).
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut seen_samples: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(is_name(name), "bad metric name in {line:?}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line:?}"
            );
            assert!(
                !typed.iter().any(|(n, _)| n == name),
                "TYPE twice for {name}"
            );
            assert!(
                !seen_samples.contains(&name.to_owned()),
                "TYPE after samples of {name}"
            );
            typed.push((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line:?}"));
                for pair in split_labels(labels) {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label {pair:?}"));
                    assert!(is_name(k) && !k.contains(':'), "bad label name {k:?}");
                    assert!(
                        v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                        "unquoted label value {v:?}"
                    );
                }
                (name, labels)
            }
            None => (series, ""),
        };
        assert!(is_name(name), "bad metric name in {line:?}");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.iter().any(|(n, k)| n == f && k == "histogram"))
            })
            .unwrap_or(name);
        seen_samples.push(family.to_owned());
        samples.push((name.to_owned(), labels.to_owned(), value));
    }
    samples
}

/// Splits `a="x",b="y,z"` at the commas between labels.
fn split_labels(labels: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_quotes, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                parts.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < labels.len() {
        parts.push(&labels[start..]);
    }
    parts
}

fn sample(samples: &[(String, String, f64)], name: &str, labels: &str) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && l == labels)
        .map(|(_, _, v)| *v)
}

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
        assert_eq!(post_block(url, &block).await, 201);
    }
    let mut bad = blocks_on(&f.params, &f.chain[4], 1, "bad").remove(0);
    bad.data.push('!');
    assert_eq!(post_block(url, &bad).await, 422);
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
        post_block(url, block).await;
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
}

// ----------------------------------------------------------- the browser

/// A minimal WebDriver client: just what this test needs.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    async fn start() -> Option<Browser> {
        let on_path = std::env::var_os("PATH")
            .map(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("chromedriver"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let driver_path = on_path
            .into_iter()
            .chain([std::path::PathBuf::from("/usr/lib/chromium/chromedriver")])
            .find(|p| p.is_file());
        let Some(driver_path) = driver_path else {
            if std::env::var_os("JBC_SKIP_BROWSER").is_some() {
                eprintln!("JBC_SKIP_BROWSER is set: skipping the browser test");
                return None;
            }
            panic!(
                "chromedriver not found: run ./scripts/test (it installs Debian's chromium and chromium-driver), or set JBC_SKIP_BROWSER=1 to skip this test"
            );
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1400",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json_body(&capabilities)
            .send()
            .await
            .unwrap()
            .json_value()
            .await;
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        Some(Browser {
            http,
            base,
            session,
            driver,
            _profile: profile,
        })
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if !body.is_null() {
            request = request.json_body(&body);
        }
        let answer = request
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json_value()
            .await;
        if answer["value"].get("error").is_some() {
            return Err(format!("{path}: {}", answer["value"]));
        }
        Ok(answer["value"].clone())
    }

    async fn goto(&self, url: &str) -> Result<(), String> {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await
            .map(drop)
    }

    async fn find(&self, css: &str) -> Result<String, String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await?;
        found[ELEMENT]
            .as_str()
            .or_else(|| found["ELEMENT"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("no element id for {css} in {found}"))
    }

    async fn text(&self, css: &str) -> Result<String, String> {
        let element = self.find(css).await?;
        let text = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                Value::Null,
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Clicks `css`; the page redraws itself now and then, so an element
    /// found just before a redraw is looked up again.
    async fn click(&self, css: &str) -> Result<(), String> {
        let mut tries = 0;
        loop {
            let element = self.find(css).await?;
            match self
                .command(
                    reqwest::Method::POST,
                    &format!("/element/{element}/click"),
                    json!({}),
                )
                .await
            {
                Err(e) if e.contains("stale element") && tries < 20 => tries += 1,
                other => return other.map(drop),
            }
        }
    }

    /// Waits until the text of `css` is `want` (the page updates itself).
    async fn wait_text(&self, css: &str, want: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.text(css).await {
                Ok(text) if text == want => return Ok(()),
                Ok(text) => last = text,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{css} never read {want:?}; last: {last:?}"))
    }

    async fn screenshot(&self, path: &std::path::Path) -> Result<(), String> {
        let data = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await?;
        let bytes = base64_decode(data.as_str().unwrap_or_default()).ok_or("bad base64")?;
        std::fs::write(path, bytes).map_err(|e| e.to_string())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// JSON bodies without reqwest's `json` feature.
trait JsonBody {
    fn json_body(self, value: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, value: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_str(&self.text().await.unwrap_or_default()).unwrap_or(Value::Null)
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= u32::from(value(*c)?) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

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
    if post_block(url, &next).await != 201 {
        return Err("posting the new block failed".into());
    }
    browser.wait_text("#tip-index", "6").await?;
    browser
        .wait_text(
            &format!("#blocks tr[data-hash='{}'] td.data", next.hash),
            &next.data,
        )
        .await?;
    // Clicking a block shows every field, with a link to its parent.
    browser
        .click(&format!("#blocks tr[data-hash='{}']", third.hash))
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
        .wait_text("#detail-prev", &f.chain[1].hash.to_string())
        .await?;
    browser.click("#detail-prev").await?;
    browser
        .wait_text("#detail-hash", &f.chain[1].hash.to_string())
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_the_chain_live_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let f = node_with_chain(5, "explorer").await;
    if let Err(problem) = browse(&browser, &f).await {
        let shot = f.node.dir.path().join("explorer-failure.png");
        let saved = browser.screenshot(&shot).await;
        // Keep the temp dir so the screenshot survives the test.
        let kept = f.node.dir.path().to_owned();
        std::mem::forget(f);
        panic!(
            "{problem}\nscreenshot: {} ({saved:?}); kept {}",
            shot.display(),
            kept.display()
        );
    }
    let _ = browser
        .command(reqwest::Method::DELETE, "", Value::Null)
        .await;
}
