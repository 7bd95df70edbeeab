//! The node's side of the network, behind one handle (`Net`, in
//! `handle`): who its peers are (`peers`), which node addresses it knows
//! and how it finds more (`addresses`, the book; `scope`, which kinds of
//! network it may dial; `discovery`, dialling from the book and swapping
//! lists with peers), how it asks them anything (`client`: every request
//! capped and time-limited), how it learns what they have (`sync`, woken
//! by the news it hears from the peers it dialled: `listen`), how it
//! tells them what it has (`relay`; `catch_up`, the blocks an original
//! peer dropped or never got, sent again; `outgoing`, a block's forms made once
//! for all peers, the compact one among them), and what went wrong with one, in a
//! word the world may read and in detail for the operator (`trouble`).
//! `tasks` starts the loops. Nothing here decides what is valid: blocks
//! go to `ChainHandle::submit`, and a peer is blamed only when that says
//! "invalid".

pub mod addresses;
mod catch_up;
pub mod client;
mod discovery;
mod handle;
mod listen;
mod outgoing;
pub mod peers;
mod relay;
pub mod scope;
mod sync;
mod tasks;
pub mod trouble;

pub use handle::{Known, Net};
pub use tasks::start;
