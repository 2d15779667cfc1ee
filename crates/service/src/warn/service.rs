//! Early-warning operations, shared by the JSON API and the web UI. Each asks the policy
//! (a refusal inside another unit looks like a missing record), audits what it changes, and
//! leaves storage to the store.
//!
//! A warning's life: a warning officer drafts a CAP alert (from a threat assessment or
//! not), submits it, and it is issued, unless its status is Actual and the unit requires a
//! second warning officer's approval. Issuing fixes the alert's `sent` time and references,
//! targets every active recipient inside its areas, and queues one delivery per recipient in
//! the same transaction. An Update or Cancel is a new version that references every earlier
//! issued version, and reaches the new area and everyone the previous version reached.

use serde::{Deserialize, Serialize};
use tearline_domain::audit::Outcome;
use tearline_domain::policy::{authorize, Action};
use tearline_domain::{UnitId, UserId};
use tearline_store::{DeliveryCounts, IssueVersion, Threat, VersionState, WarningVersion};
use tearline_warn::cap::{
    Alert, CapTime, Info, MsgType, Reference, ResponseType, Scope, Status, UpdateEdits,
};
use tearline_warn::delivery::{AckStatus, DeliveryState};
use tearline_warn::geo::{Area, LatLon};
use tearline_warn::recipients::{Registration, RowError};
use tearline_warn::threat::ThreatAssessment;

use tearline_kernel::Lookup;

use crate::audit::record;
use crate::auth::Caller;
use crate::error::{ErrorCode, ServiceError};
use crate::guard;
use crate::state::AppState;

/// How many recipients' positions a targeting preview returns for the map.
const PREVIEW_SAMPLE: usize = 2_000;

/// Asks the policy; a refusal is audited and answered like a missing record, so that a
/// caller outside the unit learns nothing of what exists there.
pub(crate) async fn check(
    state: &AppState,
    caller: &Caller,
    action: Action,
    audit_action: &str,
    object: &str,
    what: &str,
) -> Result<(), ServiceError> {
    if authorize(&caller.actor, action).is_ok() {
        return Ok(());
    }
    record(state, Some(caller.user.id), audit_action, object, None, Outcome::Denied).await?;
    Err(ServiceError::not_found(what))
}

// ---- threat assessments ----

pub async fn threats(state: &AppState, caller: &Caller) -> Result<Vec<Threat>, ServiceError> {
    let unit_id = caller.actor.unit_id;
    check(state, caller, read_threats(unit_id), "threat.list", "threats", "threat list").await?;
    let threats = state.store.threats_in_unit(unit_id).await?;
    read(state, caller, "threat.list", &format!("unit:{}", unit_id.0)).await?;
    Ok(threats)
}

pub async fn threat(state: &AppState, caller: &Caller, id: i64) -> Result<Threat, ServiceError> {
    let object = format!("threat:{id}");
    let found = state.store.threat(id).await?;
    let threat =
        in_unit(state, caller, lookup("threat", "threat.read", &object), found, read_threats).await?;
    read(state, caller, "threat.read", &object).await?;
    Ok(threat)
}

pub(crate) fn read_threats(unit_id: UnitId) -> Action {
    Action::ReadThreats { unit_id }
}

pub(crate) fn assess_threats(unit_id: UnitId) -> Action {
    Action::AssessThreat { unit_id }
}

pub(crate) fn lookup<'a>(kind: &'static str, audit_action: &'a str, object: &'a str) -> Lookup<'a> {
    Lookup { kind, audit_action, object }
}

/// A record of one unit, for those `action` allows on that unit: a missing record and a
/// refused one answer alike (the kernel's scoped loader).
pub(crate) async fn in_unit<T: InUnit>(
    state: &AppState,
    caller: &Caller,
    lookup: Lookup<'_>,
    found: Option<T>,
    action: fn(UnitId) -> Action,
) -> Result<T, ServiceError> {
    let found = found.and_then(|record| {
        let asked = action(record.unit()?);
        Some((record, asked))
    });
    Ok(state.kernel.scoped(&caller.actor, lookup, found).await?)
}

/// What decides which unit's compartment a record sits in.
pub(crate) trait InUnit {
    fn unit(&self) -> Option<UnitId>;
}

impl InUnit for Threat {
    fn unit(&self) -> Option<UnitId> {
        Some(self.unit_id)
    }
}

