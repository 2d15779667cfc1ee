//! The source lifecycle as a service: authorisations, risk assessments, contacts, tasks,
//! welfare, payments, due items and the inspection register. The JSON API (`api`) and the
//! pages (`ui`) call these operations; each asks the policy, applies the rules of
//! `tearline_lifecycle` with the injected clock, stores, and records to the audit trail.

pub mod export;
pub mod standing;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tearline_domain::audit::Outcome;
use tearline_domain::policy::{authorize, Action, SourceScope};
use tearline_domain::source::SourceRecord;
use tearline_domain::{Role, Seniority, SourceId, Timestamp, UserId};
use tearline_lifecycle::authorisation::{
    self, cumulative_deployment, Application, AuthorisationError, Authoriser, CaseParties, EventKind,
};
use tearline_lifecycle::calendar::DAY;
use tearline_lifecycle::due::{due_items, DueItem, DueKind, DueRules, SourceFacts};

use tearline_kernel::{Lookup, Recorded};
use tearline_lifecycle::above_line::{CaseDetails, ContactNotes, RiskNarrative, WelfareNotes};
use tearline_lifecycle::ledger::{thresholds_crossed, Account, Currency, Entry, LedgerError, Money};
use tearline_store::{
    Approval, AuthorisationEvent, AuthorisationRecord, Contact, NewContact, NewPayment, NewRiskAssessment,
    Payment, PaymentState, RegisterRow, RiskAssessment, Task, WelfareRecord,
};

use crate::above_line;
use crate::audit::record;
use crate::auth::Caller;
use crate::error::{required_text as text, ErrorCode, ServiceError};
use crate::guard;
use crate::sources::{self, scope};
use crate::state::AppState;

/// The unit's rules for what is due and which payments need a senior approver.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    pub due: DueRules,
    /// The currency the payment thresholds are set in; payments in other currencies are
    /// approved by a senior officer whatever their size.
    pub threshold_currency: Currency,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            due: DueRules::default(),
            threshold_currency: Currency::parse("GBP").unwrap_or_else(|_| unreachable!("GBP is listed")),
        }
    }
}

impl LifecycleSettings {
    /// Settings from what an operator wrote: thresholds in major units of `currency`
    /// (per payment, per year, cumulative) and the risk assessment's maximum age.
    pub fn new(
        currency: &str,
        thresholds: [&str; 3],
        risk_max_age_days: u32,
    ) -> Result<LifecycleSettings, LedgerError> {
        let currency = Currency::parse(currency.trim())?;
        let [per_payment, per_year, cumulative] = thresholds;
        let due = DueRules {
            risk_max_age_millis: i64::from(risk_max_age_days) * DAY,
            thresholds: tearline_lifecycle::ledger::Thresholds {
                per_payment: currency.amount(per_payment)?.minor,
                per_year: currency.amount(per_year)?.minor,
                cumulative: currency.amount(cumulative)?.minor,
            },
            ..DueRules::default()
        };
        Ok(LifecycleSettings { due, threshold_currency: currency })
    }
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError::refused(code, message)
}

/// Lifecycle rules broken by a request, each named by its code.
fn rule(error: AuthorisationError) -> ServiceError {
    let code = match error {
        AuthorisationError::SelfAuthorisation => ErrorCode::SelfAuthorisation,
        AuthorisationError::LevelTooLow => ErrorCode::SeniorOfficerRequired,
        AuthorisationError::Missing(_) => ErrorCode::IncompleteApplication,
        AuthorisationError::ReviewTooRare { .. } | AuthorisationError::ReviewTooFrequent => {
            ErrorCode::InvalidReviewInterval
        }
        AuthorisationError::Lapsed => ErrorCode::AuthorisationLapsed,
    };
    ServiceError::refused(code, error.to_string())
}

fn object(source: SourceId) -> String {
    format!("source:{}", source.0)
}

/// Everything the lifecycle holds about one source, as its page and the API show it, its
/// sealed text opened.
#[derive(Debug, Serialize)]
pub struct LifecycleView {
    pub authorisations: Vec<AuthorisationRecord<CaseDetails>>,
    pub events: Vec<AuthorisationEvent>,
    /// Everything this person was ever deployed, overlaps once, up to now.
    pub cumulative_deployment_days: i64,
    pub risk_assessments: Vec<RiskAssessment<RiskNarrative>>,
    pub contacts: Vec<Contact<ContactNotes>>,
    pub tasks: Vec<Task>,
    pub welfare: Vec<WelfareRecord<WelfareNotes>>,
    /// `None` when the caller may not see payments.
    pub payments: Option<Vec<Payment>>,
    /// The ledger entries touching this source's accounts, with the payments.
    pub ledger: Option<Vec<Entry>>,
    pub due: Vec<DueItem>,
    /// The grade the source carries, its track record and validations.
    pub standing: standing::Standing,
}

