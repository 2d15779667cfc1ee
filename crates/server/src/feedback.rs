//! What a page says about the form just sent. Every form follows Post/Redirect/Get: a form
//! that succeeds redirects to its page with `?done=OP`, and the page says what happened; a
//! form that is refused comes back on its page with everything that was typed and the
//! refusal inside that form, announced to screen readers. A reload never sends a form again.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use tearline_service::ServiceError;

use crate::error::{ApiError, ErrorCode};
use crate::ui::Fields;

/// The state a page is drawn in.
pub enum Feedback {
    /// Opened afresh.
    Fresh,
    /// Reached after a form succeeded: what happened, in words, said in the page's section
    /// `at` (the anchor the redirect lands on; "" for the top of the page).
    Done { said: &'static str, at: &'static str },
    /// A form came back refused: which one (its `op` and `target`), why, what was typed, and
    /// the field the refusal is about when it names one.
    Refused { op: String, target: String, message: String, kept: Fields, field: Option<String> },
}

/// The form field a refusal with this code is about, whatever its words: the codes that
/// concern one input of the forms that send it.
fn field_of_code(code: ErrorCode) -> Option<&'static str> {
    Some(match code {
        ErrorCode::ContingentPayment => "not_contingent",
        ErrorCode::InvalidAmount => "amount",
        ErrorCode::UnknownCurrency => "currency",
        ErrorCode::InvalidDate => "at",
        ErrorCode::ReasonRequired => "reason",
        ErrorCode::RisksNotExplained => "explained_and_understood",
        ErrorCode::InvalidReviewInterval => "review_every_days",
        ErrorCode::InvalidWitness => "witness",
        ErrorCode::InvalidReceipt => "code_name",
        _ => return None,
    })
}

/// The field of `fields` a refusal is about: the one its message starts with ("purpose is
/// required…", "reason …"), by name or by name with spaces; the longest that fits.
fn field_named(message: &str, fields: &Fields) -> Option<String> {
    let said = message.trim_start().to_lowercase();
    fields
        .keys()
        .filter(|name| !matches!(name.as_str(), "csrf" | "op" | "target" | "confirmed"))
        .filter(|name| {
            let spoken = name.replace('_', " ");
            [name.as_str(), spoken.as_str()].iter().any(|word| {
                said.strip_prefix(word)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ':', ',', '.']))
            })
        })
        .max_by_key(|name| name.len())
        .cloned()
}

impl Feedback {
    /// A refusal of the form in `fields` (named by its `op` and `target` fields).
    pub fn refused(fields: &Fields, message: impl Into<String>) -> Feedback {
        let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let message = message.into();
        let field = field_named(&message, fields);
        let mut kept = fields.clone();
        kept.remove("csrf");
        Feedback::Refused { op: get("op"), target: get("target"), message, kept, field }
    }

    /// A refusal of the form `op`, keeping `typed` (name, value) — for forms read into a
    /// typed structure, which list what they keep (never a password).
    pub fn refused_with(op: &str, typed: &[(&str, &str)], message: impl Into<String>) -> Feedback {
        let kept: Fields =
            typed.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        let message = message.into();
        let field = field_named(&message, &kept);
        Feedback::Refused { op: op.to_owned(), target: String::new(), message, kept, field }
    }

    /// The same refusal, about the field `name` (when the page knows better than the words).
    pub fn about(self, name: &str) -> Feedback {
        match self {
            Feedback::Refused { op, target, message, kept, .. } => {
                Feedback::Refused { op, target, message, kept, field: Some(name.to_owned()) }
            }
            other => other,
        }
    }

    /// The same refusal, about the field its code concerns when its words named none.
    pub fn with_code(self, code: ErrorCode) -> Feedback {
        match (&self, field_of_code(code)) {
            (Feedback::Refused { field: None, .. }, Some(name)) => self.about(name),
            _ => self,
        }
    }

    /// Whether the refusal of the form `op` is about its field `name`: the field is then
    /// marked invalid and described by the refusal (`aria-invalid`, `aria-describedby`).
    pub fn invalid(&self, op: &str, name: &str) -> bool {
        matches!(self, Feedback::Refused { op: refused, field: Some(field), .. } if refused == op && field == name)
    }

    /// What happened, said in the section `at` of the page a successful form led to.
    pub fn done_at(&self, section: &str) -> Option<&'static str> {
        match self {
            Feedback::Done { said, at } if *at == section => Some(said),
            _ => None,
        }
    }

    /// Why the form `op` (about the record `target`, or "" for a form about no one record)
    /// was refused.
    pub fn error(&self, op: &str, target: impl std::fmt::Display) -> Option<&str> {
        match self {
            Feedback::Refused { op: refused, target: about, message, .. }
                if refused == op && *about == target.to_string() =>
            {
                Some(message)
            }
            _ => None,
        }
    }

    /// Whether the form `op` was refused (a closed part of the page opens to show it).
    pub fn refused_op(&self, op: &str) -> bool {
        matches!(self, Feedback::Refused { op: refused, .. } if refused == op)
    }

    /// What was typed into `name` of the refused form `op`; "" for any other form.
    pub fn kept(&self, op: &str, name: &str) -> &str {
        match self {
            Feedback::Refused { op: refused, kept, .. } if refused == op => {
                kept.get(name).map(String::as_str).unwrap_or("")
            }
            _ => "",
        }
    }

    /// What a form about the record `target` shows in `name`: what was typed, when that form
    /// was refused, otherwise `shown` (the record's own value).
    pub fn value<'a>(
        &'a self,
        op: &str,
        target: impl std::fmt::Display,
        name: &str,
        shown: &'a str,
    ) -> &'a str {
        match self {
            Feedback::Refused { op: refused, target: about, kept, .. }
                if refused == op && *about == target.to_string() =>
            {
                kept.get(name).map_or("", String::as_str)
            }
            _ => shown,
        }
    }

    /// Whether `choice` is what a form about the record `target` shows chosen in `name`: what
    /// was chosen, when that form was refused, otherwise the record's own `shown`.
    pub fn picks(
        &self,
        op: &str,
        target: impl std::fmt::Display,
        name: &str,
        shown: &str,
        choice: &str,
    ) -> bool {
        self.value(op, target, name, shown) == choice
    }

    /// Whether the checkbox `name` of the refused form `op` was ticked.
    pub fn ticked(&self, op: &str, name: &str) -> bool {
        self.kept(op, name) == "on"
    }

    /// Whether `value` was the choice made in `name` of the refused form `op`, or, when no
    /// form was refused, whether it is the form's default.
    pub fn chose(&self, op: &str, name: &str, value: &str, default: &str) -> bool {
        match self {
            Feedback::Refused { op: refused, .. } if refused == op => self.kept(op, name) == value,
            _ => value == default,
        }
    }
}

