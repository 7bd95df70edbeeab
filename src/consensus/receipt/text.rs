//! A receipt as text: written line by line with its checksum, and read
//! back with every value in its one canonical form.

use sha2::{Digest, Sha256};

use super::{HeaderFields, MAX_RECEIPT_BYTES, RECEIPT_FORMAT, Receipt, ReceiptError, TimeContext};
use crate::consensus::block::{Height, Nonce, Timestamp};
use crate::consensus::entry::{hex, json_string};
use crate::consensus::hash::BlockHash;
use crate::consensus::pow::Target;
use crate::consensus::retarget::WINDOW_SPAN;

impl Receipt {
    /// The receipt as a file.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(1024 + self.blocks.len() * 160);
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(RECEIPT_FORMAT.to_owned());
        for rule in self.rules.split('\n') {
            line(format!("rules {rule}"));
        }
        line(format!("genesis {}", fields(&self.genesis, false)));
        line(format!("entry {}", self.entry));
        line(format!("leaf {} of {}", self.position, self.count));
        for node in &self.path {
            line(format!("path {}", hex(node)));
        }
        if let Some(context) = &self.context {
            let times: Vec<String> = context.times.iter().map(|t| t.to_string()).collect();
            line(format!("context {} {}", context.target, times.join(" ")));
        }
        line(format!("prev {}", self.prev));
        for block in &self.blocks {
            line(format!("block {}", fields(block, true)));
        }
        let checksum = hex(&Sha256::digest(out.as_bytes()));
        out.push_str(&format!("checksum {checksum}\n"));
        out
    }

    /// Reads a receipt: its layout, its checksum and the form of every
    /// value (one receipt has one text). Nothing it claims is checked
    /// yet: that is `verify`.
    pub fn parse(text: &str) -> Result<Receipt, ReceiptError> {
        if text.len() > MAX_RECEIPT_BYTES {
            return Err(malformed(
                1,
                &format!("the file is larger than {MAX_RECEIPT_BYTES} bytes"),
            ));
        }
        let first = text.split('\n').next().unwrap_or_default();
        if first != RECEIPT_FORMAT {
            return Err(ReceiptError::Version(first.chars().take(40).collect()));
        }
        let Some(body) = text.strip_suffix('\n') else {
            return Err(malformed(
                text.split('\n').count(),
                "the file does not end with a newline (was it cut short?)",
            ));
        };
        let lines: Vec<&str> = body.split('\n').collect();
        if let Some(n) = lines.iter().position(|l| l.ends_with('\r')) {
            return Err(malformed(
                n + 1,
                "the line ends with a carriage return (the file was given Windows line endings)",
            ));
        }
        // The checksum first: a damaged file says so, whatever else it breaks.
        let last = lines.len();
        let stated = lines[last - 1]
            .strip_prefix("checksum ")
            .ok_or_else(|| malformed(last, "the last line should be the checksum"))?;
        let sealed = &text[..text.len() - lines[last - 1].len() - 1];
        let computed = hex(&Sha256::digest(sealed.as_bytes()));
        if stated != computed {
            return Err(ReceiptError::Checksum {
                stated: stated.to_owned(),
                computed,
            });
        }
        let mut reader = Lines {
            lines: &lines[..last - 1],
            at: 1,
        };
        let rules: Vec<&str> = std::iter::from_fn(|| reader.optional("rules")).collect();
        if rules.is_empty() {
            return Err(reader.error("the network's rules (rules lines) should come here"));
        }
        let genesis = reader.fields("genesis", false)?;
        let entry = reader.expect("entry")?.to_owned();
        let (position, count) = {
            let value = reader.expect("leaf")?;
            let parsed = value.split_once(" of ").and_then(|(position, count)| {
                Some((decimal(position)? as u64, decimal(count)? as u64))
            });
            parsed.ok_or_else(|| reader.error_before("leaf should read: leaf POSITION of COUNT"))?
        };
        let mut path = Vec::new();
        while let Some(node) = reader.optional("path") {
            path.push(
                hash_hex(node)
                    .ok_or_else(|| reader.error_before("a path step is 64 lowercase hex digits"))?
                    .as_bytes()
                    .to_owned(),
            );
        }
        let context = reader.optional("context").map(|value| {
            let mut parts = value.split(' ');
            let target = parts
                .next()
                .and_then(|t| t.parse::<Target>().ok().filter(|p| p.to_string() == t))
                .ok_or_else(|| {
                    reader.error_before("the context starts with a target (64 hex digits)")
                })?;
            let times = parts
                .map(|t| decimal(t).map(Timestamp))
                .collect::<Option<Vec<_>>>()
                .filter(|times| !times.is_empty() && times.len() <= WINDOW_SPAN)
                .ok_or_else(|| {
                    reader.error_before(&format!(
                        "the context's target is followed by 1 to {WINDOW_SPAN} timestamps"
                    ))
                })?;
            Ok(TimeContext { target, times })
        });
        let context = context.transpose()?;
        let prev = hash_hex(reader.expect("prev")?)
            .ok_or_else(|| reader.error_before("prev is a block hash: 64 lowercase hex digits"))?;
        let mut blocks = Vec::new();
        while !reader.done() {
            blocks.push(reader.fields("block", true)?);
        }
        if blocks.is_empty() {
            return Err(ReceiptError::NoBlocks);
        }
        Ok(Receipt {
            rules: rules.join("\n"),
            genesis,
            entry,
            position,
            count,
            path,
            context,
            prev,
            blocks,
        })
    }
}

