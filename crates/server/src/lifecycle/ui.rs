//! The lifecycle's pages: a source's lifecycle (authorisations, risk, contacts, tasks,
//! welfare, payments and ledger), the register of authorisations, and the printable
//! disclosure of a source's payments. Every form on the lifecycle page posts to one route
//! that names its operation (`op`), and calls the same service as the API.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::routing::get;
use axum::Router;
use tearline_domain::policy::{authorize, Action};
use tearline_domain::{SourceId, Timestamp, UserId};
use tearline_store::{AuthorisationState, PaymentState};

use super::api::{csv_response, PeriodQuery};
use super::{export, Decision};
use crate::api::IdPath;
use crate::auth::Session;
use crate::confirm::{self, Confirmation, Note};
use crate::error::{ApiError, ErrorCode};
use crate::feedback::{self, DoneOp, Feedback};
use crate::ui::{field, format_time, number, render, signed_in, Fields, Nav, Page, Section, UiError};
use tearline_service::auth::Caller;
use tearline_service::sources::{self, scope};
use tearline_service::{AppState, ServiceError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sources/{id}/lifecycle", get(lifecycle_page).post(lifecycle_action))
        .route("/sources/{id}/disclosure", get(disclosure_page))
        .route("/sources/{id}/record-set.csv", get(record_set))
        .route("/register", get(register_page))
        .route("/register.csv", get(register_csv))
}

struct AuthorisationRow {
    id: i64,
    kind: &'static str,
    state: &'static str,
    applied: String,
    applicant: String,
    expires: String,
    /// The expiry the page shows, in milliseconds: a renewal carries it, so that a second
    /// renewal of the same sight is refused (0 when not granted).
    expires_at: i64,
    /// Where a renewal now would move the expiry to.
    renewed_expiry: String,
    authoriser: String,
    purpose: String,
    /// Which decisions the page offers on it.
    may_grant: bool,
    may_act_on_grant: bool,
    may_write_up: bool,
}

struct PaymentRow {
    id: i64,
    requested: String,
    amount: String,
    purpose: String,
    state: &'static str,
    crossed: String,
    decided: String,
    paid: String,
    receipt: String,
    may_decide: bool,
    may_pay: bool,
    may_receipt: bool,
}

