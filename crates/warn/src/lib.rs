//! Tearline's early-warning domain: where a warning applies, who is inside it, and how the
//! warning is written down for the world (CAP 1.2) and announced (Atom).
//!
//! - [`geo`]: CAP areas (polygons, circles), exact containment including polygons that
//!   cross the antimeridian and geodesic circles on WGS 84.
//! - [`index`]: the recipient spatial index; targeting returns exactly what a brute-force
//!   scan would, only faster.
//! - [`cap`]: the CAP 1.2 alert model, its XML writer and its strict reader.
//! - [`atom`]: the public feed of current alerts.
//! - [`bounded`]: size, depth and element bounds on untrusted XML, checked before parsing.
//! - [`threat`]: threat assessments, the analyst's input to a warning.
//! - [`delivery`]: delivery states, idempotency keys and the retry schedule.
//! - [`recipients`]: recipient registrations and their CSV and GeoJSON import formats.
//!
//! Architecture invariant: no I/O. Time, randomness and data come in as arguments, so every
//! rule here is testable with fixed inputs.

pub mod atom;
pub mod bounded;
pub mod c14n;
pub mod cap;
pub mod delivery;
pub mod geo;
pub mod index;
pub mod overlay;
pub mod recipients;
pub mod sms;
pub mod threat;
pub mod xmldsig;
