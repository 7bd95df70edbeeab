//! The README as a newcomer reads it: it says how to get the `jbc` command
//! before its first `jbc` command line, and the commands of "Put data on
//! the chain" work as written, against a devnet, in a folder holding the
//! repository's README.md (where a reader stands after `cd jbc`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::devnet::Devnet;
use common::{get_at, jbc_bin};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The lines of the README's `sh` blocks, with the line number of each.
fn shell_lines(readme: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut inside = false;
    for (n, line) in readme.lines().enumerate() {
        match (inside, line.trim_start().starts_with("```")) {
            (false, true) => inside = line.trim() == "```sh",
            (true, true) => inside = false,
            (true, false) => lines.push((n, line.to_owned())),
            (false, false) => {}
        }
    }
    lines
}

/// A command line without its comment, split as a shell would (double
/// quotes only).
fn words(line: &str) -> Vec<String> {
    let line = line.split(" #").next().unwrap_or(line);
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

#[test]
fn the_readme_says_how_to_get_jbc_before_its_first_jbc_command() {
    let readme = readme();
    let (first_use, line) = shell_lines(&readme)
        .into_iter()
        .find(|(_, line)| line.starts_with("jbc "))
        .expect("the README uses jbc");
    let before: Vec<&str> = readme.lines().take(first_use).collect();
    assert!(
        before.iter().any(|l| l.contains("cargo install --path .")),
        "the README's first jbc command (line {}: `{line}`) comes before it says how to get jbc",
        first_use + 1
    );
}

/// The lines of the first `sh` block of the README's section `heading`.
fn first_block(readme: &str, heading: &str) -> Vec<String> {
    readme
        .split(heading)
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .and_then(|section| section.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("a block of commands under {heading}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readmes_entry_commands_work_as_written() {
    let readme = readme();
    let mut commands = first_block(&readme, "## Put data on the chain");
    assert!(
        commands.iter().any(|c| c.starts_with("jbc entry ")),
        "{commands:#?}"
    );
    let receipts = first_block(&readme, "## A receipt: proof that needs no node");
    assert!(
        receipts.iter().any(|c| c.starts_with("jbc verify ")),
        "{receipts:#?}"
    );
    commands.extend(receipts);

    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Devnet::start(
        &dir.path().join("devnet"),
        1,
        &[],
        &["--mine", "--block-time", "300ms"],
    );
    devnet.wait_ready();
    // Where a reader stands: the repository, with its README.md.
    let here = dir.path().join("jbc");
    std::fs::create_dir(&here).unwrap();
    std::fs::write(here.join("README.md"), &readme).unwrap();
    let node = devnet.url(0);
    let jbc = |words: &[String]| {
        let mut command = Command::new(jbc_bin());
        command.current_dir(&here);
        // Node 0 of the README's devnet listens on port 5000, where these
        // commands go by default or by name; this one listens elsewhere.
        let mut named_node = false;
        for (i, word) in words.iter().enumerate().skip(1) {
            if i > 1 && words[i - 1] == "--node" {
                command.arg(&node);
                named_node = true;
            } else {
                command.arg(word);
            }
        }
        if !named_node && matches!(words[1].as_str(), "submit" | "entry" | "proof") {
            command.args(["--node", &node]);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "`{}` failed: {}",
            words.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let mut signed = None;
    for line in &commands {
        let split = words(line);
        match split[0].as_str() {
            "jbc" => {
                let said = jbc(&split);
                match (split[1].as_str(), split.get(2).map(String::as_str)) {
                    ("submit", Some("invoice 2026-117 paid")) => assert_eq!(
                        said,
                        "30400b934ce578f8f3cf0f1e2401c2e0299744dcea5f201cc9e30b2c4299c02c"
                    ),
                    ("submit", Some("--key")) => signed = Some(said),
                    ("submit", _) if line.contains("--wait") => {
                        let receipt = split.iter().skip_while(|w| *w != "--receipt").nth(1);
                        let receipt = receipt.expect("the receipt's file");
                        assert!(here.join(receipt).is_file(), "`{line}`: {said}");
                    }
                    ("verify", _) => assert!(said.contains(" existed at "), "`{line}`: {said}"),
                    ("submit", _) => assert_eq!(said.len(), 64, "`{line}`: {said}"),
                    ("entry", _) => assert!(
                        said.starts_with("pending") || said.starts_with("confirmed in block "),
                        "`{line}`: {said}"
                    ),
                    ("key", Some("new")) => assert_eq!(said.len(), 64, "`{line}`: {said}"),
                    _ => {}
                }
            }
            "curl" => {
                // curl -s "localhost:5000/v1/entries?author=$(jbc key show me.key)"
                let author = jbc(&words(
                    line.split("$(")
                        .nth(1)
                        .and_then(|rest| rest.split(')').next())
                        .expect("the author's key, from jbc key show"),
                ));
                let path = format!("/v1/entries?author={author}");
                let signed = signed.clone().expect("an entry signed before");
                devnet.wait_until(
                    "the signed entry to be listed under its author",
                    Duration::from_secs(60),
                    |devnet| {
                        get_at(devnet.port(0), &path)
                            .is_some_and(|answer| answer.to_string().contains(&signed))
                    },
                );
            }
            other => panic!("a command the test does not know: {other} (`{line}`)"),
        }
    }
    assert!(signed.is_some(), "{commands:#?}");
    assert!(devnet.interrupt().success());
}