#[derive(Template)]
#[template(path = "lifecycle.html")]
struct LifecyclePage {
    nav: Option<Nav>,
    csrf: String,
    source_id: i64,
    code_name: String,
    reference: String,
    feedback: Feedback,
    due: Vec<(&'static str, String)>,
    cumulative_days: i64,
    authorisations: Vec<AuthorisationRow>,
    /// (when, who, event, note) for every authorisation event.
    events: Vec<(String, String, String, i64, String)>,
    current_risk: Option<i64>,
    risks: Vec<(i64, String, String, String, String, String)>,
    contacts: Vec<(String, String, String, String, String, bool)>,
    tasks: Vec<(i64, String, String, String, String)>,
    welfare: Vec<(String, String, String, String)>,
    payments: Option<Vec<PaymentRow>>,
    ledger: Vec<(u64, String, String, String, bool)>,
    witnesses: Vec<String>,
    may_apply: bool,
    may_record: bool,
    may_handle_payment: bool,
    may_export: bool,
    may_validate: bool,
    /// The reliability grade the source carries and where it comes from.
    grade: String,
    /// What became of the reports released under its reference.
    track_record: tearline_intel::track::TrackRecord,
    contradicted: bool,
    /// (when, by, grade, note), latest first.
    validations: Vec<(String, String, char, String)>,
}

fn name_of(names: &HashMap<UserId, String>, id: Option<UserId>) -> String {
    id.and_then(|id| names.get(&id).cloned()).unwrap_or_default()
}

fn time_or_blank(at: Option<Timestamp>) -> String {
    at.map(format_time).unwrap_or_default()
}

async fn lifecycle_view(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    feedback: Feedback,
) -> Result<LifecyclePage, UiError> {
    let sources::SourceRead { source, read, .. } = sources::read(state, caller, id).await?;
    let view = super::view(state, caller, &source, &read).await?;
    let names = super::names(state).await?;
    let may = |action: fn(_) -> Action| authorize(&caller.actor, action(scope(&source))).is_ok();
    let may_decide = may(Action::DecideAuthorisation);
    let may_handle_payment = may(Action::HandlePayment);
    let may_approve_payment = may(Action::ApprovePayment);
    let now = state.now();
    let authorisations = view
        .authorisations
        .iter()
        .map(|a| AuthorisationRow {
            id: a.id,
            kind: a.application.kind.as_str(),
            state: if a.state == AuthorisationState::Granted && a.live_grant(now).is_none() {
                "expired"
            } else {
                a.state.as_str()
            },
            applied: format_time(a.applied_at),
            applicant: name_of(&names, Some(a.applicant_id)),
            expires: time_or_blank(a.grant.map(|g| g.expires_at)),
            expires_at: a.grant.map_or(0, |g| g.expires_at.0),
            renewed_expiry: time_or_blank(a.grant.and_then(|g| g.renew(now).ok()).map(|g| g.expires_at)),
            authoriser: name_of(&names, a.authoriser_id),
            purpose: a.application.case.purpose.clone(),
            may_grant: may_decide && a.state == AuthorisationState::Applied,
            may_act_on_grant: may_decide && a.live_grant(now).is_some(),
            may_write_up: may_decide
                && a.live_grant(now).is_some()
                && a.application.kind == tearline_lifecycle::authorisation::AuthorisationKind::UrgentOral
                && a.written_up_at.is_none(),
        })
        .collect();
    let payments = view.payments.as_ref().map(|payments| {
        payments
            .iter()
            .map(|p| PaymentRow {
                id: p.id,
                requested: format!(
                    "{} by {}",
                    format_time(p.requested_at),
                    name_of(&names, Some(p.requested_by))
                ),
                amount: p.amount.to_string(),
                purpose: p.purpose.clone(),
                state: p.state.as_str(),
                crossed: p.thresholds_crossed.join(", "),
                decided: p
                    .decided_at
                    .map(|at| format!("{} by {}", format_time(at), name_of(&names, p.decided_by)))
                    .unwrap_or_default(),
                paid: p
                    .paid_at
                    .map(|at| {
                        format!(
                            "{} by {}, witnessed by {}",
                            format_time(at),
                            name_of(&names, p.paid_by),
                            name_of(&names, p.witness_id)
                        )
                    })
                    .unwrap_or_default(),
                receipt: p
                    .receipt_code_name
                    .as_ref()
                    .map(|code| format!("signed {code} {}", time_or_blank(p.receipt_at)))
                    .unwrap_or_default(),
                may_decide: may_approve_payment
                    && p.state == PaymentState::Requested
                    && p.requested_by != caller.user.id,
                may_pay: may_handle_payment && p.state == PaymentState::Approved,
                may_receipt: may_handle_payment && p.state == PaymentState::Paid,
            })
            .collect()
    });
    let ledger = match &view.ledger {
        Some(entries) => {
            // A reversal touches the accounts the entry it reverses touched, so it is here too.
            let reversed: Vec<u64> = entries.iter().filter_map(|e| e.reverses).collect();
            entries
                .iter()
                .map(|e| {
                    let lines = e
                        .lines
                        .iter()
                        .map(|l| format!("{} {}", l.account.parts().0, l.amount))
                        .collect::<Vec<_>>()
                        .join(" · ");
                    let memo = match e.reverses {
                        Some(original) => format!("{} (reverses entry {original})", e.memo),
                        None => e.memo.clone(),
                    };
                    let reversible = may_approve_payment && e.reverses.is_none() && !reversed.contains(&e.id);
                    (e.id, format_time(e.at), memo, lines, reversible)
                })
                .collect()
        }
        None => Vec::new(),
    };
    let witnesses = super::witnesses_for(state, caller).await?;
    Ok(LifecyclePage {
        nav: Some(Nav::of(caller, Section::Sources)),
        csrf: caller.csrf_token.clone(),
        source_id: source.id.0,
        code_name: source.code_name.clone(),
        reference: source.reference.to_string(),
        feedback,
        due: view.due.iter().map(|d| (super::due_label(d.kind), format_time(d.at))).collect(),
        cumulative_days: view.cumulative_deployment_days,
        authorisations,
        events: view
            .events
            .iter()
            .map(|e| {
                (
                    format_time(e.at),
                    e.actor.clone(),
                    e.kind.as_str().to_owned(),
                    e.authorisation_id,
                    e.note.clone(),
                )
            })
            .collect(),
        current_risk: view.risk_assessments.first().map(|r| r.id),
        risks: view
            .risk_assessments
            .iter()
            .map(|r| {
                (
                    r.version,
                    format_time(r.assessed_at),
                    name_of(&names, Some(r.assessed_by)),
                    r.risk_level.clone(),
                    r.text.summary.clone(),
                    r.text.mitigations.clone(),
                )
            })
            .collect(),
        contacts: view
            .contacts
            .iter()
            .map(|c| {
                (
                    format_time(c.at),
                    name_of(&names, Some(c.logged_by)),
                    c.method.clone(),
                    c.text.place.clone(),
                    c.text.summary.clone(),
                    c.authorised,
                )
            })
            .collect(),
        tasks: view
            .tasks
            .iter()
            .map(|t| {
                (
                    t.id,
                    format_time(t.given_at),
                    name_of(&names, Some(t.given_by)),
                    t.description.clone(),
                    time_or_blank(t.acknowledged_at),
                )
            })
            .collect(),
        welfare: view
            .welfare
            .iter()
            .map(|w| {
                (
                    format_time(w.at),
                    name_of(&names, Some(w.recorded_by)),
                    w.kind.clone(),
                    w.text.notes.clone(),
                )
            })
            .collect(),
        payments,
        ledger,
        witnesses,
        may_apply: may(Action::ApplyForAuthorisation),
        may_record: may(Action::RecordSourceActivity),
        may_handle_payment,
        may_export: authorize(&caller.actor, Action::ExportRecords { unit_id: source.unit_id }).is_ok(),
        may_validate: may(Action::ValidateSource),
        grade: match (view.standing.grade, view.standing.grade_basis) {
            (Some(grade), Some(super::standing::GradeBasis::Validation)) => {
                format!("{} ({}), as last validated", grade.letter(), grade.meaning())
            }
            (Some(grade), _) => format!(
                "{} ({}), as given to its latest report; never validated",
                grade.letter(),
                grade.meaning()
            ),
            (None, _) => "not graded yet: no report released".to_owned(),
        },
        track_record: view.standing.track_record,
        contradicted: view.standing.contradicted,
        validations: view
            .standing
            .validations
            .iter()
            .map(|v| {
                (
                    format_time(v.validated_at),
                    name_of(&names, Some(v.validated_by)),
                    v.reliability.letter(),
                    v.note.clone(),
                )
            })
            .collect(),
    })
}

async fn lifecycle_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    done: DoneOp,
) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&lifecycle_view(&state, &caller, SourceId(id), done.feedback(said)).await?))
}

