//! Intelligence below the tearline, as pure rules: grading with each scale separate
//! ([`grading`]), STIX 2.1 sharing ([`stix`]), risky phrasing the controller must
//! acknowledge ([`phrasing`]), and entities with corroboration ([`entities`]).
//!
//! Architecture invariant: no I/O, and nothing here ever sees an identity. The leak guard,
//! which must compare text with the sealed identity, lives inside the vault boundary
//! (`tearline_vault::leak`).
//!
//! Status: the rules only. Contact and intelligence reports, their storage, search, the link
//! chart and the pages are the rest of the intelligence issue.

pub mod entities;
pub mod grading;
pub mod layout;
pub mod phrasing;
pub mod stix;
pub mod track;