/// The lifecycle of a source the caller was allowed to read, under the read `read` recorded.
pub async fn view(
    state: &AppState,
    caller: &Caller,
    source: &SourceRecord,
    read: &Recorded,
) -> Result<LifecycleView, ServiceError> {
    let now = state.now();
    let facts = facts(state, source, now).await?;
    let due = due_items(std::slice::from_ref(&facts), &state.settings.lifecycle.due, now);
    let (payments, ledger) = if authorize(&caller.actor, Action::ReadPayments(scope(source))).is_ok() {
        let ledger = state.store.ledger().await?;
        let mine =
            ledger.entries().iter().filter(|e| e.lines.iter().any(|l| l.account.belongs_to(source.id)));
        (Some(state.store.payments(source.id).await?), Some(mine.cloned().collect()))
    } else {
        (None, None)
    };
    Ok(LifecycleView {
        authorisations: above_line::open_all(
            state,
            read,
            source,
            state.store.authorisations_of(source.id).await?,
        )?,
        events: state.store.authorisation_events_of(source.id).await?,
        cumulative_deployment_days: cumulative_deployment(&facts.deployments, now) / DAY,
        risk_assessments: above_line::open_all(
            state,
            read,
            source,
            state.store.risk_assessments(source.id).await?,
        )?,
        contacts: above_line::open_all(state, read, source, state.store.contacts(source.id).await?)?,
        tasks: state.store.tasks(source.id).await?,
        welfare: above_line::open_all(state, read, source, state.store.welfare_records(source.id).await?)?,
        payments,
        ledger,
        due,
        standing: standing::standing(state, source).await?,
    })
}

/// What the due-items engine needs to know about a source, read from the store.
async fn facts(state: &AppState, source: &SourceRecord, now: Timestamp) -> Result<SourceFacts, ServiceError> {
    let authorisations = state.store.authorisations_of(source.id).await?;
    let current = authorisations.iter().rev().find(|a| a.live_grant(now).is_some() || is_lapsed(a, now));
    let events = state.store.authorisation_events_of(source.id).await?;
    let last_review = current.and_then(|a| {
        events
            .iter()
            .filter(|e| e.authorisation_id == a.id && e.kind == EventKind::Reviewed)
            .map(|e| e.at)
            .max()
    });
    let currency = state.settings.lifecycle.threshold_currency;
    let payments = state.store.payments(source.id).await?;
    let payment_waiting_since =
        payments.iter().filter(|p| p.state == PaymentState::Requested).map(|p| p.requested_at).min();
    let approved: Vec<Payment> = payments.into_iter().filter(|p| p.state.approved()).collect();
    let in_currency = |p: &&Payment| p.amount.currency == currency;
    let year_ago = now.plus_millis(-365 * DAY);
    let contacts = state.store.contacts(source.id).await?;
    let contact_reports = state.store.contact_reports_of(source.id).await?;
    let standing = standing::standing(state, source).await?;
    Ok(SourceFacts {
        grant: current.and_then(|a| a.grant),
        last_review,
        deployments: authorisations.iter().filter_map(AuthorisationRecord::deployment).collect(),
        risk_assessed_at: state.store.risk_assessments(source.id).await?.first().map(|r| r.assessed_at),
        tasking_changed_at: state.store.tasks(source.id).await?.first().map(|t| t.given_at),
        paid_this_year: approved
            .iter()
            .filter(in_currency)
            .filter(|p| p.decided_at.is_some_and(|at| at > year_ago))
            .map(|p| p.amount.minor)
            .sum(),
        paid_ever: approved.iter().filter(in_currency).map(|p| p.amount.minor).sum(),
        uncontrolled_contacts: u32::try_from(contacts.iter().filter(|c| !c.authorised).count())
            .unwrap_or(u32::MAX),
        situation_changed_at: contacts
            .iter()
            .filter(|c| c.situation_changed)
            .map(|c| c.at)
            .chain(contact_reports.iter().filter(|r| r.situation_changed).map(|r| r.met_at))
            .max(),
        last_welfare_at: state.store.welfare_records(source.id).await?.iter().map(|w| w.at).max(),
        grade_contradicted: standing.grade.is_some_and(|grade| standing.track_record.contradicts(grade)),
        recruited_at: Some(source.recruited_at),
        last_validated_at: standing.validations.first().map(|v| v.validated_at),
        application_waiting_since: authorisations
            .iter()
            .filter(|a| a.state == tearline_store::AuthorisationState::Applied)
            .map(|a| a.applied_at)
            .min(),
        payment_waiting_since,
        ..SourceFacts::new(source.id)
    })
}

/// A granted authorisation that ran out without being cancelled: still "current", so that
/// its expiry shows as due until someone acts.
fn is_lapsed(authorisation: &AuthorisationRecord, now: Timestamp) -> bool {
    authorisation.state == tearline_store::AuthorisationState::Granted
        && authorisation.grant.is_some_and(|g| g.expires_at <= now)
}

/// One due item with the code name people recognise.
#[derive(Debug, Serialize)]
pub struct DueRow {
    pub source_id: SourceId,
    pub code_name: String,
    pub kind: DueKind,
    pub at: Timestamp,
}

