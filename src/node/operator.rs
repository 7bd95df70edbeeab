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
        // Written beside and renamed into place: a reader sees the old
        // file, no file, or the whole token, never an empty file that
        // is still being written (a `jbc` command started with the node
        // read "" and was refused).
        let fresh = dir.join(format!("{COOKIE_FILE}.new"));
        let _ = std::fs::remove_file(&fresh);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&fresh)?;
        file.write_all(token.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&fresh, &path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A command reading the cookie while a node writes it gets the old
    /// token, no file, or a whole token: never a part of one.
    #[test]
    fn a_reader_never_sees_a_cookie_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (dir, done) = (dir.path().to_owned(), done.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Ok(token) = read_token(&dir) {
                        assert_eq!(token.len(), 64, "read {token:?}");
                        seen += 1;
                    }
                }
                seen
            })
        };
        for _ in 0..2000 {
            let cookie = Cookie::create(dir.path()).unwrap();
            assert_eq!(read_token(dir.path()).unwrap(), cookie.token());
            std::mem::forget(cookie); // the next one replaces it
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0, "the reader read no cookie");
    }
}
