//! Intelligence pages. For the case: a source's contact reports and the reports drafted
//! from them, with the leak guard's verdict and the controller's release (every form posts
//! to one route naming its operation). For analysts: search, one released report (map,
//! entities, disseminations, STIX), the link chart (`assets/intel-graph.js` on vendored
//! Cytoscape.js), and STIX import.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tearline_domain::policy::{authorize, Action};
use tearline_domain::SourceId;
use tearline_intel::entities::EntityKind;
use tearline_intel::grading::HandlingCode;
use tearline_intel::layout;
use tearline_store::IntelReport;

use super::{DraftRequest, SearchParams};
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
        .route("/sources/{id}/intel", get(case_page).post(case_action))
        .route("/intel", get(search_page).post(import))
        .route("/intel/reports/{id}", get(report_page).post(report_action))
        .route("/intel/graph", get(graph_page))
}

fn optional_float(fields: &Fields, name: &str) -> Result<Option<f64>, ServiceError> {
    let text = field(fields, name).trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ServiceError::refused(ErrorCode::InvalidField, format!("{name} must be a number")))
}

fn draft_request(fields: &Fields) -> Result<DraftRequest, ServiceError> {
    Ok(DraftRequest {
        title: field(fields, "title").into(),
        body: field(fields, "body").into(),
        admiralty: format!("{}{}", field(fields, "reliability"), field(fields, "credibility")),
        source_evaluation: None,
        intelligence_assessment: None,
        handling_code: field(fields, "handling_code").into(),
        handling_conditions: field(fields, "handling_conditions").into(),
        tlp: field(fields, "tlp").into(),
        place_name: field(fields, "place_name").into(),
        latitude: optional_float(fields, "latitude")?,
        longitude: optional_float(fields, "longitude")?,
    })
}

/// A report as the case page shows it, with its form values.
struct CaseReport {
    id: i64,
    version: i64,
    title: String,
    body: String,
    state: &'static str,
    reliability: String,
    credibility: u8,
    handling_code: &'static str,
    handling_conditions: String,
    tlp: &'static str,
    place_name: String,
    latitude: String,
    longitude: String,
    leaks: Vec<(String, String)>,
    warnings: Vec<String>,
    /// Why it was withdrawn, once it is.
    withdrawn: Option<String>,
}

impl CaseReport {
    fn of(report: &IntelReport) -> CaseReport {
        let admiralty = report.grading.admiralty.to_string();
        let (handling_code, handling_conditions) = match &report.grading.handling {
            HandlingCode::P => ("P", String::new()),
            HandlingCode::C(conditions) => ("C", conditions.clone()),
        };
        let place = report.place.clone();
        CaseReport {
            id: report.id,
            version: report.version,
            title: report.title.clone(),
            body: report.body.clone(),
            state: report.state.as_str(),
            reliability: admiralty[..1].to_owned(),
            credibility: u8::from(report.grading.admiralty.credibility),
            handling_code,
            handling_conditions,
            tlp: report.grading.tlp.as_str(),
            place_name: place.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
            latitude: place.as_ref().and_then(|p| p.latitude).map(|l| l.to_string()).unwrap_or_default(),
            longitude: place.as_ref().and_then(|p| p.longitude).map(|l| l.to_string()).unwrap_or_default(),
            leaks: report.leak_findings.iter().map(|l| (l.field.clone(), l.detail.clone())).collect(),
            warnings: report.phrasing_warnings.clone(),
            withdrawn: None,
        }
    }
}

#[derive(Template)]
#[template(path = "intel_case.html")]
struct CasePage {
    nav: Option<Nav>,
    csrf: String,
    source_id: i64,
    code_name: String,
    reference: String,
    feedback: Feedback,
    contact_reports: Vec<(i64, String, String, String, String, String)>,
    reports: Vec<CaseReport>,
    may_release: bool,
}

