//! Early warning's pages: the warnings overview and drafting form with its map, one
//! warning version (map, CAP XML, actions, delivery progress), threat assessments, and the
//! recipient registry. Forms post to the same operations as the API. The map script
//! (`assets/warn-map.js`, on Leaflet) only draws and previews; every decision is the server's.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use tearline_domain::policy::{authorize, Action};
use tearline_domain::Timestamp;
use tearline_store::{PartnerAlert, PartnerFeed, Threat, VersionState, WarningVersion};

use tearline_warn::cap::{
    CapArea, CapTime, Category, Certainty, Info, MsgType, ResponseType, Scope, Severity, Status, TextEdits,
    UpdateEdits, Urgency,
};
use tearline_warn::geo::{Area, Circle, Polygon};
use tearline_warn::threat::{Impact, Likelihood, ThreatAssessment, ThreatStatus};
use tearline_warn::xmldsig::Signature;

use super::service::{self, DraftRequest, Submitted};
use super::{chain, partners};
use crate::api::IdPath;
use crate::auth::Session;
use crate::confirm::{self, Confirmation, Note};
use crate::error::{ApiError, ErrorCode};
use crate::feedback::{self, DoneOp, Feedback};
use crate::ui::{field, format_time, render, signed_in, Fields, Nav, Page, Section, UiError};
use tearline_service::auth::Caller;
use tearline_service::{AppState, ServiceError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/warnings", get(warnings_page).post(draft_warning))
        .route("/warnings/versions/{id}", get(version_page))
        .route("/warnings/versions/{id}/action", post(version_action))
        .route("/warnings/{id}/update", post(draft_update))
        .route("/partner-alerts", post(upload_partner_alert))
        .route("/partner-feeds", post(add_partner_feed))
        .route("/partner-feeds/{id}/removal", post(remove_partner_feed))
        .route("/partner-feeds/{id}/pause", post(pause_partner_feed))
        .route("/partner-keys", post(add_partner_key))
        .route("/partner-keys/{id}/removal", post(remove_partner_key))
        .route("/threats", get(threats_page).post(create_threat))
        .route("/recipients", get(recipients_page))
}

/// Areas as the map script reads them (`data-areas`): the domain's own JSON.
fn areas_json(areas: &[(String, Area)]) -> String {
    let list: Vec<serde_json::Value> =
        areas.iter().map(|(label, area)| json!({"label": label, "area": area})).collect();
    serde_json::Value::Array(list).to_string()
}

fn tiles(state: &AppState) -> String {
    state.settings.map_tiles_url.clone().unwrap_or_default()
}

/// An area as the drafting form shows it, to edit rather than redraw.
struct AreaPrefill {
    description: String,
    /// The first polygon in CAP text, which the map turns into draggable corners.
    polygon: String,
    circle: String,
}

impl AreaPrefill {
    fn of(area: &Area) -> AreaPrefill {
        AreaPrefill {
            description: area.description.clone(),
            polygon: area.polygons.first().map(ToString::to_string).unwrap_or_default(),
            circle: area.circles.first().map(ToString::to_string).unwrap_or_default(),
        }
    }
}

struct WarningRow {
    version_id: i64,
    headline: String,
    msg_type: &'static str,
    status: &'static str,
    state: &'static str,
    issued: String,
    targets: String,
}

impl From<&WarningVersion> for WarningRow {
    fn from(v: &WarningVersion) -> WarningRow {
        WarningRow {
            version_id: v.id,
            headline: tearline_store::headline_of(&v.alert),
            msg_type: v.alert.msg_type.as_str(),
            status: v.alert.status.as_str(),
            state: v.state.as_str(),
            issued: v.issued_at.map(format_time).unwrap_or_default(),
            targets: v.target_count.map(|n| n.to_string()).unwrap_or_default(),
        }
    }
}

struct PartnerRow {
    sender: String,
    headline: String,
    msg_type: &'static str,
    status: &'static str,
    sent: String,
    origin: String,
    signature: &'static str,
    signature_failed: bool,
    /// The key that verified it, or why none did.
    signature_detail: String,
}

impl From<&(PartnerAlert, Signature)> for PartnerRow {
    fn from((p, signature): &(PartnerAlert, Signature)) -> PartnerRow {
        PartnerRow {
            sender: p.alert.sender.clone(),
            headline: tearline_store::headline_of(&p.alert),
            msg_type: p.alert.msg_type.as_str(),
            status: p.alert.status.as_str(),
            sent: p.alert.sent.to_string(),
            origin: p.origin.clone(),
            signature: signature.label(),
            signature_failed: matches!(signature, Signature::Failed { .. }),
            signature_detail: match signature {
                Signature::Verified { fingerprint } => {
                    format!("key {}…", fingerprint.get(..16).unwrap_or(fingerprint))
                }
                Signature::Failed { reason } => reason.clone(),
                Signature::Unsigned | Signature::Signed => String::new(),
            },
        }
    }
}

