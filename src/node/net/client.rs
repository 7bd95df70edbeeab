//! `PeerClient`: every request this node makes to a peer goes through here,
//! so every one has a connect timeout, a total timeout, a cap on the size
//! of the answer and a floor on its speed (after a second's grace, an
//! answer must keep coming at `MIN_RATE`: a peer that drips bytes is cut
//! off quickly). A dead, slow or lying peer costs at most one timeout and
//! one capped buffer; it never stalls the node or grows its memory.
//! `Download` hands out a large answer piece by piece, for reading a whole
//! chain without holding it.
//!
//! This module knows HTTP and nothing of blocks or rules.

use std::time::Duration;

use crate::consensus::BlockHash;

/// The header that carries the sender's node id, so a receiver can tell
/// which of its peers a block came from (and not send it back).
pub const NODE_ID_HEADER: &str = "x-jbc-node-id";

/// Why a request to a peer failed. None of these is the peer breaking a
/// consensus rule; they are counted as "peer down", not "peer lying".
#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    #[error("connection refused: {0}")]
    Refused(String),
    #[error("cannot connect: {0}")]
    Unreachable(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the answer is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("the answer comes too slowly ({received} bytes in {seconds:.1} s)")]
    TooSlow { received: usize, seconds: f64 },
    #[error("request failed: {0}")]
    Other(String),
}

/// After this grace period an answer must arrive at `MIN_RATE` on average.
const GRACE: Duration = Duration::from_secs(1);
const MIN_RATE: f64 = 16.0 * 1024.0;

/// Header in which a node says where it listens (`discovery`).
pub const ADVERTISE_HEADER: &str = "x-jbc-advertise";

/// The hash of the block a relay post carries, so that a receiver holding
/// it already answers without parsing the body.
pub const BLOCK_HEADER: &str = "x-jbc-block";

/// Limits for outgoing requests.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// For small requests (status, one block, a sync batch).
    pub request: Duration,
    /// For a whole chain from an original peer.
    pub whole_chain: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(10),
            whole_chain: Duration::from_secs(60),
        }
    }
}

/// The HTTP client could not be built (no TLS or proxy is involved, so
/// this means the system refused something basic, such as a socket).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client for peers: {0}")]
pub struct ClientError(String);

#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    node_id: String,
    /// Where this node listens, told with every request (discovery).
    advertise: Option<String>,
    timeouts: Timeouts,
}

impl PeerClient {
    /// A client that sends `node_id` with every request. Fails rather than
    /// fall back to a client without our timeouts.
    pub fn new(node_id: String, timeouts: Timeouts) -> Result<PeerClient, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .no_proxy()
            // Shorter than a jbc server keeps an idle connection (10 s), so
            // a pooled connection is never reused just as the server drops it.
            .pool_idle_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ClientError(root_cause(&e)))?;
        Ok(PeerClient {
            http,
            node_id,
            advertise: None,
            timeouts,
        })
    }

    /// The same client, telling peers it listens at `url`.
    pub fn advertising(mut self, url: &str) -> PeerClient {
        self.advertise = Some(url.to_owned());
        self
    }

    /// A request with this node's headers.
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, url)
            .header(NODE_ID_HEADER, &self.node_id);
        match &self.advertise {
            Some(advertise) => request.header(ADVERTISE_HEADER, advertise),
            None => request,
        }
    }

    /// The id of this run of the node, sent to peers.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// GET `url`; the body, at most `cap` bytes. Only 2xx is success.
    pub async fn get(
        &self,
        url: &str,
        cap: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, PeerError> {
        let request = self.request(reqwest::Method::GET, url).timeout(timeout);
        let response = request.send().await.map_err(|e| classify(e, timeout))?;
        let status = response.status();
        let body = read_capped(response, cap, timeout).await?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        Ok(body)
    }

    /// GET `url` and hand out its answer piece by piece (2xx only).
    pub async fn download(
        &self,
        url: &str,
        cap: usize,
        timeout: Duration,
    ) -> Result<Download, PeerError> {
        let request = self.request(reqwest::Method::GET, url).timeout(timeout);
        let response = request.send().await.map_err(|e| classify(e, timeout))?;
        let status = response.status();
        if !status.is_success() {
            let body = read_capped(response, 1024, timeout)
                .await
                .unwrap_or_default();
            return Err(status_error(status, &body));
        }
        Download::new(response, cap, timeout)
    }

    /// GET `url` and hold the answer open as a stream of news (2xx only):
    /// for at most `lifetime`, each piece within `silence` of the last.
    pub async fn listen(
        &self,
        url: &str,
        lifetime: Duration,
        silence: Duration,
    ) -> Result<Listening, PeerError> {
        let timeout = self.timeouts.request;
        let request = self.request(reqwest::Method::GET, url).timeout(lifetime);
        let response = tokio::time::timeout(timeout, request.send())
            .await
            .map_err(|_| PeerError::Timeout(timeout))?
            .map_err(|e| classify(e, timeout))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, &[]));
        }
        Ok(Listening {
            response,
            silence,
            ends: std::time::Instant::now() + lifetime,
        })
    }

    /// POST a JSON body to `url`; the status and (capped) body of any
    /// answer. A body carrying a block (in any form) names its hash in
    /// `BLOCK_HEADER`.
    pub async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        cap: usize,
        block: Option<&BlockHash>,
    ) -> Result<(u16, Vec<u8>), PeerError> {
        let timeout = self.timeouts.request;
        let mut request = self
            .request(reqwest::Method::POST, url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(hash) = block {
            request = request.header(BLOCK_HEADER, hash.to_string());
        }
        let response = request.send().await.map_err(|e| classify(e, timeout))?;
        let status = response.status().as_u16();
        let body = read_capped(response, cap, timeout).await?;
        Ok((status, body))
    }
}

