//! Intelligence below the tearline as a service: contact reports (handler, above the line),
//! intelligence reports drafted from them, the leak guard on submission, release by the
//! controller, search, entities and the link chart, disseminations, STIX sharing. The JSON
//! API and the pages call these operations.
//!
//! What an analyst receives is built only from released reports and carries the
//! pseudonymous reference at most: never a code name, a contact report or an identity.

use serde::{Deserialize, Serialize};
use tearline_domain::audit::Outcome;
use tearline_domain::policy::{authorize, Action, SourceScope};
use tearline_domain::source::SourceRecord;
use tearline_domain::{SourceId, Timestamp, UnitId};
use tearline_intel::entities::{self, Entity, EntityKind, Mention};
use tearline_intel::grading::{
    to_3x5x2, Admiralty, Credibility, HandlingCode, IntelligenceAssessment, Reliability, SourceEvaluation,
    Tlp,
};
use tearline_intel::track::TrackRecord;
use tearline_intel::{phrasing, stix};
use tearline_kernel::{Lookup, Recorded};
use tearline_lifecycle::above_line::ContactReportText;
use tearline_search::{BoundingBox, IndexedReport, SearchQuery};
use tearline_store::{
    ContactReport, Dissemination, Grading, IntelReport, LeakFinding, NewContactReport, Origin, PartnerImport,
    ReportContent, ReportPlace, ReportState,
};

use crate::above_line;
use crate::audit::record;
use crate::auth::Caller;
use crate::error::{required_text as text, ErrorCode, ServiceError};
use crate::guard::{self, Readers};
use crate::sources::{self, scope};
use crate::state::AppState;

fn invalid(code: ErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError::refused(code, message)
}

fn object(report: i64) -> String {
    format!("intel:{report}")
}

#[derive(Debug, Deserialize)]
pub struct ContactReportRequest {
    #[serde(default)]
    pub met_at: Option<Timestamp>,
    pub place: String,
    pub present: String,
    pub method: String,
    pub account: String,
    #[serde(default)]
    pub tasks_given: String,
    #[serde(default)]
    pub welfare: String,
    /// The source's situation, or that of the family member their help turns on, changed: a
    /// welfare check and a risk review fall due.
    #[serde(default)]
    pub situation_changed: bool,
}

/// Writes a contact report: the full account of a meeting, above the line.
pub async fn write_contact_report(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    request: ContactReportRequest,
) -> Result<ContactReport<ContactReportText>, ServiceError> {
    let source =
        sources::load_for(state, caller, source, Action::WriteContactReport, "contact-report.write").await?;
    let now = state.now();
    let met_at = request.met_at.unwrap_or(now);
    if met_at > now || met_at < source.recruited_at {
        return Err(invalid(
            ErrorCode::InvalidDate,
            "the meeting time is in the future or before the source was recruited",
        ));
    }
    let text = ContactReportText {
        place: text("place", &request.place, 300)?,
        present: text("present", &request.present, 500)?,
        account: text("account", &request.account, 20_000)?,
        tasks_given: request.tasks_given.trim().to_owned(),
        welfare: request.welfare.trim().to_owned(),
    };
    let sealed = above_line::seal(&state.keys, &source.reference, &text)?;
    let object = format!("source:{}", source.id.0);
    let writer = state.change(caller, "contact-report.write", &object, None);
    let id = writer
        .create_contact_report(NewContactReport {
            source_id: source.id,
            handler_id: caller.user.id,
            met_at,
            method: &self::text("method", &request.method, 60)?,
            text: &sealed,
            situation_changed: request.situation_changed,
            created_at: now,
        })
        .await?;
    let written =
        state.store.contact_report(id).await?.ok_or_else(|| ServiceError::not_found("contact report"))?;
    Ok(written.with_text(text))
}

/// A contact report and its source, for those the case is open to.
async fn contact_report_for(
    state: &AppState,
    caller: &Caller,
    id: i64,
    action: fn(SourceScope) -> Action,
    audit_action: &str,
) -> Result<(ContactReport, SourceRecord), ServiceError> {
    let found = state.store.contact_report(id).await?.map(|r| {
        let source = r.source_id;
        (r, source)
    });
    let lookup = Lookup { kind: "contact report", audit_action, object: &format!("contact-report:{id}") };
    sources::load_belonging(state, caller, lookup, found, action).await
}

/// Everything a drafter sets; the 3x5x2 evaluation follows the Admiralty grade unless given.
#[derive(Debug, Deserialize)]
pub struct DraftRequest {
    pub title: String,
    pub body: String,
    /// `B2`.
    pub admiralty: String,
    #[serde(default)]
    pub source_evaluation: Option<SourceEvaluation>,
    #[serde(default)]
    pub intelligence_assessment: Option<IntelligenceAssessment>,
    /// `P` or `C`.
    pub handling_code: String,
    #[serde(default)]
    pub handling_conditions: String,
    pub tlp: String,
    #[serde(default)]
    pub place_name: String,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
}