impl InUnit for WarningVersion {
    fn unit(&self) -> Option<UnitId> {
        Some(self.unit_id)
    }
}

/// A warning's versions, all of one unit; no versions is no warning.
impl InUnit for Vec<WarningVersion> {
    fn unit(&self) -> Option<UnitId> {
        self.first().map(|v| v.unit_id)
    }
}

/// Records a read of the unit's threats or warnings, as every other read is recorded.
pub(crate) async fn read(
    state: &AppState,
    caller: &Caller,
    audit_action: &str,
    object: &str,
) -> Result<(), ServiceError> {
    record(state, Some(caller.user.id), audit_action, object, None, Outcome::Allowed).await?;
    Ok(())
}

fn checked(assessment: &ThreatAssessment) -> Result<(), ServiceError> {
    assessment.validate().map_err(|e| ServiceError::refused(ErrorCode::InvalidThreat, e.to_string()))
}

pub async fn create_threat(
    state: &AppState,
    caller: &Caller,
    assessment: &ThreatAssessment,
) -> Result<Threat, ServiceError> {
    let unit_id = caller.actor.unit_id;
    check(state, caller, Action::AssessThreat { unit_id }, "threat.create", "threats", "threat list").await?;
    checked(assessment)?;
    let id = state
        .change(caller, "threat.create", &format!("unit:{}", unit_id.0), None)
        .create_threat(unit_id, assessment, caller.user.id, state.now())
        .await?;
    state.store.threat(id).await?.ok_or_else(|| ServiceError::not_found("threat"))
}

pub async fn update_threat(
    state: &AppState,
    caller: &Caller,
    id: i64,
    assessment: &ThreatAssessment,
) -> Result<Threat, ServiceError> {
    let object = format!("threat:{id}");
    let existing = state.store.threat(id).await?;
    in_unit(state, caller, lookup("threat", "threat.update", &object), existing, assess_threats).await?;
    checked(assessment)?;
    let sources = super::chain::sources_behind(state, id).await?;
    let texts = super::chain::threat_texts(assessment);
    guard::refuse_below_the_line(state, caller, &sources, "threat.update", &object, &texts).await?;
    state.change(caller, "threat.update", &object, None).update_threat(id, assessment, state.now()).await?;
    state.store.threat(id).await?.ok_or_else(|| ServiceError::not_found("threat"))
}

// ---- warnings ----

/// What a warning officer writes; Tearline fills in identifier, sender, sent, message type
/// and references.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DraftRequest {
    #[serde(default)]
    pub threat_id: Option<i64>,
    pub status: Status,
    #[serde(default = "public_scope")]
    pub scope: Scope,
    #[serde(default)]
    pub restriction: Option<String>,
    #[serde(default)]
    pub addresses: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub incidents: Option<String>,
    pub infos: Vec<Info>,
}

fn public_scope() -> Scope {
    Scope::Public
}

/// A warning version as the API shows it: the stored version, its CAP XML and where it is.
#[derive(Debug, Serialize)]
pub struct VersionView {
    pub id: i64,
    pub warning_id: i64,
    pub version: i64,
    pub threat_id: Option<i64>,
    pub state: VersionState,
    pub alert: Alert,
    pub cap_xml: String,
    pub drafted_by: UserId,
    pub approved_by: Option<UserId>,
    pub issued_at: Option<tearline_domain::Timestamp>,
    pub target_count: Option<i64>,
}

impl From<WarningVersion> for VersionView {
    fn from(v: WarningVersion) -> VersionView {
        VersionView {
            cap_xml: v.cap_xml.unwrap_or_else(|| v.alert.to_xml()),
            id: v.id,
            warning_id: v.warning_id,
            version: v.version,
            threat_id: v.threat_id,
            state: v.state,
            alert: v.alert,
            drafted_by: v.drafted_by,
            approved_by: v.approved_by,
            issued_at: v.issued_at,
            target_count: v.target_count,
        }
    }
}

fn new_identifier() -> String {
    let bytes: [u8; 10] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("tearline-{hex}")
}

fn invalid_cap(error: tearline_warn::cap::CapError) -> ServiceError {
    ServiceError::refused(ErrorCode::InvalidCap, error.to_string())
}