#[derive(Template)]
#[template(path = "warnings.html")]
struct WarningsPage {
    nav: Option<Nav>,
    csrf: String,
    rows: Vec<WarningRow>,
    threats: Vec<(i64, String)>,
    partners: Vec<PartnerRow>,
    feeds: Vec<FeedRow>,
    keys: Vec<KeyRow>,
    areas: String,
    tiles: String,
    may_draft: bool,
    statuses: &'static [Status],
    categories: &'static [Category],
    current_area: Option<AreaPrefill>,
    feedback: Feedback,
}

async fn warnings_view(
    state: &AppState,
    caller: &Caller,
    feedback: Feedback,
) -> Result<WarningsPage, UiError> {
    let latest = service::warnings(state, caller).await?;
    let threats = service::threats(state, caller).await.unwrap_or_default();
    let may_draft = authorize(&caller.actor, Action::DraftWarning { unit_id: caller.actor.unit_id }).is_ok();
    let may_import = authorize(&caller.actor, Action::ImportPartnerAlerts).is_ok();
    let (partner_alerts, feeds, keys) = if may_import {
        (
            partners::alerts(state, caller).await?,
            partners::feeds(state, caller).await?,
            partners::keys(state, caller).await?,
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let mut areas: Vec<(String, Area)> = latest
        .iter()
        .filter(|v| v.state == VersionState::Issued && v.alert.msg_type != MsgType::Cancel)
        .flat_map(|v| {
            v.alert
                .areas()
                .into_iter()
                .map(|a| (format!("Warning: {}", tearline_store::headline_of(&v.alert)), a))
        })
        .collect();
    areas.extend(
        threats.iter().map(|t| (format!("Threat: {}", t.assessment.title), t.assessment.area.clone())),
    );
    areas.extend(partner_alerts.iter().flat_map(|(p, _)| {
        p.alert
            .areas()
            .into_iter()
            .map(|a| (format!("Partner {}: {}", p.alert.sender, tearline_store::headline_of(&p.alert)), a))
    }));
    Ok(WarningsPage {
        nav: Some(Nav::of(caller, Section::Warnings)),
        csrf: caller.csrf_token.clone(),
        rows: latest.iter().map(WarningRow::from).collect(),
        threats: threats.iter().map(|t| (t.id, t.assessment.title.clone())).collect(),
        partners: partner_alerts.iter().map(PartnerRow::from).collect(),
        feeds: feeds.iter().map(FeedRow::from).collect(),
        keys: keys
            .iter()
            .map(|k| KeyRow {
                id: k.id,
                sender: k.sender.clone(),
                label: k.label.clone(),
                fingerprint: k.fingerprint.clone(),
                added_at: format_time(k.added_at),
            })
            .collect(),
        areas: areas_json(&areas),
        tiles: tiles(state),
        may_draft,
        statuses: Status::ALL,
        categories: Category::ALL,
        // A refused draft comes back with the area that was drawn.
        current_area: feedback.refused_op("draft").then(|| AreaPrefill {
            description: feedback.kept("draft", "area_description").to_owned(),
            polygon: feedback.kept("draft", "polygon").to_owned(),
            circle: feedback.kept("draft", "circle").to_owned(),
        }),
        feedback,
    })
}

async fn warnings_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    done: DoneOp,
) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&warnings_view(&state, &caller, done.feedback(said_on_warnings)).await?))
}

/// What the warnings page says after each of its partner forms.
fn said_on_warnings(op: &str) -> Option<(&'static str, &'static str)> {
    let said = match op {
        "partner-alert" => "Partner alert imported.",
        "partner-feed" => "Feed added: it is polled from now on.",
        "partner-feed-paused" => "Polling of the feed changed.",
        "partner-feed-removed" => "The feed is no longer polled.",
        "partner-key" => "Key registered for its sender.",
        "partner-key-removed" => "Key withdrawn.",
        _ => return None,
    };
    Some((said, "partners"))
}

/// A refusal said with the drafting form's words: a CAP path such as
/// `alert/info[2]/area[1]/areaDesc` becomes "Area description (second language)".
fn in_form_words(message: &str) -> String {
    const LABELS: &[(&str, &str)] = &[
        ("areaDesc", "Area description"),
        ("headline", "Headline"),
        ("description", "Description"),
        ("instruction", "Instruction"),
        ("event", "Event"),
        ("expires", "Expires in"),
        ("polygon", "Polygon"),
        ("circle", "Circle"),
        ("urgency", "Urgency"),
        ("severity", "Severity"),
        ("certainty", "Certainty"),
        ("category", "Category"),
        ("responseType", "Response"),
        ("language", "Language"),
    ];
    let Some((path, reason)) = message.split_once(": ") else { return message.to_owned() };
    let element = path.rsplit('/').next().unwrap_or(path);
    let element = element.split('[').next().unwrap_or(element);
    match LABELS.iter().find(|(name, _)| *name == element) {
        Some((_, label)) if path.starts_with("alert") => {
            let which =
                if path.contains("info[1]") || !path.contains("info[") { "" } else { " (second language)" };
            format!("{label}{which}: {reason}")
        }
        _ => message.to_owned(),
    }
}