impl DraftRequest {
    fn content(&self) -> Result<ReportContent, ServiceError> {
        let grading_error =
            |e: tearline_intel::grading::GradingError| invalid(ErrorCode::InvalidGrading, e.to_string());
        let admiralty = Admiralty::parse(&self.admiralty).map_err(grading_error)?;
        let (evaluation, assessment) = to_3x5x2(admiralty);
        let place = match (self.place_name.trim(), self.latitude, self.longitude) {
            ("", None, None) => None,
            (name, latitude, longitude) => {
                let in_range = latitude.is_none_or(|l| (-90.0..=90.0).contains(&l))
                    && longitude.is_none_or(|l| (-180.0..=180.0).contains(&l))
                    && latitude.is_some() == longitude.is_some();
                if !in_range {
                    return Err(invalid(
                        ErrorCode::InvalidPlace,
                        "give both latitude (-90..90) and longitude (-180..180), or neither",
                    ));
                }
                Some(ReportPlace { name: text("place_name", name, 200)?, latitude, longitude })
            }
        };
        Ok(ReportContent {
            title: text("title", &self.title, 200)?,
            body: text("body", &self.body, 20_000)?,
            grading: Grading {
                admiralty,
                source_evaluation: self.source_evaluation.unwrap_or(evaluation),
                intelligence_assessment: self.intelligence_assessment.unwrap_or(assessment),
                handling: HandlingCode::new(&self.handling_code, &self.handling_conditions)
                    .map_err(grading_error)?,
                tlp: Tlp::parse(&self.tlp).map_err(grading_error)?,
            },
            place,
        })
    }
}

/// Drafts an intelligence report from a contact report.
pub async fn draft(
    state: &AppState,
    caller: &Caller,
    contact_report: i64,
    request: DraftRequest,
) -> Result<IntelReport, ServiceError> {
    let (report, source) =
        contact_report_for(state, caller, contact_report, Action::DraftIntelligence, "intel.draft").await?;
    let content = request.content()?;
    let origin = Origin::Draft {
        contact_report: report.id,
        source_reference: source.reference.as_str(),
        drafted_by: caller.user.id,
        supersedes: None,
    };
    let id = state
        .change(caller, "intel.draft", "intel-report:new", None)
        .add_intel_report(source.unit_id, origin, &content, state.now())
        .await?;
    state.store.intel_report(id).await?.ok_or_else(|| ServiceError::not_found("report"))
}

/// An intelligence report drafted from a source's contact report, with the source, for
/// the officers of that case. Partners' reports have no case and are not found here.
async fn drafted_report_for(
    state: &AppState,
    caller: &Caller,
    id: i64,
    action: fn(SourceScope) -> Action,
    audit_action: &str,
) -> Result<(IntelReport, SourceRecord), ServiceError> {
    let found = match state.store.intel_report(id).await? {
        Some(report) => match report.contact_report_id {
            Some(contact) => state.store.contact_report(contact).await?.map(|c| (report, c.source_id)),
            None => None,
        },
        None => None,
    };
    let lookup = Lookup { kind: "report", audit_action, object: &object(id) };
    sources::load_belonging(state, caller, lookup, found, action).await
}

/// The source behind a report of Tearline's own (a partner's report has none here).
pub(crate) async fn source_of(
    state: &AppState,
    report: &IntelReport,
) -> Result<Option<SourceRecord>, ServiceError> {
    let Some(contact) = report.contact_report_id else { return Ok(None) };
    let Some(contact) = state.store.contact_report(contact).await? else { return Ok(None) };
    Ok(state.store.source(contact.source_id).await?)
}

pub async fn edit_draft(
    state: &AppState,
    caller: &Caller,
    id: i64,
    request: DraftRequest,
) -> Result<IntelReport, ServiceError> {
    drafted_report_for(state, caller, id, Action::DraftIntelligence, "intel.edit").await?;
    state
        .kernel
        .change(Some(caller.user.id), "intel.edit", &object(id), None)
        .update_draft(id, &request.content()?)
        .await?;
    state.store.intel_report(id).await?.ok_or_else(|| ServiceError::not_found("report"))
}

/// A correction: the next version of a released report, as a new draft.
pub async fn correct(
    state: &AppState,
    caller: &Caller,
    id: i64,
    request: DraftRequest,
) -> Result<IntelReport, ServiceError> {
    let (original, source) =
        drafted_report_for(state, caller, id, Action::DraftIntelligence, "intel.correct").await?;
    if original.state != ReportState::Released {
        return Err(ServiceError::conflict("only a released report is corrected; edit the draft instead"));
    }
    let origin = Origin::Draft {
        contact_report: original.contact_report_id.unwrap_or_default(),
        source_reference: source.reference.as_str(),
        drafted_by: caller.user.id,
        supersedes: Some(&original),
    };
    let id = state
        .kernel
        .change(Some(caller.user.id), "intel.correct", &object(id), None)
        .add_intel_report(source.unit_id, origin, &request.content()?, state.now())
        .await?;
    state.store.intel_report(id).await?.ok_or_else(|| ServiceError::not_found("report"))
}

/// What the leak guard and the phrasing check made of a submission.
#[derive(Debug, Serialize)]
pub struct Submission {
    pub state: ReportState,
    /// Fields that name the source; the report stays a draft until they are rewritten.
    pub leaks: Vec<LeakFinding>,
    /// Phrasing the controller must acknowledge when releasing.
    pub warnings: Vec<String>,
}