async fn case_view(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    feedback: Feedback,
) -> Result<CasePage, UiError> {
    let sources::SourceRead { source, read, .. } = sources::read(state, caller, id).await?;
    let Some((contact_reports, reports)) = super::case_reports(state, caller, &source, &read).await? else {
        return Err(ServiceError::not_found("source").into());
    };
    Ok(CasePage {
        nav: Some(Nav::of(caller, Section::Sources)),
        csrf: caller.csrf_token.clone(),
        source_id: source.id.0,
        code_name: source.code_name.clone(),
        reference: source.reference.to_string(),
        feedback,
        contact_reports: contact_reports
            .iter()
            .map(|c| {
                (
                    c.id,
                    format_time(c.met_at),
                    c.text.place.clone(),
                    c.text.present.clone(),
                    c.method.clone(),
                    c.text.account.clone(),
                )
            })
            .collect(),
        reports: reports
            .iter()
            .zip(super::withdrawals(state, &reports).await?)
            .map(|(report, withdrawal)| CaseReport {
                withdrawn: withdrawal.map(|w| w.reason),
                ..CaseReport::of(report)
            })
            .collect(),
        may_release: authorize(&caller.actor, Action::ReleaseIntelligence(scope(&source))).is_ok(),
    })
}

async fn case_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    done: DoneOp,
) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&case_view(&state, &caller, SourceId(id), done.feedback(said_on_case)).await?))
}

/// What the case page says after each of its forms, and the section it says it in.
fn said_on_case(op: &str) -> Option<(&'static str, &'static str)> {
    Some(match op {
        "contact-report" => ("Contact report saved above the line.", "contact-reports"),
        "draft" => ("Draft saved below: check it and submit it for release.", "intel-reports"),
        "edit" => ("Changes to the draft saved.", "intel-reports"),
        "correct" => {
            ("Correction drafted: it goes through the leak guard and release again.", "intel-reports")
        }
        "submit" => (
            "Submitted: the leak guard found nothing; it waits for the controller's release.",
            "intel-reports",
        ),
        "release" => ("Released below the line: analysts can now find it.", "intel-reports"),
        "send-back" => ("Sent back to draft.", "intel-reports"),
        "withdraw" => ("Withdrawn: threats citing it are under review.", "intel-reports"),
        _ => return None,
    })
}

/// What releasing a report does, said before it is done; only to whoever may release it.
fn release_confirmation(page: &CasePage, fields: &Fields) -> Option<Confirmation> {
    if field(fields, "op") != "release" || !page.may_release {
        return None;
    }
    let target = field(fields, "target");
    let report = page.reports.iter().find(|r| r.id.to_string() == target && r.state == "submitted")?;
    Some(Confirmation {
        title: format!("Release report #{} below the line?", report.id),
        consequences: vec![
            format!(
                "\u{201c}{}\u{201d} becomes readable, searchable and shareable by the unit's analysts under the reference {} only, graded {}{}, {}.",
                report.title, page.reference, report.reliability, report.credibility, report.tlp
            ),
            "A release is not undone: a wrong report can only be corrected or withdrawn, and threats citing it then go under review.".into(),
        ],
        verb: format!("Release report #{}", report.id),
        note: Note::None,
        danger: false,
    })
}

/// Runs the operation a case form names; a draft the leak guard stops is a refusal.
async fn perform_case(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    fields: &Fields,
) -> Result<(), ServiceError> {
    let target = || number(fields, "target");
    match field(fields, "op") {
        "contact-report" => {
            let request = super::ContactReportRequest {
                met_at: None,
                place: field(fields, "place").into(),
                present: field(fields, "present").into(),
                method: field(fields, "method").into(),
                account: field(fields, "account").into(),
                tasks_given: field(fields, "tasks_given").into(),
                welfare: field(fields, "welfare").into(),
                situation_changed: field(fields, "situation_changed") == "on",
            };
            super::write_contact_report(state, caller, source, request).await.map(|_| ())
        }
        "draft" => super::draft(state, caller, target()?, draft_request(fields)?).await.map(|_| ()),
        "edit" => super::edit_draft(state, caller, target()?, draft_request(fields)?).await.map(|_| ()),
        "correct" => super::correct(state, caller, target()?, draft_request(fields)?).await.map(|_| ()),
        "submit" => {
            let submission = super::submit(state, caller, target()?).await?;
            if submission.leaks.is_empty() {
                return Ok(());
            }
            let named: Vec<String> =
                submission.leaks.iter().map(|l| format!("{} ({})", l.field, l.detail)).collect();
            Err(ServiceError::refused(
                ErrorCode::IdentityLeak,
                format!(
                    "Release refused: these fields name the source: {}. Rewrite them and submit again.",
                    named.join(", ")
                ),
            ))
        }
        "release" | "send-back" => {
            let request = super::ReleaseRequest {
                release: field(fields, "op") == "release",
                acknowledge_warnings: field(fields, "acknowledge_warnings") == "on",
            };
            super::decide_release(state, caller, target()?, request).await.map(|_| ())
        }
        "withdraw" => {
            let request = super::WithdrawRequest { reason: field(fields, "reason").into() };
            super::withdraw(state, caller, target()?, request).await.map(|_| ())
        }
        _ => Err(crate::ui::unknown_operation()),
    }
}

