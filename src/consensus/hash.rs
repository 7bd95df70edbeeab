//! `BlockHash`: the 32-byte SHA-256 digest that names a block.
//!
//! Inside the program a hash is 32 bytes; hex text exists only at the edges
//! (`Display` and `FromStr`), and only the strict form the original writes is
//! accepted: exactly 64 lowercase hex digits. This module does not know how a
//! block's header is laid out; `block` does.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A SHA-256 digest, most significant byte first (as its hex text reads).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHash([u8; 32]);

/// Why a text is not a block hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("a hash has 64 hex digits, {value:?} has {len}")]
    WrongLength { value: String, len: usize },
    #[error("a hash is lowercase hex (0-9, a-f), {value:?} is not")]
    NotLowercaseHex { value: String },
}

impl BlockHash {
    pub const fn from_bytes(bytes: [u8; 32]) -> BlockHash {
        BlockHash(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> BlockHash {
        BlockHash(Sha256::digest(bytes).into())
    }

    /// The lowercase hex digits, written into a fixed buffer (no allocation).
    pub fn hex_digits(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(byte >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
        out
    }

    /// The hex text on the stack: no allocation (hashes are printed and
    /// looked up by text a lot).
    pub fn hex(&self) -> Hex {
        Hex(self.hex_digits())
    }

    /// The first `n` hex digits, for logs and tables.
    pub fn short(&self, n: usize) -> String {
        let digits = self.hex_digits();
        String::from_utf8_lossy(&digits[..n.min(64)]).into_owned()
    }

    /// How many leading hex digits are `0`.
    pub fn leading_zero_digits(&self) -> u32 {
        let first = self.0.iter().position(|byte| *byte != 0);
        first.map_or(64, |i| 2 * i as u32 + u32::from(self.0[i] < 0x10))
    }
}

/// A hash's 64 lowercase hex digits, held inline.
#[derive(Clone, Copy)]
pub struct Hex([u8; 64]);

impl Hex {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII by construction")
    }
}

impl std::ops::Deref for Hex {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({self})")
    }
}

/// In JSON a hash is its hex text, as everywhere outside the program.
impl serde::Serialize for BlockHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.hex().as_str())
    }
}

impl<'de> serde::Deserialize<'de> for BlockHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<BlockHash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The start of a text that is not a hash, to quote in an error: a
/// stranger's 5,000 characters are not worth repeating back.
fn quoted_start(s: &str) -> String {
    const QUOTED: usize = 70;
    match s.char_indices().nth(QUOTED) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

impl FromStr for BlockHash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<BlockHash, HashParseError> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(HashParseError::WrongLength {
                value: quoted_start(s),
                len: s.chars().count(),
            });
        }
        from_lowercase_hex(bytes)
            .map(BlockHash)
            .ok_or_else(|| HashParseError::NotLowercaseHex {
                value: quoted_start(s),
            })
    }
}

/// The bytes of exactly `2 * N` lowercase hex digits; `None` for any
/// other text.
pub(crate) fn from_lowercase_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let text = "000002f9c703dc80340c08462a0d6acdac9d0e10eb4190f6e57af6bb0850d03c";
        let hash: BlockHash = text.parse().unwrap();
        assert_eq!(hash.to_string(), text);
        assert_eq!(hash.as_bytes()[2], 0x02);
        assert_eq!(hash.leading_zero_digits(), 5);
        assert_eq!(hash.short(8), "000002f9");
    }

    #[test]
    fn rejects_uppercase_short_and_non_hex() {
        let upper = "000002F9C703DC80340C08462A0D6ACDAC9D0E10EB4190F6E57AF6BB0850D03C";
        assert!(matches!(
            upper.parse::<BlockHash>(),
            Err(HashParseError::NotLowercaseHex { .. })
        ));
        assert!(matches!(
            "abc".parse::<BlockHash>(),
            Err(HashParseError::WrongLength { len: 3, .. })
        ));
        let non_hex = "g".repeat(64);
        assert!(non_hex.parse::<BlockHash>().is_err());
        // 64 bytes but not 64 characters: must not be sliced mid-character.
        let multibyte = "é".repeat(32);
        assert!(matches!(
            multibyte.parse::<BlockHash>(),
            Err(HashParseError::NotLowercaseHex { .. })
        ));
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            BlockHash::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