/// The fields of a report that leave the line, as the guards read them.
fn outgoing_fields(content: &IntelReport) -> Vec<(&'static str, &str)> {
    let mut fields = vec![("title", content.title.as_str()), ("body", content.body.as_str())];
    if let Some(place) = &content.place {
        fields.push(("place_name", place.name.as_str()));
    }
    if let HandlingCode::C(conditions) = &content.grading.handling {
        fields.push(("handling_conditions", conditions.as_str()));
    }
    fields
}

/// Submits a draft for release. The leak guard compares every outgoing field with the
/// source's sealed identity inside the vault; the check is audited before the identity is
/// opened, and if it cannot be audited it does not run (and nothing is submitted).
pub async fn submit(state: &AppState, caller: &Caller, id: i64) -> Result<Submission, ServiceError> {
    let (report, source) =
        drafted_report_for(state, caller, id, Action::DraftIntelligence, "intel.submit").await?;
    if report.state != ReportState::Draft {
        return Err(ServiceError::refused(ErrorCode::StateChanged, "only a draft can be submitted"));
    }
    let fields = outgoing_fields(&report);
    let leaks = guard::findings(
        state,
        caller,
        &source,
        "intel.leak-check",
        &object(id),
        &fields,
        Readers::BelowTheLine,
    )
    .await?;
    let mut warnings: Vec<String> = phrasing::warnings(&fields)
        .into_iter()
        .map(|w| format!("{}: \"{}\" — {}", w.field, w.phrase, w.reason))
        .collect();
    // A place can single the source out as surely as a name: the controller must judge it.
    if let Some((latitude, longitude)) = report.place.as_ref().and_then(|p| Some((p.latitude?, p.longitude?)))
    {
        let metres = state.settings.place_flag_metres;
        let place = tearline_warn::geo::LatLon { lat: latitude, lon: longitude };
        let near = |lat, lon| place.distance_m(tearline_warn::geo::LatLon { lat, lon }) <= metres;
        let flagged = guard::places_near(
            state,
            caller,
            std::slice::from_ref(&source),
            "intel.leak-check",
            &object(id),
            &[("place", &near)],
        )
        .await?;
        warnings.extend(flagged.into_iter().map(|field| {
            format!("{field}: the location is within {metres} m of an address of the source — release only if it cannot single them out")
        }));
    }
    let outcome = if leaks.is_empty() { Outcome::Allowed } else { Outcome::Denied };
    let writer = state.kernel.change_with(Some(caller.user.id), "intel.submit", &object(id), None, outcome);
    let next = writer.record_check(id, report.revision, &leaks, &warnings).await?;
    Ok(Submission { state: next, leaks, warnings })
}

#[derive(Debug, Deserialize)]
pub struct ReleaseRequest {
    pub release: bool,
    /// The controller read the phrasing warnings and judged the text safe.
    #[serde(default)]
    pub acknowledge_warnings: bool,
}

/// The controller releases a submitted report below the line (or sends it back). A
/// released report is indexed for search and its entities linked by the rules.
pub async fn decide_release(
    state: &AppState,
    caller: &Caller,
    id: i64,
    request: ReleaseRequest,
) -> Result<IntelReport, ServiceError> {
    let action = if request.release { "intel.release" } else { "intel.send-back" };
    let (report, _) = drafted_report_for(state, caller, id, Action::ReleaseIntelligence, action).await?;
    if request.release && !report.phrasing_warnings.is_empty() && !request.acknowledge_warnings {
        return Err(ServiceError::refused(
            ErrorCode::WarningsUnacknowledged,
            format!(
                "acknowledge the phrasing warnings before releasing: {}",
                report.phrasing_warnings.join("; ")
            ),
        ));
    }
    let links = if request.release { entity_links(&report) } else { Vec::new() };
    let writer = state.change(caller, action, &object(id), None);
    writer.decide_release(id, request.release, caller.user.id, state.now(), &links).await?;
    let report = state.store.intel_report(id).await?.ok_or_else(|| ServiceError::not_found("report"))?;
    if report.state == ReportState::Released {
        // The index is a cache of the store: a crash before this line is repaired by the
        // rebuild at start (the index no longer matches the store) or by `tearline reindex`.
        index(&state.search, std::slice::from_ref(&report))?;
        state.search.commit().map_err(|e| ServiceError::internal("search", &e))?;
    }
    Ok(report)
}

#[derive(Debug, Deserialize)]
pub struct WithdrawRequest {
    /// Why the report no longer stands (disproved, source compromised, fabricated).
    pub reason: String,
}

/// The controller withdraws a released report: it stays as released, immutable, marked
/// withdrawn; every threat citing it goes under review in the same transaction (the
/// database's trigger), and with it the threat's live warnings.
pub async fn withdraw(
    state: &AppState,
    caller: &Caller,
    id: i64,
    request: WithdrawRequest,
) -> Result<ReleasedView, ServiceError> {
    let (report, source) =
        drafted_report_for(state, caller, id, Action::ReleaseIntelligence, "intel.withdraw").await?;
    let reason = request.reason.trim();
    if reason.chars().count() < 10 || reason.chars().count() > 1_000 {
        return Err(invalid(
            ErrorCode::ReasonRequired,
            "a withdrawal needs a reason of 10 to 1000 characters",
        ));
    }
    if report.state != ReportState::Released {
        return Err(ServiceError::refused(
            ErrorCode::StateChanged,
            "only a released report can be withdrawn",
        ));
    }
    // Analysts read the reason beside the report: no identity, code name or reference.
    guard::refuse_below_the_line(
        state,
        caller,
        &[source],
        "intel.withdraw",
        &object(id),
        &[("reason", reason)],
    )
    .await?;
    state
        .change(caller, "intel.withdraw", &object(id), None)
        .withdraw_report(id, caller.user.id, state.now(), reason)
        .await?;
    let report = state.store.intel_report(id).await?.ok_or_else(|| ServiceError::not_found("report"))?;
    released_view(state, report).await
}