async fn case_action(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    Form(fields): Form<Fields>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(field(&fields, "csrf"))?;
    let page = format!("/sources/{id}/intel");
    if !confirm::confirmed(&fields) && field(&fields, "op") == "release" {
        let seen = case_view(&state, &caller, SourceId(id), Feedback::Fresh).await?;
        if let Some(confirmation) = release_confirmation(&seen, &fields) {
            let nav = Nav::of(&caller, Section::Sources);
            return Ok(confirm::ask(nav, &page, &page, &fields, confirmation));
        }
    }
    let outcome = perform_case(&state, &caller, SourceId(id), &fields).await;
    let view = |feedback| case_view(&state, &caller, SourceId(id), feedback);
    feedback::answer(outcome, &fields, &page, said_on_case, view).await
}

/// One drop-down of the search form: (value, selected) per option.
struct Choice {
    label: &'static str,
    name: &'static str,
    options: Vec<(&'static str, bool)>,
}

impl Choice {
    fn new(label: &'static str, name: &'static str, values: &[&'static str], chosen: Option<&str>) -> Choice {
        Choice { label, name, options: values.iter().map(|v| (*v, chosen == Some(*v))).collect() }
    }
}

#[derive(Template)]
#[template(path = "intel_search.html")]
struct SearchPage {
    nav: Option<Nav>,
    csrf: String,
    q: String,
    /// The filter drop-downs, with what is chosen.
    choices: Vec<Choice>,
    area: String,
    /// The release-date bounds as entered (YYYY-MM-DD).
    from: String,
    to: String,
    error: Option<String>,
    notice: Option<String>,
    total: usize,
    hits: Vec<super::SearchHit>,
    searched: bool,
    may_import: bool,
}

/// The search page: the form, and results when there is a query.
async fn search_view(state: &AppState, caller: &Caller, params: SearchParams) -> Result<SearchPage, UiError> {
    tearline_service::audit::require(
        state,
        caller,
        Action::ReadIntelligence { unit_id: caller.actor.unit_id },
        "intel.search",
    )
    .await?;
    let searched = !params.q.trim().is_empty();
    let (results, error) = if searched {
        match super::search(state, caller, &params).await.map_err(ApiError::from) {
            Ok(results) => (Some(results), None),
            Err(error) if error.status.is_client_error() => (None, Some(error.message)),
            Err(error) => return Err(error.into()),
        }
    } else {
        (None, None)
    };
    Ok(SearchPage {
        nav: Some(Nav::of(caller, Section::Intelligence)),
        csrf: caller.csrf_token.clone(),
        choices: vec![
            Choice::new(
                "Reliability at least",
                "reliability",
                &["A", "B", "C", "D", "E", "F"],
                params.reliability.as_deref(),
            ),
            Choice::new(
                "Credibility at least",
                "credibility",
                &["1", "2", "3", "4", "5", "6"],
                params.credibility.map(|c| c.to_string()).as_deref(),
            ),
            Choice::new("Handling", "handling", &["P", "C"], params.handling.as_deref()),
            Choice::new(
                "TLP",
                "tlp",
                &["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"],
                params.tlp.as_deref(),
            ),
        ],
        area: params.area.clone().unwrap_or_default(),
        from: text_of_day(params.from),
        to: text_of_day(params.to),
        q: params.q,
        error,
        notice: None,
        total: results.as_ref().and_then(|r| r.total).unwrap_or_default(),
        hits: results.map(|r| r.hits).unwrap_or_default(),
        searched,
        may_import: authorize(&caller.actor, Action::AnalyseIntelligence { unit_id: caller.actor.unit_id })
            .is_ok(),
    })
}

fn text_of_day(millis: Option<i64>) -> String {
    millis
        .and_then(|m| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1_000_000).ok())
        .and_then(|t| t.date().format(time::macros::format_description!("[year]-[month]-[day]")).ok())
        .unwrap_or_default()
}

async fn search_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    query: Result<Query<Fields>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let caller = signed_in(caller)?;
    let Query(fields) = query.map_err(|e| ServiceError::refused(ErrorCode::InvalidSearch, e.body_text()))?;
    let text = |name: &str| Some(field(&fields, name).trim().to_owned()).filter(|v| !v.is_empty());
    let day = |name: &str, end_of_day: bool| -> Result<Option<i64>, ServiceError> {
        let Some(value) = text(name) else { return Ok(None) };
        let date = time::Date::parse(&value, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| {
                ServiceError::refused(ErrorCode::InvalidDate, format!("{name} must be written YYYY-MM-DD"))
            })?;
        let time = if end_of_day { time::Time::MAX } else { time::Time::MIDNIGHT };
        Ok(Some(
            i64::try_from(date.with_time(time).assume_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        ))
    };
    let params = SearchParams {
        from: day("from", false)?,
        to: day("to", true)?,
        q: field(&fields, "q").to_owned(),
        reliability: text("reliability"),
        credibility: text("credibility").and_then(|c| c.parse().ok()),
        handling: text("handling"),
        tlp: text("tlp"),
        area: text("area"),
        count: true,
        ..SearchParams::default()
    };
    Ok(render(&search_view(&state, &caller, params).await?))
}

async fn import(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(fields): Form<Fields>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(field(&fields, "csrf"))?;
    let outcome = super::import_stix(&state, &caller, field(&fields, "bundle")).await;
    let mut page = search_view(&state, &caller, SearchParams::default()).await?;
    let status = match outcome.map_err(ApiError::from) {
        Ok(ids) => {
            page.notice = Some(format!("Imported {} report(s), graded F6 until assessed.", ids.len()));
            StatusCode::OK
        }
        // Shown on the page, with the failure's own status: a refusal still reads as one.
        Err(error) if error.status.is_client_error() => {
            page.error = Some(error.message);
            error.status
        }
        Err(error) => return Err(error.into()),
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "intel_report.html")]
struct ReportPage {
    nav: Option<Nav>,
    csrf: String,
    report: super::ReleasedView,
    released: String,
    handling: String,
    /// Source evaluation, intelligence assessment, handling code: "1 / C / P".
    three_by_five: String,
    suggested: Option<String>,
    areas: String,
    /// (id, kind, name, where a search finds it)
    entities: Vec<(i64, &'static str, String, String)>,
    disseminations: Vec<(String, String)>,
    may_analyse: bool,
    feedback: Feedback,
    kinds: Vec<&'static str>,
    /// The unit's threats this report could support, for analysts: (id, title).
    threats: Vec<(i64, String)>,
    /// The threats it supports: (id, title).
    cited_by: Vec<(i64, String)>,
}

async fn report_view(
    state: &AppState,
    caller: &Caller,
    id: i64,
    feedback: Feedback,
) -> Result<ReportPage, UiError> {
    let report = super::released(state, caller, id).await?;
    let may_analyse =
        authorize(&caller.actor, Action::AnalyseIntelligence { unit_id: caller.actor.unit_id }).is_ok();
    let threats: Vec<(i64, String)> = if may_analyse {
        crate::warn::service::threats(state, caller)
            .await?
            .into_iter()
            .map(|t| (t.id, t.assessment.title))
            .collect()
    } else {
        Vec::new()
    };
    let cited_by = report
        .threats
        .iter()
        .map(|id| (*id, threats.iter().find(|t| t.0 == *id).map(|t| t.1.clone()).unwrap_or_default()))
        .collect();
    let areas = report
        .place
        .as_ref()
        .and_then(|p| Some((p.name.clone(), p.latitude?, p.longitude?)))
        .map(|(name, lat, lon)| {
            json!([{"label": name, "area": {"description": name, "polygons": [], "circles": [{"centre": {"lat": lat, "lon": lon}, "radius_km": 0.2}]}}])
                .to_string()
        })
        .unwrap_or_else(|| "[]".into());
    Ok(ReportPage {
        nav: Some(Nav::of(caller, Section::Intelligence)),
        csrf: caller.csrf_token.clone(),
        released: report.released_at.map(format_time).unwrap_or_default(),
        handling: match &report.grading.handling {
            HandlingCode::P => "P — lawful sharing permitted".into(),
            HandlingCode::C(conditions) => format!("C — sharing permitted with conditions: {conditions}"),
        },
        three_by_five: format!(
            "{} / {:?} / {}",
            u8::from(report.grading.source_evaluation),
            report.grading.intelligence_assessment,
            if matches!(report.grading.handling, HandlingCode::P) { "P" } else { "C" }
        ),
        suggested: report.suggested_credibility.map(|c| format!("{} ({})", u8::from(c), c.meaning())),
        areas,
        entities: report
            .entities
            .iter()
            .map(|e| (e.id, e.entity.kind.as_str(), e.entity.name.clone(), search_for(&e.entity.name)))
            .collect(),
        disseminations: report
            .disseminations
            .iter()
            .map(|d| (format_time(d.passed_at), d.recipient.clone()))
            .collect(),
        may_analyse,
        feedback,
        kinds: EntityKind::ALL.iter().map(|k| k.as_str()).collect(),
        threats,
        cited_by,
        report,
    })
}

async fn report_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    done: DoneOp,
) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&report_view(&state, &caller, id, done.feedback(said_on_report)).await?))
}