/// `index timestamp nonce "data"` (the genesis block's without its index).
fn fields(block: &HeaderFields, with_index: bool) -> String {
    let index = match with_index {
        true => format!("{} ", block.index),
        false => String::new(),
    };
    let data = json_string(&block.data);
    format!("{index}{} {} {data}", block.timestamp, block.nonce)
}

/// Reads a receipt's lines in order, numbering them for errors.
struct Lines<'a> {
    lines: &'a [&'a str],
    /// The index of the next line (the first, the format, is read).
    at: usize,
}

impl<'a> Lines<'a> {
    fn done(&self) -> bool {
        self.at >= self.lines.len()
    }

    /// The value of the next line if it starts with `key`.
    fn optional(&mut self, key: &str) -> Option<&'a str> {
        let line = self.lines.get(self.at)?;
        let value = line.strip_prefix(key)?.strip_prefix(' ')?;
        self.at += 1;
        Some(value)
    }

    fn expect(&mut self, key: &str) -> Result<&'a str, ReceiptError> {
        self.optional(key)
            .ok_or_else(|| self.error(&format!("a {key} line should come here")))
    }

    /// `[index] timestamp nonce "data"`.
    fn fields(&mut self, key: &str, with_index: bool) -> Result<HeaderFields, ReceiptError> {
        let value = self.expect(key)?;
        let what = match with_index {
            true => "block INDEX TIMESTAMP NONCE \"DATA\"",
            false => "genesis TIMESTAMP NONCE \"DATA\"",
        };
        let mut parts = value.splitn(if with_index { 4 } else { 3 }, ' ');
        let mut number = || parts.next().and_then(decimal);
        let index = match with_index {
            true => number().and_then(|n| u64::try_from(n).ok()),
            false => Some(0),
        };
        let timestamp = number();
        let nonce = number().and_then(|n| u64::try_from(n).ok());
        let data = parts.next().and_then(|json| {
            let data = serde_json::from_str::<String>(json).ok()?;
            (json_string(&data) == json).then_some(data)
        });
        match (index, timestamp, nonce, data) {
            (Some(index), Some(timestamp), Some(nonce), Some(data)) => Ok(HeaderFields {
                index: Height(index),
                timestamp: Timestamp(timestamp),
                nonce: Nonce(nonce),
                data,
            }),
            _ => Err(self.error_before(&format!(
                "{key} should read: {what} (whole numbers without leading zeros, the data as a JSON string)"
            ))),
        }
    }

    /// An error about the next line.
    fn error(&self, problem: &str) -> ReceiptError {
        malformed(self.at + 1, problem)
    }

    /// An error about the line just read.
    fn error_before(&self, problem: &str) -> ReceiptError {
        malformed(self.at, problem)
    }
}

fn malformed(line: usize, problem: &str) -> ReceiptError {
    ReceiptError::Malformed {
        line,
        problem: problem.to_owned(),
    }
}

/// A whole number in canonical decimal (no sign, no leading zero).
fn decimal(text: &str) -> Option<u128> {
    let canonical = text == "0" || (!text.is_empty() && !text.starts_with('0'));
    if !canonical || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// 64 lowercase hex digits.
fn hash_hex(text: &str) -> Option<BlockHash> {
    text.parse::<BlockHash>()
        .ok()
        .filter(|hash| hash.to_string() == text)
}