/// The withdrawal of each of `reports` (already read through [`case_reports`]), in order.
pub async fn withdrawals(
    state: &AppState,
    reports: &[IntelReport],
) -> Result<Vec<Option<tearline_store::Withdrawal>>, ServiceError> {
    let mut withdrawals = Vec::with_capacity(reports.len());
    for report in reports {
        withdrawals.push(state.store.withdrawal(report.id).await?);
    }
    Ok(withdrawals)
}

/// The entities the rules find in a report, and its own place with coordinates: linked in
/// the transaction that releases it.
fn entity_links(report: &IntelReport) -> Vec<(Entity, Option<(f64, f64)>)> {
    mentioned(&report.title, &report.body, report.place.as_ref())
}

/// The entities the rules find in a report's text, and its place with coordinates.
fn mentioned(title: &str, body: &str, place: Option<&ReportPlace>) -> Vec<(Entity, Option<(f64, f64)>)> {
    let mut links: Vec<(Entity, Option<(f64, f64)>)> =
        entities::extract(&format!("{title}. {body}")).into_iter().map(|e| (e, None)).collect();
    if let Some(place) = place {
        if let (Some(latitude), Some(longitude)) = (place.latitude, place.longitude) {
            links.push((Entity::new(EntityKind::Place, &place.name), Some((latitude, longitude))));
        }
    }
    links
}

/// Adds released reports to the search index (the caller commits).
pub fn index(search: &tearline_search::SearchIndex, reports: &[IntelReport]) -> Result<(), ServiceError> {
    for report in reports.iter().filter(|r| r.state == ReportState::Released) {
        let reliability = serde_json::to_value(report.grading.admiralty.reliability)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let handling = match report.grading.handling {
            HandlingCode::P => "P",
            HandlingCode::C(_) => "C",
        };
        search
            .add(&IndexedReport {
                id: report.id,
                unit: report.unit_id.0,
                title: &report.title,
                body: &report.body,
                reliability: &reliability,
                credibility: u8::from(report.grading.admiralty.credibility),
                handling,
                tlp: report.grading.tlp.as_str(),
                released_at: report.released_at.map_or(0, |t| t.0),
                latitude: report.place.as_ref().and_then(|p| p.latitude),
                longitude: report.place.as_ref().and_then(|p| p.longitude),
            })
            .map_err(|e| ServiceError::internal("search", &e))?;
    }
    Ok(())
}

/// Rebuilds the search index from the store's released reports; `progress` hears
/// (done, total).
pub async fn reindex(
    store: &tearline_store::Store,
    search: &tearline_search::SearchIndex,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<u64, ServiceError> {
    let total = u64::try_from(store.released_report_count().await?).unwrap_or(0);
    search.clear().map_err(|e| ServiceError::internal("search", &e))?;
    let mut done = 0u64;
    let mut after = 0;
    loop {
        let batch = store.released_reports_after(after, 5_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        index(search, &batch)?;
        done += batch.len() as u64;
        progress(done, total);
    }
    search.commit().map_err(|e| ServiceError::internal("search", &e))?;
    Ok(done)
}

/// How far back each round of [`follow_releases`] looks again: longer than a release's
/// transaction and the clock difference between servers, so that a release committed late
/// by another server is still found.
pub const FOLLOW_OVERLAP_MILLIS: i64 = 5 * 60_000;

/// Where the search index's follower has got to: reports released from `seen_up_to -
/// FOLLOW_OVERLAP_MILLIS` on are looked at again each round.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseFollower {
    seen_up_to: Timestamp,
}

impl ReleaseFollower {
    /// A follower that starts from `now` (the index was checked against the store at start).
    pub fn from(now: Timestamp) -> ReleaseFollower {
        ReleaseFollower { seen_up_to: now }
    }

    /// One round: indexes every report released through any server that the index lacks,
    /// and returns how many it added.
    pub async fn round(
        &mut self,
        store: &tearline_store::Store,
        search: &tearline_search::SearchIndex,
    ) -> Result<usize, ServiceError> {
        let mut after = (self.seen_up_to.plus_millis(-FOLLOW_OVERLAP_MILLIS), 0);
        let mut added = 0;
        loop {
            let page = store.released_after(after, 1_000).await?;
            let Some(last) = page.last() else { break };
            after = (last.released_at.unwrap_or(after.0), last.id);
            self.seen_up_to = self.seen_up_to.max(after.0);
            let mut missing = Vec::new();
            for report in page {
                if !search.contains(report.id).map_err(|e| ServiceError::internal("search", &e))? {
                    missing.push(report);
                }
            }
            index(search, &missing)?;
            added += missing.len();
        }
        if added > 0 {
            search.commit().map_err(|e| ServiceError::internal("search", &e))?;
        }
        Ok(added)
    }
}

/// Keeps this server's search index following the store's releases (and corrections, which
/// are releases) made through any server on the database, every second.
pub async fn follow_releases(state: AppState) {
    let mut follower = ReleaseFollower::from(state.now());
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if let Err(error) = follower.round(&state.store, &state.search).await {
            tracing::warn!(%error, "following releases into the search index failed; retrying");
        }
    }
}

