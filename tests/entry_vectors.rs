//! Entry test vectors (`tests/fixtures/entry_vectors.json`): jbc's
//! encoding, ids and signatures must reproduce them, and an independent
//! implementation (Python: json, hashlib, and the `cryptography` package
//! for ed25519) must agree with every one.

mod common;

use std::process::Command;

use jbc::consensus::entry::{hex_array, public_key};
use jbc::consensus::{Entry, Network};
use serde_json::Value;

fn vectors() -> Value {
    let text = std::fs::read(common::fixture("entry_vectors.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

#[test]
fn jbc_reproduces_every_vector() {
    let doc = vectors();
    let network = Network::seed();
    assert_eq!(
        doc["genesis_hash"].as_str().unwrap(),
        network.genesis_hash().to_string()
    );
    let secret: [u8; 32] =
        hex_array("secret", doc["secret_key_of_signed"].as_str().unwrap()).unwrap();
    assert_eq!(
        public_key(&secret).to_string(),
        doc["public_key_of_signed"].as_str().unwrap()
    );
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 6);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let canonical = v["canonical"].as_str().unwrap();
        let entry = Entry::parse_line(canonical).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(entry.encoding(), canonical, "{name}");
        assert_eq!(
            entry.unsigned_encoding(),
            v["unsigned"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(entry.id().to_string(), v["id"].as_str().unwrap(), "{name}");
        let id = entry
            .check(network.entry_rules(), &network.genesis_hash())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(id, entry.id());
        if entry.author.is_some() {
            // Signing the unsigned entry again gives the same signature.
            let unsigned = Entry {
                author: None,
                ..entry.clone()
            };
            assert_eq!(
                unsigned.signed(&secret, &network.genesis_hash()),
                entry,
                "{name}"
            );
        }
    }
}

#[test]
fn an_independent_implementation_agrees() {
    let output = Command::new("python3")
        .arg(common::fixture("check_entry_vectors.py"))
        .arg(common::fixture("entry_vectors.json"))
        .output()
        .expect("python3 runs (./scripts/test installs its `cryptography` package)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Python check failed (is `cryptography` installed? ./scripts/test installs it):\n{stderr}"
    );
    assert_eq!(stdout.trim(), "ok 6");
}