/// The checks Tearline adds for its own warnings beyond CAP: something to target, and an
/// expiry, so that no warning stays in the feed forever.
fn check_own_alert(alert: &Alert) -> Result<(), ServiceError> {
    alert.validate().map_err(invalid_cap)?;
    if alert.msg_type == MsgType::Cancel {
        return Ok(());
    }
    if alert.infos.is_empty() {
        return Err(ServiceError::refused(
            ErrorCode::InvalidCap,
            "alert/info: a warning needs at least one info block",
        ));
    }
    for (i, info) in alert.infos.iter().enumerate() {
        let path = format!("alert/info[{}]", i + 1);
        if info.expires.is_none() {
            return Err(ServiceError::refused(
                ErrorCode::InvalidCap,
                format!("{path}/expires: a warning must say when it expires"),
            ));
        }
        if !info.areas.iter().any(|a| a.area.has_shape()) {
            return Err(ServiceError::refused(
                ErrorCode::InvalidCap,
                format!("{path}/area: a warning needs an area with a polygon or circle to target"),
            ));
        }
    }
    Ok(())
}

fn alert_from(
    state: &AppState,
    request: DraftRequest,
    msg_type: MsgType,
    references: Vec<Reference>,
) -> Alert {
    Alert {
        identifier: new_identifier(),
        sender: state.settings.warn.sender.clone(),
        sent: CapTime::utc(state.now().0),
        status: request.status,
        msg_type,
        source: Some("Tearline".into()),
        scope: request.scope,
        restriction: request.restriction,
        addresses: request.addresses,
        codes: Vec::new(),
        note: request.note,
        references,
        incidents: request.incidents,
        infos: request.infos,
    }
}

/// Loads a version and checks `action` within its unit.
pub(crate) async fn load_version(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
    action: fn(UnitId) -> Action,
    audit_action: &str,
) -> Result<WarningVersion, ServiceError> {
    let object = format!("warning-version:{version_id}");
    let found = state.store.warning_version(version_id).await?;
    in_unit(state, caller, lookup("warning", audit_action, &object), found, action).await
}

pub(crate) fn read_warnings(unit_id: UnitId) -> Action {
    Action::ReadWarnings { unit_id }
}

fn draft_warnings(unit_id: UnitId) -> Action {
    Action::DraftWarning { unit_id }
}

fn approve_warnings(unit_id: UnitId) -> Action {
    Action::ApproveWarning { unit_id }
}

/// The newest version of each of the unit's warnings.
pub async fn warnings(state: &AppState, caller: &Caller) -> Result<Vec<WarningVersion>, ServiceError> {
    let unit_id = caller.actor.unit_id;
    check(state, caller, read_warnings(unit_id), "warning.list", "warnings", "warning list").await?;
    let latest = state.store.latest_versions_in_unit(unit_id).await?;
    read(state, caller, "warning.list", &format!("unit:{}", unit_id.0)).await?;
    Ok(latest)
}

