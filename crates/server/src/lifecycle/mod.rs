//! The source lifecycle's routes: the JSON API and the pages over
//! `tearline_service::lifecycle`.

pub mod api;
pub mod ui;

pub(crate) use tearline_service::lifecycle::*;
