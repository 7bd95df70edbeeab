//! Import and export of the original's on-disk format: a `chaindata/`
//! folder with one `NNNNNN.json` file per block (all values strings, the
//! index zero-padded to six digits, longer indexes simply longer) and maybe a
//! `data.txt`, which is not a block.
//!
//! Import validates every block through `ChainState`, in index order (the
//! parsed index, never the file name's sort order), and stops at the first
//! bad file with an error naming it; the valid blocks before it are kept.
//! Export writes the main chain so that an original node reads it as its own.

use std::fs;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::chain::{AddError, ChainState};
use crate::consensus::Height;
use crate::store::{BlockReads, Durability, StoreError};
use crate::wire::{self, Numbers, WireError};

/// Blocks are committed in batches of this many: one fsync per batch.
const IMPORT_BATCH: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ChaindataError {
    #[error("cannot read the folder {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: FileProblem },
    #[error("{path} holds no block files (NNNNNN.json)")]
    NoBlocks { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was wrong with one block file.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error("cannot read it: {0}")]
    Unreadable(std::io::Error),
    #[error("not a block: {0}")]
    NotABlock(WireError),
    #[error("its name says index {name}, but the block inside has index {inside}")]
    NameMismatch { name: u64, inside: Height },
    #[error("block {expected} is missing: the folder jumps from index {previous} to this file")]
    Gap { previous: u64, expected: u64 },
    #[error("the folder has no block 0 (000000.json); the first block file is this one")]
    NoGenesis,
    #[error("{0}")]
    Rejected(AddError),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Block files read and accepted (new or already stored).
    pub blocks: u64,
    pub added: u64,
    pub already_known: u64,
    /// Files ignored because they are not block files (`data.txt`, ...).
    pub skipped: u64,
}

/// The block files of a folder, by index, lowest first; and how many other
/// entries there were.
pub fn block_files(dir: &Path) -> Result<(Vec<(u64, PathBuf)>, u64), ChaindataError> {
    let read_err = |source| ChaindataError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    let mut skipped = 0;
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name();
        let index = name
            .to_str()
            .and_then(|n| n.strip_suffix(".json"))
            .filter(|stem| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|stem| stem.parse::<u64>().ok());
        match index {
            Some(index) => files.push((index, entry.path())),
            None => skipped += 1,
        }
    }
    files.sort();
    Ok((files, skipped))
}

/// Imports an original `chaindata/` folder into `chain`. `progress` gets
/// (files done, files total) now and then.
pub fn import(
    dir: &Path,
    chain: &mut ChainState,
    mut progress: impl FnMut(u64, u64),
) -> Result<ImportReport, ChaindataError> {
    let (files, skipped) = block_files(dir)?;
    if files.is_empty() {
        return Err(ChaindataError::NoBlocks {
            path: dir.to_owned(),
        });
    }
    let total = files.len() as u64;
    let mut report = ImportReport {
        skipped,
        ..ImportReport::default()
    };
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    let mut batch_paths: Vec<&Path> = Vec::with_capacity(IMPORT_BATCH);
    let mut previous: Option<u64> = None;

    // Commits what is pending; on a rejected block, names its file.
    let mut flush = |batch: &mut Vec<_>,
                     paths: &mut Vec<&Path>,
                     report: &mut ImportReport|
     -> Result<(), ChaindataError> {
        let outcome = chain.add_blocks(batch.drain(..), Durability::Bulk);
        report.added += outcome.added as u64;
        report.already_known += outcome.already_known as u64;
        report.blocks += (outcome.added + outcome.already_known) as u64;
        let failed = outcome
            .error
            .map(|(position, error)| (paths[position].to_owned(), error));
        paths.clear();
        match failed {
            Some((_, AddError::Store(e))) => Err(e.into()),
            Some((path, error)) => Err(ChaindataError::File {
                path,
                problem: FileProblem::Rejected(error),
            }),
            None => Ok(()),
        }
    };

    for (done, (name_index, path)) in files.iter().enumerate() {
        let checked = (|| {
            match previous {
                None if *name_index != 0 => return Err(FileProblem::NoGenesis),
                Some(prev) if *name_index != prev + 1 => {
                    return Err(FileProblem::Gap {
                        previous: prev,
                        expected: prev + 1,
                    });
                }
                _ => {}
            }
            let bytes = fs::read(path).map_err(FileProblem::Unreadable)?;
            let block = wire::block_from_slice(&bytes).map_err(FileProblem::NotABlock)?;
            if block.index.0 != *name_index {
                return Err(FileProblem::NameMismatch {
                    name: *name_index,
                    inside: block.index,
                });
            }
            Ok(block)
        })();
        match checked {
            Ok(block) => {
                batch.push(block);
                batch_paths.push(path);
            }
            Err(problem) => {
                // Keep the valid blocks read so far, then report this file.
                flush(&mut batch, &mut batch_paths, &mut report)?;
                let path = path.clone();
                return Err(ChaindataError::File { path, problem });
            }
        }
        previous = Some(*name_index);
        if batch.len() >= IMPORT_BATCH {
            flush(&mut batch, &mut batch_paths, &mut report)?;
            progress(done as u64 + 1, total);
        }
    }
    flush(&mut batch, &mut batch_paths, &mut report)?;
    // Bulk commits may sit in the OS cache; make the whole import durable.
    chain.checkpoint()?;
    progress(total, total);
    Ok(report)
}

/// Writes the main chain of `chain` into `dir` in the original's format.
/// Block files beyond the exported tip are removed (an original node would
/// otherwise read them as part of the chain); other files are left alone.
/// Each file is written to a temporary name and renamed into place.
pub fn export(
    chain: &impl BlockReads,
    dir: &Path,
    mut progress: impl FnMut(u64),
) -> Result<u64, ChaindataError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ChaindataError::Write { path, source }
    };
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    let mut written = 0u64;
    let mut buf = Vec::with_capacity(512);
    chain.for_each_main_text(Height(0), |block| {
        buf.clear();
        block.write_json(Numbers::AsStrings, &mut buf);
        // The stored index is canonical decimal: pad it as the original does.
        let name = format!("{:0>6}.json", block.index);
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&buf))
            .and_then(|()| fs::rename(&tmp, &path))
            .map_err(write_err(&path))?;
        written += 1;
        if written.is_multiple_of(4096) {
            progress(written);
        }
        Ok::<_, ChaindataError>(ControlFlow::Continue(()))
    })?;
    let (files, _) = block_files(dir)?;
    for (index, path) in files {
        if index >= written {
            fs::remove_file(&path).map_err(write_err(&path))?;
        }
    }
    progress(written);
    Ok(written)
}

/// The text the node puts in the `data` of blocks it mines: the contents of
/// `data.txt` in the data directory, as in the original, when present.
pub fn mining_data(dir: &Path) -> std::io::Result<Option<String>> {
    match fs::read_to_string(dir.join("data.txt")) {
        Ok(text) => Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