/// Versions of the unit's warnings that wait for the caller's approval: none when the caller
/// may not approve, and never the caller's own drafts.
pub async fn awaiting_my_approval(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<WarningVersion>, ServiceError> {
    let unit_id = caller.actor.unit_id;
    if authorize(&caller.actor, approve_warnings(unit_id)).is_err() {
        return Ok(Vec::new());
    }
    let latest = state.store.latest_versions_in_unit(unit_id).await?;
    Ok(latest
        .into_iter()
        .filter(|v| v.state == VersionState::AwaitingApproval && v.drafted_by != caller.user.id)
        .collect())
}

pub async fn version(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
) -> Result<WarningVersion, ServiceError> {
    let version = load_version(state, caller, version_id, read_warnings, "warning.read").await?;
    read(state, caller, "warning.read", &format!("warning-version:{version_id}")).await?;
    Ok(version)
}

/// Every version of a warning, oldest first.
pub async fn history(
    state: &AppState,
    caller: &Caller,
    warning_id: i64,
) -> Result<Vec<WarningVersion>, ServiceError> {
    let object = format!("warning:{warning_id}");
    let versions = state.store.versions_of_warning(warning_id).await?;
    let lookup = lookup("warning", "warning.read", &object);
    let versions = in_unit(state, caller, lookup, Some(versions), read_warnings).await?;
    read(state, caller, "warning.read", &object).await?;
    Ok(versions)
}

pub async fn draft_alert(
    state: &AppState,
    caller: &Caller,
    request: DraftRequest,
) -> Result<WarningVersion, ServiceError> {
    let unit_id = caller.actor.unit_id;
    check(state, caller, draft_warnings(unit_id), "warning.draft", "warnings", "warning list").await?;
    if let Some(threat_id) = request.threat_id {
        let object = format!("threat:{threat_id}");
        let found = state.store.threat(threat_id).await?;
        in_unit(state, caller, lookup("threat", "warning.draft", &object), found, read_threats).await?;
    }
    let threat_id = request.threat_id;
    let alert = alert_from(state, request, MsgType::Alert, Vec::new());
    check_own_alert(&alert)?;
    let sources = super::chain::sources_behind_alert(state, threat_id).await?;
    super::chain::guard_alert(
        state,
        caller,
        &sources,
        &alert,
        "warning.draft",
        &format!("unit:{}", unit_id.0),
    )
    .await?;
    let (_, version_id) = state
        .change(caller, "warning.draft", &format!("unit:{}", unit_id.0), None)
        .create_warning(unit_id, threat_id, &alert, caller.user.id, state.now())
        .await?;
    state.store.warning_version(version_id).await?.ok_or_else(|| ServiceError::not_found("warning"))
}

/// Everything of a warning that was ever issued, oldest first: what an Update or Cancel
/// references.
fn issued_references(versions: &[WarningVersion]) -> Vec<Reference> {
    versions
        .iter()
        .filter(|v| matches!(v.state, VersionState::Issued | VersionState::Superseded))
        .map(|v| Reference::to(&v.alert))
        .collect()
}

/// What the next version of an issued warning is made from.
enum FollowUp {
    /// An Update written whole (the API).
    Whole(DraftRequest),
    /// An Update that changes only some fields of the issued version (the update form).
    Edited(UpdateEdits),
    Cancel,
}

async fn draft_follow_up(
    state: &AppState,
    caller: &Caller,
    warning_id: i64,
    follow_up: FollowUp,
) -> Result<WarningVersion, ServiceError> {
    let versions = state.store.versions_of_warning(warning_id).await?;
    let object = format!("warning:{warning_id}");
    let lookup = lookup("warning", "warning.draft", &object);
    let versions = in_unit(state, caller, lookup, Some(versions), draft_warnings).await?;
    let Some(current) = versions.iter().find(|v| v.state == VersionState::Issued) else {
        return Err(ServiceError::conflict(
            "only an issued warning can be updated or cancelled; issue it first",
        ));
    };
    if current.alert.msg_type == MsgType::Cancel {
        return Err(ServiceError::conflict("this warning was cancelled; start a new warning instead"));
    }
    if versions.iter().any(|v| matches!(v.state, VersionState::Draft | VersionState::AwaitingApproval)) {
        return Err(ServiceError::conflict(
            "this warning already has a version in progress; issue or discard it first",
        ));
    }
    let references = issued_references(&versions);
    let alert = match follow_up {
        FollowUp::Whole(request) => alert_from(state, request, MsgType::Update, references),
        FollowUp::Edited(edits) => Alert {
            identifier: new_identifier(),
            sent: CapTime::utc(state.now().0),
            msg_type: MsgType::Update,
            references,
            infos: edits.apply(&current.alert.infos),
            ..current.alert.clone()
        },
        FollowUp::Cancel => cancellation_of(state, &current.alert, references),
    };
    check_own_alert(&alert)?;
    let sources = super::chain::sources_behind_alert(state, current.threat_id).await?;
    super::chain::guard_alert(state, caller, &sources, &alert, "warning.draft", &object).await?;
    let version_id = state
        .change(caller, "warning.draft", &object, None)
        .draft_next_version(warning_id, &alert, caller.user.id, state.now())
        .await?;
    state.store.warning_version(version_id).await?.ok_or_else(|| ServiceError::not_found("warning"))
}

/// A Cancel that tells recipients, in each language of the warning, that it is withdrawn.
fn cancellation_of(state: &AppState, current: &Alert, references: Vec<Reference>) -> Alert {
    let infos = current
        .infos
        .iter()
        .map(|info| Info {
            response_types: vec![ResponseType::AllClear],
            headline: Some(format!("Cancelled: {}", info.headline.as_deref().unwrap_or(&info.event))),
            instruction: Some("The earlier warning for this area is withdrawn.".into()),
            ..info.clone()
        })
        .collect();
    Alert {
        identifier: new_identifier(),
        sender: current.sender.clone(),
        sent: CapTime::utc(state.now().0),
        msg_type: MsgType::Cancel,
        references,
        infos,
        ..current.clone()
    }
}

pub async fn draft_update(
    state: &AppState,
    caller: &Caller,
    warning_id: i64,
    request: DraftRequest,
) -> Result<WarningVersion, ServiceError> {
    draft_follow_up(state, caller, warning_id, FollowUp::Whole(request)).await
}

/// An Update that starts from every `info` of the issued version and changes only `edits`.
pub async fn draft_update_edits(
    state: &AppState,
    caller: &Caller,
    warning_id: i64,
    edits: UpdateEdits,
) -> Result<WarningVersion, ServiceError> {
    draft_follow_up(state, caller, warning_id, FollowUp::Edited(edits)).await
}

pub async fn draft_cancel(
    state: &AppState,
    caller: &Caller,
    warning_id: i64,
) -> Result<WarningVersion, ServiceError> {
    draft_follow_up(state, caller, warning_id, FollowUp::Cancel).await
}

pub async fn edit_draft(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
    request: DraftRequest,
) -> Result<WarningVersion, ServiceError> {
    let version = load_version(state, caller, version_id, draft_warnings, "warning.edit").await?;
    let mut alert = alert_from(state, request, version.alert.msg_type, version.alert.references.clone());
    alert.identifier = version.alert.identifier.clone();
    check_own_alert(&alert)?;
    let object = format!("warning-version:{version_id}");
    let sources = super::chain::sources_behind_alert(state, version.threat_id).await?;
    super::chain::guard_alert(state, caller, &sources, &alert, "warning.edit", &object).await?;
    state
        .change(caller, "warning.edit", &format!("warning-version:{version_id}"), None)
        .edit_draft(version_id, &alert)
        .await?;
    state.store.warning_version(version_id).await?.ok_or_else(|| ServiceError::not_found("warning"))
}

/// What submitting did.
#[derive(Debug, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Submitted {
    Issued { deliveries: i64 },
    AwaitingApproval,
}

