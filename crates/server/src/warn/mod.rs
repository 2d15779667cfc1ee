//! Early warning's routes over `tearline_service::warn`: the JSON endpoints (`api`), the
//! map pages (`ui`) and what the public reaches without a login (`public`).

pub mod api;
pub mod public;
pub mod threat_ui;
pub mod ui;

pub(crate) use tearline_service::warn::*;
