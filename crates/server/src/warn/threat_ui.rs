//! One threat's page: what it rests on (the released reports analysts cite, graded; titles
//! and references only for those who read intelligence), whether a correction or
//! withdrawal put it under review, its timeline from report to answers, and its outcome.
//! Forms post to the same operations as the API.

use askama::Template;
use axum::extract::{Form, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tearline_domain::policy::{authorize, Action};
use tearline_intel::track::Accuracy;
use tearline_store::ReviewCause;
use tearline_warn::threat::ThreatOutcome;

use super::chain::{self, Event, Step, Support, Timeline};
use crate::api::IdPath;
use crate::auth::Session;
use crate::error::{ApiError, ErrorCode};
use crate::feedback::{self, DoneOp};
use crate::ui::{field, format_time, number, render, signed_in, Fields, Nav, Page, Section, UiError};
use tearline_service::auth::Caller;
use tearline_service::{AppState, ServiceError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/threats/{id}", get(threat_page).post(threat_action))
}

struct ReportRow {
    id: i64,
    title: Option<String>,
    reference: Option<String>,
    admiralty: String,
    tlp: &'static str,
    released: String,
    standing: String,
    accuracy: &'static str,
}

struct ReviewRow {
    id: i64,
    what: String,
    raised: String,
    open: bool,
    note: String,
}

struct StepRow {
    at: String,
    what: String,
    href: Option<String>,
}

struct WarningRow {
    version_id: i64,
    headline: String,
    state: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "threat.html")]
struct ThreatPage {
    nav: Option<Nav>,
    csrf: String,
    title: String,
    summary: Vec<(&'static str, String)>,
    description: String,
    reports: Vec<ReportRow>,
    reviews: Vec<ReviewRow>,
    under_review: bool,
    steps: Vec<StepRow>,
    warnings: Vec<WarningRow>,
    outcome: Option<String>,
    may_assess: bool,
    reads_intelligence: bool,
    outcomes: Vec<(&'static str, &'static str)>,
    accuracies: Vec<(&'static str, &'static str)>,
    notice: Option<String>,
    error: Option<String>,
}

fn tlp_text(tlp: tearline_intel::grading::Tlp) -> &'static str {
    tlp.as_str()
}

fn report_row(report: &chain::SupportingReport) -> ReportRow {
    let standing = match (report.withdrawn, report.corrected_by) {
        (true, _) => "withdrawn".to_owned(),
        (false, Some(correction)) => format!("corrected by report {correction}"),
        (false, None) => "stands".to_owned(),
    };
    ReportRow {
        id: report.report_id,
        title: report.detail.as_ref().map(|d| d.title.clone()),
        reference: report.detail.as_ref().and_then(|d| d.source_reference.clone()),
        admiralty: report.admiralty.clone(),
        tlp: tlp_text(report.tlp),
        released: report.released_at.map(format_time).unwrap_or_default(),
        standing,
        accuracy: report.accuracy.map_or("not judged", Accuracy::as_str),
    }
}

fn review_row(review: &tearline_store::ThreatReview) -> ReviewRow {
    let what = match review.cause {
        ReviewCause::Corrected => format!("Report {} corrected a supporting report", review.report_id),
        ReviewCause::Withdrawn => format!("Supporting report {} was withdrawn", review.report_id),
    };
    ReviewRow {
        id: review.id,
        what,
        raised: format_time(review.raised_at),
        open: review.is_open(),
        note: review.note.clone().unwrap_or_default(),
    }
}

/// One step of the timeline in words, with where to read more.
fn describe(event: &Event, reads_intelligence: bool) -> StepRow {
    let report_href = |id: i64| reads_intelligence.then(|| format!("/intel/reports/{id}"));
    let version_href = |id: i64| Some(format!("/warnings/versions/{id}"));
    let (what, href) = match &event.step {
        Step::ReportReleased { report_id, admiralty, tlp } => {
            (format!("Report {report_id} released ({admiralty}, {})", tlp.as_str()), report_href(*report_id))
        }
        Step::ReportCorrected { report_id } => {
            (format!("Correction {report_id} of a supporting report released"), report_href(*report_id))
        }
        Step::ReportWithdrawn { report_id } => {
            (format!("Supporting report {report_id} withdrawn"), report_href(*report_id))
        }
        Step::ThreatAssessed => ("Threat assessed".to_owned(), None),
        Step::WarningIssued { version_id, msg_type, headline, targeted, .. } => (
            format!("{} issued: \"{headline}\" to {targeted} recipients", msg_type.as_str()),
            version_href(*version_id),
        ),
        Step::DeliveriesBegan { version_id } => {
            ("First delivery reached its receiver".to_owned(), version_href(*version_id))
        }
        Step::DeliveriesReached { version_id, counts } => (
            format!(
                "Latest delivery so far: {} sent, {} answered, {} failed, {} waiting",
                counts.sent,
                counts.acknowledged,
                counts.failed,
                counts.queued + counts.sending
            ),
            version_href(*version_id),
        ),
        Step::Answered { version_id, status, count } => {
            let how = match status {
                tearline_warn::delivery::AckStatus::Received => "received the warning",
                tearline_warn::delivery::AckStatus::Safe => "are safe or have left",
                tearline_warn::delivery::AckStatus::Help => "need help",
            };
            (format!("{count} answered they {how} (latest answer)"), version_href(*version_id))
        }
        Step::OutcomeRecorded { outcome } => (format!("Outcome recorded: {}", outcome.label()), None),
    };
    StepRow { at: format_time(event.at), what, href }
}