/// What is due across every source the caller may read, most urgent first.
pub async fn due_for(state: &AppState, caller: &Caller) -> Result<Vec<DueRow>, ServiceError> {
    if authorize(&caller.actor, Action::ListSources).is_err() {
        record(state, Some(caller.user.id), "due.read", "sources", None, Outcome::Denied).await?;
        return Err(ServiceError::Forbidden);
    }
    let now = state.now();
    let visible: Vec<SourceRecord> = state
        .store
        .sources_in_unit(caller.actor.unit_id)
        .await?
        .into_iter()
        .filter(|source| authorize(&caller.actor, Action::ReadSource(scope(source))).is_ok())
        .collect();
    let mut facts = Vec::with_capacity(visible.len());
    for source in &visible {
        facts.push(self::facts(state, source, now).await?);
    }
    let object = format!("unit:{}", caller.actor.unit_id.0);
    record(state, Some(caller.user.id), "due.read", &object, None, Outcome::Allowed).await?;
    // Work that waits for a decision is listed to whoever may take it, not to everyone.
    let acts_on = |item: &DueItem| {
        let source = visible.iter().find(|s| s.id == item.source);
        let may = |action: fn(SourceScope) -> Action| {
            source.is_some_and(|source| authorize(&caller.actor, action(scope(source))).is_ok())
        };
        match item.kind {
            DueKind::ApplicationAwaitingDecision => may(Action::DecideAuthorisation),
            DueKind::PaymentAwaitingApproval => may(Action::ApprovePayment),
            _ => true,
        }
    };
    Ok(due_items(&facts, &state.settings.lifecycle.due, now)
        .into_iter()
        .filter(acts_on)
        .map(|item| DueRow {
            code_name: visible
                .iter()
                .find(|s| s.id == item.source)
                .map(|s| s.code_name.clone())
                .unwrap_or_default(),
            source_id: item.source,
            kind: item.kind,
            at: item.at,
        })
        .collect())
}

pub fn due_label(kind: DueKind) -> &'static str {
    match kind {
        DueKind::Expired => "Authorisation expired",
        DueKind::ExpiresWithin7Days => "Authorisation expires within 7 days",
        DueKind::ExpiresWithin30Days => "Authorisation expires within 30 days",
        DueKind::ReviewOverdue => "Review overdue",
        DueKind::ReviewDue => "Review due",
        DueKind::StaleRiskAssessment => "Risk assessment stale",
        DueKind::ThresholdNear => "Payment threshold near",
        DueKind::FiveYearMark => "Five years of cumulative use",
        DueKind::UncontrolledContacts => "Contacts without a live authorisation",
        DueKind::WelfareCheckAfterChange => "Welfare check: the source's situation changed",
        DueKind::RiskReviewAfterChange => "Risk review: the source's situation changed",
        DueKind::GradeContradicted => "Track record contradicts the reliability grade",
        DueKind::ValidationDue => "Yearly validation of the reliability grade",
        DueKind::ApplicationAwaitingDecision => "Application awaits a decision",
        DueKind::PaymentAwaitingApproval => "Payment awaits approval",
    }
}

/// An application as submitted.
#[derive(Debug, Deserialize)]
pub struct ApplicationRequest {
    pub kind: authorisation::AuthorisationKind,
    #[serde(default)]
    pub vulnerable: bool,
    pub necessity: String,
    pub proportionality: String,
    pub purpose: String,
    pub tasking: String,
    pub collateral_intrusion: String,
    pub confidential_information: String,
}

pub async fn apply(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    request: ApplicationRequest,
) -> Result<AuthorisationRecord<CaseDetails>, ServiceError> {
    let record_of =
        sources::load_for(state, caller, source, Action::ApplyForAuthorisation, "authorisation.apply")
            .await?;
    let bounded = |value: &str| value.trim().chars().take(5000).collect::<String>();
    let application = Application {
        kind: request.kind,
        vulnerable: request.vulnerable,
        case: CaseDetails {
            necessity: bounded(&request.necessity),
            proportionality: bounded(&request.proportionality),
            purpose: bounded(&request.purpose),
            tasking: bounded(&request.tasking),
            collateral_intrusion: bounded(&request.collateral_intrusion),
            confidential_information: bounded(&request.confidential_information),
        },
    };
    application.check_complete().map_err(rule)?;
    let case = &application.case;
    let texts = [
        ("necessity", case.necessity.as_str()),
        ("proportionality", case.proportionality.as_str()),
        ("purpose", case.purpose.as_str()),
        ("tasking", case.tasking.as_str()),
        ("collateral_intrusion", case.collateral_intrusion.as_str()),
        ("confidential_information", case.confidential_information.as_str()),
    ];
    guard::refuse_identity(state, caller, &record_of, "authorisation.apply", &texts).await?;
    let sealed = Application {
        kind: application.kind,
        vulnerable: application.vulnerable,
        case: above_line::seal(&state.keys, &record_of.reference, case)?,
    };
    let id = state
        .kernel
        .change(Some(caller.user.id), "authorisation.apply", &object(source), None)
        .apply_for_authorisation(record_of.id, &sealed, caller.user.id, state.now())
        .await?;
    let stored =
        state.store.authorisation(id).await?.ok_or_else(|| ServiceError::not_found("authorisation"))?;
    Ok(stored.with_case(application.case))
}

/// What an authorising officer decides about an authorisation.
#[derive(Debug, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    Grant {
        review_every_days: i64,
        note: Option<String>,
    },
    Refuse {
        reason: String,
    },
    /// `expires_at`, when given, is the expiry the renewer saw: a renewal that finds another
    /// already made (a second click, a colleague) is refused rather than stacked.
    Renew {
        note: Option<String>,
        #[serde(default)]
        expires_at: Option<Timestamp>,
    },
    Review {
        risk_assessment_id: i64,
        note: String,
    },
    WriteUp {
        note: String,
    },
    Cancel {
        reason: String,
    },
}

