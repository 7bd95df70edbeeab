//! A small WebDriver client (the W3C protocol, over chromedriver) for the
//! browser tests: start a headless Chromium, open a page, go back, find
//! elements by CSS selector, read their text and attributes, click, type,
//! wait for a text, an attribute or a count, take a screenshot. Just what the tests need, without TLS or a large client
//! crate.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// A WebDriver session in a headless Chromium.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

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

    pub async fn command(
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

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await
            .map(drop)
    }

    pub async fn find(&self, css: &str) -> Result<String, String> {
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

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> Result<usize, String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await?;
        Ok(found.as_array().map_or(0, Vec::len))
    }

    /// The attribute `name` of the first element matching `css` (`None`
    /// when it has none).
    pub async fn attribute(&self, css: &str, name: &str) -> Result<Option<String>, String> {
        let element = self.find(css).await?;
        let value = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/attribute/{name}"),
                Value::Null,
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// The browser's back button.
    pub async fn back(&self) -> Result<(), String> {
        self.command(reqwest::Method::POST, "/back", json!({}))
            .await
            .map(drop)
    }

    pub async fn text(&self, css: &str) -> Result<String, String> {
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
    pub async fn click(&self, css: &str) -> Result<(), String> {
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

    /// The address the browser is at.
    pub async fn current_url(&self) -> Result<String, String> {
        let url = self
            .command(reqwest::Method::GET, "/url", Value::Null)
            .await?;
        Ok(url.as_str().unwrap_or_default().to_owned())
    }

    /// Types `text` into the input `css`, replacing what it held.
    pub async fn type_text(&self, css: &str, text: &str) -> Result<(), String> {
        let element = self.find(css).await?;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            json!({}),
        )
        .await?;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await
        .map(drop)
    }

    /// Waits until the text of `css` is `want` (the page updates itself).
    pub async fn wait_text(&self, css: &str, want: &str) -> Result<(), String> {
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

    /// Waits until `css` matches `want` elements.
    pub async fn wait_count(&self, css: &str, want: usize) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.count(css).await {
                Ok(n) if n == want => return Ok(()),
                Ok(n) => last = n.to_string(),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{css} never matched {want} elements; last: {last}"))
    }

    /// Waits until the attribute `name` of `css` is `want`.
    pub async fn wait_attribute(&self, css: &str, name: &str, want: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.attribute(css, name).await {
                Ok(Some(value)) if value == want => return Ok(()),
                Ok(value) => last = format!("{value:?}"),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{css} never had {name}={want:?}; last: {last}"))
    }

    /// Waits until the address ends with `want`.
    pub async fn wait_url_ending(&self, want: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.current_url().await {
                Ok(url) if url.ends_with(want) => return Ok(()),
                Ok(url) => last = url,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "the address never ended with {want:?}; last: {last}"
        ))
    }

    pub async fn screenshot(&self, path: &std::path::Path) -> Result<(), String> {
        let data = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .map_err(|e| format!("a screenshot that is not base64: {e}"))?;
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