fn page(caller: &Caller, timeline: Timeline, notice: Option<String>, error: Option<String>) -> ThreatPage {
    let Timeline { support, warnings, events } = timeline;
    let Support { threat, reports, reviews } = &support;
    let reads_intelligence =
        authorize(&caller.actor, Action::ReadIntelligence { unit_id: threat.unit_id }).is_ok();
    let a = &threat.assessment;
    ThreatPage {
        nav: Some(Nav::of(caller, Section::Threats)),
        csrf: caller.csrf_token.clone(),
        title: a.title.clone(),
        summary: vec![
            ("Type", a.threat_type.clone()),
            ("Area", a.area.description.clone()),
            ("Window", format!("{} to {}", format_time(a.window_start), format_time(a.window_end))),
            ("Likelihood", wire(&a.likelihood)),
            ("Impact", wire(&a.impact)),
            ("Status", a.status.as_str().to_owned()),
        ],
        description: a.description.clone(),
        reports: reports.iter().map(report_row).collect(),
        under_review: support.under_review(),
        reviews: reviews.iter().map(review_row).collect(),
        steps: events.iter().map(|e| describe(e, reads_intelligence)).collect(),
        warnings: warnings
            .iter()
            .map(|w| WarningRow {
                version_id: w.version_id,
                headline: w.headline.clone(),
                state: format!("version {} · {}", w.version, w.state.as_str()),
                live: w.live,
            })
            .collect(),
        outcome: threat.outcome.as_ref().map(|o| {
            let note = if o.note.is_empty() { String::new() } else { format!(" — {}", o.note) };
            format!("{} (recorded {}){note}", o.outcome.label(), format_time(o.recorded_at))
        }),
        may_assess: authorize(&caller.actor, Action::AssessThreat { unit_id: threat.unit_id }).is_ok(),
        reads_intelligence,
        outcomes: ThreatOutcome::ALL.iter().map(|o| (o.as_str(), o.label())).collect(),
        accuracies: Accuracy::ALL.iter().map(|a| (a.as_str(), a.as_str())).collect(),
        notice,
        error,
    }
}

fn wire(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

async fn threat_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    done: DoneOp,
) -> Page {
    let caller = signed_in(caller)?;
    let timeline = chain::timeline(&state, &caller, id).await?;
    let notice = done.0.as_deref().and_then(said).map(str::to_owned);
    Ok(render(&page(&caller, timeline, notice, None)))
}

/// What a threat's page says after each of its forms.
fn said(op: &str) -> Option<&'static str> {
    Some(match op {
        "cite" => "The report now supports this threat.",
        "uncite" => "The report no longer supports this threat.",
        "clear" => "The review is cleared.",
        "outcome" => "The outcome is recorded; the sources' track records learn from it.",
        _ => return None,
    })
}

/// Runs the operation the form names; what the analyst can fix comes back on the page.
async fn perform(state: &AppState, caller: &Caller, id: i64, fields: &Fields) -> Result<(), ServiceError> {
    match field(fields, "op") {
        "cite" => chain::cite(state, caller, id, number(fields, "report_id")?).await.map(|_| ()),
        "uncite" => chain::uncite(state, caller, id, number(fields, "report_id")?).await.map(|_| ()),
        "clear" => {
            let request = chain::ClearRequest { note: field(fields, "note").into() };
            chain::clear_review(state, caller, number(fields, "review_id")?, request).await.map(|_| ())
        }
        "outcome" => {
            let outcome = ThreatOutcome::parse(field(fields, "outcome"))
                .ok_or_else(|| ServiceError::refused(ErrorCode::InvalidForm, "pick an outcome"))?;
            let mut reports = Vec::new();
            for (name, value) in fields {
                let Some(report) = name.strip_prefix("accuracy_").and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some(accuracy) = Accuracy::parse(value) {
                    reports.push(chain::Judgement { report_id: report, accuracy });
                }
            }
            let request = chain::OutcomeRequest { outcome, note: field(fields, "note").into(), reports };
            chain::record_outcome(state, caller, id, request).await.map(|_| ())
        }
        _ => Err(crate::ui::unknown_operation()),
    }
}

async fn threat_action(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    Form(fields): Form<Fields>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(field(&fields, "csrf"))?;
    let (status, error) = match perform(&state, &caller, id, &fields).await.map_err(ApiError::from) {
        Ok(()) => {
            return Ok(feedback::done(&format!("/threats/{id}"), field(&fields, "op"), "").into_response())
        }
        Err(refused) if refused.status.is_client_error() && refused.code != ErrorCode::NotFound => {
            (refused.status, refused.message)
        }
        Err(other) => return Err(UiError::from(other)),
    };
    let timeline = chain::timeline(&state, &caller, id).await?;
    Ok((status, render(&page(&caller, timeline, None, Some(error)))).into_response())
}
