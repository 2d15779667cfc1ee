//! The chain from intelligence to an evacuated area, as the people on it see it: a threat
//! rests on released reports (analysts cite them); a correction or withdrawal of one puts the
//! threat and its live warnings under review; one timeline shows report → threat → warnings
//! → deliveries → answers; a closed threat's outcome judges each report, which builds the
//! track record of the pseudonymous reference behind it.
//!
//! Warning officers see how many reports a threat rests on with their grading and TLP, never
//! a title or a source reference: what a report says is for those who read intelligence.

use serde::{Deserialize, Serialize};
use tearline_domain::policy::{authorize, Action};
use tearline_domain::source::SourceRecord;
use tearline_domain::{Timestamp, UnitId};
use tearline_intel::grading::Tlp;
use tearline_intel::track::Accuracy;
use tearline_kernel::Lookup;
use tearline_store::{
    DeliveryCounts, IntelReport, RecordedOutcome, ReportState, ReviewCause, Threat, ThreatLink, ThreatReview,
    VersionState, WarningVersion,
};
use tearline_warn::cap::{Alert, MsgType};
use tearline_warn::delivery::AckStatus;
use tearline_warn::threat::{ThreatAssessment, ThreatOutcome};

use super::service::{assess_threats, in_unit, load_version, lookup, read, read_threats, read_warnings};
use crate::auth::Caller;
use crate::error::{ErrorCode, ServiceError};
use crate::guard;
use crate::state::AppState;

fn object(threat: i64) -> String {
    format!("threat:{threat}")
}

/// A report a threat rests on, as every reader of threats may see it.
#[derive(Debug, Clone, Serialize)]
pub struct SupportingReport {
    pub report_id: i64,
    pub admiralty: String,
    pub tlp: Tlp,
    pub released_at: Option<Timestamp>,
    /// A released correction of it, if any.
    pub corrected_by: Option<i64>,
    pub withdrawn: bool,
    /// How it proved, once the threat's outcome is recorded.
    pub accuracy: Option<Accuracy>,
    /// What it says: only for those who read intelligence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<ReportDetail>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportDetail {
    pub title: String,
    /// The pseudonymous reference, never a code name.
    pub source_reference: Option<String>,
}

/// A threat with what it rests on and whether it is under review.
#[derive(Debug, Serialize)]
pub struct Support {
    pub threat: Threat,
    pub reports: Vec<SupportingReport>,
    pub reviews: Vec<ThreatReview>,
}

impl Support {
    /// Under review while a correction or withdrawal of a supporting report is not cleared.
    pub fn under_review(&self) -> bool {
        self.reviews.iter().any(ThreatReview::is_open)
    }
}

/// A threat and what it rests on, for those who may read the unit's threats (audited as a
/// read of the threat).
pub async fn support(state: &AppState, caller: &Caller, threat: i64) -> Result<Support, ServiceError> {
    let threat = super::service::threat(state, caller, threat).await?;
    support_of(state, caller, threat).await
}

async fn support_of(state: &AppState, caller: &Caller, threat: Threat) -> Result<Support, ServiceError> {
    let reads_intelligence =
        authorize(&caller.actor, Action::ReadIntelligence { unit_id: threat.unit_id }).is_ok();
    let mut reports = Vec::new();
    for link in state.store.threat_links(threat.id).await? {
        let Some(report) = state.store.intel_report(link.report_id).await? else { continue };
        reports.push(supporting(state, &link, report, reads_intelligence).await?);
    }
    let reviews = state.store.threat_reviews(threat.id).await?;
    Ok(Support { threat, reports, reviews })
}

async fn supporting(
    state: &AppState,
    link: &ThreatLink,
    report: IntelReport,
    reads_intelligence: bool,
) -> Result<SupportingReport, ServiceError> {
    Ok(SupportingReport {
        report_id: report.id,
        admiralty: report.grading.admiralty.to_string(),
        tlp: report.grading.tlp,
        released_at: report.released_at,
        corrected_by: state.store.correction_of(report.id).await?,
        withdrawn: state.store.withdrawal(report.id).await?.is_some(),
        accuracy: link.accuracy,
        detail: reads_intelligence
            .then_some(ReportDetail { title: report.title, source_reference: report.source_reference }),
    })
}

