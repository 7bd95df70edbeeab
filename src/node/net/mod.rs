//! The node's side of the network: who its peers are (`peers`), which
//! node addresses it knows and how it finds more (`addresses`, the book;
//! `discovery`, dialling from it and swapping lists with peers), how it
//! asks them anything (`client`: every request capped and time-limited),
//! how it learns what they have (`sync`) and how it tells them what it
//! has (`relay`); what went wrong with one, in a word the world may read
//! and in detail for the operator (`trouble`). Nothing here decides what is valid: blocks go to
//! `Shared::submit`, and a peer is blamed only when that says "invalid".

pub mod addresses;
pub mod client;
pub mod discovery;
pub mod peers;
pub mod relay;
pub mod scope;
pub mod sync;
pub mod trouble;