/// The drafting form: one or two languages, one area drawn on the map or given as a circle.
#[derive(Deserialize)]
struct DraftForm {
    #[serde(default)]
    threat_id: String,
    status: String,
    category: String,
    event: String,
    urgency: String,
    severity: String,
    certainty: String,
    #[serde(default)]
    response: String,
    headline: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    instruction: String,
    #[serde(default)]
    headline_ar: String,
    #[serde(default)]
    description_ar: String,
    #[serde(default)]
    instruction_ar: String,
    expires_hours: String,
    area_description: String,
    #[serde(default)]
    polygon: String,
    #[serde(default)]
    circle: String,
}

/// The area fields every drafting form shares: a description, and a polygon from the map
/// and/or a circle, in CAP text.
fn area_from_form(description: &str, polygon: &str, circle: &str) -> Result<Area, ServiceError> {
    let polygons = match non_empty(polygon) {
        Some(text) => vec![Polygon::parse_cap(&text).map_err(|e| form_error(format!("area polygon: {e}")))?],
        None => Vec::new(),
    };
    let circles = match non_empty(circle) {
        Some(text) => vec![Circle::parse_cap(&text).map_err(|e| form_error(format!("area circle: {e}")))?],
        None => Vec::new(),
    };
    Ok(Area { description: description.trim().to_owned(), polygons, circles })
}

/// "Expires in (hours)": more than 0 and at most 30 days from now.
fn expiry_after(hours: &str, now: Timestamp) -> Result<CapTime, ServiceError> {
    let hours: f64 = hours
        .trim()
        .parse()
        .ok()
        .filter(|h: &f64| h.is_finite() && *h > 0.0 && *h <= 24.0 * 30.0)
        .ok_or_else(|| form_error("expires in must be a number of hours between 0 and 720"))?;
    #[allow(clippy::cast_possible_truncation)]
    Ok(CapTime::utc(now.0 + (hours * 3_600_000.0) as i64))
}

