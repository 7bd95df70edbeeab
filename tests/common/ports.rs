//! Fixed ports for the tests that need them (a devnet's nodes follow its
//! `--base-port`; the tutorial's nodes listen where its command lines
//! say), chosen so that nothing else can take them before the process
//! that needs them binds them:
//!
//! - never in the system's range of ephemeral ports
//!   (`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 by default),
//!   where every outgoing connection on the machine takes its local port:
//!   a port found free there can be in use a second later (the cause of
//!   a chaos devnet that died at startup with "cannot listen on ... for
//!   the chaos proxy");
//! - never 5000-5099, where a devnet a person left running listens;
//! - in blocks of `BLOCK` ports, each claimed by a lock (`flock`) on a
//!   file in the temp dir for as long as the test holds its `Ports`, so
//!   two tests, in one test binary or in two running at once, never get
//!   the same block. The lock goes with the process, even a killed one.
//!
//! A node that needs no fixed port uses `--port 0` instead (see
//! `process.rs`).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// Ports in a block: enough for a devnet of five nodes with chaos (five
/// nodes and twenty proxies).
pub const BLOCK: u16 = 32;

/// Lowest port handed out.
const LOWEST: u16 = 10_240;

/// A block of ports claimed for one test: `first .. first + BLOCK`.
pub struct Ports {
    pub first: u16,
    _lock: File,
}

impl Ports {
    /// Claims a block of ports that are free now and that nothing but
    /// this test will bind while it holds them.
    pub fn take() -> Ports {
        let (ephemeral_low, ephemeral_high) = ephemeral_range();
        let blocks: Vec<u16> = (LOWEST / BLOCK..=(u16::MAX / BLOCK) - 1)
            .map(|b| b * BLOCK)
            .filter(|first| {
                let last = u32::from(*first) + u32::from(BLOCK) - 1;
                let clear_of_ephemeral = last < u32::from(ephemeral_low)
                    || u32::from(*first) > u32::from(ephemeral_high);
                let clear_of_devnets = last < 5000 || *first >= 5100;
                clear_of_ephemeral && clear_of_devnets
            })
            .collect();
        assert!(
            !blocks.is_empty(),
            "no ports outside the ephemeral range {ephemeral_low}-{ephemeral_high}"
        );
        let dir = std::env::temp_dir().join("jbc-test-ports");
        std::fs::create_dir_all(&dir).expect("the ports' lock directory");
        // Start somewhere different in each process, so that tests running
        // at once rarely try the same lock.
        let start = (std::process::id() as usize).wrapping_mul(7919) % blocks.len();
        for k in 0..blocks.len() {
            let first = blocks[(start + k) % blocks.len()];
            let Some(lock) = try_lock(dir.join(format!("{first}.lock"))) else {
                continue;
            };
            // Held by no test; maybe by something else on this machine.
            let all_free = (first..first + BLOCK)
                .all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
            if all_free {
                return Ports { first, _lock: lock };
            }
        }
        panic!("no free block of {BLOCK} ports outside {ephemeral_low}-{ephemeral_high}");
    }

    /// The `i`th port of the block.
    pub fn port(&self, i: u16) -> u16 {
        assert!(i < BLOCK, "port {i} of a block of {BLOCK}");
        self.first + i
    }
}

/// The lock file at `path`, locked by this process; `None` when another
/// holds it.
fn try_lock(path: PathBuf) -> Option<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    // SAFETY: flock on a file descriptor this File owns.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    locked.then_some(file)
}

/// The system's ephemeral ports (inclusive), Linux's default when it
/// cannot say.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut numbers = text.split_whitespace().map(|n| n.parse::<u16>());
            Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
        })
        .unwrap_or((32768, 60999))
}