impl Decision {
    /// The decision's free text, as the register shows it to the case's officers.
    fn text(&self) -> (&'static str, &str) {
        match self {
            Decision::Grant { note, .. } | Decision::Renew { note, .. } => {
                ("note", note.as_deref().unwrap_or(""))
            }
            Decision::Review { note, .. } | Decision::WriteUp { note } => ("note", note),
            Decision::Refuse { reason } | Decision::Cancel { reason } => ("reason", reason),
        }
    }

    fn audit_action(&self) -> &'static str {
        match self {
            Decision::Grant { .. } => "authorisation.grant",
            Decision::Refuse { .. } => "authorisation.refuse",
            Decision::Renew { .. } => "authorisation.renew",
            Decision::Review { .. } => "authorisation.review",
            Decision::WriteUp { .. } => "authorisation.write-up",
            Decision::Cancel { .. } => "authorisation.cancel",
        }
    }
}

/// Applies an authorising officer's decision. A grant or renewal the rules forbid is
/// refused, and the attempt is kept in the register. The answer is the authorisation as
/// decided, its case left sealed (the lifecycle page opens it, as a recorded read).
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: i64,
    decision: Decision,
) -> Result<AuthorisationRecord<()>, ServiceError> {
    let audit_action = decision.audit_action();
    let found = state.store.authorisation(id).await?.map(|a| {
        let source = a.source_id;
        (a, source)
    });
    let lookup = Lookup { kind: "authorisation", audit_action, object: &format!("authorisation:{id}") };
    let (authorisation, source) =
        sources::load_belonging(state, caller, lookup, found, Action::DecideAuthorisation).await?;
    let now = state.now();
    let me = caller.user.id;
    let parties = CaseParties {
        applicant: authorisation.applicant_id,
        handler: source.handler_id,
        controller: source.controller_id,
    };
    let authoriser = Authoriser { user: me, level: caller.user.seniority };
    let checked = |result: Result<(), AuthorisationError>| async {
        match result {
            Err(error) => {
                if let Some(kind) = EventKind::of_refused_attempt(&error) {
                    // The refusal is kept in the register and audited as denied, together.
                    let writer = state.kernel.change_with(
                        Some(me),
                        audit_action,
                        &object(source.id),
                        None,
                        Outcome::Denied,
                    );
                    writer.note_refused_attempt(id, kind, me, now, &error.to_string()).await?;
                }
                Err(rule(error))
            }
            Ok(()) => Ok(()),
        }
    };
    let not_live = || ServiceError::conflict("the authorisation is not in force");
    guard::refuse_identity(state, caller, &source, audit_action, &[decision.text()]).await?;
    match &decision {
        Decision::Grant { review_every_days, note } => {
            checked(authorisation::may_authorise(&authorisation.application, parties, authoriser)).await?;
            let grant = authorisation::grant(
                &authorisation.application,
                parties,
                authoriser,
                now,
                review_every_days.saturating_mul(DAY),
            )
            .map_err(rule)?;
            state
                .kernel
                .change(Some(me), audit_action, &object(source.id), None)
                .grant_authorisation(id, me, &grant, note.as_deref().unwrap_or("").trim())
                .await?;
        }
        Decision::Refuse { reason } => {
            let reason = text("reason", reason, 2000)?;
            state
                .kernel
                .change(Some(me), audit_action, &object(source.id), None)
                .end_authorisation(id, EventKind::Refused, me, now, &reason)
                .await?;
        }
        Decision::Renew { note, expires_at } => {
            checked(authorisation::may_authorise(&authorisation.application, parties, authoriser)).await?;
            let grant = authorisation
                .grant
                .filter(|_| authorisation.state == tearline_store::AuthorisationState::Granted)
                .ok_or_else(not_live)?;
            if expires_at.is_some_and(|seen| seen != grant.expires_at) {
                return Err(ServiceError::conflict(
                    "the authorisation was renewed since you looked at it; nothing was renewed again",
                ));
            }
            let renewed = grant.renew(now).map_err(rule)?;
            let note = note.as_deref().unwrap_or("").trim();
            state
                .kernel
                .change(Some(me), audit_action, &object(source.id), None)
                .renew_authorisation(id, me, grant.expires_at, renewed.expires_at, now, note)
                .await?;
        }
        Decision::Review { risk_assessment_id, note } => {
            authorisation.live_grant(now).ok_or_else(not_live)?;
            let note = text("note", note, 2000)?;
            let current = state.store.risk_assessments(source.id).await?.into_iter().next();
            match current {
                Some(current) if current.id == *risk_assessment_id => {}
                Some(current) => {
                    return Err(ServiceError::refused(
                        ErrorCode::StaleRiskAssessment,
                        format!(
                            "a review must reference the current risk assessment (id {}, version {})",
                            current.id, current.version
                        ),
                    ))
                }
                None => return Err(ServiceError::refused(
                    ErrorCode::NoRiskAssessment,
                    "the source has no risk assessment to review against; the handler must record one first",
                )),
            }
            state
                .kernel
                .change(Some(me), audit_action, &object(source.id), None)
                .review_authorisation(id, me, now, &note, *risk_assessment_id)
                .await?;
        }
        Decision::WriteUp { note } => {
            let note = text("note", note, 5000)?;
            state
                .kernel
                .change(Some(me), audit_action, &object(source.id), None)
                .write_up_authorisation(id, me, now, &note)
                .await?;
        }
        Decision::Cancel { reason } => {
            let reason = text("reason", reason, 2000)?;
            state
                .kernel
                .change(Some(me), audit_action, &object(source.id), None)
                .end_authorisation(id, EventKind::Cancelled, me, now, &reason)
                .await?;
        }
    }
    let decided =
        state.store.authorisation(id).await?.ok_or_else(|| ServiceError::not_found("authorisation"))?;
    Ok(decided.with_case(()))
}