/// What the officer who issues a warning has acknowledged.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Acknowledged {
    /// The warning's area lies near the address of a source behind its threat, and the
    /// officer judged that it cannot single the source out.
    #[serde(default)]
    pub places: bool,
}

pub async fn submit(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
    acknowledged: Acknowledged,
) -> Result<Submitted, ServiceError> {
    let version = load_version(state, caller, version_id, draft_warnings, "warning.submit").await?;
    if version.state != VersionState::Draft {
        return Err(ServiceError::conflict(format!(
            "this version is {}, not a draft",
            version.state.as_str()
        )));
    }
    if goes_to_a_second_officer(state, &version).await? {
        if !state
            .change(caller, "warning.submit", &format!("warning-version:{version_id}"), None)
            .move_version(version_id, VersionState::Draft, VersionState::AwaitingApproval)
            .await?
        {
            return Err(ServiceError::conflict("this version changed meanwhile; reload it"));
        }
        return Ok(Submitted::AwaitingApproval);
    }
    let deliveries = issue(state, caller, version, None, acknowledged).await?;
    Ok(Submitted::Issued { deliveries })
}

/// Whether submitting this draft passes it to a second officer instead of issuing it: an
/// Actual warning, in a unit that requires a second officer's approval.
pub async fn goes_to_a_second_officer(
    state: &AppState,
    version: &WarningVersion,
) -> Result<bool, ServiceError> {
    Ok(version.alert.status == Status::Actual && state.store.unit_requires_approval(version.unit_id).await?)
}

