//! A network's entry rules: how strictly entries are checked, how big they
//! and a block's entries may be, the stamp they need, and how a block
//! carries them (`Commit`).

/// The entry rules of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EntryRules {
    /// On a strict network a block whose entries break a rule is invalid;
    /// otherwise (the article's network) the block is valid by the
    /// original's rules alone and a bad entry is merely not indexed.
    pub strict: bool,
    /// Largest canonical encoding of one entry, in bytes.
    pub max_entry_bytes: usize,
    /// Largest `data` of a block, in bytes (our miner keeps to it on every
    /// network; strict networks refuse bigger blocks).
    pub max_block_data_bytes: usize,
    /// Leading zero bits an entry's id needs (0: no stamp needed).
    pub stamp_bits: u8,
    /// How a block carries its entries (absent from older files and
    /// peers: inline).
    #[serde(default)]
    pub commit: Commit,
}

/// How a block carries its entries.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Commit {
    /// Inside its `data`, one canonical line each (`jbc-entries/1`): the
    /// article's network, and every network made before receipts.
    #[default]
    Inline,
    /// Beside it: its `data` holds the note, the number of entries and
    /// their Merkle root (`jbc-entries/2`), and the entries travel with the
    /// block, checked against the root. A proof of one entry is then its
    /// path to the root, not the whole block. Strict networks only.
    Merkle,
}

/// For people: "strict, entries up to 4096 bytes, blocks up to 262144
/// bytes of data, no stamp".
impl std::fmt::Display for EntryRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, entries up to {} bytes, blocks up to {} bytes of data, ",
            if self.strict {
                "strict"
            } else {
                "lax (the original's)"
            },
            self.max_entry_bytes,
            self.max_block_data_bytes
        )?;
        match self.stamp_bits {
            0 => f.write_str("no stamp")?,
            bits => write!(f, "a stamp of {bits} bits")?,
        }
        match self.commit {
            Commit::Inline => Ok(()),
            Commit::Merkle => f.write_str(", committed by a Merkle root"),
        }
    }
}

impl EntryRules {
    /// The rules of a network made with the original's rules (the
    /// article's, and `--genesis`/`--difficulty` networks).
    pub const ORIGINAL: EntryRules = EntryRules {
        strict: false,
        max_entry_bytes: 4096,
        max_block_data_bytes: 256 * 1024,
        stamp_bits: 0,
        commit: Commit::Inline,
    };

    /// The rules of a network made with `jbc network new`: entries checked
    /// strictly, committed by a Merkle root.
    pub const STRICT: EntryRules = EntryRules {
        strict: true,
        commit: Commit::Merkle,
        ..EntryRules::ORIGINAL
    };
}
