//! The browser tests' Chromium, driven over WebDriver by the `fantoccini`
//! crate (plain HTTP to a chromedriver on loopback: no TLS): start a
//! headless Chromium, open a page, go back, find elements by CSS selector,
//! read their text and attributes, click, type, wait for a text, an
//! attribute, a count or an address, take a screenshot. Errors are strings
//! naming what was looked for.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// A WebDriver session in a headless Chromium.
pub struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// How long a `wait_*` waits for the page to update itself.
const WAIT: Duration = Duration::from_secs(15);

impl Browser {
    /// Starts chromedriver and a browser session; `None` (skip) only when
    /// chromedriver is missing and `JBC_SKIP_BROWSER` is set.
    pub async fn start() -> Option<Browser> {
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
        let profile = tempfile::tempdir().unwrap();
        let args: Vec<String> = [
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
        .collect();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": "/usr/bin/chromium", "args": args}),
        );
        // chromedriver takes a moment to listen.
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connected = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match connected {
                Ok(client) => break client,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no WebDriver session: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.client
            .goto(url)
            .await
            .map_err(|e| format!("{url}: {e}"))
    }

    async fn element(&self, css: &str) -> Result<fantoccini::elements::Element, String> {
        self.client
            .find(Locator::Css(css))
            .await
            .map_err(|e| format!("{css}: {e}"))
    }

    /// Finds `css`; an error naming it when nothing matches.
    pub async fn find(&self, css: &str) -> Result<(), String> {
        self.element(css).await.map(drop)
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> Result<usize, String> {
        let found = self
            .client
            .find_all(Locator::Css(css))
            .await
            .map_err(|e| format!("{css}: {e}"))?;
        Ok(found.len())
    }

    /// The attribute `name` of the first element matching `css` (`None`
    /// when it has none).
    pub async fn attribute(&self, css: &str, name: &str) -> Result<Option<String>, String> {
        self.element(css)
            .await?
            .attr(name)
            .await
            .map_err(|e| format!("{css} [{name}]: {e}"))
    }

    /// The browser's back button.
    pub async fn back(&self) -> Result<(), String> {
        self.client.back().await.map_err(|e| e.to_string())
    }

    pub async fn text(&self, css: &str) -> Result<String, String> {
        self.element(css)
            .await?
            .text()
            .await
            .map_err(|e| format!("{css}: {e}"))
    }

    /// Clicks `css`; the page redraws itself now and then, so an element
    /// found just before a redraw is looked up again.
    pub async fn click(&self, css: &str) -> Result<(), String> {
        let mut tries = 0;
        loop {
            match self.element(css).await?.click().await {
                Err(e) if e.to_string().contains("stale element") && tries < 20 => tries += 1,
                other => return other.map_err(|e| format!("{css}: {e}")),
            }
        }
    }

    /// The address the browser is at.
    pub async fn current_url(&self) -> Result<String, String> {
        self.client
            .current_url()
            .await
            .map(|url| url.to_string())
            .map_err(|e| e.to_string())
    }

    /// Chooses the file at `path` in the file input `css`.
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) -> Result<(), String> {
        let element = self.element(css).await?;
        element
            .send_keys(&path.display().to_string())
            .await
            .map_err(|e| format!("{css}: {e}"))
    }

    /// Types `text` into the input `css`, replacing what it held.
    pub async fn type_text(&self, css: &str, text: &str) -> Result<(), String> {
        let element = self.element(css).await?;
        element.clear().await.map_err(|e| format!("{css}: {e}"))?;
        element
            .send_keys(text)
            .await
            .map_err(|e| format!("{css}: {e}"))
    }

    /// Waits until `read` gives what `good` accepts (the page updates
    /// itself); the error says what it last read.
    async fn wait_for<T: std::fmt::Debug, F: std::future::Future<Output = Result<T, String>>>(
        &self,
        what: &str,
        mut read: impl FnMut() -> F,
        good: impl Fn(&T) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            match read().await {
                Ok(value) if good(&value) => return Ok(()),
                Ok(value) => last = format!("{value:?}"),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{what}; last: {last}"))
    }

    /// Waits until the text of `css` is `want`.
    pub async fn wait_text(&self, css: &str, want: &str) -> Result<(), String> {
        let what = format!("{css} never read {want:?}");
        self.wait_for(&what, || self.text(css), |text| text == want)
            .await
    }

    /// Waits until `css` matches `want` elements.
    pub async fn wait_count(&self, css: &str, want: usize) -> Result<(), String> {
        let what = format!("{css} never matched {want} elements");
        self.wait_for(&what, || self.count(css), |n| *n == want)
            .await
    }

    /// Waits until the attribute `name` of `css` is `want`.
    pub async fn wait_attribute(&self, css: &str, name: &str, want: &str) -> Result<(), String> {
        let what = format!("{css} never had {name}={want:?}");
        self.wait_for(
            &what,
            || self.attribute(css, name),
            |value| value.as_deref() == Some(want),
        )
        .await
    }

    /// Waits until the address ends with `want`.
    pub async fn wait_url_ending(&self, want: &str) -> Result<(), String> {
        let what = format!("the address never ended with {want:?}");
        self.wait_for(&what, || self.current_url(), |url| url.ends_with(want))
            .await
    }

    pub async fn screenshot(&self, path: &std::path::Path) -> Result<(), String> {
        let png = self.client.screenshot().await.map_err(|e| e.to_string())?;
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// Ends the session (the browser closes).
    pub async fn close(self) -> Result<(), String> {
        self.client.clone().close().await.map_err(|e| e.to_string())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