/// What a released report's page says after each of its forms, and where.
fn said_on_report(op: &str) -> Option<(&'static str, &'static str)> {
    Some(match op {
        "cite" => ("The threat now cites this report.", "threats"),
        "tag" => ("Entity tagged.", "entities"),
        "untag" => ("Tag removed.", "entities"),
        "disseminate" => ("Dissemination recorded.", "dissemination"),
        _ => return None,
    })
}

async fn report_action(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    Form(fields): Form<Fields>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(field(&fields, "csrf"))?;
    let outcome = match field(&fields, "op") {
        "cite" => match number(&fields, "threat_id") {
            Ok(threat) => crate::warn::chain::cite(&state, &caller, threat, id).await.map(|_| ()),
            Err(error) => Err(error),
        },
        "tag" => {
            let kind = EntityKind::parse(field(&fields, "kind"))
                .ok_or_else(|| ServiceError::refused(ErrorCode::InvalidField, "choose a kind of entity"));
            match kind {
                Ok(kind) => super::tag(
                    &state,
                    &caller,
                    id,
                    super::TagRequest {
                        kind,
                        name: field(&fields, "name").into(),
                        latitude: None,
                        longitude: None,
                    },
                )
                .await
                .map(|_| ()),
                Err(error) => Err(error),
            }
        }
        "untag" => match number(&fields, "entity") {
            Ok(entity) => super::untag(&state, &caller, id, entity).await,
            Err(error) => Err(error),
        },
        "disseminate" => {
            let request = super::DisseminationRequest {
                recipient: field(&fields, "recipient").into(),
                passed_at: None,
            };
            super::disseminate(&state, &caller, id, request).await.map(|_| ())
        }
        _ => Err(crate::ui::unknown_operation()),
    };
    let view = |feedback| report_view(&state, &caller, id, feedback);
    feedback::answer(outcome, &fields, &format!("/intel/reports/{id}"), said_on_report, view).await
}

