//! Intelligence's routes: the JSON API and the pages over `tearline_service::intel`.

pub mod api;
pub mod ui;

pub(crate) use tearline_service::intel::*;