fn form_error(message: impl Into<String>) -> ServiceError {
    ServiceError::refused(ErrorCode::InvalidForm, message)
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl DraftForm {
    fn into_request(self, now: Timestamp) -> Result<DraftRequest, ServiceError> {
        let pick = |text: &str, what: &str| form_error(format!("{what} {text:?} is not one CAP allows"));
        let status = Status::parse(&self.status).ok_or_else(|| pick(&self.status, "status"))?;
        let category = Category::parse(&self.category).ok_or_else(|| pick(&self.category, "category"))?;
        let urgency = Urgency::parse(&self.urgency).ok_or_else(|| pick(&self.urgency, "urgency"))?;
        let severity = Severity::parse(&self.severity).ok_or_else(|| pick(&self.severity, "severity"))?;
        let certainty =
            Certainty::parse(&self.certainty).ok_or_else(|| pick(&self.certainty, "certainty"))?;
        let response_types = match non_empty(&self.response) {
            Some(r) => vec![ResponseType::parse(&r).ok_or_else(|| pick(&r, "response"))?],
            None => Vec::new(),
        };
        let expires = expiry_after(&self.expires_hours, now)?;
        let area = area_from_form(&self.area_description, &self.polygon, &self.circle)?;
        let area = CapArea { area, geocodes: Vec::new(), altitude: None, ceiling: None };
        let info = |language: &str, headline: String, description: &str, instruction: &str| Info {
            language: language.into(),
            categories: vec![category],
            event: self.event.trim().to_owned(),
            response_types: response_types.clone(),
            urgency,
            severity,
            certainty,
            audience: None,
            event_codes: Vec::new(),
            effective: None,
            onset: None,
            expires: Some(expires),
            sender_name: Some("Tearline early warning".into()),
            headline: Some(headline),
            description: non_empty(description),
            instruction: non_empty(instruction),
            web: None,
            contact: None,
            parameters: Vec::new(),
            areas: vec![area.clone()],
        };
        let mut infos =
            vec![info("en-GB", self.headline.trim().to_owned(), &self.description, &self.instruction)];
        if let Some(headline_ar) = non_empty(&self.headline_ar) {
            infos.push(info("ar", headline_ar, &self.description_ar, &self.instruction_ar));
        }
        Ok(DraftRequest {
            threat_id: self.threat_id.trim().parse().ok(),
            status,
            scope: Scope::Public,
            restriction: None,
            addresses: None,
            note: None,
            incidents: None,
            infos,
        })
    }
}

/// The version's page, saying what was just done to it (`op`, as `said_on_version` words it).
fn to_version(version: &WarningVersion, op: &str) -> Redirect {
    feedback::done(&format!("/warnings/versions/{}", version.id), op, "")
}

async fn draft_warning(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(fields): Form<Fields>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(field(&fields, "csrf"))?;
    let pairs = fields.iter().map(|(name, value)| (name.as_str(), value.as_str()));
    let form =
        DraftForm::deserialize(serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(pairs))
            .map_err(|e| form_error(format!("the form is incomplete: {e}")));
    let drafted = match form.and_then(|form| form.into_request(state.now())) {
        Ok(request) => service::draft_alert(&state, &caller, request).await,
        Err(error) => Err(error),
    };
    match fixable(drafted)? {
        Ok(version) => Ok(to_version(&version, "drafted").into_response()),
        Err((status, message)) => {
            let mut kept = fields.clone();
            kept.insert("op".into(), "draft".into());
            let words = in_form_words(&message);
            let about_expiry = words.to_lowercase().starts_with("expires in");
            let refused = Feedback::refused(&kept, words);
            let refused = if about_expiry { refused.about("expires_hours") } else { refused };
            Ok((status, render(&warnings_view(&state, &caller, refused).await?)).into_response())
        }
    }
}

/// Sorts a form's failure: one the user can fix (a 4xx other than "not found") becomes the
/// message to show on the form's page, answered with the failure's own status so that a
/// refusal still reads as one; anything else becomes an error page.
fn fixable<T>(result: Result<T, ServiceError>) -> Result<Result<T, (StatusCode, String)>, UiError> {
    match result.map_err(ApiError::from) {
        Ok(value) => Ok(Ok(value)),
        Err(error) if error.status.is_client_error() && error.code != ErrorCode::NotFound => {
            Ok(Err((error.status, error.message)))
        }
        Err(error) => Err(error.into()),
    }
}

/// The update form: it shows every language of the issued version, and what comes back is
/// read as edits to that version, so nothing the form does not show is lost.
async fn draft_update(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(warning_id): IdPath,
    Form(form): Form<HashMap<String, String>>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(form.get("csrf").map(String::as_str).unwrap_or_default())?;
    let edits = update_edits(&form, state.now())?;
    let version = service::draft_update_edits(&state, &caller, warning_id, edits).await?;
    Ok(to_version(&version, "drafted").into_response())
}

/// Reads the update form. The first language's fields carry the drafting form's names; every
/// further language `i` carries `language_i`, `event_i`, `headline_i`, `description_i`,
/// `instruction_i` and `area_description_i`. An empty "expires in" keeps each expiry, and an
/// area left as it was shown keeps its shape.
fn update_edits(form: &HashMap<String, String>, now: Timestamp) -> Result<UpdateEdits, ServiceError> {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let pick = |text: &str, what: &str| form_error(format!("{what} {text:?} is not one CAP allows"));
    let choose = |name: &str| non_empty(field(name));
    let category =
        choose("category").map(|c| Category::parse(&c).ok_or_else(|| pick(&c, "category"))).transpose()?;
    let urgency =
        choose("urgency").map(|c| Urgency::parse(&c).ok_or_else(|| pick(&c, "urgency"))).transpose()?;
    let severity =
        choose("severity").map(|c| Severity::parse(&c).ok_or_else(|| pick(&c, "severity"))).transpose()?;
    let certainty =
        choose("certainty").map(|c| Certainty::parse(&c).ok_or_else(|| pick(&c, "certainty"))).transpose()?;
    let expires = match choose("expires_hours") {
        None => None,
        Some(hours) => Some(expiry_after(&hours, now)?),
    };
    let (polygon, circle) = (field("polygon"), field("circle"));
    let shown = (field("shown_polygon"), field("shown_circle"));
    let geometry = if (polygon.trim(), circle.trim()) == (shown.0.trim(), shown.1.trim()) {
        None
    } else {
        let area = area_from_form("", polygon, circle)?;
        Some((area.polygons, area.circles))
    };
    let texts_of = |language: String, suffix: &str| TextEdits {
        language,
        event: Some(field(&format!("event{suffix}")).to_owned()),
        headline: Some(field(&format!("headline{suffix}")).to_owned()),
        description: Some(field(&format!("description{suffix}")).to_owned()),
        instruction: Some(field(&format!("instruction{suffix}")).to_owned()),
        area_description: Some(field(&format!("area_description{suffix}")).to_owned()),
    };
    let mut texts = vec![texts_of(field("language").to_owned(), "")];
    for i in 1..16 {
        let Some(language) = choose(&format!("language_{i}")) else { break };
        texts.push(texts_of(language, &format!("_{i}")));
    }
    if texts.iter().any(|t| t.headline.as_deref().is_none_or(|h| h.trim().is_empty())) {
        return Err(form_error("every language needs its headline"));
    }
    Ok(UpdateEdits { texts, category, urgency, severity, certainty, expires, geometry })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Brute force: the segments of any bar stack without gaps or overlaps, inside the
        /// chart, and the busiest bar fills it.
        #[test]
        fn stacked_bars_stay_inside_the_chart(counts in proptest::array::uniform3(0u32..500), extra in 0u32..500) {
            let peak = counts.iter().sum::<u32>() + extra;
            prop_assume!(peak > 0);
            let segments = stacked(counts, peak);
            let mut below = CHART_BASE;
            for (y, height) in segments {
                prop_assert_eq!(y + height, below);
                prop_assert!(y >= 1);
                below = y;
            }
            if extra == 0 {
                prop_assert_eq!(below, 1);
            }
        }
    }
}