/// When something happened, as a person enters it: not in the future, not before the
/// source was recruited.
fn past_time(
    source: &SourceRecord,
    at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Timestamp, ServiceError> {
    let at = at.unwrap_or(now);
    if at > now {
        return Err(invalid(ErrorCode::InvalidDate, "the time is in the future"));
    }
    if at < source.recruited_at {
        return Err(invalid(ErrorCode::InvalidDate, "the time is before the source was recruited"));
    }
    Ok(at)
}

fn live_at(authorisations: &[AuthorisationRecord], at: Timestamp) -> bool {
    authorisations.iter().any(|a| a.live_grant(at).is_some())
}

#[derive(Debug, Deserialize)]
pub struct ContactRequest {
    /// When the contact happened; now if left out.
    #[serde(default)]
    pub at: Option<Timestamp>,
    pub method: String,
    pub place: String,
    pub summary: String,
    /// The source's situation, or that of the family member their help turns on, changed
    /// (a move, an arrest, a threat, a falling-out): a welfare check and a risk review fall due.
    #[serde(default)]
    pub situation_changed: bool,
}

/// Logs a contact. One without a live authorisation is still logged (every contact must
/// be), and counts towards the "status drift" flag.
pub async fn log_contact(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    request: ContactRequest,
) -> Result<Contact<ContactNotes>, ServiceError> {
    let source =
        sources::load_for(state, caller, source, Action::RecordSourceActivity, "contact.log").await?;
    let now = state.now();
    let at = past_time(&source, request.at, now)?;
    let authorised = live_at(&state.store.authorisations_of(source.id).await?, at);
    let method = text("method", &request.method, 60)?;
    let notes = ContactNotes {
        place: text("place", &request.place, 300)?,
        summary: text("summary", &request.summary, 10_000)?,
    };
    guard::refuse_identity(
        state,
        caller,
        &source,
        "contact.log",
        &[("place", &notes.place), ("summary", &notes.summary)],
    )
    .await?;
    let sealed = above_line::seal(&state.keys, &source.reference, &notes)?;
    let id = state
        .kernel
        .change(Some(caller.user.id), "contact.log", &object(source.id), None)
        .log_contact(NewContact {
            source_id: source.id,
            logged_by: caller.user.id,
            at,
            method: &method,
            text: &sealed,
            authorised,
            situation_changed: request.situation_changed,
            logged_at: now,
        })
        .await?;
    let contacts = state.store.contacts(source.id).await?;
    let logged =
        contacts.into_iter().find(|c| c.id == id).ok_or_else(|| ServiceError::not_found("contact"))?;
    Ok(logged.with_text(notes))
}

#[derive(Debug, Deserialize)]
pub struct TaskRequest {
    pub description: String,
}

/// Gives a task: refused unless an authorisation is live now.
pub async fn give_task(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    request: TaskRequest,
) -> Result<Task, ServiceError> {
    let source = sources::load_for(state, caller, source, Action::RecordSourceActivity, "task.give").await?;
    let now = state.now();
    let description = text("description", &request.description, 5000)?;
    if !live_at(&state.store.authorisations_of(source.id).await?, now) {
        record(state, Some(caller.user.id), "task.give", &object(source.id), None, Outcome::Denied).await?;
        return Err(ServiceError::refused(
            ErrorCode::NoLiveAuthorisation,
            "a source without a live authorisation cannot be tasked; apply for one first",
        ));
    }
    guard::refuse_identity(state, caller, &source, "task.give", &[("description", &description)]).await?;
    let id = state
        .kernel
        .change(Some(caller.user.id), "task.give", &object(source.id), None)
        .give_task(source.id, caller.user.id, now, &description)
        .await?;
    state.store.task(id).await?.ok_or_else(|| ServiceError::not_found("task"))
}

/// Records that the source acknowledged a task.
pub async fn acknowledge_task(state: &AppState, caller: &Caller, task: i64) -> Result<Task, ServiceError> {
    let found = state.store.task(task).await?.map(|t| {
        let source = t.source_id;
        (t, source)
    });
    let lookup = Lookup { kind: "task", audit_action: "task.acknowledge", object: &format!("task:{task}") };
    let (_, source) =
        sources::load_belonging(state, caller, lookup, found, Action::RecordSourceActivity).await?;
    state
        .kernel
        .change(Some(caller.user.id), "task.acknowledge", &object(source.id), None)
        .acknowledge_task(task, state.now())
        .await?;
    state.store.task(task).await?.ok_or_else(|| ServiceError::not_found("task"))
}

#[derive(Debug, Deserialize)]
pub struct WelfareRequest {
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// `check` or `concern`.
    pub kind: String,
    pub notes: String,
}

pub async fn record_welfare(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    request: WelfareRequest,
) -> Result<WelfareRecord<WelfareNotes>, ServiceError> {
    let source =
        sources::load_for(state, caller, source, Action::RecordSourceActivity, "welfare.record").await?;
    let at = past_time(&source, request.at, state.now())?;
    if !matches!(request.kind.as_str(), "check" | "concern") {
        return Err(invalid(ErrorCode::InvalidField, "kind is check or concern"));
    }
    let notes = WelfareNotes { notes: text("notes", &request.notes, 10_000)? };
    let sealed = above_line::seal(&state.keys, &source.reference, &notes)?;
    let id = state
        .kernel
        .change(Some(caller.user.id), "welfare.record", &object(source.id), None)
        .record_welfare(source.id, caller.user.id, at, &request.kind, &sealed)
        .await?;
    let records = state.store.welfare_records(source.id).await?;
    let recorded =
        records.into_iter().find(|w| w.id == id).ok_or_else(|| ServiceError::not_found("welfare record"))?;
    Ok(recorded.with_text(notes))
}

#[derive(Debug, Deserialize)]
pub struct RiskRequest {
    /// `low`, `medium` or `high`.
    pub risk_level: String,
    pub summary: String,
    pub mitigations: String,
    /// The risks were explained to the source and the source understood them.
    pub explained_and_understood: bool,
}

pub async fn assess_risk(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    request: RiskRequest,
) -> Result<RiskAssessment<RiskNarrative>, ServiceError> {
    let source =
        sources::load_for(state, caller, source, Action::RecordSourceActivity, "risk.assess").await?;
    if !matches!(request.risk_level.as_str(), "low" | "medium" | "high") {
        return Err(invalid(ErrorCode::InvalidField, "risk_level is low, medium or high"));
    }
    if !request.explained_and_understood {
        return Err(invalid(
            ErrorCode::RisksNotExplained,
            "confirm that the risks were explained to the source and that the source understood them",
        ));
    }
    let narrative = RiskNarrative {
        summary: text("summary", &request.summary, 10_000)?,
        mitigations: text("mitigations", &request.mitigations, 10_000)?,
    };
    let sealed = above_line::seal(&state.keys, &source.reference, &narrative)?;
    let (id, _) = state
        .kernel
        .change(Some(caller.user.id), "risk.assess", &object(source.id), None)
        .add_risk_assessment(NewRiskAssessment {
            source_id: source.id,
            assessed_by: caller.user.id,
            at: state.now(),
            risk_level: &request.risk_level,
            text: &sealed,
        })
        .await?;
    let assessments = state.store.risk_assessments(source.id).await?;
    let added = assessments
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ServiceError::not_found("risk assessment"))?;
    Ok(added.with_text(narrative))
}