/// What the lifecycle page says after each of its forms, and the section it says it in.
fn said(op: &str) -> Option<(&'static str, &'static str)> {
    Some(match op {
        "apply" => ("Application made: it waits for an authorising officer's decision.", "authorisations"),
        "grant" => ("Authorisation granted.", "authorisations"),
        "refuse" => ("Application refused; the reason is in the register.", "authorisations"),
        "renew" => ("Authorisation renewed: its new expiry is shown below.", "authorisations"),
        "review" => ("Review recorded in the register.", "authorisations"),
        "write-up" => ("Written record of the oral authorisation recorded.", "authorisations"),
        "cancel" => ("Authorisation cancelled; the reason is in the register.", "authorisations"),
        "validate" => ("Validation of the grade recorded.", "standing"),
        "risk" => ("New version of the risk assessment recorded.", "risk"),
        "contact" => ("Contact logged.", "contacts"),
        "task" => ("Task given.", "tasks"),
        "acknowledge" => ("Task marked as acknowledged by the source.", "tasks"),
        "welfare" => ("Welfare record added.", "welfare"),
        "payment" => ("Payment requested: it waits for a controller's approval.", "payments"),
        "approve-payment" => ("Payment approved.", "payments"),
        "refuse-payment" => ("Payment refused.", "payments"),
        "paid" => ("Hand-over recorded with its witness.", "payments"),
        "receipt" => ("Receipt recorded.", "payments"),
        "reverse" => ("Ledger entry reversed.", "payments"),
        _ => return None,
    })
}

