//! A confirmation step before what matters: renewing, reviewing or cancelling an
//! authorisation, deciding a payment, issuing a warning, releasing intelligence. The first
//! post of such a form answers a page that says what will happen and carries the form's
//! fields on; only the second post, marked `confirmed`, performs the operation. A note is
//! asked for there when the register records one and the form did not carry it.

use askama::Template;
use axum::response::Response;

use crate::ui::{field, render, Fields, Nav};

/// What the confirmation page says and asks.
pub struct Confirmation {
    pub title: String,
    /// What will happen, one sentence a line.
    pub consequences: Vec<String>,
    /// The confirming button's words ("Renew AUTH-3").
    pub verb: String,
    /// The note the register keeps, asked for when the form did not carry one.
    pub note: Note,
    /// Whether what it does cannot be undone (the button says so by its colour).
    pub danger: bool,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    nav: Option<Nav>,
    csrf: String,
    action: &'a str,
    back: &'a str,
    fields: Vec<(String, String)>,
    confirmation: Confirmation,
    /// The note's label and whether it is required, when one is asked for here.
    note: Option<(&'static str, bool)>,
}

/// The note a confirmation asks for: its label, and whether it may be left empty.
#[derive(Clone, Copy)]
pub enum Note {
    None,
    Required(&'static str),
    Optional(&'static str),
}

/// Whether the form comes from a confirmation page.
pub fn confirmed(fields: &Fields) -> bool {
    field(fields, "confirmed") == "yes"
}

/// The confirmation page for `fields`, posting back to `action`; "go back" returns to `back`.
pub fn ask(nav: Nav, action: &str, back: &str, fields: &Fields, confirmation: Confirmation) -> Response {
    let noted = ["note", "reason"].iter().any(|name| !field(fields, name).trim().is_empty());
    let note = match confirmation.note {
        _ if noted => None,
        Note::None => None,
        Note::Required(label) => Some((label, true)),
        Note::Optional(label) => Some((label, false)),
    };
    let mut carried: Vec<(String, String)> = fields
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "csrf" | "confirmed"))
        .filter(|(name, _)| note.is_none() || name.as_str() != "note")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    carried.sort();
    let csrf = nav.csrf.clone();
    render(&ConfirmPage { nav: Some(nav), csrf, action, back, fields: carried, confirmation, note })
}