/// Whether the index holds exactly the released reports (else it should be rebuilt).
pub async fn index_is_current(
    store: &tearline_store::Store,
    search: &tearline_search::SearchIndex,
) -> Result<bool, ServiceError> {
    Ok(u64::try_from(store.released_report_count().await?).unwrap_or(0) == search.len())
}

fn read_intelligence(unit_id: UnitId) -> Action {
    Action::ReadIntelligence { unit_id }
}

fn analyse_intelligence(unit_id: UnitId) -> Action {
    Action::AnalyseIntelligence { unit_id }
}

/// A released report, for those `action` allows on the report's own unit.
async fn released_for(
    state: &AppState,
    caller: &Caller,
    id: i64,
    action: fn(UnitId) -> Action,
    audit_action: &str,
) -> Result<IntelReport, ServiceError> {
    crate::audit::require(state, caller, action(caller.actor.unit_id), audit_action).await?;
    let found = state.store.intel_report(id).await?.filter(|r| r.state == ReportState::Released).map(|r| {
        let asked = action(r.unit_id);
        (r, asked)
    });
    let lookup = Lookup { kind: "report", audit_action, object: &object(id) };
    let report = state.kernel.scoped(&caller.actor, lookup, found).await?;
    record(state, Some(caller.user.id), audit_action, &object(id), None, Outcome::Allowed).await?;
    Ok(report)
}

/// A released report as analysts see it: below the line only.
#[derive(Debug, Serialize)]
pub struct ReleasedView {
    pub id: i64,
    pub version: i64,
    pub supersedes: Option<i64>,
    pub corrected_by: Option<i64>,
    pub title: String,
    pub body: String,
    pub source_reference: Option<String>,
    pub partner_stix_id: Option<String>,
    pub grading: Grading,
    pub admiralty: String,
    pub place: Option<ReportPlace>,
    pub released_at: Option<Timestamp>,
    pub disseminations: Vec<Dissemination>,
    pub entities: Vec<tearline_store::StoredEntity>,
    /// "Confirmed by other sources" when an entity of this report is corroborated.
    pub suggested_credibility: Option<Credibility>,
    pub withdrawal: Option<tearline_store::Withdrawal>,
    /// The threats that cite it.
    pub threats: Vec<i64>,
    /// What became of the reports released under the same reference.
    pub track_record: Option<TrackRecord>,
}

pub async fn released(state: &AppState, caller: &Caller, id: i64) -> Result<ReleasedView, ServiceError> {
    let report = released_for(state, caller, id, read_intelligence, "intel.read").await?;
    released_view(state, report).await
}

async fn released_view(state: &AppState, report: IntelReport) -> Result<ReleasedView, ServiceError> {
    let id = report.id;
    let (entities, links) = state.store.link_chart(report.unit_id).await?;
    let track_record = match &report.source_reference {
        Some(reference) => Some(TrackRecord::of(&state.store.released_under_reference(reference).await?)),
        None => None,
    };
    let mine: Vec<i64> = links.iter().filter(|l| l.report_id == id).map(|l| l.entity_id).collect();
    let corroborated = corroborations_of(&entities, &links).iter().any(|c| c.reports.contains(&id));
    Ok(ReleasedView {
        withdrawal: state.store.withdrawal(id).await?,
        threats: state.store.threats_citing(id).await?,
        track_record,
        corrected_by: state.store.correction_of(id).await?,
        disseminations: state.store.disseminations(id).await?,
        entities: entities.into_iter().filter(|e| mine.contains(&e.id)).collect(),
        suggested_credibility: entities::suggested_credibility(
            report.grading.admiralty.credibility,
            corroborated,
        ),
        admiralty: report.grading.admiralty.to_string(),
        id: report.id,
        version: report.version,
        supersedes: report.supersedes,
        title: report.title,
        body: report.body,
        source_reference: report.source_reference,
        partner_stix_id: report.partner_stix_id,
        grading: report.grading,
        place: report.place,
        released_at: report.released_at,
    })
}

fn corroborations_of(
    entities: &[tearline_store::StoredEntity],
    links: &[tearline_store::ReportLink],
) -> Vec<entities::Corroboration> {
    let mentions: Vec<Mention> = links
        .iter()
        .filter_map(|link| {
            let entity = entities.iter().find(|e| e.id == link.entity_id)?;
            Some(Mention {
                report: link.report_id,
                // A partner's report counts as a source of its own.
                source_reference: link
                    .source_reference
                    .clone()
                    .unwrap_or_else(|| format!("partner:{}", link.report_id)),
                entity: entity.entity.clone(),
            })
        })
        .collect();
    entities::corroborations(&mentions)
}