#[derive(Debug, Deserialize)]
pub struct PaymentRequest {
    /// In major units, as written: "150.00".
    pub amount: String,
    /// ISO 4217.
    pub currency: String,
    pub purpose: String,
    /// The requester attests the payment is not contingent on any outcome.
    pub not_contingent: bool,
}

/// The thresholds a payment would cross at `now`, given the source's earlier approvals in
/// its currency. A payment in another currency than the thresholds' always needs a senior.
fn crossed(
    settings: &LifecycleSettings,
    payment: &Payment,
    earlier: &[(Timestamp, i64)],
    now: Timestamp,
) -> Vec<&'static str> {
    if payment.amount.currency != settings.threshold_currency {
        return vec!["other currency"];
    }
    thresholds_crossed(earlier, (now, payment.amount.minor), settings.due.thresholds)
}

pub async fn request_payment(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    request: PaymentRequest,
) -> Result<Payment, ServiceError> {
    let source = sources::load_for(state, caller, source, Action::HandlePayment, "payment.request").await?;
    let amount = Currency::parse(request.currency.trim())?.amount(&request.amount)?;
    if amount.minor <= 0 {
        return Err(LedgerError::Zero.into());
    }
    if !request.not_contingent {
        return Err(invalid(
            ErrorCode::ContingentPayment,
            "attest that the payment is not contingent on any outcome; a contingent payment is not allowed",
        ));
    }
    let purpose = text("purpose", &request.purpose, 2000)?;
    let now = state.now();
    let probe = Payment {
        id: 0,
        source_id: source.id,
        requested_by: caller.user.id,
        requested_at: now,
        amount,
        purpose: purpose.clone(),
        state: tearline_store::PaymentState::Requested,
        thresholds_crossed: Vec::new(),
        decided_by: None,
        decided_at: None,
        decision_note: None,
        paid_by: None,
        witness_id: None,
        paid_at: None,
        receipt_code_name: None,
        receipt_at: None,
    };
    let earlier = state.store.approved_amounts(&probe).await?;
    let crossed = crossed(&state.settings.lifecycle, &probe, &earlier, state.now());
    let id = state
        .kernel
        .change(Some(caller.user.id), "payment.request", &object(source.id), None)
        .request_payment(NewPayment {
            source_id: source.id,
            requested_by: caller.user.id,
            at: now,
            amount,
            purpose: &purpose,
            thresholds_crossed: &crossed,
        })
        .await?;
    state.store.payment(id).await?.ok_or_else(|| ServiceError::not_found("payment"))
}