#[derive(Template)]
#[template(path = "warning.html")]
struct VersionPage {
    nav: Option<Nav>,
    csrf: String,
    version: WarningVersion,
    headline: String,
    state: &'static str,
    cap_xml: String,
    areas: String,
    tiles: String,
    history: Vec<WarningRow>,
    may_draft: bool,
    may_approve: bool,
    can_follow_up: bool,
    is_draft: bool,
    /// Submitting this draft passes it to a second officer rather than issuing it.
    needs_second_officer: bool,
    awaiting: bool,
    issued: bool,
    first_info: Option<Info>,
    /// Every further language of the version, numbered as the update form names them.
    other_infos: Vec<(usize, Info)>,
    categories: &'static [Category],
    current_area: Option<AreaPrefill>,
    notice: Option<String>,
    /// Recipients who answered "I need help": name, kind, where, since when.
    help: Vec<(String, &'static str, String, String)>,
    /// The threat the warning comes from, as its officers see it.
    support: Option<SupportLine>,
    /// Issuing was refused because an area lies near the address of a source behind the
    /// warning: the form now asks for the officer's acknowledgement.
    places_flagged: bool,
    /// A sample of the recipients, where they are and how their delivery stands, for the
    /// map: `[[lat, lon, state], …]` (empty before issue).
    recipients: String,
    /// The answers by area over time, one chart per area.
    answer_charts: Vec<AnswerChart>,
    /// How long each bar of the charts spans, in minutes.
    answer_period_minutes: i64,
}

/// Which threat a warning rests on: how many reports, graded, and whether it is under review.
struct SupportLine {
    threat_id: i64,
    title: String,
    gradings: Vec<String>,
    under_review: bool,
}

/// One area's answers over time as bars of a 60-pixel chart, with the totals a screen
/// reader is given.
struct AnswerChart {
    area: String,
    totals: [u32; 3],
    /// x, then (y, height) of received, safe and help stacked from the bottom.
    bars: Vec<(usize, [(u32, u32); 3])>,
    /// The width of a bar and of the whole chart, in pixels: bars are wider when few.
    bar_width: usize,
    width: usize,
}

const CHART_HEIGHT: u32 = 60;
/// The chart's baseline, one pixel above its bottom edge.
const CHART_BASE: u32 = CHART_HEIGHT + 1;

/// The stacked segments of one bar: each segment's top is where the running total reaches,
/// scaled to the busiest bar, so the segments never overlap nor overflow the chart.
fn stacked(counts: [u32; 3], peak: u32) -> [(u32, u32); 3] {
    let mut below = CHART_BASE;
    let mut running = 0;
    counts.map(|n| {
        running += n;
        let top = CHART_BASE.saturating_sub((running * CHART_HEIGHT).div_ceil(peak));
        let segment = (top, below.saturating_sub(top));
        below = top;
        segment
    })
}

fn answer_charts(answers: &chain::AnswersByArea) -> Vec<AnswerChart> {
    let peak = answers
        .areas
        .iter()
        .flat_map(|a| a.periods.iter().map(|p| p.iter().sum::<u32>()))
        .max()
        .unwrap_or(0)
        .max(1);
    answers
        .areas
        .iter()
        .map(|area| {
            let mut totals = [0u32; 3];
            for period in &area.periods {
                for (total, n) in totals.iter_mut().zip(period) {
                    *total += n;
                }
            }
            let step = (240 / area.periods.len().max(1)).clamp(8, 40);
            let bars = area
                .periods
                .iter()
                .enumerate()
                .map(|(i, period)| (i * step, stacked(*period, peak)))
                .collect();
            let width = area.periods.len() * step + 2;
            AnswerChart { area: area.area.clone(), totals, bars, bar_width: step - 2, width }
        })
        .collect()
}

async fn version_view(
    state: &AppState,
    caller: &Caller,
    id: i64,
    notice: Option<String>,
) -> Result<VersionPage, UiError> {
    let version = service::version(state, caller, id).await?;
    let history = service::history(state, caller, version.warning_id).await?;
    let unit_id = version.unit_id;
    let may_draft = authorize(&caller.actor, Action::DraftWarning { unit_id }).is_ok();
    let may_approve = authorize(&caller.actor, Action::ApproveWarning { unit_id }).is_ok()
        && version.drafted_by != caller.user.id;
    let latest = history.last().map(|v| v.id) == Some(version.id);
    let issued = version.state == VersionState::Issued;
    let areas: Vec<(String, Area)> =
        version.alert.areas().into_iter().map(|a| (a.description.clone(), a)).collect();
    let help = if issued { service::help_requests(state, caller, id).await? } else { Vec::new() };
    let answer_charts = match version.issued_at {
        Some(_) => {
            let answers = chain::answers_by_area(state, caller, id).await?;
            (answer_charts(&answers), answers.bucket_millis / 60_000)
        }
        None => (Vec::new(), 0),
    };
    let support = chain::warning_support(state, caller, id).await?.map(|support| SupportLine {
        threat_id: support.threat.id,
        title: support.threat.assessment.title.clone(),
        gradings: support.reports.iter().map(|r| format!("{} {}", r.admiralty, r.tlp.as_str())).collect(),
        under_review: support.under_review(),
    });
    let recipients = if issued {
        let points = service::delivery_map(state, caller, id).await?;
        serde_json::Value::Array(points.iter().map(|(p, shown)| json!([p.lat, p.lon, shown])).collect())
            .to_string()
    } else {
        "[]".to_owned()
    };
    let help = help
        .into_iter()
        .map(|(recipient, at)| {
            let place = format!("{:.5}, {:.5}", recipient.position.lat, recipient.position.lon);
            (recipient.name, recipient.kind.as_str(), place, format_time(at))
        })
        .collect();
    Ok(VersionPage {
        recipients,
        help,
        support,
        places_flagged: false,
        answer_period_minutes: answer_charts.1,
        answer_charts: answer_charts.0,
        nav: Some(Nav::of(caller, Section::Warnings)),
        csrf: caller.csrf_token.clone(),
        headline: tearline_store::headline_of(&version.alert),
        state: version.state.as_str(),
        cap_xml: version.cap_xml.clone().unwrap_or_else(|| version.alert.to_xml()),
        areas: areas_json(&areas),
        tiles: tiles(state),
        history: history.iter().map(WarningRow::from).collect(),
        may_draft,
        may_approve,
        can_follow_up: may_draft && latest && issued && version.alert.msg_type != MsgType::Cancel,
        is_draft: version.state == VersionState::Draft,
        needs_second_officer: version.state == VersionState::Draft
            && service::goes_to_a_second_officer(state, &version).await?,
        awaiting: version.state == VersionState::AwaitingApproval,
        issued,
        first_info: version.alert.infos.first().cloned(),
        other_infos: version.alert.infos.iter().cloned().enumerate().skip(1).collect(),
        categories: Category::ALL,
        current_area: version.alert.areas().first().map(AreaPrefill::of),
        notice,
        version,
    })
}

async fn version_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    done: DoneOp,
) -> Page {
    let caller = signed_in(caller)?;
    let notice = done.0.as_deref().and_then(said_on_version).map(str::to_owned);
    Ok(render(&version_view(&state, &caller, id, notice).await?))
}

