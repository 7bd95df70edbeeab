//! What went wrong with a peer, in two forms. `Trouble` is a word from a
//! short fixed list: what public output (`/v1/peers`, `/v1/status`, the
//! explorer's live events) shows. `PeerFault::detail` says exactly what
//! happened, and may quote what the peer sent: it goes to the log and to
//! the operator's view only. A node must never repeat to the world the
//! bytes a remote host sent it: that would make it a reader of whatever
//! service a stranger gets it to dial.

use serde::{Deserialize, Serialize};

use super::client::PeerError;

/// Declares `Trouble` from one list: each kind once, with the word public
/// output shows (serde's name for it too), and `ALL` of them.
macro_rules! troubles {
    ($($(#[$doc:meta])* $kind:ident = $word:literal,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Trouble {
            $($(#[$doc])* #[serde(rename = $word)] $kind,)*
        }

        const ALL: &[Trouble] = &[$(Trouble::$kind),*];

        impl Trouble {
            /// The word public output shows.
            pub fn word(self) -> &'static str {
                match self {
                    $(Trouble::$kind => $word,)*
                }
            }

            fn from_word(word: &str) -> Option<Trouble> {
                ALL.iter().copied().find(|t| t.word() == word)
            }
        }
    };
}

troubles! {
    /// The connection was refused: nothing listens there.
    Refused = "refused",
    /// No route, no such name, or the connection broke.
    Unreachable = "unreachable",
    /// No answer in time.
    Timeout = "timeout",
    /// It answered, but not as a jbc or original node does.
    NotJbc = "not a jbc node",
    /// A malformed, oversized or dripping answer.
    BadAnswer = "bad answer",
    /// A node of another network.
    OtherNetwork = "another network",
    /// It sent a block or chain that breaks a rule.
    InvalidBlock = "invalid block",
    /// It claimed more work than it sent.
    ClaimedWork = "claimed work it did not send",
    /// Dropped after failing too often in a row.
    FailedTooOften = "failed too often",
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// A fault of a peer: the word, and the whole story for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerFault {
    pub trouble: Trouble,
    pub detail: String,
}

impl PeerFault {
    pub fn new(trouble: Trouble, detail: impl Into<String>) -> PeerFault {
        PeerFault {
            trouble,
            detail: detail.into(),
        }
    }

    /// The form kept in the store (a drop remembered across restarts).
    pub fn to_stored(&self) -> String {
        format!("{}: {}", self.trouble.word(), self.detail)
    }

    /// Back from `to_stored`; text of an older node is a drop whose cause
    /// is not known by a word.
    pub fn from_stored(text: &str) -> PeerFault {
        let parsed = text
            .split_once(": ")
            .and_then(|(word, detail)| Some((Trouble::from_word(word)?, detail)));
        let (trouble, detail) = parsed.unwrap_or((Trouble::FailedTooOften, text));
        PeerFault::new(trouble, detail)
    }
}

/// Logs show the detail.
impl std::fmt::Display for PeerFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl From<&PeerError> for PeerFault {
    fn from(error: &PeerError) -> PeerFault {
        let trouble = match error {
            PeerError::Refused(_) => Trouble::Refused,
            PeerError::Unreachable(_) => Trouble::Unreachable,
            PeerError::Timeout(_) => Trouble::Timeout,
            PeerError::Status { .. } => Trouble::NotJbc,
            PeerError::TooLarge { .. } | PeerError::TooSlow { .. } | PeerError::Other(_) => {
                Trouble::BadAnswer
            }
        };
        PeerFault::new(trouble, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_stored_and_read_back_with_its_word() {
        let fault = PeerFault::new(Trouble::InvalidBlock, "it sent an invalid block: x");
        assert_eq!(PeerFault::from_stored(&fault.to_stored()), fault);
        let old = PeerFault::from_stored("8 failures in a row");
        assert_eq!(old.trouble, Trouble::FailedTooOften);
        assert_eq!(old.detail, "8 failures in a row");
        for &trouble in ALL {
            assert_eq!(Trouble::from_word(trouble.word()), Some(trouble));
            let json = serde_json::to_string(&trouble).unwrap();
            assert_eq!(json, format!("\"{}\"", trouble.word()));
        }
    }

    #[test]
    fn what_a_peer_sent_stays_in_the_detail() {
        let error = PeerError::Status {
            status: 500,
            body: "-ERR redis secret".into(),
        };
        let fault = PeerFault::from(&error);
        assert_eq!(fault.trouble.word(), "not a jbc node");
        assert!(fault.detail.contains("redis"));
    }
}
