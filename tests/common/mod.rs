//! Helpers shared by the integration tests: the seed vectors, the `jbc`
//! binary, and `jbc::testkit` with temp dirs.
#![allow(dead_code)]

pub mod prometheus;
pub mod webdriver;

use std::path::{Path, PathBuf};

use jbc::consensus::Block;
#[allow(unused_imports)]
pub use jbc::testkit::{blocks_on, easy_params};

/// The spec's five seed blocks (0, 1, 2, 3, 3b), read from the fixture.
pub fn seed_blocks() -> Vec<Block> {
    let text = std::fs::read(fixture("seed_vectors.json")).expect("fixture");
    jbc::wire::chain_from_slice(&text).expect("seed vectors parse")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The path of the built `jbc` binary.
pub fn jbc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_jbc")
}

/// Nodes in this process, each in its own temp dir.
pub mod net {
    use std::ops::{Deref, DerefMut};

    use jbc::consensus::Params;
    use jbc::node::NodeConfig;
    use jbc::testkit::InProcessNode;
    #[allow(unused_imports)] // each test binary uses its own subset
    pub use jbc::testkit::{
        bind, counting_proxy, get_bytes, get_json, post_json, preload, request, wait_for,
    };
    use tokio::net::TcpListener;

    /// An in-process node that owns its temp dir.
    pub struct TestNode {
        node: InProcessNode,
        pub dir: tempfile::TempDir,
    }

    impl TestNode {
        pub fn start(
            listener: TcpListener,
            dir: tempfile::TempDir,
            params: &Params,
            configure: impl FnOnce(&mut NodeConfig),
        ) -> TestNode {
            // Node logs go to the test's captured output: shown on failure.
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_max_level(tracing::Level::DEBUG)
                .try_init();
            let node = InProcessNode::start(listener, dir.path(), params, configure);
            TestNode { node, dir }
        }
    }

    impl Deref for TestNode {
        type Target = InProcessNode;
        fn deref(&self) -> &InProcessNode {
            &self.node
        }
    }

    impl DerefMut for TestNode {
        fn deref_mut(&mut self) -> &mut InProcessNode {
            &mut self.node
        }
    }

    /// A running node holding `chain` (on an easy network of its own).
    pub struct Fixture {
        pub node: TestNode,
        pub params: Params,
        pub chain: Vec<jbc::consensus::Block>,
    }

    /// Starts a node whose store holds `len` blocks on a fresh easy network.
    pub async fn node_with_chain(len: u64, label: &str) -> Fixture {
        let params = super::easy_params(1, label);
        let chain = super::blocks_on(&params, params.genesis(), len, label);
        let dir = tempfile::tempdir().unwrap();
        preload(dir.path(), &params, &chain);
        let (listener, _) = bind().await;
        let node = TestNode::start(listener, dir, &params, |_| {});
        Fixture {
            node,
            params,
            chain,
        }
    }
}
