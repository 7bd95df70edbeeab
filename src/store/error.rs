//! What can go wrong with the store: `StoreError`, our disk's fault and
//! never a peer's.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Locked(#[from] crate::datadir::LockError),
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the chain store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the chain store {path} belongs to another network: it was made with {what} {found}, \
         but this node runs with {expected} (use another --data-dir, or the same \
         --network/--genesis/--difficulty as before, or none: the store remembers its network)"
    )]
    OtherNetwork {
        path: PathBuf,
        what: &'static str,
        found: String,
        expected: String,
    },
    #[error("the chain store {path} has schema version {found}; this jbc understands {understood}")]
    UnknownSchema {
        path: PathBuf,
        found: String,
        understood: &'static str,
    },
    #[error("the chain store is damaged: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;
