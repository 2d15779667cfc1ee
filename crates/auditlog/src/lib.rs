//! The verifiable audit log, as pure functions an inspector can run offline.
//!
//! - [`entry`]: the canonical bytes of an audit event: what is hashed, stable forever.
//! - [`frontier`]: the right edge of the tree, so an append costs O(log n) hashing and names
//!   the stored hashes it creates (Go `tlog` stored-hash indexes, one per tree node).
//! - [`proof`]: RFC 9162 §2.1.3 inclusion and §2.1.4 consistency proofs, generated from
//!   stored hashes in two phases (which hashes, then the proof) so the caller owns the I/O.
//! - [`checkpoint`]: C2SP `tlog-checkpoint` bodies signed as C2SP `signed-note`s (Ed25519).
//! - [`bundle`]: the inspector's export, and its offline verification.
//!
//! Hashing and proofs come from `tlog_tiles` (a port of Go's `golang.org/x/mod/sumdb/tlog`),
//! notes from `signed_note` (of Go's `sumdb/note`): both maintained, both checked here
//! against the RFC 6962 reference vectors and Go's published note example.
//!
//! Architecture invariant: this crate knows nothing of HTTP or SQL, and nothing here panics
//! on untrusted input: proofs, notes and bundles are checked before they are used.

pub mod bundle;
pub mod checkpoint;
pub mod entry;
pub mod frontier;
pub mod proof;

pub use tlog_tiles::tlog::{record_hash, Hash};