/// Loads a payment and checks `action` on its source.
async fn payment_for(
    state: &AppState,
    caller: &Caller,
    id: i64,
    action: fn(SourceScope) -> Action,
    audit_action: &str,
) -> Result<(Payment, SourceRecord), ServiceError> {
    let found = state.store.payment(id).await?.map(|p| {
        let source = p.source_id;
        (p, source)
    });
    let lookup = Lookup { kind: "payment", audit_action, object: &format!("payment:{id}") };
    sources::load_belonging(state, caller, lookup, found, action).await
}

#[derive(Debug, Deserialize)]
pub struct PaymentDecision {
    pub approve: bool,
    #[serde(default)]
    pub note: String,
}

/// Approves (posting to the ledger) or refuses a payment. Above a threshold only a senior
/// controller may approve; no one approves a payment they requested.
pub async fn decide_payment(
    state: &AppState,
    caller: &Caller,
    id: i64,
    decision: PaymentDecision,
) -> Result<Payment, ServiceError> {
    let action = if decision.approve { "payment.approve" } else { "payment.refuse" };
    let (payment, source) = payment_for(state, caller, id, Action::ApprovePayment, action).await?;
    let now = state.now();
    let me = caller.user.id;
    if payment.requested_by == me {
        record(state, Some(me), action, &object(source.id), None, Outcome::Denied).await?;
        return Err(ServiceError::refused(
            ErrorCode::OwnRequest,
            "you requested this payment; another controller must decide it",
        ));
    }
    let note = decision.note.trim().chars().take(2000).collect::<String>();
    if decision.approve {
        // The thresholds are judged inside the approving transaction, on the approvals it
        // sees, so concurrent approvals cannot jointly cross one without a senior.
        let senior = caller.user.seniority >= Seniority::Senior;
        let settings = &state.settings.lifecycle;
        let stops = |earlier: &[(Timestamp, i64)]| {
            if senior {
                Vec::new()
            } else {
                crossed(settings, &payment, earlier, now)
            }
        };
        let writer = state.kernel.change(Some(me), action, &object(source.id), None);
        if let Approval::Stopped(crossed) = writer.approve_payment(&payment, me, now, &note, stops).await? {
            record(state, Some(me), action, &object(source.id), None, Outcome::Denied).await?;
            return Err(ServiceError::refused(
                ErrorCode::SeniorApprovalRequired,
                format!(
                    "this payment crosses the {} threshold; a senior controller must approve it",
                    crossed.join(" and ")
                ),
            ));
        }
    } else {
        state
            .kernel
            .change(Some(me), action, &object(source.id), None)
            .refuse_payment(id, me, now, &text("note", &note, 2000)?)
            .await?;
    }
    state.store.payment(id).await?.ok_or_else(|| ServiceError::not_found("payment"))
}

#[derive(Debug, Deserialize)]
pub struct PaidRequest {
    /// Username of the officer who witnessed the handover.
    pub witness: String,
}

/// Records an approved payment as handed over, before a witness of the unit.
pub async fn record_paid(
    state: &AppState,
    caller: &Caller,
    id: i64,
    request: PaidRequest,
) -> Result<Payment, ServiceError> {
    let (payment, source) = payment_for(state, caller, id, Action::HandlePayment, "payment.pay").await?;
    let witness = state
        .store
        .user_by_username(request.witness.trim())
        .await?
        .filter(|w| w.unit_id == caller.actor.unit_id && w.id != caller.user.id)
        .ok_or_else(|| {
            invalid(ErrorCode::InvalidWitness, "the witness must be another officer of your unit")
        })?;
    state
        .kernel
        .change(Some(caller.user.id), "payment.pay", &object(source.id), None)
        .record_payment_made(&payment, caller.user.id, witness.id, state.now())
        .await?;
    state.store.payment(id).await?.ok_or_else(|| ServiceError::not_found("payment"))
}

#[derive(Debug, Deserialize)]
pub struct ReceiptRequest {
    /// The code name the source signed the receipt with.
    pub code_name: String,
}

/// Records the source's receipt, which they sign with their code name, never their name.
pub async fn record_receipt(
    state: &AppState,
    caller: &Caller,
    id: i64,
    request: ReceiptRequest,
) -> Result<Payment, ServiceError> {
    let (_, source) = payment_for(state, caller, id, Action::HandlePayment, "payment.receipt").await?;
    if !request.code_name.trim().eq_ignore_ascii_case(&source.code_name) {
        return Err(invalid(
            ErrorCode::InvalidReceipt,
            "the receipt must be signed with the source's code name",
        ));
    }
    state
        .kernel
        .change(Some(caller.user.id), "payment.receipt", &object(source.id), None)
        .record_receipt(id, &source.code_name, state.now())
        .await?;
    state.store.payment(id).await?.ok_or_else(|| ServiceError::not_found("payment"))
}

#[derive(Debug, Deserialize)]
pub struct ReversalRequest {
    pub memo: String,
}