/// The operations [`confirmation`] may ask about: only these read the page a second time.
const ASKS_FIRST: [&str; 5] = ["renew", "review", "cancel", "approve-payment", "refuse-payment"];

/// What a decision that matters will do, said before it is done; `None` for a form that
/// needs no confirmation. Read from the page the officer saw, so it names what they saw.
fn confirmation(page: &LifecyclePage, fields: &Fields) -> Option<Confirmation> {
    let target = field(fields, "target");
    // Asked only of whoever may take the decision: anyone else is refused by the operation.
    let authorisation =
        || page.authorisations.iter().find(|a| a.id.to_string() == target && a.may_act_on_grant);
    let payment = || page.payments.iter().flatten().find(|p| p.id.to_string() == target && p.may_decide);
    let ask = |title: String, consequences: Vec<String>, verb: String, note, danger| {
        Some(Confirmation { title, consequences, verb, note, danger })
    };
    match field(fields, "op") {
        "renew" => {
            let a = authorisation()?;
            ask(
                format!("Renew AUTH-{} for {}?", a.id, page.code_name),
                vec![
                    format!("It expires {} now; renewed, it expires {}.", a.expires, a.renewed_expiry),
                    "The renewal and your note go into the register of authorisations.".into(),
                ],
                format!("Renew AUTH-{}", a.id),
                Note::Required("Note for the register: why it is still necessary and proportionate"),
                false,
            )
        }
        "review" => {
            let a = authorisation()?;
            ask(
                format!("Record a review of AUTH-{}?", a.id),
                vec![
                    format!("The review is recorded against {}'s current risk assessment.", page.code_name),
                    "Your note goes into the register of authorisations as written.".into(),
                ],
                format!("Record the review of AUTH-{}", a.id),
                Note::Required("What was reviewed and concluded"),
                false,
            )
        }
        "cancel" => {
            let a = authorisation()?;
            ask(
                format!("Cancel AUTH-{}?", a.id),
                vec![
                    format!("From now {} may not be tasked or met under AUTH-{}.", page.code_name, a.id),
                    "A cancellation cannot be undone: a new application would be needed.".into(),
                ],
                format!("Cancel AUTH-{}", a.id),
                Note::Required("Reason for cancelling"),
                true,
            )
        }
        op @ ("approve-payment" | "refuse-payment") => {
            let p = payment()?;
            let approve = op == "approve-payment";
            let crossed = if p.crossed.is_empty() {
                "It crosses no threshold.".to_owned()
            } else {
                format!("It crosses: {}.", p.crossed)
            };
            ask(
                format!("{} PAY-{}?", if approve { "Approve" } else { "Refuse" }, p.id),
                vec![format!("{} to {} for: {}.", p.amount, page.code_name, p.purpose), crossed],
                format!("{} PAY-{}", if approve { "Approve" } else { "Refuse" }, p.id),
                if approve {
                    Note::Optional("Note for the record (optional)")
                } else {
                    Note::Required("Reason for refusing")
                },
                !approve,
            )
        }
        _ => None,
    }
}

fn optional_note(fields: &Fields) -> Option<String> {
    Some(field(fields, "note").to_owned())
}