/// Search parameters as the API takes them.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    pub q: String,
    #[serde(default)]
    pub reliability: Option<String>,
    #[serde(default)]
    pub credibility: Option<u8>,
    #[serde(default)]
    pub handling: Option<String>,
    #[serde(default)]
    pub tlp: Option<String>,
    #[serde(default)]
    pub from: Option<i64>,
    #[serde(default)]
    pub to: Option<i64>,
    /// `south,west,north,east`.
    #[serde(default)]
    pub area: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Count every match as well (slower on large result sets).
    #[serde(default)]
    pub count: bool,
}

#[derive(Debug, Serialize)]
pub struct SearchHit {
    pub id: i64,
    pub score: f32,
    pub title_html: String,
    pub body_html: String,
    pub admiralty: String,
    pub tlp: &'static str,
    pub released_at: Option<Timestamp>,
}

#[derive(Debug, Serialize)]
pub struct SearchResults {
    /// How many released reports match, when `count=true` asked.
    pub total: Option<usize>,
    pub hits: Vec<SearchHit>,
}

impl SearchParams {
    fn query(&self, unit: UnitId) -> Result<SearchQuery, ServiceError> {
        let bad = |message: &str| invalid(ErrorCode::InvalidSearch, message.to_owned());
        let reliability = match self.reliability.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            None => None,
            Some(text) => {
                let letter = text.chars().next().map(|c| c.to_ascii_uppercase());
                match letter.filter(|l| Reliability::ALL.iter().any(|r| format!("{r:?}") == l.to_string())) {
                    Some(letter) if text.len() == 1 => Some(letter),
                    _ => return Err(bad("reliability is a letter A to F")),
                }
            }
        };
        if self.credibility.is_some_and(|c| !(1..=6).contains(&c)) {
            return Err(bad("credibility is 1 to 6"));
        }
        let tlp = match self.tlp.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => Vec::new(),
            Some(text) => vec![Tlp::parse(text).map_err(|e| bad(&e.to_string()))?.as_str().to_owned()],
        };
        let handling = match self.handling.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
            None => None,
            Some(h @ ("P" | "C")) => Some(h.to_owned()),
            Some(_) => return Err(bad("handling is P or C")),
        };
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                return Err(invalid(ErrorCode::InvalidPeriod, "the period's start is after its end"));
            }
        }
        let area = match self.area.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(text) => {
                let numbers: Vec<f64> = text.split(',').filter_map(|n| n.trim().parse().ok()).collect();
                match numbers.as_slice() {
                    &[south, west, north, east] if south <= north && west <= east => {
                        Some(BoundingBox { south, west, north, east })
                    }
                    _ => return Err(bad("area is south,west,north,east in degrees")),
                }
            }
        };
        if self.q.trim().is_empty() {
            return Err(bad("say what to search for (q)"));
        }
        Ok(SearchQuery {
            text: self.q.chars().take(500).collect(),
            unit: unit.0,
            reliability_at_least: reliability,
            credibility_at_least: self.credibility,
            handling,
            tlp,
            released_from: self.from,
            released_to: self.to,
            area,
            limit: self.limit.unwrap_or(20).clamp(1, 100),
            count: self.count,
        })
    }
}

/// Searches the caller's unit's released reports. Audited with the query's length only:
/// what an analyst looks for can itself be sensitive.
pub async fn search(
    state: &AppState,
    caller: &Caller,
    params: &SearchParams,
) -> Result<SearchResults, ServiceError> {
    crate::audit::require(state, caller, read_intelligence(caller.actor.unit_id), "intel.search").await?;
    let query = params.query(caller.actor.unit_id)?;
    let results = state.search.search(&query).map_err(|e| match e {
        // The parser's message repeats the query, which can itself be sensitive (the search is
        // audited without it for the same reason): say what to fix, not what was typed.
        tearline_search::SearchError::Query(_) => invalid(
            ErrorCode::InvalidSearch,
            "the query cannot be parsed: close every quote and bracket, and put a phrase with an apostrophe in double quotes",
        ),
        other => ServiceError::internal("search", &other),
    })?;
    let object = format!("unit:{}", caller.actor.unit_id.0);
    record(state, Some(caller.user.id), "intel.search", &object, None, Outcome::Allowed).await?;
    let mut hits = Vec::with_capacity(results.hits.len());
    for hit in results.hits {
        // The index is a cache: anything no longer released in this unit is left out.
        let Some(report) = state.store.intel_report(hit.id).await?.filter(|r| {
            r.state == ReportState::Released && authorize(&caller.actor, read_intelligence(r.unit_id)).is_ok()
        }) else {
            continue;
        };
        hits.push(SearchHit {
            id: hit.id,
            score: hit.score,
            title_html: hit.title_html,
            body_html: hit.body_html,
            admiralty: report.grading.admiralty.to_string(),
            tlp: report.grading.tlp.as_str(),
            released_at: report.released_at,
        });
    }
    Ok(SearchResults { total: results.total, hits })
}

/// The link chart: released reports and the entities they mention, with corroborations.
#[derive(Debug, Serialize)]
pub struct Graph {
    pub reports: Vec<GraphReport>,
    pub entities: Vec<tearline_store::StoredEntity>,
    pub links: Vec<(i64, i64)>,
    pub corroborated: Vec<entities::Corroboration>,
}

