//! Value parsers and value types for flags that several subcommands
//! share: `--threads`, durations as people write them (`2s`, `500ms`,
//! `1m`) and `--log-format`.

use clap::ValueEnum;

/// `--threads N`: at least one.
pub fn threads(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A duration as people write it: `2s`, `500ms`, `1.5s`, `1m`, in
/// milliseconds (at least 1).
pub fn duration_ms(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "" => return Err(format!("{text:?} needs a unit: ms, s, m or h (as in 2s)")),
        other => return Err(format!("unknown unit {other:?}: use ms, s, m or h")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 2s or 500ms"))?;
    let ms = (value * scale).round();
    if !(1.0..=1e15).contains(&ms) {
        return Err(format!(
            "{text:?} is out of range (1 ms to about 30,000 years)"
        ));
    }
    Ok(ms as u64)
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