/// A value written as its wire name (`adult-written`), read with the API's own names.
fn wire<T: serde::de::DeserializeOwned>(fields: &Fields, name: &str) -> Result<T, ServiceError> {
    serde_json::from_value(serde_json::Value::String(field(fields, name).to_owned())).map_err(|_| {
        ServiceError::refused(ErrorCode::InvalidField, format!("{name} is not one of the choices offered"))
    })
}

/// A time written as the console shows them (`2026-12-05 14:30`, UTC), or with the `T` of
/// ISO 8601; empty means now.
fn when(fields: &Fields) -> Result<Option<Timestamp>, ServiceError> {
    let text = field(fields, "at").trim();
    if text.is_empty() {
        return Ok(None);
    }
    let text = text.strip_suffix("UTC").unwrap_or(text).trim_end().replacen('T', " ", 1);
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::PrimitiveDateTime::parse(&text, format)
        .map(|t| {
            Some(Timestamp(i64::try_from(t.assume_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)))
        })
        .map_err(|_| {
            ServiceError::refused(ErrorCode::InvalidDate, "When must be written YYYY-MM-DD HH:MM (UTC)")
        })
}

async fn perform(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    fields: &Fields,
) -> Result<(), ServiceError> {
    let target = || number(fields, "target");
    let decide =
        |decision| async move { super::decide(state, caller, target()?, decision).await.map(|_| ()) };
    match field(fields, "op") {
        "apply" => {
            let request = super::ApplicationRequest {
                kind: wire(fields, "kind")?,
                vulnerable: field(fields, "vulnerable") == "on",
                necessity: field(fields, "necessity").into(),
                proportionality: field(fields, "proportionality").into(),
                purpose: field(fields, "purpose").into(),
                tasking: field(fields, "tasking").into(),
                collateral_intrusion: field(fields, "collateral_intrusion").into(),
                confidential_information: field(fields, "confidential_information").into(),
            };
            super::apply(state, caller, source, request).await.map(|_| ())
        }
        "grant" => {
            decide(Decision::Grant {
                review_every_days: number(fields, "review_every_days")?,
                note: optional_note(fields),
            })
            .await
        }
        "refuse" => decide(Decision::Refuse { reason: field(fields, "reason").into() }).await,
        "renew" => {
            // The expiry the officer saw, when the form carried one (the API's clients may not).
            let seen = field(fields, "expires_at").trim();
            let expires_at =
                if seen.is_empty() { None } else { Some(Timestamp(number(fields, "expires_at")?)) };
            decide(Decision::Renew { note: optional_note(fields), expires_at }).await
        }
        "review" => {
            let risk_assessment_id = number(fields, "risk_assessment_id")?;
            decide(Decision::Review { risk_assessment_id, note: field(fields, "note").into() }).await
        }
        "write-up" => decide(Decision::WriteUp { note: field(fields, "note").into() }).await,
        "cancel" => decide(Decision::Cancel { reason: field(fields, "reason").into() }).await,
        "contact" => {
            let request = super::ContactRequest {
                at: when(fields)?,
                method: field(fields, "method").into(),
                place: field(fields, "place").into(),
                summary: field(fields, "summary").into(),
                situation_changed: field(fields, "situation_changed") == "on",
            };
            super::log_contact(state, caller, source, request).await.map(|_| ())
        }
        "task" => {
            let request = super::TaskRequest { description: field(fields, "description").into() };
            super::give_task(state, caller, source, request).await.map(|_| ())
        }
        "acknowledge" => super::acknowledge_task(state, caller, target()?).await.map(|_| ()),
        "validate" => {
            let request = super::standing::ValidationRequest {
                reliability: field(fields, "reliability").into(),
                note: field(fields, "note").into(),
            };
            super::standing::validate(state, caller, source, request).await.map(|_| ())
        }
        "welfare" => {
            let request = super::WelfareRequest {
                at: when(fields)?,
                kind: field(fields, "kind").into(),
                notes: field(fields, "notes").into(),
            };
            super::record_welfare(state, caller, source, request).await.map(|_| ())
        }
        "risk" => {
            let request = super::RiskRequest {
                risk_level: field(fields, "risk_level").into(),
                summary: field(fields, "summary").into(),
                mitigations: field(fields, "mitigations").into(),
                explained_and_understood: field(fields, "explained_and_understood") == "on",
            };
            super::assess_risk(state, caller, source, request).await.map(|_| ())
        }
        "payment" => {
            let request = super::PaymentRequest {
                amount: field(fields, "amount").into(),
                currency: field(fields, "currency").into(),
                purpose: field(fields, "purpose").into(),
                not_contingent: field(fields, "not_contingent") == "on",
            };
            super::request_payment(state, caller, source, request).await.map(|_| ())
        }
        "approve-payment" | "refuse-payment" => {
            let decision = super::PaymentDecision {
                approve: field(fields, "op") == "approve-payment",
                note: field(fields, "note").into(),
            };
            super::decide_payment(state, caller, target()?, decision).await.map(|_| ())
        }
        "paid" => {
            let request = super::PaidRequest { witness: field(fields, "witness").into() };
            super::record_paid(state, caller, target()?, request).await.map(|_| ())
        }
        "receipt" => {
            let request = super::ReceiptRequest { code_name: field(fields, "code_name").into() };
            super::record_receipt(state, caller, target()?, request).await.map(|_| ())
        }
        "reverse" => {
            let entry = u64::try_from(target()?).map_err(|_| ServiceError::not_found("ledger entry"))?;
            let request = super::ReversalRequest { memo: field(fields, "memo").into() };
            super::reverse_entry(state, caller, entry, request).await.map(|_| ())
        }
        _ => Err(crate::ui::unknown_operation()),
    }
}

