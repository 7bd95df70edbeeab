//! What `jbc devnet` prints, on real processes: by default its URLs, where
//! each node's log goes, then only lines worth a person's attention (a
//! reorg, a node that stops answering or answers again, a summary now and
//! then), never a line per block; `-v` adds every line of every node's
//! log, peers named by node rather than by a proxy's port; the summary of
//! a devnet without chaos says nothing of links.

mod common;

use std::time::{Duration, Instant};

use common::devnet::Devnet;

/// A devnet line: "HH:MM:SS what happened".
fn timed(line: &str) -> Option<&str> {
    let (time, rest) = line.split_once(' ')?;
    let digits: Vec<&str> = time.split(':').collect();
    (digits.len() == 3
        && digits
            .iter()
            .all(|d| d.len() == 2 && d.parse::<u8>().is_ok()))
    .then_some(rest)
}

#[test]
fn a_devnet_says_little_by_default_and_its_summary_names_no_links() {
    let dir = tempfile::tempdir().unwrap();
    // The README's command: three mining nodes, a block a second.
    let mut devnet = Devnet::start(&dir.path().join("devnet"), 3, &[], &["--mine"]);
    devnet.wait_ready();
    let ready = Instant::now();
    let start_height = devnet.tip(0).map_or(0, |t| t.0);
    devnet.wait_until(
        "15 blocks after the devnet was ready",
        Duration::from_secs(120),
        |devnet| devnet.tip(0).is_some_and(|t| t.0 >= start_height + 15),
    );
    let ran = ready.elapsed();
    let text = devnet.output();
    // Where the logs are, said once at the start.
    let log_line = text
        .lines()
        .find(|l| l.starts_with("each node logs to its own file: "))
        .unwrap_or_else(|| panic!("the devnet does not say where the logs are: {text}"));
    for i in 0..3 {
        let path = devnet.dir.join(format!("node-{i}.log"));
        assert!(log_line.contains(&path.display().to_string()), "{log_line}");
        assert!(
            devnet.node_log(i).contains("block accepted"),
            "node {i}'s log has no blocks"
        );
    }
    assert!(log_line.contains("-v prints them here too"), "{log_line}");
    // After "Ctrl-C stops them all": only reorgs, each a line with its
    // time. 15 blocks from three nodes were 45 lines or more before.
    let after: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Ctrl-C stops them all"))
        .skip(1)
        .collect();
    for line in &after {
        let what = timed(line).unwrap_or_else(|| panic!("a line without its time: {line}"));
        assert!(what.contains(" reorg: "), "not worth a line: {line}");
    }
    assert!(
        after.len() <= 6,
        "{} lines in {ran:?} (15 blocks): {after:#?}",
        after.len()
    );
    eprintln!(
        "{} lines in {:.1} s after the URLs, {:.1} a minute",
        after.len(),
        ran.as_secs_f64(),
        after.len() as f64 * 60.0 / ran.as_secs_f64()
    );
    // No node's log on the devnet's own output.
    assert!(
        !devnet.errors().contains("block accepted"),
        "{}",
        devnet.errors()
    );

    let status = devnet.interrupt();
    assert!(status.success(), "{status}");
    let text = devnet.output();
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("devnet summary"))
        .collect();
    assert!(
        summary
            .iter()
            .any(|l| l.trim().starts_with("agreement: all 3 nodes on block ")),
        "{summary:#?}"
    );
    for line in &summary {
        assert!(!line.contains("link"), "no chaos, no links: {line}");
        assert!(!line.contains("split"), "no chaos, no split: {line}");
    }
}

#[test]
fn with_v_a_devnet_prints_every_block_and_names_peers_by_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Devnet::start(
        &dir.path().join("devnet"),
        3,
        &[],
        &[
            "--mine",
            "--chaos",
            "--seed",
            "5",
            "--block-time",
            "300ms",
            "--summary-every",
            "2s",
            "-v",
        ],
    );
    devnet.wait_ready();
    devnet.wait_until(
        "10 blocks and two summary lines",
        Duration::from_secs(120),
        |devnet| {
            let summaries = devnet
                .lines()
                .iter()
                .filter(|l| timed(l).is_some_and(|w| w.starts_with("height ")))
                .count();
            summaries >= 2 && devnet.tip(0).is_some_and(|t| t.0 >= 10)
        },
    );
    // Every node's log, each line after its node's name.
    let errors = devnet.errors();
    for i in 0..3 {
        assert!(
            errors
                .lines()
                .any(|l| l.starts_with(&format!("node {i} | ")) && l.contains("block accepted")),
            "no block of node {i} printed: {errors}"
        );
    }
    // Peers are the proxies of the chaos: named by the node behind them.
    assert!(
        errors.contains("peer=\"node 1 via proxy 127.0.0.1:"),
        "{errors}"
    );
    assert!(!errors.contains("peer=\"http://"), "{errors}");
    assert!(!errors.contains("relayed by http://"), "{errors}");
    // The summary line: height, pace, reorgs, entries pending.
    let text = devnet.output();
    let summary = text
        .lines()
        .filter_map(timed)
        .find(|w| w.starts_with("height "))
        .unwrap();
    for word in ["blocks/min", "reorg", "in all", "entries pending"] {
        assert!(summary.contains(word), "{summary}");
    }
    assert!(devnet.interrupt().success());
}

#[test]
fn a_devnet_says_when_a_node_stops_answering_and_answers_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Devnet::start(&dir.path().join("devnet"), 2, &[], &[]);
    devnet.wait_ready();
    /// Continues the node when the test ends, even failing, so that the
    /// devnet can stop it.
    struct Stopped(i32);
    impl Drop for Stopped {
        fn drop(&mut self) {
            unsafe {
                libc::kill(self.0, libc::SIGCONT);
            }
        }
    }
    let pid = devnet.node_pid(1);
    // SIGSTOP: the process is there, but says nothing and answers nothing.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let stopped = Stopped(pid);
    devnet.wait_until(
        "the devnet to say node 1 does not answer",
        Duration::from_secs(60),
        |devnet| devnet.output().contains(" node 1 does not answer"),
    );
    drop(stopped);
    devnet.wait_until(
        "the devnet to say node 1 answers again",
        Duration::from_secs(60),
        |devnet| devnet.output().contains(" node 1 answers again"),
    );
    assert!(devnet.interrupt().success());
}

#[test]
fn a_node_that_dies_stops_the_devnet_which_shows_the_end_of_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Devnet::start(&dir.path().join("devnet"), 2, &[], &[]);
    devnet.wait_ready();
    unsafe {
        libc::kill(devnet.node_pid(1), libc::SIGKILL);
    }
    let status = devnet.wait_exit();
    assert!(!status.success(), "{status}");
    let errors = devnet.errors();
    assert!(
        errors.contains("node 1 exited on its own (signal: 9 (SIGKILL)), so the devnet stops"),
        "{errors}"
    );
    // The end of its log, from its file.
    let log = devnet.dir.join("node-1.log");
    assert!(errors.contains(&log.display().to_string()), "{errors}");
    assert!(errors.contains("jbc node on http://127.0.0.1:"), "{errors}");
    assert!(devnet.status(0).is_none(), "node 0 outlived the devnet");
}
