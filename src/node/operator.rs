//! The operator's credential. Reading the chain and posting blocks and
//! entries is for everyone; switching mining, adding and removing peers
//! and stopping the node are for the operator alone. The operator is
//! whoever can read the node's data directory: at each start the node
//! writes a new random token to `.cookie` there (mode 0600, as Bitcoin
//! Core's cookie file), removes it when it stops, and the control routes
//! want `Authorization: Bearer TOKEN`. `jbc` commands read the file
//! themselves, so the operator never types it; the explorer gets it from
//! the link `jbc node` prints (`#token=...`, a fragment no request
//! carries).
//!
//! Coming from loopback is not enough: every local user and process can
//! reach 127.0.0.1, and so can any web page the operator happens to open,
//! by posting a form to http://127.0.0.1:5000/v1/mining.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The file inside the data directory.
pub const COOKIE_FILE: &str = ".cookie";

/// The token of a running node; the file goes when this is dropped.
pub struct Cookie {
    path: PathBuf,
    token: String,
}

impl Cookie {
    /// Makes a new token and writes it to `dir/.cookie`, readable by the
    /// owner only (a stale file of an earlier run is replaced).
    pub fn create(dir: &Path) -> std::io::Result<Cookie> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut secret = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
        let token = crate::consensus::entry::hex(&secret);
        let path = dir.join(COOKIE_FILE);
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(token.as_bytes())?;
        file.sync_all()?;
        Ok(Cookie { path, token })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// True when `offered` is the token (compared in constant time).
    pub fn accepts(&self, offered: &str) -> bool {
        let (a, b) = (self.token.as_bytes(), offered.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Drop for Cookie {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The token of the node whose data directory is `dir`, for `jbc`
/// commands that control it.
pub fn read_token(dir: &Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(dir.join(COOKIE_FILE))?
        .trim()
        .to_owned())
}