/// A second warning officer approves an Actual warning, which issues it.
pub async fn approve(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
    acknowledged: Acknowledged,
) -> Result<Submitted, ServiceError> {
    let version = load_version(state, caller, version_id, approve_warnings, "warning.approve").await?;
    if version.state != VersionState::AwaitingApproval {
        return Err(ServiceError::conflict(format!(
            "this version is {}, not awaiting approval",
            version.state.as_str()
        )));
    }
    if version.drafted_by == caller.user.id {
        record(
            state,
            Some(caller.user.id),
            "warning.approve",
            &format!("warning-version:{version_id}"),
            None,
            Outcome::Denied,
        )
        .await?;
        return Err(ServiceError::refused(ErrorCode::SecondOfficerRequired,
            "a warning with status Actual needs the approval of a warning officer other than the one who drafted it",
        ));
    }
    let deliveries = issue(state, caller, version, Some(caller.user.id), acknowledged).await?;
    Ok(Submitted::Issued { deliveries })
}

pub async fn discard(state: &AppState, caller: &Caller, version_id: i64) -> Result<(), ServiceError> {
    let version = load_version(state, caller, version_id, draft_warnings, "warning.discard").await?;
    for from in [VersionState::Draft, VersionState::AwaitingApproval] {
        if version.state == from
            && state
                .change(caller, "warning.discard", &format!("warning-version:{version_id}"), None)
                .move_version(version_id, from, VersionState::Discarded)
                .await?
        {
            return Ok(());
        }
    }
    Err(ServiceError::conflict(format!(
        "this version is {}; only drafts and versions awaiting approval can be discarded",
        version.state.as_str()
    )))
}

async fn issue(
    state: &AppState,
    caller: &Caller,
    version: WarningVersion,
    approved_by: Option<UserId>,
    acknowledged: Acknowledged,
) -> Result<i64, ServiceError> {
    let versions = state.store.versions_of_warning(version.warning_id).await?;
    let carry_from = versions.iter().find(|v| v.state == VersionState::Issued).map(|v| v.id);
    let mut alert = version.alert;
    alert.sent = CapTime::utc(state.now().0);
    if alert.msg_type != MsgType::Alert {
        alert.references = issued_references(&versions);
    }
    check_own_alert(&alert)?;
    // Read again as issued: a report cited since the draft was written may stand behind it.
    let object = format!("warning-version:{}", version.id);
    let sources = super::chain::sources_behind_alert(state, version.threat_id).await?;
    super::chain::guard_alert(state, caller, &sources, &alert, "warning.issue", &object).await?;
    if !acknowledged.places {
        let near = super::chain::areas_near_sources(state, caller, &sources, &alert, &object).await?;
        if !near.is_empty() {
            record(state, Some(caller.user.id), "warning.issue", &object, None, Outcome::Denied).await?;
            return Err(ServiceError::refused(
                ErrorCode::PlacesUnacknowledged,
                format!(
                    "{} within {} m of the address of a source behind this warning's threat: issue it only if the \
                     warning cannot single the source out, acknowledging that",
                    near.join(", "),
                    state.settings.place_flag_metres
                ),
            ));
        }
    }
    if let Some(expires) = alert.expires() {
        if expires.millis <= alert.sent.millis {
            return Err(ServiceError::refused(
                ErrorCode::InvalidCap,
                "alert/info/expires: the warning would already have expired",
            ));
        }
    }
    state.warn.targeting.refresh(&state.store).await?;
    // Drafts (CAP status Draft) are templates: issued for the record, delivered to no one.
    let targets =
        if alert.status == Status::Draft { Vec::new() } else { state.warn.targeting.targets(&alert.areas()) };
    let carry_from = if alert.status == Status::Draft { None } else { carry_from };
    let issued = IssueVersion {
        version_id: version.id,
        alert: &alert,
        approved_by,
        at: state.now(),
        targets: &targets,
        carry_from,
    };
    let deliveries = state
        .change(caller, "warning.issue", &format!("warning-version:{}", version.id), None)
        .issue_version(issued)
        .await?;
    state.warn.wakeup.notify_one();
    state.warn.public.feed_changed();
    Ok(deliveries)
}

pub async fn deliveries(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
) -> Result<DeliveryCounts, ServiceError> {
    load_version(state, caller, version_id, read_warnings, "warning.read").await?;
    read(state, caller, "warning.read", &format!("warning-version:{version_id}")).await?;
    Ok(state.store.delivery_counts(version_id).await?)
}

/// The recipients who answered a version "I need help", longest waiting first, with when
/// they answered: the responders' list. Read as the delivery counts are, and audited.
pub async fn help_requests(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
) -> Result<Vec<(tearline_store::Recipient, tearline_domain::Timestamp)>, ServiceError> {
    load_version(state, caller, version_id, read_warnings, "warning.read").await?;
    read(state, caller, "warning.help-requests", &format!("warning-version:{version_id}")).await?;
    Ok(state.store.needing_help(version_id).await?)
}