/// The sources behind the reports a threat cites: whose identity, code name and reference
/// its texts and its warnings must not carry.
pub(crate) async fn sources_behind(state: &AppState, threat: i64) -> Result<Vec<SourceRecord>, ServiceError> {
    let mut sources: Vec<SourceRecord> = Vec::new();
    for link in state.store.threat_links(threat).await? {
        let Some(report) = state.store.intel_report(link.report_id).await? else { continue };
        if let Some(source) = crate::intel::source_of(state, &report).await? {
            if !sources.iter().any(|s| s.id == source.id) {
                sources.push(source);
            }
        }
    }
    Ok(sources)
}

/// The texts of a threat assessment, as the leak guard reads them.
pub(crate) fn threat_texts(assessment: &ThreatAssessment) -> [(&'static str, &str); 4] {
    [
        ("title", &assessment.title),
        ("description", &assessment.description),
        ("threat_type", &assessment.threat_type),
        ("area.description", &assessment.area.description),
    ]
}

/// The texts of an alert the public reads, by CAP path, as the leak guard reads them.
pub(crate) fn alert_texts(alert: &Alert) -> Vec<(String, &str)> {
    let mut texts: Vec<(String, &str)> = [
        ("note", alert.note.as_deref()),
        ("addresses", alert.addresses.as_deref()),
        ("restriction", alert.restriction.as_deref()),
        ("incidents", alert.incidents.as_deref()),
    ]
    .into_iter()
    .filter_map(|(field, text)| Some((field.to_owned(), text?)))
    .collect();
    for (i, info) in alert.infos.iter().enumerate() {
        let at = |field: &str| format!("info[{}].{field}", i + 1);
        texts.push((at("event"), &info.event));
        for (field, text) in [
            ("headline", &info.headline),
            ("description", &info.description),
            ("instruction", &info.instruction),
            ("senderName", &info.sender_name),
            ("audience", &info.audience),
            ("web", &info.web),
            ("contact", &info.contact),
        ] {
            if let Some(text) = text {
                texts.push((at(field), text));
            }
        }
        for parameter in &info.parameters {
            texts.push((at("parameter"), &parameter.value));
        }
        for area in &info.areas {
            texts.push((at("area.areaDesc"), &area.area.description));
        }
    }
    texts
}

/// The sources behind the threat an alert is drafted from, if any (`sources_behind`).
pub(crate) async fn sources_behind_alert(
    state: &AppState,
    threat: Option<i64>,
) -> Result<Vec<SourceRecord>, ServiceError> {
    match threat {
        Some(threat) => sources_behind(state, threat).await,
        None => Ok(Vec::new()),
    }
}

/// Refuses an alert whose text names one of `sources`, those behind the threat it is drafted
/// from (422 `identity_leak`), before it is stored or issued.
pub(crate) async fn guard_alert(
    state: &AppState,
    caller: &Caller,
    sources: &[SourceRecord],
    alert: &Alert,
    action: &str,
    object: &str,
) -> Result<(), ServiceError> {
    if sources.is_empty() {
        return Ok(());
    }
    let texts = alert_texts(alert);
    let fields: Vec<(&str, &str)> = texts.iter().map(|(f, t)| (f.as_str(), *t)).collect();
    guard::refuse_below_the_line(state, caller, sources, action, object, &fields).await
}

/// The areas of an alert that lie over or near an address of one of `sources` (within
/// `place_flag_metres`), by CAP path; never which address or whose. Each source's identity
/// is opened inside the vault after the check is audited.
pub(crate) async fn areas_near_sources(
    state: &AppState,
    caller: &Caller,
    sources: &[SourceRecord],
    alert: &Alert,
    object: &str,
) -> Result<Vec<String>, ServiceError> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let metres = state.settings.place_flag_metres;
    let mut paths = Vec::new();
    let mut areas = Vec::new();
    for (i, info) in alert.infos.iter().enumerate() {
        for (j, area) in info.areas.iter().enumerate() {
            paths.push(format!("info[{}].area[{}]", i + 1, j + 1));
            areas.push(&area.area);
        }
    }
    let tests: Vec<Box<dyn Fn(f64, f64) -> bool + Send + Sync + '_>> = areas
        .iter()
        .map(|area| {
            Box::new(move |lat, lon| area.within_m(tearline_warn::geo::LatLon { lat, lon }, metres)) as Box<_>
        })
        .collect();
    let places: Vec<tearline_vault::leak::PlaceTest<'_>> = paths
        .iter()
        .zip(&tests)
        .map(|(path, test)| (path.as_str(), test.as_ref() as &(dyn Fn(f64, f64) -> bool + Sync)))
        .collect();
    guard::places_near(state, caller, sources, "leak-check", object, &places).await
}