#[derive(Debug, Serialize)]
pub struct GraphReport {
    pub id: i64,
    pub title: String,
    pub admiralty: String,
}

pub async fn graph(state: &AppState, caller: &Caller) -> Result<Graph, ServiceError> {
    crate::audit::require(state, caller, read_intelligence(caller.actor.unit_id), "intel.graph").await?;
    let unit = caller.actor.unit_id;
    let (entities, links) = state.store.link_chart(unit).await?;
    let mut reports = Vec::new();
    let mut ids: Vec<i64> = links.iter().map(|l| l.report_id).collect();
    ids.dedup();
    for id in ids {
        if let Some(report) = state.store.intel_report(id).await? {
            reports.push(GraphReport {
                id,
                title: report.title,
                admiralty: report.grading.admiralty.to_string(),
            });
        }
    }
    record(state, Some(caller.user.id), "intel.graph", &format!("unit:{}", unit.0), None, Outcome::Allowed)
        .await?;
    Ok(Graph {
        corroborated: corroborations_of(&entities, &links),
        links: links.iter().map(|l| (l.report_id, l.entity_id)).collect(),
        reports,
        entities,
    })
}

#[derive(Debug, Deserialize)]
pub struct TagRequest {
    pub kind: EntityKind,
    pub name: String,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
}

/// An analyst tags an entity the rules missed (and may place it on the map).
pub async fn tag(
    state: &AppState,
    caller: &Caller,
    report: i64,
    request: TagRequest,
) -> Result<i64, ServiceError> {
    released_for(state, caller, report, analyse_intelligence, "intel.tag").await?;
    let entity = Entity::new(request.kind, &text("name", &request.name, 200)?);
    let place = match (request.latitude, request.longitude) {
        (Some(latitude), Some(longitude)) => {
            if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
                return Err(invalid(ErrorCode::InvalidPlace, "latitude is -90..90 and longitude -180..180"));
            }
            Some((latitude, longitude))
        }
        _ => None,
    };
    let writer = state.change(caller, "intel.tag", &object(report), None);
    let ids = writer.link_entities(report, &[(entity, place)], Some(caller.user.id)).await?;
    ids.first().copied().ok_or_else(|| ServiceError::not_found("entity"))
}