/// Where a version's recipients are and what became of their delivery, for the map: a
/// sample of at most [`DELIVERY_MAP_POINTS`], each with the state it is drawn in. Read as the
/// delivery counts are, and audited.
pub async fn delivery_map(
    state: &AppState,
    caller: &Caller,
    version_id: i64,
) -> Result<Vec<(LatLon, &'static str)>, ServiceError> {
    load_version(state, caller, version_id, read_warnings, "warning.read").await?;
    read(state, caller, "warning.delivery-map", &format!("warning-version:{version_id}")).await?;
    let points = state.store.delivery_positions(version_id, DELIVERY_MAP_POINTS).await?;
    Ok(points
        .into_iter()
        .map(|(position, delivery, answer)| {
            let shown = match (delivery, answer) {
                (_, Some(AckStatus::Help)) => "help",
                (_, Some(AckStatus::Safe)) => "safe",
                (DeliveryState::Acknowledged, _) | (_, Some(AckStatus::Received)) => "acknowledged",
                (DeliveryState::Sent, None) => "delivered",
                (DeliveryState::Failed, None) => "failed",
                (DeliveryState::Queued | DeliveryState::Sending, None) => "queued",
            };
            (position, shown)
        })
        .collect())
}

/// The most recipients the delivery map draws.
pub const DELIVERY_MAP_POINTS: i64 = 3_000;

/// Who an area would reach: how many, and where a sample of them are.
#[derive(Debug, Serialize)]
pub struct TargetPreview {
    pub count: usize,
    pub sample: Vec<LatLon>,
}

pub async fn preview(
    state: &AppState,
    caller: &Caller,
    areas: &[Area],
) -> Result<TargetPreview, ServiceError> {
    let unit_id = caller.actor.unit_id;
    check(state, caller, draft_warnings(unit_id), "warning.preview", "warnings", "warning list").await?;
    state.warn.targeting.refresh(&state.store).await?;
    let targets = state.warn.targeting.targets(areas);
    let step = targets.len().div_ceil(PREVIEW_SAMPLE).max(1);
    let sample_ids: Vec<i64> = targets.iter().step_by(step).copied().collect();
    let sample = state.store.recipients_by_id(&sample_ids).await?.into_iter().map(|r| r.position).collect();
    Ok(TargetPreview { count: targets.len(), sample })
}

// ---- recipients ----

/// What a bulk registration did: how many were taken, and why the others were not.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub errors: Vec<RowError>,
}

/// Registrations are written in batches of this many, one transaction each.
pub const IMPORT_BATCH: usize = 5_000;

pub async fn register_recipients(
    state: &AppState,
    caller: &Caller,
    registrations: &[Registration],
    errors: Vec<RowError>,
) -> Result<ImportReport, ServiceError> {
    check(state, caller, Action::ManageRecipients, "recipient.import", "recipients", "recipient list")
        .await?;
    for batch in registrations.chunks(IMPORT_BATCH) {
        state
            .change(caller, "recipient.import", &format!("recipients:{}", registrations.len()), None)
            .upsert_recipients(batch, state.now())
            .await?;
    }
    Ok(ImportReport { imported: registrations.len(), errors })
}

pub async fn retire_recipient(state: &AppState, caller: &Caller, id: i64) -> Result<(), ServiceError> {
    let object = format!("recipient:{id}");
    check(state, caller, Action::ManageRecipients, "recipient.retire", &object, "recipient").await?;
    Ok(state.change(caller, "recipient.retire", &object, None).deactivate_recipient(id).await?)
}

/// A page of active recipients after `after_id`, and how many there are in all.
pub async fn recipients(
    state: &AppState,
    caller: &Caller,
    after_id: i64,
    limit: i64,
) -> Result<(Vec<tearline_store::Recipient>, i64), ServiceError> {
    check(state, caller, Action::ManageRecipients, "recipient.list", "recipients", "recipient list").await?;
    let page = state.store.recipients_page(after_id, limit.clamp(1, 1_000)).await?;
    Ok((page, state.store.recipient_count().await?))
}