/// The threat, for those `action` allows on its unit.
async fn threat_for(
    state: &AppState,
    caller: &Caller,
    threat: i64,
    action: fn(UnitId) -> Action,
    audit_action: &str,
) -> Result<Threat, ServiceError> {
    let object = object(threat);
    let found = state.store.threat(threat).await?;
    in_unit(state, caller, lookup("threat", audit_action, &object), found, action).await
}

/// A released report of the threat's unit the caller may read; any other answers like a
/// missing one.
async fn citable_report(
    state: &AppState,
    caller: &Caller,
    report: i64,
    audit_action: &str,
) -> Result<IntelReport, ServiceError> {
    let found =
        state.store.intel_report(report).await?.filter(|r| r.state == ReportState::Released).map(|r| {
            let asked = Action::ReadIntelligence { unit_id: r.unit_id };
            (r, asked)
        });
    let lookup = Lookup { kind: "report", audit_action, object: &format!("intel:{report}") };
    Ok(state.kernel.scoped(&caller.actor, lookup, found).await?)
}

/// An analyst cites a released report of the unit as support for a threat; citing it again
/// changes nothing.
pub async fn cite(
    state: &AppState,
    caller: &Caller,
    threat: i64,
    report: i64,
) -> Result<Support, ServiceError> {
    let threat = threat_for(state, caller, threat, assess_threats, "threat.cite").await?;
    let report = citable_report(state, caller, report, "threat.cite").await?;
    if report.unit_id != threat.unit_id {
        return Err(ServiceError::not_found("report"));
    }
    // Once cited, the report's source stands behind the threat: its text must not name it.
    if let Some(source) = crate::intel::source_of(state, &report).await? {
        let texts = threat_texts(&threat.assessment);
        guard::refuse_below_the_line(state, caller, &[source], "threat.cite", &object(threat.id), &texts)
            .await?;
    }
    state
        .change(caller, "threat.cite", &object(threat.id), None)
        .link_report(threat.id, report.id, caller.user.id, state.now())
        .await?;
    support_of(state, caller, threat).await
}

/// Removes a citation (cited by mistake).
pub async fn uncite(
    state: &AppState,
    caller: &Caller,
    threat: i64,
    report: i64,
) -> Result<Support, ServiceError> {
    let threat = threat_for(state, caller, threat, assess_threats, "threat.uncite").await?;
    let removed = state
        .change(caller, "threat.uncite", &object(threat.id), None)
        .unlink_report(threat.id, report)
        .await?;
    if !removed {
        return Err(ServiceError::not_found("citation"));
    }
    support_of(state, caller, threat).await
}

#[derive(Debug, Deserialize)]
pub struct ClearRequest {
    /// What the analyst concluded: the threat stands, was revised, or was closed.
    pub note: String,
}

/// An analyst clears a review once the threat (and its warnings) have been looked at again.
/// A review of another unit's threat answers like a missing one.
pub async fn clear_review(
    state: &AppState,
    caller: &Caller,
    review: i64,
    request: ClearRequest,
) -> Result<Support, ServiceError> {
    let review_object = format!("threat-review:{review}");
    let found = match state.store.threat_review(review).await? {
        Some(review) => state.store.threat(review.threat_id).await?,
        None => None,
    };
    let threat = in_unit(
        state,
        caller,
        lookup("threat review", "threat.clear-review", &review_object),
        found,
        assess_threats,
    )
    .await?;
    let note = bounded_text("note", &request.note, 1, 2_000)?;
    let sources = sources_behind(state, threat.id).await?;
    guard::refuse_below_the_line(
        state,
        caller,
        &sources,
        "threat.clear-review",
        &object(threat.id),
        &[("note", &note)],
    )
    .await?;
    state
        .change(caller, "threat.clear-review", &object(threat.id), None)
        .clear_review(threat.id, review, caller.user.id, state.now(), &note)
        .await?;
    support_of(state, caller, threat).await
}