/// Corrects a ledger entry by reversing it; the controller of the source it concerns decides.
pub async fn reverse_entry(
    state: &AppState,
    caller: &Caller,
    entry: u64,
    request: ReversalRequest,
) -> Result<u64, ServiceError> {
    let ledger = state.store.ledger().await?;
    let source = ledger
        .entries()
        .iter()
        .find(|e| e.id == entry)
        .and_then(|e| e.lines.iter().find_map(|l| l.account.parts().1));
    let lookup =
        Lookup { kind: "ledger entry", audit_action: "ledger.reverse", object: &format!("ledger:{entry}") };
    let ((), source) =
        sources::load_belonging(state, caller, lookup, source.map(|s| ((), s)), Action::ApprovePayment)
            .await?;
    let source = source.id;
    let memo = text("memo", &request.memo, 2000)?;
    let id = state
        .kernel
        .change(Some(caller.user.id), "ledger.reverse", &object(source), None)
        .reverse_ledger_entry(entry, caller.user.id, state.now(), &memo)
        .await?;
    Ok(id)
}

/// A source's payments and ledger entries over a period, for disclosure.
#[derive(Debug, Serialize)]
pub struct Disclosure {
    pub code_name: String,
    pub reference: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub payments: Vec<Payment>,
    pub entries: Vec<Entry>,
    /// Approved for the source in the period, per currency: "150.00 GBP".
    pub totals_approved: Vec<String>,
    /// Handed over to the source in the period, per currency.
    pub totals_paid: Vec<String>,
}

/// The disclosure set of one source between `from` and `to` (inclusive).
pub async fn disclosure(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<Disclosure, ServiceError> {
    let source = sources::load_for(state, caller, source, Action::ReadPayments, "payment.disclose").await?;
    let from = from.unwrap_or(Timestamp(0));
    let to = to.unwrap_or_else(|| state.now());
    if from > to {
        return Err(invalid(ErrorCode::InvalidPeriod, "the period's start is after its end"));
    }
    let within = |at: Timestamp| from <= at && at <= to;
    let payments: Vec<Payment> =
        state.store.payments(source.id).await?.into_iter().filter(|p| within(p.requested_at)).collect();
    let ledger = state.store.ledger().await?;
    let entries: Vec<Entry> = ledger
        .entries()
        .iter()
        .filter(|e| within(e.at) && e.lines.iter().any(|l| l.account.belongs_to(source.id)))
        .cloned()
        .collect();
    // Approvals debit the source's expense and payments credit cash, so the two nets (with
    // reversals netting themselves out) are what was approved for and paid to the source.
    let total = |account: Account, sign: i64| {
        let mut sums: BTreeMap<Currency, i64> = BTreeMap::new();
        for line in entries.iter().flat_map(|e| &e.lines).filter(|l| l.account == account) {
            *sums.entry(line.amount.currency).or_default() += sign * line.amount.minor;
        }
        sums.into_iter().map(|(currency, minor)| Money { minor, currency }.to_string()).collect::<Vec<_>>()
    };
    let totals_approved = total(Account::SourceExpense(source.id), 1);
    let totals_paid = total(Account::Cash, -1);
    record(state, Some(caller.user.id), "payment.disclose", &object(source.id), None, Outcome::Allowed)
        .await?;
    Ok(Disclosure {
        code_name: source.code_name,
        reference: source.reference.to_string(),
        from,
        to,
        payments,
        entries,
        totals_approved,
        totals_paid,
    })
}

/// The unit's register of authorisations, for authorising officers and inspectors.
pub async fn register(
    state: &AppState,
    caller: &Caller,
    export: bool,
) -> Result<Vec<RegisterRow<CaseDetails>>, ServiceError> {
    let unit = caller.actor.unit_id;
    let (action, audit_action) = if export {
        (Action::ExportRecords { unit_id: unit }, "register.export")
    } else {
        (Action::ReadAuthorisationRegister { unit_id: unit }, "register.read")
    };
    crate::audit::require(state, caller, action, audit_action).await?;
    let read = record(
        state,
        Some(caller.user.id),
        audit_action,
        &format!("unit:{}", unit.0),
        None,
        Outcome::Allowed,
    )
    .await?;
    let sources: HashMap<SourceId, SourceRecord> =
        state.store.sources_in_unit(unit).await?.into_iter().map(|source| (source.id, source)).collect();
    state
        .store
        .authorisation_register(unit)
        .await?
        .into_iter()
        .map(|row| {
            let source =
                sources.get(&row.authorisation.source_id).ok_or_else(|| ServiceError::not_found("source"))?;
            let authorisation = above_line::open(state, &read, source, row.authorisation)?;
            Ok(RegisterRow {
                code_name: row.code_name,
                reference: row.reference,
                authorisation,
                events: row.events,
            })
        })
        .collect()
}

/// Whether the caller holds a role that acts on the lifecycle at all (for the pages).
pub fn acts_on_lifecycle(role: Role) -> bool {
    matches!(role, Role::Handler | Role::Controller | Role::AuthorisingOfficer | Role::Inspector)
}

/// The officers of the caller's unit who may witness the caller's payment handover.
pub async fn witnesses_for(state: &AppState, caller: &Caller) -> Result<Vec<String>, ServiceError> {
    Ok(state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.unit_id == caller.actor.unit_id && u.id != caller.user.id && acts_on_lifecycle(u.role))
        .map(|u| u.username)
        .collect())
}

/// The usernames of the unit, for the witness list and for showing who did what.
pub async fn names(state: &AppState) -> Result<std::collections::HashMap<UserId, String>, ServiceError> {
    Ok(state.store.users().await?.into_iter().map(|u| (u.id, u.username)).collect())
}
