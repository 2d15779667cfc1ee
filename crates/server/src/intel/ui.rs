//! Intelligence pages (to come).