fn bounded_text(field: &str, value: &str, min: usize, max: usize) -> Result<String, ServiceError> {
    let value = value.trim();
    let length = value.chars().count();
    if length < min || length > max {
        return Err(ServiceError::refused(
            ErrorCode::InvalidField,
            format!("{field} must be {min} to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

#[derive(Debug, Deserialize)]
pub struct OutcomeRequest {
    pub outcome: ThreatOutcome,
    #[serde(default)]
    pub note: String,
    /// How each cited report proved; reports left out keep their earlier judgement.
    #[serde(default)]
    pub reports: Vec<Judgement>,
}

#[derive(Debug, Deserialize)]
pub struct Judgement {
    pub report_id: i64,
    pub accuracy: Accuracy,
}

/// Records what became of a threat once its window has opened, and how each cited report
/// proved: the track records of the references behind them learn from it.
pub async fn record_outcome(
    state: &AppState,
    caller: &Caller,
    threat: i64,
    request: OutcomeRequest,
) -> Result<Support, ServiceError> {
    let threat = threat_for(state, caller, threat, assess_threats, "threat.outcome").await?;
    let now = state.now();
    if now < threat.assessment.window_start {
        return Err(ServiceError::refused(
            ErrorCode::InvalidDate,
            "an outcome is recorded once the threat's window has opened",
        ));
    }
    let note = bounded_text("note", &request.note, 0, 2_000)?;
    let sources = sources_behind(state, threat.id).await?;
    guard::refuse_below_the_line(
        state,
        caller,
        &sources,
        "threat.outcome",
        &object(threat.id),
        &[("note", &note)],
    )
    .await?;
    let cited = state.store.threat_links(threat.id).await?;
    let mut judgements = Vec::with_capacity(request.reports.len());
    for judgement in &request.reports {
        if !cited.iter().any(|link| link.report_id == judgement.report_id) {
            return Err(ServiceError::refused(
                ErrorCode::InvalidField,
                format!("reports: report {} is not cited by this threat", judgement.report_id),
            ));
        }
        judgements.push((judgement.report_id, judgement.accuracy));
    }
    let outcome =
        RecordedOutcome { outcome: request.outcome, note, recorded_by: caller.user.id, recorded_at: now };
    state
        .change(caller, "threat.outcome", &object(threat.id), None)
        .record_outcome(threat.id, &outcome, &judgements)
        .await?;
    let threat = state.store.threat(threat.id).await?.ok_or_else(|| ServiceError::not_found("threat"))?;
    support_of(state, caller, threat).await
}

/// What waits for an analyst or a warning officer about the unit's threats.
#[derive(Debug, Default, Serialize)]
pub struct ThreatWork {
    /// Threats whose window closed with no outcome recorded (analysts).
    pub outcomes_due: Vec<Threat>,
    /// Open reviews, each with its threat's title.
    pub reviews: Vec<(ThreatReview, String)>,
}

/// The unit's threat work for the caller: nothing for those who may not read threats.
pub async fn work(state: &AppState, caller: &Caller) -> Result<ThreatWork, ServiceError> {
    let unit_id = caller.actor.unit_id;
    if authorize(&caller.actor, read_threats(unit_id)).is_err() {
        return Ok(ThreatWork::default());
    }
    let threats = state.store.threats_in_unit(unit_id).await?;
    let now = state.now();
    let outcomes_due = if authorize(&caller.actor, assess_threats(unit_id)).is_ok() {
        threats.iter().filter(|t| t.outcome.is_none() && t.assessment.window_end <= now).cloned().collect()
    } else {
        Vec::new()
    };
    let reviews = state
        .store
        .open_reviews_in_unit(unit_id)
        .await?
        .into_iter()
        .map(|review| {
            let title = threats
                .iter()
                .find(|t| t.id == review.threat_id)
                .map(|t| t.assessment.title.clone())
                .unwrap_or_default();
            (review, title)
        })
        .collect();
    read(state, caller, "threat.list", &format!("unit:{}", unit_id.0)).await?;
    Ok(ThreatWork { outcomes_due, reviews })
}

/// One step of a threat's timeline.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    ReportReleased {
        report_id: i64,
        admiralty: String,
        tlp: Tlp,
    },
    ReportCorrected {
        report_id: i64,
    },
    ReportWithdrawn {
        report_id: i64,
    },
    ThreatAssessed,
    WarningIssued {
        warning_id: i64,
        version_id: i64,
        msg_type: MsgType,
        headline: String,
        targeted: i64,
    },
    DeliveriesBegan {
        version_id: i64,
    },
    /// The latest delivery so far, with the counts by state and answer.
    DeliveriesReached {
        version_id: i64,
        counts: DeliveryCounts,
    },
    Answered {
        version_id: i64,
        status: AckStatus,
        count: i64,
    },
    OutcomeRecorded {
        outcome: ThreatOutcome,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: Timestamp,
    #[serde(flatten)]
    pub step: Step,
}

#[derive(Debug, Serialize)]
pub struct Timeline {
    pub support: Support,
    /// The warnings drafted from the threat, every version.
    pub warnings: Vec<WarningRef>,
    /// In time order.
    pub events: Vec<Event>,
}

#[derive(Debug, Serialize)]
pub struct WarningRef {
    pub warning_id: i64,
    pub version_id: i64,
    pub version: i64,
    pub state: VersionState,
    pub headline: String,
    /// Issued, not superseded, not a Cancel and not expired: it still tells people to act.
    pub live: bool,
}

fn is_live(version: &WarningVersion, now: Timestamp) -> bool {
    version.state == VersionState::Issued
        && version.alert.msg_type != MsgType::Cancel
        && version.alert.infos.iter().filter_map(|i| i.expires.as_ref()).any(|e| e.millis > now.0)
}

/// Report → threat → warnings → deliveries → answers → outcome, in time order, for those
/// who may read the threat (and, for the warnings' part, the unit's warnings).
pub async fn timeline(state: &AppState, caller: &Caller, threat: i64) -> Result<Timeline, ServiceError> {
    let support = support(state, caller, threat).await?;
    let threat = &support.threat;
    let now = state.now();
    let mut events = Vec::new();
    for report in &support.reports {
        if let Some(at) = report.released_at {
            events.push(Event {
                at,
                step: Step::ReportReleased {
                    report_id: report.report_id,
                    admiralty: report.admiralty.clone(),
                    tlp: report.tlp,
                },
            });
        }
    }
    for review in &support.reviews {
        let step = match review.cause {
            ReviewCause::Corrected => Step::ReportCorrected { report_id: review.report_id },
            ReviewCause::Withdrawn => Step::ReportWithdrawn { report_id: review.report_id },
        };
        events.push(Event { at: review.raised_at, step });
    }
    events.push(Event { at: threat.created_at, step: Step::ThreatAssessed });
    let mut warnings = Vec::new();
    if authorize(&caller.actor, read_warnings(threat.unit_id)).is_ok() {
        for version in state.store.versions_of_threat(threat.id).await? {
            warnings.push(WarningRef {
                warning_id: version.warning_id,
                version_id: version.id,
                version: version.version,
                state: version.state,
                headline: headline(&version),
                live: is_live(&version, now),
            });
            version_events(state, &version, &mut events).await?;
        }
    }
    if let Some(outcome) = &threat.outcome {
        events.push(Event {
            at: outcome.recorded_at,
            step: Step::OutcomeRecorded { outcome: outcome.outcome },
        });
    }
    events.sort_by_key(|e| e.at);
    Ok(Timeline { support, warnings, events })
}

fn headline(version: &WarningVersion) -> String {
    version.alert.infos.first().and_then(|i| i.headline.clone()).unwrap_or_default()
}

async fn version_events(
    state: &AppState,
    version: &WarningVersion,
    events: &mut Vec<Event>,
) -> Result<(), ServiceError> {
    let Some(issued_at) = version.issued_at else { return Ok(()) };
    events.push(Event {
        at: issued_at,
        step: Step::WarningIssued {
            warning_id: version.warning_id,
            version_id: version.id,
            msg_type: version.alert.msg_type,
            headline: headline(version),
            targeted: version.target_count.unwrap_or(0),
        },
    });
    if let Some((first, last)) = state.store.delivery_span(version.id).await? {
        events.push(Event { at: first, step: Step::DeliveriesBegan { version_id: version.id } });
        let counts = state.store.delivery_counts(version.id).await?;
        events.push(Event { at: last, step: Step::DeliveriesReached { version_id: version.id, counts } });
    }
    for (status, count, latest) in state.store.answer_totals(version.id).await? {
        events.push(Event { at: latest, step: Step::Answered { version_id: version.id, status, count } });
    }
    Ok(())
}

/// Which threat a warning comes from, as its officers see it: the reports it rests on (grading
/// and TLP only) and whether it is under review.
pub async fn warning_support(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
) -> Result<Option<Support>, ServiceError> {
    let version = load_version(state, caller, version_id, read_warnings, "warning.read").await?;
    let Some(threat) = version.threat_id else { return Ok(None) };
    let Some(threat) = state.store.threat(threat).await? else { return Ok(None) };
    if authorize(&caller.actor, read_threats(threat.unit_id)).is_err() {
        return Ok(None);
    }
    Ok(Some(support_of(state, caller, threat).await?))
}

/// The answers to a warning version by area over time: for each of its areas (of the first
/// `info`), how many answered each way in each period since it was issued. A recipient
/// inside several areas counts in the first.
#[derive(Debug, Serialize)]
pub struct AnswersByArea {
    pub bucket_millis: i64,
    /// The start of the first period: when the version was issued.
    pub from: Option<Timestamp>,
    pub areas: Vec<AreaAnswers>,
}

#[derive(Debug, Serialize)]
pub struct AreaAnswers {
    pub area: String,
    /// One per period, in order: [received, safe, help].
    pub periods: Vec<[u32; 3]>,
}

/// Periods of a quarter of an hour, or longer so that at most 48 are shown.
const MIN_BUCKET: i64 = 15 * 60_000;
const MAX_PERIODS: i64 = 48;

pub async fn answers_by_area(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
) -> Result<AnswersByArea, ServiceError> {
    let version = load_version(state, caller, version_id, read_warnings, "warning.read").await?;
    read(state, caller, "warning.answers", &format!("warning-version:{version_id}")).await?;
    let answers = state.store.answers(version_id).await?;
    let areas: Vec<&tearline_warn::cap::CapArea> =
        version.alert.infos.first().map(|i| i.areas.iter().collect()).unwrap_or_default();
    let Some(from) = version.issued_at else {
        return Ok(AnswersByArea { bucket_millis: MIN_BUCKET, from: None, areas: Vec::new() });
    };
    let last = answers.last().map_or(from.0, |a| a.at.0.max(from.0));
    let span = last - from.0 + 1;
    // Whole quarters of an hour, enough of them that the periods number at most MAX_PERIODS.
    let quarters = (span + MIN_BUCKET * MAX_PERIODS - 1) / (MIN_BUCKET * MAX_PERIODS);
    let bucket_millis = quarters.max(1) * MIN_BUCKET;
    let periods = usize::try_from((span + bucket_millis - 1) / bucket_millis).unwrap_or(1).max(1);
    let mut names: Vec<String> = areas.iter().map(|a| a.area.description.clone()).collect();
    names.push("Outside the areas".into());
    let mut counts = vec![vec![[0u32; 3]; periods]; names.len()];
    for answer in &answers {
        let area = areas.iter().position(|a| a.area.contains(answer.position)).unwrap_or(areas.len());
        let period =
            usize::try_from((answer.at.0 - from.0).max(0) / bucket_millis).unwrap_or(0).min(periods - 1);
        let column = AckStatus::ALL.iter().position(|s| *s == answer.status).unwrap_or(0);
        counts[area][period][column] += 1;
    }
    let areas = names
        .into_iter()
        .zip(counts)
        .filter(|(name, periods)| name != "Outside the areas" || periods.iter().flatten().any(|&n| n > 0))
        .map(|(area, periods)| AreaAnswers { area, periods })
        .collect();
    Ok(AnswersByArea { bucket_millis, from: Some(from), areas })
}