/// What a version's page says after each of its forms.
fn said_on_version(op: &str) -> Option<&'static str> {
    Some(match op {
        "drafted" => "Draft saved. Check it on the map and in CAP, then issue it.",
        "issued" => "Issued: it is in the public feed and its deliveries are queued (counted below).",
        "submitted" => {
            "Submitted. A second warning officer must approve this Actual warning before it goes out."
        }
        "discarded" => "The version was discarded.",
        "cancel-drafted" => {
            "Cancellation drafted: issue it to withdraw the warning from everyone it reached."
        }
        _ => return None,
    })
}

/// What issuing this version will do, said before it is done: whom it reaches, in which
/// areas, and that it cannot be called back. `None` when the action sends nothing (a draft
/// passed to a second officer, a discard, a cancellation drafted) or the caller may not act.
async fn issue_confirmation(
    state: &AppState,
    caller: &Caller,
    id: i64,
    action: &str,
) -> Result<Option<Confirmation>, ServiceError> {
    if !matches!(action, "submit" | "approve") {
        return Ok(None);
    }
    let version = service::version(state, caller, id).await?;
    let unit_id = version.unit_id;
    let issues = match action {
        "submit" => {
            version.state == VersionState::Draft
                && authorize(&caller.actor, Action::DraftWarning { unit_id }).is_ok()
                && !service::goes_to_a_second_officer(state, &version).await?
        }
        "approve" => {
            version.state == VersionState::AwaitingApproval
                && authorize(&caller.actor, Action::ApproveWarning { unit_id }).is_ok()
                && version.drafted_by != caller.user.id
        }
        _ => false,
    };
    if !issues {
        return Ok(None);
    }
    let areas = version.alert.areas();
    let reach = service::preview(state, caller, &areas).await?.count;
    let headline = tearline_store::headline_of(&version.alert);
    let places = areas.iter().map(|a| a.description.as_str()).collect::<Vec<_>>().join(", ");
    let what = match version.alert.msg_type {
        MsgType::Cancel => "withdraws the warning",
        MsgType::Update => "updates the warning",
        _ => "issues the warning",
    };
    Ok(Some(Confirmation {
        title: format!("Issue \u{201c}{headline}\u{201d}?"),
        consequences: vec![
            format!(
                "This {what} with status {}: it sends to {reach} recipient{} registered in {places}, and publishes it in the public CAP feed.",
                version.alert.status.as_str(),
                if reach == 1 { "" } else { "s" }
            ),
            "A warning that has gone out cannot be called back; only an update or a cancellation follows it.".into(),
        ],
        verb: format!("Issue and send to {reach} recipient{}", if reach == 1 { "" } else { "s" }),
        note: Note::None,
        danger: false,
    }))
}

