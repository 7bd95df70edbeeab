//! One writer per data directory. Whoever opens a data directory to write
//! (a node, `jbc mine`, `jbc chain import`) holds an advisory lock on its
//! `.lock` file for as long as it runs; the kernel releases it when the
//! process ends, however it ends, so a crash leaves nothing to clean up.
//! A second writer is refused with a message naming the first (the file
//! says who holds it: its pid, command line and, for a node, its URL), and
//! touches nothing in the directory. Readers (`chain show`, `export`, the
//! node's own read handles) take no lock: SQLite's WAL lets them read
//! beside the writer.
//!
//! The same file tells the `jbc` control commands where the node of a
//! data directory listens, so `jbc mining on --data-dir D` needs no
//! `--node`.
//!
//! A lock belongs to the open file, and a process starting another one
//! (fork, then exec) lends the child a copy of every open file until the
//! exec: a lock let go in one thread while another thread starts a
//! process is still held, for that moment, by the child. So a lock found
//! held with this process's own pid in the file, by no `DirLock` of this
//! process, is waited for (up to `CHILD_WAIT`) rather than refused: tests
//! and benchmarks run nodes in one process and start others beside them.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The file inside the data directory.
pub const LOCK_FILE: &str = ".lock";

/// How long a lock held by a child this process is starting may take to
/// come back (the child lets go when it runs its program).
const CHILD_WAIT: Duration = Duration::from_secs(5);

/// The lock files (device, inode) this process holds through a live
/// `DirLock`.
static HELD_HERE: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

fn held_here() -> std::sync::MutexGuard<'static, Vec<(u64, u64)>> {
    HELD_HERE.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the data directory {dir} is in use by another jbc process ({holder}); stop it first \
         (`jbc stop` for a node), or use another --data-dir"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock the data directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The lock on a data directory, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DirLock {
    file: File,
    lines: Vec<(String, String)>,
    /// The lock file's (device, inode), in `HELD_HERE` while this lives.
    id: (u64, u64),
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let mut held = held_here();
        if let Some(at) = held.iter().position(|id| *id == self.id) {
            held.swap_remove(at);
        }
    }
}

impl DirLock {
    /// Takes the lock on `dir` (which must exist), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_owned(),
            source,
        };
        let path = dir.join(LOCK_FILE);
        // Not truncated on open: until we hold the lock, the file is the
        // holder's, and it says who that is.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let metadata = file.metadata().map_err(io)?;
        let id = (metadata.dev(), metadata.ino());
        let started = Instant::now();
        loop {
            // SAFETY: flock on a file descriptor this function owns.
            let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if locked == 0 {
                break;
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::WouldBlock {
                return Err(io(error));
            }
            let mut text = String::new();
            file.rewind().map_err(io)?;
            let _ = file.read_to_string(&mut text);
            let holder = read_holder(&text);
            let ours = holder.pid == Some(std::process::id());
            // Ours, yet no DirLock of ours holds it: a child being started
            // holds it (see the module comment), until it runs its program.
            let in_a_child = ours && !held_here().contains(&id);
            if !in_a_child || started.elapsed() > CHILD_WAIT {
                return Err(LockError::Held {
                    dir: dir.to_owned(),
                    holder: describe(&holder),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        held_here().push(id);
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        let mut lock = DirLock {
            file,
            lines: vec![
                ("pid".into(), std::process::id().to_string()),
                ("command".into(), command),
            ],
            id,
        };
        lock.write().map_err(io)?;
        Ok(lock)
    }

    /// Records the URL the node holding the lock listens at.
    pub fn set_url(&mut self, url: &str) -> std::io::Result<()> {
        self.lines.retain(|(key, _)| key != "url");
        self.lines.push(("url".into(), url.to_owned()));
        self.write()
    }

    fn write(&mut self) -> std::io::Result<()> {
        let text: String = self
            .lines
            .iter()
            .map(|(key, value)| format!("{key} {}\n", value.replace('\n', " ")))
            .collect();
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()
    }
}

/// What the lock file of `dir` says, if a process holds the lock now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub command: Option<String>,
    pub url: Option<String>,
}

/// Who holds the lock on `dir` now (`None`: nobody, or no such file).
pub fn holder(dir: &Path) -> Option<Holder> {
    let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
    // SAFETY: flock on a file descriptor this function owns. A shared,
    // non-blocking try: it succeeds only when nobody holds the lock.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(read_holder(&text))
}

/// What a lock file's lines (`key value`) say of its holder.
fn read_holder(text: &str) -> Holder {
    let get = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
            .map(str::to_owned)
    };
    Holder {
        pid: get("pid").and_then(|p| p.parse().ok()),
        command: get("command"),
        url: get("url"),
    }
}

fn describe(holder: &Holder) -> String {
    let starting = || "a process that is still starting".to_owned();
    let mut text = holder.pid.map_or_else(starting, |pid| format!("pid {pid}"));
    if let Some(command) = &holder.command {
        text.push_str(&format!(": {command}"));
    }
    if let Some(url) = &holder.url {
        text.push_str(&format!(", listening at {url}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_first_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = DirLock::acquire(dir.path()).unwrap();
        first.set_url("http://127.0.0.1:5000/").unwrap();
        let said = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            said.contains(&format!("pid {}", std::process::id())),
            "{said}"
        );
        assert!(said.contains("http://127.0.0.1:5000/"), "{said}");
        let holder = holder(dir.path()).unwrap();
        assert_eq!(holder.url.as_deref(), Some("http://127.0.0.1:5000/"));
        assert_eq!(holder.pid, Some(std::process::id()));
        drop(first);
        assert_eq!(super::holder(dir.path()), None);
        DirLock::acquire(dir.path()).unwrap();
    }
}