/// The operation named by `?done=` on a page reached after a form: read as words by the
/// page's own table, so that nothing from the address is shown as it was written.
pub struct DoneOp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for DoneOp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<DoneOp, Self::Rejection> {
        let op = parts.uri.query().and_then(|query| {
            url_pairs(query).into_iter().find(|(name, _)| name == "done").map(|(_, value)| value)
        });
        Ok(DoneOp(op))
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

impl DoneOp {
    /// The page's words for the operation and the section they belong in, through `said`;
    /// fresh when none was named or the page does not know it.
    pub fn feedback(&self, said: impl Fn(&str) -> Option<(&'static str, &'static str)>) -> Feedback {
        self.0.as_deref().and_then(said).map_or(Feedback::Fresh, |(said, at)| Feedback::Done { said, at })
    }
}

/// How a page whose forms all post to one route (naming their `op`) answers a form: on
/// success a redirect back to `page` saying what was done (`said` words it and names the
/// section); on a refusal the person can fix, the page drawn again by `view` with the
/// refusal in its form and what was typed; anything else (a missing record included), the
/// error page.
pub async fn answer<P, V>(
    outcome: Result<(), ServiceError>,
    fields: &Fields,
    page: &str,
    said: fn(&str) -> Option<(&'static str, &'static str)>,
    view: impl FnOnce(Feedback) -> V,
) -> crate::ui::Page
where
    P: askama::Template,
    V: std::future::Future<Output = Result<P, crate::ui::UiError>>,
{
    match outcome.map_err(ApiError::from) {
        Ok(()) => {
            let op = crate::ui::field(fields, "op");
            Ok(done(page, op, said(op).map_or("", |(_, at)| at)).into_response())
        }
        Err(error) if error.status.is_client_error() && error.status != StatusCode::NOT_FOUND => {
            let drawn = view(Feedback::refused(fields, error.message).with_code(error.code)).await?;
            Ok((error.status, crate::ui::render(&drawn)).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

/// The redirect after a form succeeded: back to `page`, saying `op` was done, at `anchor`.
pub fn done(page: &str, op: &str, anchor: &str) -> Redirect {
    let op: String = op.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let anchor = if anchor.is_empty() { String::new() } else { format!("#{anchor}") };
    Redirect::to(&format!("{page}?done={op}{anchor}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_refusal_keeps_what_was_typed_in_its_own_form_only() {
        let fields = form(&[("csrf", "t"), ("op", "payment"), ("amount", "12x"), ("not_contingent", "on")]);
        let refused = Feedback::refused(&fields, "Amount must be a number");
        assert_eq!(refused.error("payment", ""), Some("Amount must be a number"));
        assert_eq!(refused.error("risk", ""), None);
        assert_eq!(refused.kept("payment", "amount"), "12x");
        assert_eq!(refused.kept("payment", "csrf"), "", "the token is never written back");
        assert_eq!(refused.kept("risk", "amount"), "");
        assert!(refused.ticked("payment", "not_contingent"));
        assert!(refused.chose("payment", "amount", "12x", "0"));
        assert!(Feedback::Fresh.chose("payment", "currency", "GBP", "GBP"));
    }

    #[test]
    fn a_refusal_that_names_a_field_marks_that_field() {
        let fields = form(&[("op", "payment"), ("amount", "x"), ("purpose", ""), ("not_contingent", "")]);
        let refused = Feedback::refused(&fields, "purpose is required, at most 500 characters");
        assert!(refused.invalid("payment", "purpose"));
        assert!(!refused.invalid("payment", "amount"));
        let spoken = Feedback::refused(&fields, "Not contingent: tick the attestation");
        assert!(spoken.invalid("payment", "not_contingent"));
        let vague = Feedback::refused(&fields, "the payment crosses a threshold");
        assert!(!vague.invalid("payment", "amount") && !vague.invalid("payment", "purpose"));
        assert!(vague.about("amount").invalid("payment", "amount"));
    }

    #[test]
    fn a_form_about_one_record_is_refused_beside_that_record() {
        let refused = Feedback::refused(&form(&[("op", "cancel"), ("target", "3")]), "give a reason");
        assert_eq!(refused.error("cancel", "3"), Some("give a reason"));
        assert_eq!(refused.error("cancel", "4"), None);
    }

    #[test]
    fn the_done_redirect_names_only_an_operation() {
        let to = done("/sources/1/lifecycle", "renew\"><script>", "authorisations");
        let location = axum::response::IntoResponse::into_response(to);
        assert_eq!(location.headers()["location"], "/sources/1/lifecycle?done=renewscript#authorisations");
    }
}