/// A peer's error answer: its status and the start of its body.
fn status_error(status: reqwest::StatusCode, body: &[u8]) -> PeerError {
    PeerError::Status {
        status: status.as_u16(),
        body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// Reads the body chunk by chunk and gives up as soon as it passes `cap`
/// (a `Content-Length` over the cap is refused before reading anything) or
/// comes too slowly.
async fn read_capped(
    response: reqwest::Response,
    cap: usize,
    timeout: Duration,
) -> Result<Vec<u8>, PeerError> {
    let mut download = Download::new(response, cap, timeout)?;
    // Grown as bytes arrive, never reserved on the peer's word.
    let mut body = Vec::new();
    while let Some(chunk) = download.next().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A stream of news held open (`PeerClient::listen`).
pub struct Listening {
    response: reqwest::Response,
    silence: Duration,
    ends: std::time::Instant,
}

impl Listening {
    /// The next piece; `None` when the stream ends or its lifetime is up.
    pub async fn next(&mut self) -> Result<Option<axum::body::Bytes>, PeerError> {
        let left = self
            .ends
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match tokio::time::timeout(self.silence.min(left), self.response.chunk()).await {
            Ok(chunk) => chunk.map_err(|e| classify(e, self.silence)),
            Err(_) if self.silence < left => Err(PeerError::Timeout(self.silence)),
            Err(_) => Ok(None),
        }
    }
}

/// An answer read piece by piece, within a size cap and a speed floor.
pub struct Download {
    response: reqwest::Response,
    cap: usize,
    timeout: Duration,
    received: usize,
    started: std::time::Instant,
}

impl Download {
    fn new(
        response: reqwest::Response,
        cap: usize,
        timeout: Duration,
    ) -> Result<Download, PeerError> {
        if response
            .content_length()
            .is_some_and(|len| len > cap as u64)
        {
            return Err(PeerError::TooLarge { limit: cap });
        }
        Ok(Download {
            response,
            cap,
            timeout,
            received: 0,
            started: std::time::Instant::now(),
        })
    }

    /// The length the peer announced, if it did.
    pub fn declared(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The next piece, `None` at the end.
    pub async fn next(&mut self) -> Result<Option<axum::body::Bytes>, PeerError> {
        // The speed floor, checked while waiting too: a peer that sends
        // nothing more is cut off as surely as one that drips.
        let floor = self.floor();
        let chunk = match tokio::time::timeout(floor, self.response.chunk()).await {
            Ok(chunk) => chunk.map_err(|e| classify(e, self.timeout))?,
            Err(_) => return Err(self.too_slow()),
        };
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        self.received += chunk.len();
        if self.received > self.cap {
            return Err(PeerError::TooLarge { limit: self.cap });
        }
        let allowed = GRACE + Duration::from_secs_f64(self.received as f64 / MIN_RATE);
        if self.started.elapsed() > allowed {
            return Err(self.too_slow());
        }
        Ok(Some(chunk))
    }

    /// How long the next piece may take before the answer is too slow.
    fn floor(&self) -> Duration {
        // The answer so far earns time at MIN_RATE, plus the grace, plus
        // what a next piece of up to 16 KiB needs.
        let earned = GRACE.as_secs_f64() + (self.received as f64 + MIN_RATE) / MIN_RATE;
        Duration::from_secs_f64(earned).saturating_sub(self.started.elapsed())
    }

    fn too_slow(&self) -> PeerError {
        PeerError::TooSlow {
            received: self.received,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

fn classify(error: reqwest::Error, timeout: Duration) -> PeerError {
    if error.is_timeout() {
        PeerError::Timeout(timeout)
    } else if error.is_connect() && refused(&error) {
        PeerError::Refused(root_cause(&error))
    } else if error.is_connect() {
        PeerError::Unreachable(root_cause(&error))
    } else {
        PeerError::Other(root_cause(&error))
    }
}

/// True when an I/O error in the chain is a refused connection.
fn refused(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |error| error.source()).any(|error| {
        error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let root = std::iter::successors(Some(error), |error| error.source()).last();
    root.map(ToString::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a relay post of a block sends, read by a bare socket.
    #[test]
    fn a_block_post_names_its_block() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/blocks", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
            stream.write_all(answer.as_bytes()).unwrap();
            String::from_utf8(head).unwrap().to_lowercase()
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = PeerClient::new("test".into(), Timeouts::default()).unwrap();
        let hash = BlockHash::from_bytes([7; 32]);
        let (status, body) = runtime
            .block_on(client.post(&url, b"{}".to_vec(), 64, Some(&hash)))
            .unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"{}"[..]));
        let head = server.join().unwrap();
        assert!(
            head.contains(&format!("{BLOCK_HEADER}: {hash}\r\n")),
            "{head}"
        );
    }
}
