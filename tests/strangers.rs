//! What a stranger who reaches the port cannot make a node do (issue 17),
//! on real `jbc node` processes:
//!
//! 1. dial a third host it names (network namespaces: a node, a stranger
//!    and an internal service on three hosts), or a link-local address;
//! 2. show the world what a host it dialled answered (from this machine's
//!    own address on its network interface, to a node on 0.0.0.0);
//! 3. lock everyone else out by holding every connection from eight
//!    addresses;
//! 4. evict other people's acknowledged entries by flooding the pool;
//! 5. and the smaller ones: `Authorization: bearer` in lower case is the
//!    operator's too; a second node (or `jbc mine`) on a data directory in
//!    use is refused, naming the running node, and touches nothing; a web
//!    page cannot read a node on loopback through DNS rebinding.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::netns::Lab;
use common::process::ProcessNode;
use common::{Reaped, jbc_bin};
use serde_json::{Value, json};

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A whole HTTP request, with a `Host` the node answers to.
fn get_request(path: &str, extra_headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra_headers}\r\n")
}

/// Sends `raw` from `source` (bound first) to `to`; the raw answer.
fn send_from(source: IpAddr, to: SocketAddr, raw: &str) -> std::io::Result<String> {
    let socket = socket2_like_bind(source)?;
    let mut stream = socket.connect(to)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(raw.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// A blocking TCP socket bound to `source`, ready to connect (std has no
/// bind-then-connect; tokio's `TcpSocket` does, on a small runtime).
struct BoundSocket(tokio::net::TcpSocket, tokio::runtime::Runtime);

impl BoundSocket {
    fn connect(self, to: SocketAddr) -> std::io::Result<std::net::TcpStream> {
        let BoundSocket(socket, runtime) = self;
        let stream = runtime.block_on(socket.connect(to))?;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        Ok(stream)
    }
}

fn socket2_like_bind(source: IpAddr) -> std::io::Result<BoundSocket> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = runtime.block_on(async {
        let socket = match source {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(source, 0))?;
        Ok::<_, std::io::Error>(socket)
    })?;
    Ok(BoundSocket(socket, runtime))
}

/// A fake internal service: answers every request with HTTP 500 and a
/// secret, counting the connections it gets.
fn secret_service(listener: TcpListener, secret: &'static str) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut head = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut head);
            let answer = format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{secret}",
                secret.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    count
}

fn operator_get(node: &ProcessNode, path: &str) -> Value {
    let token = jbc::node::operator::read_token(&node.data_dir).unwrap();
    let raw = get_request(path, &format!("Authorization: Bearer {token}\r\n"));
    let answer = send_from("127.0.0.1".parse().unwrap(), addr(node.port), &raw).unwrap();
    serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ------------------------------------------------ 1. dialling a third host

#[test]
fn a_stranger_cannot_make_the_node_dial_another_host() {
    let Some(lab) = Lab::new(&[0, 0, 0]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (node_host, stranger, internal) = (0, 1, 2);
    const PORT: u16 = 5000;
    const SERVICE: u16 = 6379;
    // The internal service, and the same port on the stranger's own host
    // (where the node may go: that is the host that spoke to it).
    let hit_internal = secret_service(lab.listen(internal, SERVICE), "SECRET-INTERNAL");
    let hit_stranger = secret_service(lab.listen(stranger, SERVICE), "ON-THE-STRANGERS-HOST");
    let data_dir = dir.path().join("node");
    let mut command = lab.command(node_host, jbc_bin());
    command
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "node",
            "--listen",
            &format!("0.0.0.0:{PORT}"),
            "--threads",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("node.log")).unwrap());
    let _node = Reaped::spawn(&mut command);
    wait("the node", Duration::from_secs(60), || {
        lab.get(node_host, PORT, "/v1/status").is_some()
    });
    let node_address: SocketAddr = format!("{}:{PORT}", lab.hosts[node_host].ip)
        .parse()
        .unwrap();
    let internal_url = format!("http://{}:{SERVICE}/", lab.hosts[internal].ip);
    for named in [
        internal_url.as_str(),
        "http://169.254.169.254:6379/",
        "http://[fe80::1]:6379/",
    ] {
        let raw = get_request("/v1/status", &format!("x-jbc-advertise: {named}\r\n"));
        let answer = lab.send_from(stranger, node_address, raw);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // The node goes to the port named, on the host that spoke to it ...
    wait(
        "the node to dial the stranger's own host",
        Duration::from_secs(30),
        || hit_stranger.load(Ordering::SeqCst) > 0,
    );
    // ... and never to the host the stranger named.
    assert_eq!(hit_internal.load(Ordering::SeqCst), 0);
    let token = jbc::node::operator::read_token(&data_dir).unwrap();
    let (_, book) = lab
        .request(
            node_host,
            PORT,
            "GET",
            "/v1/addresses/book",
            Some(&token),
            "",
        )
        .unwrap();
    let urls: Vec<&str> = book["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["url"].as_str().unwrap())
        .collect();
    // The stranger at its own address, or nothing: an address that never
    // answered as a jbc node is forgotten after three failed dials, and
    // those can be over by now (on a busy machine they were). Never a
    // host it named.
    let stranger_url = format!("http://{}:{SERVICE}/", lab.hosts[stranger].ip);
    assert!(urls.iter().all(|url| *url == stranger_url), "{book}");
}

// -------------------------------------- 2. what a dialled host answered

/// This machine's address on a network interface (not loopback), if any.
fn machine_address() -> Option<IpAddr> {
    let output = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let field = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)?;
    field.split('/').next()?.parse().ok()
}

#[test]
fn what_a_dialled_host_answered_is_never_shown_to_the_world() {
    let Some(own) = machine_address() else {
        eprintln!("skipped: this machine has no address on a network interface");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let node = ProcessNode::start(
        &dir.path().join("node"),
        &[],
        &["--listen", "0.0.0.0:0", "--threads", "1"],
    );
    let service = TcpListener::bind((own, 0)).unwrap();
    let service_port = service.local_addr().unwrap().port();
    let hits = secret_service(service, "SECRET-REDIS-DATA");
    // Someone listening to the live events before anything happens.
    let mut events =
        std::net::TcpStream::connect(addr(node.port)).expect("connect for the event stream");
    events
        .write_all(get_request("/v1/events", "").as_bytes())
        .unwrap();
    events
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // The stranger, from this machine's own address (not loopback), says
    // it listens at a port of another host: the node may only go to that
    // port of the stranger's address, where the "internal service" is.
    let raw = get_request(
        "/v1/status",
        &format!("x-jbc-advertise: http://10.1.2.3:{service_port}/\r\n"),
    );
    let answer = send_from(own, SocketAddr::new(own, node.port), &raw).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    wait(
        "the node to dial the stranger's address",
        Duration::from_secs(30),
        || hits.load(Ordering::SeqCst) > 0,
    );
    let peer_url = format!("http://{own}:{service_port}/");
    let mut peers = Value::Null;
    wait("the failure to show", Duration::from_secs(30), || {
        peers = node.get("/v1/peers").unwrap_or(Value::Null);
        peers.to_string().contains("not a jbc node")
    });
    let peer = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["url"] == json!(peer_url))
        .unwrap_or_else(|| panic!("{peers}"))
        .clone();
    assert_eq!(peer["last_error"], json!("not a jbc node"), "{peer}");
    let mut seen = String::new();
    let mut buffer = [0u8; 65536];
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until && !seen.contains("not a jbc node") {
        if let Ok(n) = events.read(&mut buffer) {
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    }
    for (what, text) in [
        ("/v1/peers", peers.to_string()),
        ("/v1/status", node.status().unwrap().to_string()),
        ("/v1/events", seen),
    ] {
        assert!(
            !text.contains("SECRET"),
            "{what} repeats what the host sent: {text}"
        );
    }
    // The operator reads the whole story.
    let told = operator_get(&node, "/v1/peers");
    assert!(told.to_string().contains("SECRET-REDIS-DATA"), "{told}");
    // Nothing of 10.1.2.3 is in the book.
    let book = operator_get(&node, "/v1/addresses/book");
    assert!(!book.to_string().contains("10.1.2.3"), "{book}");
}

// ------------------------------------------- 3. eight addresses, all places

/// Keeps up to `max` connections from `source` open to `to`, reopening
/// whatever the node closes, until `stop`; counts what it holds.
fn hold_connections(
    source: IpAddr,
    to: SocketAddr,
    max: usize,
    held: Arc<AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    std::thread::spawn(move || {
        let open = Arc::new(AtomicUsize::new(0));
        while !stop.load(Ordering::SeqCst) {
            if open.load(Ordering::SeqCst) >= max {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let Ok(mut stream) = socket2_like_bind(source).and_then(|s| s.connect(to)) else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            open.fetch_add(1, Ordering::SeqCst);
            held.fetch_add(1, Ordering::SeqCst);
            let (open, held, stop) = (Arc::clone(&open), Arc::clone(&held), Arc::clone(&stop));
            std::thread::spawn(move || {
                // Holds the connection, sending nothing, until the node
                // closes it (or the test ends).
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let mut byte = [0u8; 1];
                loop {
                    match stream.read(&mut byte) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                }
                open.fetch_sub(1, Ordering::SeqCst);
                held.fetch_sub(1, Ordering::SeqCst);
            });
            // The node closes a refused connection at once: do not spin.
            std::thread::sleep(Duration::from_millis(2));
        }
    });
}

#[test]
fn eight_addresses_holding_every_place_cannot_lock_out_a_ninth() {
    common::hostile::raise_own_file_limit();
    let dir = tempfile::tempdir().unwrap();
    let node = ProcessNode::start(&dir.path().join("node"), &[], &["--threads", "1"]);
    let to = addr(node.port);
    let held = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for source in 1..=8u8 {
        hold_connections(
            IpAddr::from([127, 0, 0, 10 + source]),
            to,
            64,
            Arc::clone(&held),
            Arc::clone(&stop),
        );
    }
    // Every place taken (the node's cap: 512 = 8 x 64).
    wait(
        "the eight to hold every place",
        Duration::from_secs(60),
        || held.load(Ordering::SeqCst) >= 510,
    );
    let ninth: IpAddr = "127.0.0.99".parse().unwrap();
    let mut answered = 0;
    for _ in 0..20 {
        let raw = get_request("/v1/status", "");
        if send_from(ninth, to, &raw).is_ok_and(|a| a.starts_with("HTTP/1.1 200")) {
            answered += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    assert!(
        answered >= 18,
        "a ninth address got {answered} answers of 20 while eight held every place"
    );
}

// ------------------------------------------------------- 4. pool floods

/// Posts `body` to `/v1/entries` from `source`; the status and answer.
fn post_entries(source: IpAddr, port: u16, body: &str) -> (u16, Value) {
    let raw = format!(
        "POST /v1/entries HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = send_from(source, addr(port), &raw).unwrap();
    let code = answer.split(' ').nth(1).unwrap().parse().unwrap();
    let json = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    (code, json)
}

#[test]
fn a_flood_from_one_source_evicts_its_own_entries_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let node = ProcessNode::start(
        &dir.path().join("node"),
        &[],
        &["--threads", "1", "--max-pending", "1000"],
    );
    let victim: IpAddr = "127.0.0.2".parse().unwrap();
    let flooder: IpAddr = "127.0.0.3".parse().unwrap();
    let (code, answer) = post_entries(victim, node.port, r#"{"text": "my invoice, acknowledged"}"#);
    assert_eq!(code, 201, "{answer}");
    let victim_id = answer["id"].as_str().unwrap().to_owned();
    let mut flood_ids = Vec::new();
    for batch in 0..11 {
        let list: Vec<Value> = (0..100)
            .map(|i| json!({ "text": format!("spam {batch}-{i}") }))
            .collect();
        let (code, answer) = post_entries(flooder, node.port, &Value::from(list).to_string());
        assert!(code == 201 || code == 200, "{answer}");
        flood_ids.extend(
            answer
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned()),
        );
    }
    let status = |id: &str| node.get(&format!("/v1/entries/{id}")).unwrap();
    // The acknowledged entry of another client is still pending ...
    assert_eq!(status(&victim_id)["status"], json!("pending"));
    // ... the flooder's oldest went, and its submitter can learn it.
    let first = status(&flood_ids[0]);
    assert_eq!(first["status"], json!("evicted"), "{first}");
    assert!(first["evicted_at"].as_u64().is_some(), "{first}");
    assert_eq!(
        status(flood_ids.last().unwrap())["status"],
        json!("pending")
    );
    let pool = &node.status().unwrap()["pool"];
    assert_eq!(pool["entries"], json!(1000), "{pool}");
    // The CLI says it too.
    let out = node.jbc(&["entry", &flood_ids[0], "--node", &node.url]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("evicted"), "{said}");
}

// ------------------------------------------------------ 5. the small ones

#[test]
fn the_operators_token_works_with_bearer_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let node = ProcessNode::start(&dir.path().join("node"), &[], &["--threads", "1"]);
    let token = jbc::node::operator::read_token(&node.data_dir).unwrap();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let body = r#"{"mine": false}"#;
        let raw = format!(
            "POST /v1/mining HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: {scheme} {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let answer = send_from("127.0.0.1".parse().unwrap(), addr(node.port), &raw).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{scheme}: {answer}");
    }
}

#[test]
fn a_second_node_on_a_data_directory_in_use_is_refused_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node");
    let node = ProcessNode::start(&data_dir, &[], &["--threads", "1"]);
    let cookie = std::fs::read_to_string(data_dir.join(".cookie")).unwrap();
    let tip = node.status().unwrap()["tip"].clone();
    let refused = |args: &[&str]| {
        let log = dir.path().join("second.log");
        let mut second = Reaped::spawn(
            Command::new(jbc_bin())
                .arg("--data-dir")
                .arg(&data_dir)
                .args(args)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap()),
        );
        // Refused at once; one still running after 10 s was not.
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = second.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{args:?} runs beside the node");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success(), "{args:?} ran beside the node");
        std::fs::read_to_string(&log).unwrap()
    };
    let said = refused(&["node", "--port", "0"]);
    assert!(said.contains("in use by another jbc process"), "{said}");
    assert!(said.contains(&node.url), "{said}");
    let said = refused(&["mine", "--blocks", "1"]);
    assert!(said.contains("in use by another jbc process"), "{said}");
    // Nothing touched: the same cookie, the same tip, and the node is
    // still the operator's (found from the data directory alone).
    assert_eq!(
        std::fs::read_to_string(data_dir.join(".cookie")).unwrap(),
        cookie
    );
    assert_eq!(node.status().unwrap()["tip"], tip);
    let out = node.jbc(&["mining", "on"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("mining on at {}", node.url)),
        "{said}"
    );
}

#[test]
fn a_node_on_loopback_answers_only_to_its_own_host_names() {
    let dir = tempfile::tempdir().unwrap();
    let node = ProcessNode::start(
        &dir.path().join("node"),
        &[],
        &["--threads", "1", "--allow-host", "jbc.example"],
    );
    let ask = |host: &str| {
        let raw = format!("GET /v1/status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        send_from("127.0.0.1".parse().unwrap(), addr(node.port), &raw).unwrap()
    };
    let rebound = ask(&format!("attacker.example:{}", node.port));
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    assert!(rebound.contains("--allow-host"), "{rebound}");
    for host in [
        format!("127.0.0.1:{}", node.port),
        format!("localhost:{}", node.port),
        format!("[::1]:{}", node.port),
        "jbc.example".to_owned(),
    ] {
        let answer = ask(&host);
        assert!(answer.starts_with("HTTP/1.1 200"), "{host}: {answer}");
    }
}
