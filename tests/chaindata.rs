//! Import and export of the original's chaindata/ folder.

mod common;

use std::fs;
use std::path::Path;

use common::{fixture, seed_blocks};
use jbc::chain::ChainState;
use jbc::chaindata::{self, ChaindataError, FileProblem};
use jbc::consensus::{Height, Network};
use jbc::store::BlockReads;

fn copy_fixture(to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(fixture("chaindata")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn json_values(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            let value = serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn the_seed_folder_imports_and_verifies() {
    let store_dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(store_dir.path(), Network::seed()).unwrap();
    let report = chaindata::import(&fixture("chaindata"), &mut chain, |_, _| {}).unwrap();
    assert_eq!(report.blocks, 4);
    assert_eq!(report.added, 3); // genesis was there already
    assert_eq!(report.already_known, 1);
    assert_eq!(report.skipped, 1); // data.txt
    assert_eq!(chain.tip().hash, seed_blocks()[3].hash);
    assert_eq!(chain.verify(|_| {}).unwrap().blocks, 4);
}

#[test]
fn a_tampered_block_stops_the_import_and_names_its_file() {
    let folder = tempfile::tempdir().unwrap();
    copy_fixture(folder.path());
    let path = folder.path().join("000002.json");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("I block #2", "I block #2 (edited)")).unwrap();

    let store_dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(store_dir.path(), Network::seed()).unwrap();
    let err = chaindata::import(folder.path(), &mut chain, |_, _| {}).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, ChaindataError::File { path: p, problem: FileProblem::Rejected(_) } if *p == path),
        "{message}"
    );
    assert!(
        message.contains("000002.json") && message.contains("hash"),
        "{message}"
    );
    // Blocks 0-1 stay; nothing after.
    assert_eq!(chain.tip().index, Height(1));
    assert_eq!(chain.store().block_count().unwrap(), 2);
    drop(chain);
    let reopened = ChainState::open(store_dir.path(), Network::seed()).unwrap();
    assert_eq!(reopened.tip().hash, seed_blocks()[1].hash);
}

fn import_error(setup: impl FnOnce(&Path)) -> (ChaindataError, Height) {
    let folder = tempfile::tempdir().unwrap();
    copy_fixture(folder.path());
    setup(folder.path());
    let store_dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(store_dir.path(), Network::seed()).unwrap();
    let err = chaindata::import(folder.path(), &mut chain, |_, _| {}).unwrap_err();
    (err, chain.tip().index)
}

#[test]
fn corrupt_missing_and_misnamed_files_are_named() {
    let (err, tip) =
        import_error(|dir| fs::write(dir.join("000003.json"), b"{\"index\": \"3\", ").unwrap());
    assert!(
        matches!(
            &err,
            ChaindataError::File {
                problem: FileProblem::NotABlock(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("000003.json"));
    assert_eq!(tip, Height(2));

    let (err, tip) = import_error(|dir| fs::remove_file(dir.join("000001.json")).unwrap());
    assert!(
        matches!(
            &err,
            ChaindataError::File {
                problem: FileProblem::Gap {
                    previous: 0,
                    expected: 1
                },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("000002.json"));
    assert_eq!(tip, Height(0));

    let (err, tip) =
        import_error(|dir| fs::rename(dir.join("000003.json"), dir.join("000004.json")).unwrap());
    assert!(err.to_string().contains("000004.json"), "{err}");
    assert_eq!(tip, Height(2));

    let (err, _) = import_error(|dir| {
        fs::copy(dir.join("000002.json"), dir.join("000003.json")).unwrap();
    });
    assert!(
        matches!(
            &err,
            ChaindataError::File {
                problem: FileProblem::NameMismatch { name: 3, .. },
                ..
            }
        ),
        "{err}"
    );

    let (err, _) = import_error(|dir| fs::remove_file(dir.join("000000.json")).unwrap());
    assert!(
        matches!(
            &err,
            ChaindataError::File {
                problem: FileProblem::NoGenesis,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn indexes_past_999999_sort_by_number_not_name() {
    let folder = tempfile::tempdir().unwrap();
    for name in ["1000000.json", "999999.json", "000000.json"] {
        fs::write(folder.path().join(name), "{}").unwrap();
    }
    let (files, skipped) = chaindata::block_files(folder.path()).unwrap();
    let indexes: Vec<u64> = files.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, vec![0, 999_999, 1_000_000]);
    assert_eq!(skipped, 0);
}

#[test]
fn export_of_import_gives_back_the_same_json_values() {
    let store_dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(store_dir.path(), Network::seed()).unwrap();
    chaindata::import(&fixture("chaindata"), &mut chain, |_, _| {}).unwrap();
    let out = tempfile::tempdir().unwrap();
    // A stale block file beyond the tip must not survive the export.
    fs::write(out.path().join("000009.json"), "{}").unwrap();
    fs::write(out.path().join("data.txt"), "keep me").unwrap();
    let written = chaindata::export(chain.store(), out.path(), |_| {}).unwrap();
    assert_eq!(written, 4);
    assert_eq!(json_values(out.path()), json_values(&fixture("chaindata")));
    // Byte for byte, too: the files are written as Python's json.dump did.
    for name in ["000000.json", "000003.json"] {
        assert_eq!(
            fs::read(out.path().join(name)).unwrap(),
            fs::read(fixture("chaindata").join(name)).unwrap()
        );
    }
    assert_eq!(
        fs::read_to_string(out.path().join("data.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn an_empty_or_missing_folder_is_a_clear_error() {
    let store_dir = tempfile::tempdir().unwrap();
    let mut chain = ChainState::open(store_dir.path(), Network::seed()).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let err = chaindata::import(empty.path(), &mut chain, |_, _| {}).unwrap_err();
    assert!(matches!(err, ChaindataError::NoBlocks { .. }), "{err}");
    let err = chaindata::import(&empty.path().join("nope"), &mut chain, |_, _| {}).unwrap_err();
    assert!(matches!(err, ChaindataError::ReadDir { .. }), "{err}");
}

#[test]
fn mining_data_comes_from_data_txt() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(chaindata::mining_data(dir.path()).unwrap(), None);
    fs::write(dir.path().join("data.txt"), "hello from node 5001\n").unwrap();
    assert_eq!(
        chaindata::mining_data(dir.path()).unwrap().as_deref(),
        Some("hello from node 5001")
    );
}