/// An analyst removes a wrong link the rules made.
pub async fn untag(state: &AppState, caller: &Caller, report: i64, entity: i64) -> Result<(), ServiceError> {
    released_for(state, caller, report, analyse_intelligence, "intel.untag").await?;
    if !state.change(caller, "intel.untag", &object(report), None).unlink_entity(report, entity).await? {
        return Err(ServiceError::not_found("link"));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct DisseminationRequest {
    pub recipient: String,
    #[serde(default)]
    pub passed_at: Option<Timestamp>,
}

/// Records that a released report was passed on, to whom and when.
pub async fn disseminate(
    state: &AppState,
    caller: &Caller,
    report: i64,
    request: DisseminationRequest,
) -> Result<Dissemination, ServiceError> {
    let released = released_for(state, caller, report, analyse_intelligence, "intel.disseminate").await?;
    if !released.grading.tlp.may_leave() {
        return Err(ServiceError::refused(ErrorCode::TlpRed, "a TLP:RED report is not passed on"));
    }
    let passed_at = request.passed_at.unwrap_or_else(|| state.now());
    if passed_at > state.now() {
        return Err(invalid(ErrorCode::InvalidDate, "the time it was passed on is in the future"));
    }
    let recipient = text("recipient", &request.recipient, 200)?;
    let writer = state.change(caller, "intel.disseminate", &object(report), None);
    let id = writer.record_dissemination(report, &recipient, passed_at, caller.user.id).await?;
    let recorded = state.store.disseminations(report).await?;
    recorded.into_iter().find(|d| d.id == id).ok_or_else(|| ServiceError::not_found("dissemination"))
}

/// A released report as a STIX 2.1 bundle for partners. TLP:RED never leaves.
pub async fn export_stix(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<serde_json::Value, ServiceError> {
    let report = released_for(state, caller, id, analyse_intelligence, "intel.export").await?;
    let source = source_of(state, &report).await?;
    let (entities, links) = state.store.link_chart(report.unit_id).await?;
    let mine: Vec<&tearline_store::StoredEntity> =
        entities.iter().filter(|e| links.iter().any(|l| l.report_id == id && l.entity_id == e.id)).collect();
    let unit = state
        .store
        .units()
        .await?
        .into_iter()
        .find(|u| u.id == report.unit_id)
        .map(|u| u.name)
        .unwrap_or_default();
    let places = mine
        .iter()
        .filter(|e| e.entity.kind == EntityKind::Place)
        .filter_map(|e| {
            Some(stix::Place { name: e.entity.name.clone(), latitude: e.latitude?, longitude: e.longitude? })
        })
        .collect();
    let organisations = mine
        .iter()
        .filter(|e| e.entity.kind == EntityKind::Organisation)
        .map(|e| e.entity.name.clone())
        .collect();
    let released = stix::ReleasedReport {
        id: report.id,
        version: report.version,
        title: report.title,
        text: report.body,
        grading: report.grading.admiralty,
        handling: report.grading.handling,
        tlp: report.grading.tlp,
        released_at: report.released_at.map_or(0, |t| t.0),
        places,
        organisations,
    };
    // What leaves for partners is read once more against the source: entities tagged by
    // analysts travel in the bundle beside the text the guard read at submission.
    if let Some(source) = source {
        let mut fields: Vec<(String, &str)> =
            vec![("title".into(), &released.title), ("text".into(), &released.text)];
        fields.extend(released.places.iter().map(|p| ("location".to_owned(), p.name.as_str())));
        fields.extend(released.organisations.iter().map(|o| ("identity".to_owned(), o.as_str())));
        if let HandlingCode::C(conditions) = &released.handling {
            fields.push(("handling_conditions".into(), conditions));
        }
        let fields: Vec<(&str, &str)> = fields.iter().map(|(f, t)| (f.as_str(), *t)).collect();
        guard::refuse_below_the_line(state, caller, &[source], "intel.export", &object(id), &fields).await?;
    }
    let producer = stix::Producer { name: unit, namespace: producer_namespace(state) };
    stix::export(&released, &producer).map_err(|e| ServiceError::refused(ErrorCode::TlpRed, e.to_string()))
}

/// A stable namespace for this installation's STIX ids, derived from the audit log's
/// public key, so ids differ between installations and never change within one.
fn producer_namespace(state: &AppState) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, state.log.verifier_key().as_bytes())
}

/// Imports a partner's STIX 2.1 bundle: each report stored as external intelligence,
/// graded "cannot be judged" until assessed, indexed and linked. An invalid bundle is
/// refused whole, naming the fault.
pub async fn import_stix(state: &AppState, caller: &Caller, bundle: &str) -> Result<Vec<i64>, ServiceError> {
    let unit = caller.actor.unit_id;
    crate::audit::require(state, caller, Action::AnalyseIntelligence { unit_id: unit }, "intel.import")
        .await?;
    let reports = stix::import(bundle).map_err(|e| invalid(ErrorCode::InvalidStix, e.to_string()))?;
    let contents: Vec<ReportContent> = reports
        .iter()
        .map(|partner| {
            let (evaluation, assessment) = to_3x5x2(partner.grading);
            let place = partner.places.first().map(|p| ReportPlace {
                name: p.name.clone(),
                latitude: Some(p.latitude),
                longitude: Some(p.longitude),
            });
            ReportContent {
                title: partner.title.chars().take(200).collect(),
                body: partner.text.chars().take(20_000).collect(),
                grading: Grading {
                    admiralty: partner.grading,
                    source_evaluation: evaluation,
                    intelligence_assessment: assessment,
                    handling: HandlingCode::P,
                    // Unmarked partner intelligence is kept to the unit until someone marks it.
                    tlp: partner.tlp.unwrap_or(Tlp::AmberStrict),
                },
                place,
            }
        })
        .collect();
    let imports: Vec<PartnerImport<'_>> = reports
        .iter()
        .zip(&contents)
        .map(|(partner, content)| {
            let mut entities = mentioned(&content.title, &content.body, content.place.as_ref());
            entities.extend(
                partner.organisations.iter().map(|o| (Entity::new(EntityKind::Organisation, o), None)),
            );
            PartnerImport { stix_id: &partner.stix_id, content, entities }
        })
        .collect();
    // One transaction and one audit entry for the bundle: all of it or nothing.
    let writer = state.change(caller, "intel.import", "intel-report:new", None);
    let ids = writer.import_partner_reports(unit, &imports, state.now()).await?;
    let mut stored = Vec::with_capacity(ids.len());
    for id in &ids {
        stored.push(state.store.intel_report(*id).await?.ok_or_else(|| ServiceError::not_found("report"))?);
    }
    // The index is a cache of the store, rebuilt at start if a crash comes between.
    index(&state.search, &stored)?;
    state.search.commit().map_err(|e| ServiceError::internal("search", &e))?;
    Ok(ids)
}

/// What a case officer sees of a source's intelligence work: contact reports and the
/// reports drafted from them.
pub async fn case_reports(
    state: &AppState,
    caller: &Caller,
    source: &SourceRecord,
    read: &Recorded,
) -> Result<Option<(Vec<ContactReport<ContactReportText>>, Vec<IntelReport>)>, ServiceError> {
    if authorize(&caller.actor, Action::WriteContactReport(scope(source))).is_err() {
        return Ok(None);
    }
    Ok(Some((
        above_line::open_all(state, read, source, state.store.contact_reports_of(source.id).await?)?,
        state.store.intel_reports_of_source(source.id).await?,
    )))
}

/// Reports awaiting a controller's release in the caller's unit, for their home page.
/// The submitted reports this controller may release, each with the source it came from.
pub async fn awaiting_release(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<(SourceId, IntelReport)>, ServiceError> {
    let submitted = state.store.intel_reports_in_state(caller.actor.unit_id, ReportState::Submitted).await?;
    let mut mine = Vec::new();
    for report in submitted {
        let Some(contact_report) = report.contact_report_id else { continue };
        let Some(contact) = state.store.contact_report(contact_report).await? else { continue };
        let Some(source) = state.store.source(contact.source_id).await? else { continue };
        if authorize(&caller.actor, Action::ReleaseIntelligence(scope(&source))).is_ok() {
            mine.push((source.id, report));
        }
    }
    Ok(mine)
}