async fn lifecycle_action(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    Form(fields): Form<Fields>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(field(&fields, "csrf"))?;
    let page = format!("/sources/{id}/lifecycle");
    if ASKS_FIRST.contains(&field(&fields, "op")) && !confirm::confirmed(&fields) {
        let seen = lifecycle_view(&state, &caller, SourceId(id), Feedback::Fresh).await?;
        if let Some(confirmation) = confirmation(&seen, &fields) {
            let nav = Nav::of(&caller, Section::Sources);
            return Ok(confirm::ask(nav, &page, &page, &fields, confirmation));
        }
    }
    let outcome = perform(&state, &caller, SourceId(id), &fields).await;
    let view = |feedback| lifecycle_view(&state, &caller, SourceId(id), feedback);
    feedback::answer(outcome, &fields, &page, said, view).await
}

#[derive(Template)]
#[template(path = "disclosure.html")]
struct DisclosurePage {
    nav: Option<Nav>,
    source_id: i64,
    code_name: String,
    reference: String,
    from: String,
    to: String,
    rows: Vec<(String, String, String, String, String, String, String)>,
    entries: Vec<(u64, String, String, String)>,
    totals_approved: Vec<String>,
    totals_paid: Vec<String>,
    csv_link: String,
}

async fn disclosure_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    query: Result<Query<PeriodQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let caller = signed_in(caller)?;
    let Query(query) = query.map_err(|e| ServiceError::refused(ErrorCode::InvalidQuery, e.body_text()))?;
    let disclosure =
        super::disclosure(&state, &caller, SourceId(id), query.from.map(Timestamp), query.to.map(Timestamp))
            .await?;
    let names = super::names(&state).await?;
    if super::api::wants_csv(query.format.as_deref())? {
        let filename = format!("disclosure-{}.csv", disclosure.reference);
        return Ok(csv_response(&filename, export::disclosure_csv(&disclosure, &names)?));
    }
    let period = |bound: &str, value: Option<i64>| value.map(|v| format!("&{bound}={v}")).unwrap_or_default();
    Ok(render(&DisclosurePage {
        nav: Some(Nav::of(&caller, Section::Sources)),
        source_id: id,
        csv_link: format!(
            "/sources/{id}/disclosure?format=csv{}{}",
            period("from", query.from),
            period("to", query.to)
        ),
        code_name: disclosure.code_name.clone(),
        reference: disclosure.reference.clone(),
        from: format_time(disclosure.from),
        to: format_time(disclosure.to),
        rows: disclosure
            .payments
            .iter()
            .map(|p| {
                (
                    format!("PAY-{}", p.id),
                    format_time(p.requested_at),
                    p.amount.to_string(),
                    p.purpose.clone(),
                    p.state.as_str().to_owned(),
                    name_of(&names, p.decided_by),
                    p.witness_id.map(|w| name_of(&names, Some(w))).unwrap_or_default(),
                )
            })
            .collect(),
        entries: disclosure
            .entries
            .iter()
            .map(|e| {
                let lines = e
                    .lines
                    .iter()
                    .map(|l| format!("{} {}", l.account.parts().0, l.amount))
                    .collect::<Vec<_>>();
                (e.id, format_time(e.at), e.memo.clone(), lines.join(" · "))
            })
            .collect(),
        totals_approved: disclosure.totals_approved.clone(),
        totals_paid: disclosure.totals_paid.clone(),
    }))
}