async fn version_action(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    Form(fields): Form<Fields>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(field(&fields, "csrf"))?;
    let action = field(&fields, "action");
    if !confirm::confirmed(&fields) {
        if let Some(confirmation) = issue_confirmation(&state, &caller, id, action).await? {
            let page = format!("/warnings/versions/{id}");
            let nav = Nav::of(&caller, Section::Warnings);
            return Ok(confirm::ask(nav, &format!("{page}/action"), &page, &fields, confirmation));
        }
    }
    let acknowledged = service::Acknowledged { places: field(&fields, "acknowledge_places") == "on" };
    let version = || async { service::version(&state, &caller, id).await };
    let done = match action {
        "submit" => service::submit(&state, &caller, id, acknowledged).await.map(done_op),
        "approve" => service::approve(&state, &caller, id, acknowledged).await.map(done_op),
        "discard" => service::discard(&state, &caller, id).await.map(|()| "discarded"),
        "cancel" => {
            let cancel = service::draft_cancel(&state, &caller, version().await?.warning_id).await?;
            return Ok(to_version(&cancel, "cancel-drafted").into_response());
        }
        _ => Err(form_error("unknown action")),
    };
    let places_flagged =
        matches!(&done, Err(ServiceError::Refused { code: ErrorCode::PlacesUnacknowledged, .. }));
    match fixable(done)? {
        Ok(op) => Ok(to_version(&version().await?, op).into_response()),
        Err((status, refused)) => {
            let mut page = version_view(&state, &caller, id, Some(refused)).await?;
            page.places_flagged = places_flagged;
            Ok((status, render(&page)).into_response())
        }
    }
}

fn done_op(submitted: Submitted) -> &'static str {
    match submitted {
        Submitted::Issued { .. } => "issued",
        Submitted::AwaitingApproval => "submitted",
    }
}

#[derive(Deserialize)]
struct PartnerAlertForm {
    csrf: String,
    cap_xml: String,
}

async fn upload_partner_alert(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<PartnerAlertForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    let uploaded = partners::upload(&state, &caller, &form.cap_xml).await;
    let kept = [("cap_xml", form.cap_xml.as_str())];
    back_to_warnings(&state, &caller, uploaded, "partner-alert", &kept).await
}

/// The warnings page after one of its partner forms (`op`): reached again saying what was
/// done, or shown with the refusal and what was typed (`kept`) when the officer can fix it.
async fn back_to_warnings<T>(
    state: &AppState,
    caller: &Caller,
    outcome: Result<T, ServiceError>,
    op: &str,
    kept: &[(&str, &str)],
) -> Page {
    match fixable(outcome)? {
        Ok(_) => Ok(feedback::done("/warnings", op, "partners").into_response()),
        Err((status, message)) => {
            let mut fields: Fields = kept.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            fields.insert("op".into(), op.into());
            let page = warnings_view(state, caller, Feedback::refused(&fields, message)).await?;
            Ok((status, render(&page)).into_response())
        }
    }
}

#[derive(Deserialize)]
struct FeedForm {
    csrf: String,
    url: String,
}

async fn add_partner_feed(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<FeedForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    let added = partners::add_feed(&state, &caller, &form.url).await;
    back_to_warnings(&state, &caller, added, "partner-feed", &[("url", form.url.as_str())]).await
}

async fn remove_partner_feed(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    crate::api::IdPath(id): crate::api::IdPath,
    Form(form): Form<crate::ui::CsrfForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    partners::remove_feed(&state, &caller, id).await?;
    Ok(feedback::done("/warnings", "partner-feed-removed", "partners").into_response())
}

#[derive(Deserialize)]
struct PauseForm {
    csrf: String,
    paused: bool,
}

async fn pause_partner_feed(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    crate::api::IdPath(id): crate::api::IdPath,
    Form(form): Form<PauseForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    partners::set_feed_paused(&state, &caller, id, form.paused).await?;
    Ok(feedback::done("/warnings", "partner-feed-paused", "partners").into_response())
}

/// A registered partner key as the warnings page lists it.
struct KeyRow {
    id: i64,
    sender: String,
    label: String,
    fingerprint: String,
    added_at: String,
}

#[derive(Deserialize)]
struct KeyForm {
    csrf: String,
    #[serde(flatten)]
    key: super::api::KeyRequest,
}

async fn add_partner_key(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<KeyForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    let key = &form.key;
    let added = partners::add_key(&state, &caller, &key.sender, &key.label, &key.public_key).await;
    let kept = [
        ("sender", key.sender.as_str()),
        ("label", key.label.as_str()),
        ("public_key", key.public_key.as_str()),
    ];
    back_to_warnings(&state, &caller, added, "partner-key", &kept).await
}

async fn remove_partner_key(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    crate::api::IdPath(id): crate::api::IdPath,
    Form(form): Form<crate::ui::CsrfForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    partners::remove_key(&state, &caller, id).await?;
    Ok(feedback::done("/warnings", "partner-key-removed", "partners").into_response())
}

/// A polled feed as the warnings page lists it: whether it is paused, and why it fails.
struct FeedRow {
    id: i64,
    url: String,
    paused: bool,
    state: String,
}