#[derive(Template)]
#[template(path = "intel_graph.html")]
struct GraphPage {
    nav: Option<Nav>,
    graph: String,
    /// (entity, where a search finds it, how many sources, the reports that mention it)
    corroborated: Vec<(String, String, usize, Vec<i64>)>,
    /// Each kind of entity: its name, whether the chart shows it.
    kinds: Vec<(&'static str, bool)>,
    /// How many nodes the chart holds, for the words a screen reader is given.
    shown: (usize, usize),
}

/// Where the intelligence search finds the reports that mention `name`: an entity's page.
fn search_for(name: &str) -> String {
    let query = serde_urlencoded::to_string([("q", format!("\"{name}\""))]).unwrap_or_default();
    format!("/intel?{query}")
}

/// The kinds of entity the link chart shows, from `?kind=…` repeated; every kind when none.
fn kinds_shown(query: Option<&str>) -> Vec<EntityKind> {
    let asked: Vec<(String, String)> =
        query.and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    let picked: Vec<EntityKind> = EntityKind::ALL
        .into_iter()
        .filter(|kind| asked.iter().any(|(name, value)| name == "kind" && value == kind.as_str()))
        .collect();
    if picked.is_empty() {
        EntityKind::ALL.to_vec()
    } else {
        picked
    }
}

/// The link chart: reports and the entities they mention, placed by
/// `tearline_intel::layout` (the same graph draws the same picture, labels never overlap),
/// filtered by kind of entity with a plain form.
async fn graph_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    uri: axum::http::Uri,
) -> Page {
    let caller = signed_in(caller)?;
    let graph = super::graph(&state, &caller).await?;
    let shown_kinds = kinds_shown(uri.query());
    let corroborated = graph
        .corroborated
        .iter()
        .map(|c| (c.entity.name.clone(), search_for(&c.entity.name), c.sources, c.reports.clone()))
        .collect();
    let corroborated_keys: Vec<(EntityKind, String)> =
        graph.corroborated.iter().map(|c| (c.entity.kind, c.entity.key.clone())).collect();
    let entities: Vec<_> = graph.entities.iter().filter(|e| shown_kinds.contains(&e.entity.kind)).collect();
    let edges: Vec<(String, String)> = graph
        .links
        .iter()
        .filter(|(_, entity)| entities.iter().any(|e| e.id == *entity))
        .map(|(report, entity)| (format!("r{report}"), format!("e{entity}")))
        .collect();
    let nodes: Vec<layout::Node> = graph
        .reports
        .iter()
        .map(|r| layout::Node {
            id: format!("r{}", r.id),
            kind: "report".into(),
            rank: r.id,
            label: layout::label(&format!("#{} {} ({})", r.id, r.title, r.admiralty)),
        })
        .chain(entities.iter().map(|e| layout::Node {
            id: format!("e{}", e.id),
            kind: e.entity.kind.as_str().into(),
            rank: e.id,
            label: layout::label(&e.entity.name),
        }))
        .collect();
    let rows: Vec<&str> =
        std::iter::once("report").chain(EntityKind::ALL.iter().map(|k| k.as_str())).collect();
    let placed = layout::layout(&rows, &nodes, &edges);
    let json_nodes: Vec<serde_json::Value> = nodes
        .iter()
        .zip(&placed)
        .map(|(node, place)| {
            let mut data = json!({"id": node.id, "label": node.label, "kind": node.kind, "x": place.x, "y": place.y, "width": place.width});
            if let Some(report) = node.id.strip_prefix('r') {
                data["href"] = json!(format!("/intel/reports/{report}"));
            } else if let Some(entity) = entities.iter().find(|e| format!("e{}", e.id) == node.id) {
                data["corroborated"] = json!(corroborated_keys.contains(&(entity.entity.kind, entity.entity.key.clone())));
            }
            data
        })
        .collect();
    let json_edges: Vec<serde_json::Value> =
        edges.iter().map(|(source, target)| json!({"source": source, "target": target})).collect();
    let data = json!({"nodes": json_nodes, "edges": json_edges}).to_string();
    Ok(render(&GraphPage {
        nav: Some(Nav::of(&caller, Section::Intelligence)),
        graph: data,
        corroborated,
        kinds: EntityKind::ALL.iter().map(|k| (k.as_str(), shown_kinds.contains(k))).collect(),
        shown: (graph.reports.len(), entities.len()),
    }))
}