async fn record_set(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
) -> Page {
    let caller = signed_in(caller)?;
    let (filename, body) = export::record_set(&state, &caller, SourceId(id)).await?;
    Ok(csv_response(&filename, body))
}

struct RegisterLine {
    reference: String,
    source_id: i64,
    code_name: String,
    kind: &'static str,
    state: &'static str,
    applied: String,
    granted: String,
    authoriser: String,
    expires: String,
    /// (when, who, event, note)
    events: Vec<(String, String, &'static str, String)>,
    refused_attempts: usize,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    nav: Option<Nav>,
    rows: Vec<RegisterLine>,
    may_export: bool,
}

async fn register_page(State(state): State<AppState>, caller: Result<Session, ApiError>) -> Page {
    let caller = signed_in(caller)?;
    let rows = super::register(&state, &caller, false).await?;
    let names = super::names(&state).await?;
    let now = state.now();
    let rows = rows
        .into_iter()
        .map(|row| {
            let a = &row.authorisation;
            RegisterLine {
                reference: format!("AUTH-{}", a.id),
                source_id: a.source_id.0,
                code_name: row.code_name.clone(),
                kind: a.application.kind.as_str(),
                state: if a.state == AuthorisationState::Granted && a.live_grant(now).is_none() {
                    "expired"
                } else {
                    a.state.as_str()
                },
                applied: format_time(a.applied_at),
                granted: time_or_blank(a.grant.map(|g| g.starts_at)),
                authoriser: name_of(&names, a.authoriser_id),
                expires: time_or_blank(a.grant.map(|g| g.expires_at)),
                refused_attempts: row
                    .events
                    .iter()
                    .filter(|e| {
                        matches!(
                            e.kind,
                            tearline_lifecycle::authorisation::EventKind::RefusedSelfAuthorisation
                                | tearline_lifecycle::authorisation::EventKind::RefusedLevel
                        )
                    })
                    .count(),
                events: row
                    .events
                    .iter()
                    .map(|e| (format_time(e.at), e.actor.clone(), e.kind.as_str(), e.note.clone()))
                    .collect(),
            }
        })
        .collect();
    let may_export =
        authorize(&caller.actor, Action::ExportRecords { unit_id: caller.actor.unit_id }).is_ok();
    Ok(render(&RegisterPage { nav: Some(Nav::of(&caller, Section::Register)), rows, may_export }))
}

async fn register_csv(State(state): State<AppState>, caller: Result<Session, ApiError>) -> Page {
    let caller = signed_in(caller)?;
    let rows = super::register(&state, &caller, true).await?;
    let names = super::names(&state).await?;
    Ok(csv_response("authorisation-register.csv", export::register_csv(&rows, &names)?))
}