impl From<&PartnerFeed> for FeedRow {
    fn from(feed: &PartnerFeed) -> FeedRow {
        let state = match (&feed.last_error, feed.paused) {
            (_, true) => "paused".to_owned(),
            (Some(error), false) => format!(
                "failing ({} polls in a row): {error}; next attempt {}",
                feed.failures,
                feed.next_poll_at.map_or_else(|| "at the next round".to_owned(), crate::ui::format_time)
            ),
            (None, false) => match feed.last_polled_at {
                Some(at) => format!("polled {}", crate::ui::format_time(at)),
                None => "not polled yet".to_owned(),
            },
        };
        FeedRow { id: feed.id, url: feed.url.clone(), paused: feed.paused, state }
    }
}

struct ThreatRow {
    id: i64,
    title: String,
    threat_type: String,
    status: &'static str,
    window: String,
    likelihood: String,
    impact: String,
}

impl From<&Threat> for ThreatRow {
    fn from(t: &Threat) -> ThreatRow {
        let a = &t.assessment;
        ThreatRow {
            id: t.id,
            title: a.title.clone(),
            threat_type: a.threat_type.clone(),
            status: a.status.as_str(),
            window: format!("{} to {}", format_time(a.window_start), format_time(a.window_end)),
            likelihood: wire_name(&a.likelihood),
            impact: wire_name(&a.impact),
        }
    }
}

fn from_wire_name<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

/// An enum value as its wire spelling, for display.
fn wire_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "threats.html")]
struct ThreatsPage {
    nav: Option<Nav>,
    csrf: String,
    rows: Vec<ThreatRow>,
    areas: String,
    tiles: String,
    may_assess: bool,
    current_area: Option<AreaPrefill>,
    error: Option<String>,
    /// What the assessment form did, after it redirected here.
    done: Option<&'static str>,
}

async fn threats_view(
    state: &AppState,
    caller: &Caller,
    error: Option<String>,
) -> Result<ThreatsPage, UiError> {
    let threats = service::threats(state, caller).await?;
    let areas: Vec<(String, Area)> = threats
        .iter()
        .map(|t| (format!("Threat: {}", t.assessment.title), t.assessment.area.clone()))
        .collect();
    Ok(ThreatsPage {
        nav: Some(Nav::of(caller, Section::Threats)),
        csrf: caller.csrf_token.clone(),
        rows: threats.iter().map(ThreatRow::from).collect(),
        areas: areas_json(&areas),
        tiles: tiles(state),
        may_assess: authorize(&caller.actor, Action::AssessThreat { unit_id: caller.actor.unit_id }).is_ok(),
        current_area: None,
        error,
        done: None,
    })
}

async fn threats_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    done: DoneOp,
) -> Page {
    let caller = signed_in(caller)?;
    let mut page = threats_view(&state, &caller, None).await?;
    page.done = done
        .0
        .filter(|op| op == "assessed")
        .map(|_| "Threat assessment recorded: it is on the map and in the list.");
    Ok(render(&page))
}

#[derive(Deserialize)]
struct ThreatForm {
    csrf: String,
    title: String,
    #[serde(default)]
    description: String,
    threat_type: String,
    likelihood: String,
    impact: String,
    window_hours: String,
    area_description: String,
    #[serde(default)]
    polygon: String,
    #[serde(default)]
    circle: String,
}

impl ThreatForm {
    fn into_assessment(self, now: Timestamp) -> Result<ThreatAssessment, ServiceError> {
        let likelihood: Likelihood =
            from_wire_name(&self.likelihood).ok_or_else(|| form_error("pick a likelihood"))?;
        let impact: Impact = from_wire_name(&self.impact).ok_or_else(|| form_error("pick an impact"))?;
        let hours: i64 = self
            .window_hours
            .trim()
            .parse()
            .ok()
            .filter(|h| (1..=24 * 90).contains(h))
            .ok_or_else(|| form_error("the window must be 1 to 2160 hours"))?;
        let area = area_from_form(&self.area_description, &self.polygon, &self.circle)?;
        Ok(ThreatAssessment {
            title: self.title.trim().to_owned(),
            description: self.description.trim().to_owned(),
            threat_type: self.threat_type.trim().to_owned(),
            area,
            window_start: now,
            window_end: now.plus_millis(hours * 3_600_000),
            likelihood,
            impact,
            status: ThreatStatus::Active,
        })
    }
}

async fn create_threat(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<ThreatForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    let created = match form.into_assessment(state.now()) {
        Ok(assessment) => service::create_threat(&state, &caller, &assessment).await,
        Err(error) => Err(error),
    };
    match fixable(created)? {
        Ok(_) => Ok(feedback::done("/threats", "assessed", "").into_response()),
        Err((status, message)) => {
            Ok((status, render(&threats_view(&state, &caller, Some(message)).await?)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "recipients.html")]
struct RecipientsPage {
    nav: Option<Nav>,
    csrf: String,
    total: i64,
    rows: Vec<tearline_store::Recipient>,
}

async fn recipients_page(State(state): State<AppState>, caller: Result<Session, ApiError>) -> Page {
    let caller = signed_in(caller)?;
    let (rows, total) = service::recipients(&state, &caller, 0, 50).await?;
    Ok(render(&RecipientsPage {
        nav: Some(Nav::of(&caller, Section::Recipients)),
        csrf: caller.csrf_token.clone(),
        total,
        rows,
    }))
}
