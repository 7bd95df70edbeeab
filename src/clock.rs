//! The clock: Unix time in milliseconds, as a value that can be swapped.
//! The chain judges blocks from the future by it and the miner stamps
//! blocks with it; tests move it by hand, and `jbc node --clock-offset`
//! runs a node whose clock is off. Consensus never reads it: it is an
//! argument there.

/// The node's clock: Unix time in milliseconds. Consensus sees it only as
/// the `now` argument of `validate_child`; tests give their own.
pub type Clock = std::sync::Arc<dyn Fn() -> u128 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    std::sync::Arc::new(unix_ms)
}

/// Unix milliseconds now, by the system clock.
pub fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The system clock moved by `offset_ms` (a node told its clock is off).
pub fn offset_clock(offset_ms: i64) -> Clock {
    if offset_ms == 0 {
        return system_clock();
    }
    let system = system_clock();
    std::sync::Arc::new(move || {
        let now = system();
        match offset_ms < 0 {
            true => now.saturating_sub(u128::from(offset_ms.unsigned_abs())),
            false => now.saturating_add(u128::from(offset_ms.unsigned_abs())),
        }
    })
}

/// Unix seconds now (the address book's and the bans' times).
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
