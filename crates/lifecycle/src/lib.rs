//! The rules of lawful source handling that inspectors of real programmes found broken, as
//! pure functions: authorisations and their clocks ([`authorisation`]), the payments ledger
//! ([`ledger`]) and what is due or overdue ([`due`]).
//!
//! Architecture invariant: no I/O. Time is always an argument, so every rule is testable
//! with an injected clock.
//!
//! The store persists what these rules decide (`tearline_store::lifecycle`); the server's
//! `lifecycle` module applies them to requests.

pub mod above_line;
pub mod authorisation;
pub mod calendar;
pub mod due;
pub mod ledger;
