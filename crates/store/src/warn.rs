//! Early warning: threats, warnings and their CAP versions, recipients, the delivery
//! outbox and partner alerts.
//!
//! The outbox is written in bulk inside the same transaction that issues an alert, so an
//! alert is either issued with every delivery queued, or not issued at all. Dispatchers claim
//! due rows with a lease (`next_attempt_at` of a row being sent is the end of its lease), so
//! work a crashed process held is taken up again once the lease runs out.

use sqlx::any::AnyRow;
use sqlx::Row;
use tearline_domain::{Timestamp, UnitId, UserId};
use tearline_warn::cap::Alert;
use tearline_warn::delivery::{AckStatus, Channel, DeliveryState, RecipientKind};
use tearline_warn::geo::LatLon;
use tearline_warn::recipients::Registration;
use tearline_warn::threat::ThreatAssessment;

use crate::{conflict_as, Backend, Store, StoreError, WriteTx, Writer};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Threat {
    pub id: i64,
    pub unit_id: UnitId,
    pub assessment: ThreatAssessment,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// What happened, once recorded.
    pub outcome: Option<crate::RecordedOutcome>,
}

/// Where a warning version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionState {
    Draft,
    AwaitingApproval,
    Issued,
    /// A later version of the same warning was issued.
    Superseded,
    Discarded,
}

impl VersionState {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Draft => "draft",
            VersionState::AwaitingApproval => "awaiting-approval",
            VersionState::Issued => "issued",
            VersionState::Superseded => "superseded",
            VersionState::Discarded => "discarded",
        }
    }

    fn parse(text: &str) -> Option<VersionState> {
        [
            VersionState::Draft,
            VersionState::AwaitingApproval,
            VersionState::Issued,
            VersionState::Superseded,
            VersionState::Discarded,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// One CAP alert of a warning: a draft, or what was issued.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningVersion {
    pub id: i64,
    pub warning_id: i64,
    pub unit_id: UnitId,
    pub threat_id: Option<i64>,
    pub version: i64,
    pub state: VersionState,
    pub alert: Alert,
    pub cap_xml: Option<String>,
    pub drafted_by: UserId,
    pub drafted_at: Timestamp,
    pub approved_by: Option<UserId>,
    pub issued_at: Option<Timestamp>,
    pub target_count: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub id: i64,
    pub external_id: Option<String>,
    pub name: String,
    pub kind: RecipientKind,
    pub channel: Channel,
    pub address: String,
    pub position: LatLon,
    pub active: bool,
    /// The language they read, when registered.
    pub language: Option<String>,
}

/// A recipient's position or presence as changed since some revision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecipientChange {
    pub id: i64,
    pub position: LatLon,
    pub active: bool,
    pub revision: i64,
}

/// A delivery a dispatcher has taken, with what it needs to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub version_id: i64,
    pub recipient_id: i64,
    /// Attempts including this one.
    pub attempts: i64,
    pub channel: Channel,
    pub address: String,
    /// The language the recipient reads, when registered.
    pub language: Option<String>,
    /// When this claim's lease ends. With the attempt number, it tells this claim from any
    /// later one of the same delivery, even one that follows a hand-back.
    pub leased_until: Timestamp,
}

impl ClaimedDelivery {
    /// This claim's outcome: `state` (`Sending` to hand it back unattempted, see
    /// [`Writer::record_attempts`]), due again at `next_attempt_at` unless done.
    pub fn outcome(
        &self,
        state: DeliveryState,
        next_attempt_at: Timestamp,
        error: Option<String>,
    ) -> AttemptOutcome {
        AttemptOutcome {
            version_id: self.version_id,
            recipient_id: self.recipient_id,
            attempts: self.attempts,
            leased_until: self.leased_until,
            state,
            next_attempt_at,
            error,
        }
    }
}

/// How an attempt ended, to be written back; made by [`ClaimedDelivery::outcome`].
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub version_id: i64,
    pub recipient_id: i64,
    pub attempts: i64,
    pub leased_until: Timestamp,
    pub state: DeliveryState,
    pub next_attempt_at: Timestamp,
    pub error: Option<String>,
}

/// A recipient's answer to a warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    pub position: LatLon,
    pub status: AckStatus,
    pub at: Timestamp,
}

/// Deliveries of one alert by state, and acknowledgements.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryCounts {
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub acknowledged: i64,
    /// Of the acknowledged: safe or gone from the area.
    pub safe: i64,
    /// Of the acknowledged: asking for help.
    pub help: i64,
}

impl DeliveryCounts {
    pub fn total(&self) -> i64 {
        self.queued + self.sending + self.sent + self.failed + self.acknowledged
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartnerAlert {
    pub id: i64,
    pub alert: Alert,
    pub cap_xml: String,
    pub origin: String,
    pub received_at: Timestamp,
}

/// A partner's public key as registered for one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerKeyRecord {
    pub id: i64,
    /// The CAP `<sender>` whose alerts the key verifies.
    pub sender: String,
    pub label: String,
    /// The PEM public key or certificate, as registered.
    pub public_key: String,
    pub fingerprint: String,
    pub added_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerFeed {
    pub id: i64,
    pub url: String,
    pub last_polled_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Not polled until a warning officer resumes it.
    pub paused: bool,
    /// Polls in a row that failed; the feed backs off while it fails.
    pub failures: i64,
    /// When the feed is next due; `None`: at the next round.
    pub next_poll_at: Option<Timestamp>,
}

const VERSION_COLUMNS: &str =
    "v.id, v.warning_id, w.unit_id, w.threat_id, v.version, v.state, v.alert, v.cap_xml,
    v.drafted_by, v.drafted_at, v.approved_by, v.issued_at, v.target_count";

fn corrupt(what: &str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
    move |error| StoreError::Corrupt(format!("{what}: {error}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn version_from_row(row: &AnyRow) -> Result<WarningVersion, StoreError> {
    let state: String = row.try_get("state")?;
    let alert: String = row.try_get("alert")?;
    Ok(WarningVersion {
        id: row.try_get("id")?,
        warning_id: row.try_get("warning_id")?,
        unit_id: UnitId(row.try_get("unit_id")?),
        threat_id: row.try_get("threat_id")?,
        version: row.try_get("version")?,
        state: VersionState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("version state {state:?}")))?,
        alert: serde_json::from_str(&alert).map_err(corrupt("stored alert"))?,
        cap_xml: row.try_get("cap_xml")?,
        drafted_by: UserId(row.try_get("drafted_by")?),
        drafted_at: Timestamp(row.try_get("drafted_at")?),
        approved_by: row.try_get::<Option<i64>, _>("approved_by")?.map(UserId),
        issued_at: row.try_get::<Option<i64>, _>("issued_at")?.map(Timestamp),
        target_count: row.try_get("target_count")?,
    })
}

fn threat_from_row(row: &AnyRow) -> Result<Threat, StoreError> {
    let assessment: String = row.try_get("assessment")?;
    Ok(Threat {
        id: row.try_get("id")?,
        unit_id: UnitId(row.try_get("unit_id")?),
        assessment: serde_json::from_str(&assessment).map_err(corrupt("stored threat"))?,
        created_by: UserId(row.try_get("created_by")?),
        created_at: Timestamp(row.try_get("created_at")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
        outcome: crate::chain::outcome_from_row(row)?,
    })
}

/// A delivery row's `ack` column: what the recipient answered.
fn answer_of(row: &AnyRow) -> Result<AckStatus, StoreError> {
    let ack: String = row.try_get("ack")?;
    AckStatus::parse(&ack).ok_or_else(|| StoreError::Corrupt(format!("unknown answer {ack:?}")))
}

fn recipient_from_row(row: &AnyRow) -> Result<Recipient, StoreError> {
    let kind: String = row.try_get("kind")?;
    let channel: String = row.try_get("channel")?;
    Ok(Recipient {
        id: row.try_get("id")?,
        external_id: row.try_get("external_id")?,
        name: row.try_get("name")?,
        kind: RecipientKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("recipient kind {kind:?}")))?,
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?,
        address: row.try_get("address")?,
        position: LatLon { lat: row.try_get("lat")?, lon: row.try_get("lon")? },
        active: row.try_get::<i64, _>("active")? != 0,
        language: row.try_get("language")?,
    })
}

/// Ids as one text parameter: a JSON array for SQLite's `json_each`, a comma list for
/// PostgreSQL's `string_to_array`. One statement inserts any number of rows.
fn id_list(backend: Backend, ids: &[i64]) -> String {
    let mut text = String::with_capacity(ids.len() * 8 + 2);
    if backend == Backend::Sqlite {
        text.push('[');
    }
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&id.to_string());
    }
    if backend == Backend::Sqlite {
        text.push(']');
    }
    text
}

/// The rows a dispatcher takes up by their `next_attempt_at` (the partial index
/// `deliveries_retry`, whose condition this is word for word): every row being sent — its
/// lease runs out at that time, or ran out, or it was handed back — and every row waiting
/// for a retry. First attempts are found behind each version's dispatch cursor instead.
pub(crate) const TAKEN_UP_BY_TIME: &str = "(state = 1 OR (state = 0 AND attempts > 0))";

/// Recipient ids per row of `delivery_targets`.
pub const TARGETS_PER_RUN: usize = 10_000;
/// Runs written per statement at issue.
const RUNS_PER_STATEMENT: usize = 20;
/// Attempts' outcomes written per statement.
const OUTCOMES_PER_STATEMENT: usize = 20_000;
/// Recipients' answers read and written per statement.
const ANSWERS_PER_STATEMENT: usize = 500;

/// The `ack` and `ack_at` a delivery's row takes when the answer `v.ack` at `v.ack_at`
/// arrives, as SQL expressions over `deliveries` and `v`: `AckStatus::answered` written out
/// for every pair of answers, so the statement and the rule cannot disagree.
static ANSWERED_SQL: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
    let (mut ack, mut ack_at) = (String::from("CASE"), String::from("CASE"));
    for was in AckStatus::ALL {
        for next in AckStatus::ALL {
            let (stands, at) = AckStatus::answered(Some((was, "old")), (next, "new"));
            let pair = format!(" WHEN deliveries.ack = '{}' AND v.ack = '{}'", was.as_str(), next.as_str());
            if stands != next {
                ack.push_str(&format!("{pair} THEN '{}'", stands.as_str()));
            }
            if at == "old" {
                ack_at.push_str(&format!("{pair} THEN deliveries.ack_at"));
            }
        }
    }
    // No pair differs from the answer that arrived: the plain value, as a CASE with no arm
    // would be invalid SQL.
    let close = |case: String, otherwise: &str| {
        if case == "CASE" {
            otherwise.to_owned()
        } else {
            format!("{case} ELSE {otherwise} END")
        }
    };
    (close(ack, "v.ack"), close(ack_at, "v.ack_at"))
});

/// A recipient's answer to one delivery, at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryAnswer {
    pub version_id: i64,
    pub recipient_id: i64,
    pub status: AckStatus,
    pub at: Timestamp,
}

/// The statement that queues a delivery of version `$1`, due at `$2`, to each recipient `id`
/// of `from` (a FROM item with its WHERE clause, binding `$3`), skipping any already queued.
fn queue_deliveries(id: &str, from: &str) -> String {
    format!(
        "INSERT INTO deliveries (version_id, recipient_id, state, attempts, next_attempt_at)
         SELECT $1, {id}, 0, 0, $2 FROM {from} ON CONFLICT DO NOTHING"
    )
}

/// The ids of an id list as [`id_list`] writes it (one the store wrote itself).
fn parse_id_list(text: &str) -> Result<Vec<i64>, StoreError> {
    let inner = text.trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .filter(|id| !id.is_empty())
        .map(|id| {
            id.trim().parse().map_err(|_| StoreError::Corrupt(format!("a list of delivery targets: {id:?}")))
        })
        .collect()
}

/// A run of targets written as delivery rows by [`Store::claim_run`].
struct ClaimedRun {
    /// The recipients claimed, ascending.
    claimed: Vec<i64>,
    /// Whether some of the run's recipients were left queued behind the claimed ones.
    split: bool,
}

impl Store {
    /// The id list `$3` (as [`id_list`] writes it) as a FROM item `t(id)` with its WHERE.
    fn listed_ids(&self) -> &'static str {
        // SQLite reads ON CONFLICT after a bare subquery as a join; the WHERE settles it.
        match self.backend {
            Backend::Sqlite => "(SELECT CAST(value AS INTEGER) AS id FROM json_each($3)) t WHERE true",
            Backend::Postgres => "(SELECT unnest(string_to_array($3, ','))::bigint AS id) t WHERE true",
        }
    }

    /// [`queue_deliveries`] to each recipient of the id list `$3`.
    fn queue_listed(&self) -> String {
        queue_deliveries("t.id", self.listed_ids())
    }

    /// Takes one run of a version's targets and writes it as delivery rows, in the claiming
    /// transaction: recipients up to the `wanted`-th claimed until `lease_until` (their
    /// first attempt counted), the rest queued at `now` behind them. Each row is written
    /// once. A run another dispatcher took first is gone: the delete returns nothing
    /// (`None`) and nothing is written twice.
    async fn claim_run(
        &self,
        write: &mut WriteTx<'_>,
        version_id: i64,
        first_id: i64,
        wanted: usize,
        (now, lease_until): (Timestamp, Timestamp),
    ) -> Result<Option<ClaimedRun>, StoreError> {
        let ids: Option<String> = sqlx::query_scalar(
            "DELETE FROM delivery_targets WHERE version_id = $1 AND first_id = $2 RETURNING ids",
        )
        .bind(version_id)
        .bind(first_id)
        .fetch_optional(&mut *write.tx)
        .await?;
        let Some(ids) = ids else { return Ok(None) };
        let listed = parse_id_list(&ids)?;
        let Some(&last_claimed) = listed.get(wanted.saturating_sub(1)).or(listed.last()) else {
            return Ok(Some(ClaimedRun { claimed: Vec::new(), split: false }));
        };
        let claim =
            |claimed: &str, queued: &str| format!("CASE WHEN t.id <= $4 THEN {claimed} ELSE {queued} END");
        let insert = format!(
            "INSERT INTO deliveries (version_id, recipient_id, state, attempts, next_attempt_at)
             SELECT $1, t.id, {state}, {state}, {due} FROM {from}
             ON CONFLICT DO NOTHING RETURNING recipient_id, attempts",
            state = claim("1", "0"),
            due = claim("$5", "$2"),
            from = self.listed_ids(),
        );
        let rows = sqlx::query(&insert)
            .bind(version_id)
            .bind(now.0)
            .bind(ids)
            .bind(last_claimed)
            .bind(lease_until.0)
            .fetch_all(&mut *write.tx)
            .await?;
        let mut claimed = Vec::with_capacity(wanted.min(listed.len()));
        for row in &rows {
            if row.try_get::<i64, _>("attempts")? == 1 {
                claimed.push(row.try_get("recipient_id")?);
            }
        }
        claimed.sort_unstable();
        Ok(Some(ClaimedRun { claimed, split: listed.len() > wanted }))
    }

    /// The FROM items and id expression that list a version's targets still in runs
    /// (`dt`, one row per id).
    fn ids_in_runs(&self) -> (&'static str, &'static str) {
        match self.backend {
            Backend::Sqlite => ("delivery_targets dt, json_each(dt.ids) AS t", "CAST(t.value AS INTEGER)"),
            Backend::Postgres => (
                "delivery_targets dt, LATERAL unnest(string_to_array(dt.ids, ',')::bigint[]) AS t(id)",
                "t.id",
            ),
        }
    }

    pub async fn threat(&self, id: i64) -> Result<Option<Threat>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM threats WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(threat_from_row).transpose()
    }

    pub async fn threats_in_unit(&self, unit: UnitId) -> Result<Vec<Threat>, StoreError> {
        let rows = sqlx::query("SELECT * FROM threats WHERE unit_id = $1 ORDER BY id DESC")
            .bind(unit.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(threat_from_row).collect()
    }

    pub async fn unit_requires_approval(&self, unit: UnitId) -> Result<bool, StoreError> {
        let value: Option<i64> =
            sqlx::query_scalar("SELECT actual_warnings_need_approval FROM units WHERE id = $1")
                .bind(unit.0)
                .fetch_optional(&self.pool)
                .await?;
        value.map(|v| v != 0).ok_or(StoreError::NotFound("unit"))
    }

    pub async fn warning_version(&self, version_id: i64) -> Result<Option<WarningVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM warning_versions v JOIN warnings w ON w.id = v.warning_id WHERE v.id = $1"
        );
        let row = sqlx::query(&sql).bind(version_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// An issued (possibly since superseded) version by its CAP identifier.
    pub async fn issued_version_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<Option<WarningVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM warning_versions v JOIN warnings w ON w.id = v.warning_id
             WHERE v.identifier = $1 AND v.state IN ('issued', 'superseded')"
        );
        let row = sqlx::query(&sql).bind(identifier).fetch_optional(&self.pool).await?;
        row.as_ref().map(version_from_row).transpose()
    }

    pub async fn versions_of_warning(&self, warning_id: i64) -> Result<Vec<WarningVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM warning_versions v JOIN warnings w ON w.id = v.warning_id
             WHERE v.warning_id = $1 ORDER BY v.version"
        );
        let rows = sqlx::query(&sql).bind(warning_id).fetch_all(&self.pool).await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Every version of every warning drafted from a threat, in order.
    pub async fn versions_of_threat(&self, threat: i64) -> Result<Vec<WarningVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM warning_versions v JOIN warnings w ON w.id = v.warning_id
             WHERE w.threat_id = $1 ORDER BY v.warning_id, v.version"
        );
        let rows = sqlx::query(&sql).bind(threat).fetch_all(&self.pool).await?;
        rows.iter().map(version_from_row).collect()
    }

    /// The newest version of every warning of a unit, newest warning first.
    pub async fn latest_versions_in_unit(&self, unit: UnitId) -> Result<Vec<WarningVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM warning_versions v JOIN warnings w ON w.id = v.warning_id
             WHERE w.unit_id = $1 AND v.version = (SELECT MAX(x.version) FROM warning_versions x WHERE x.warning_id = v.warning_id)
             ORDER BY v.warning_id DESC"
        );
        let rows = sqlx::query(&sql).bind(unit.0).fetch_all(&self.pool).await?;
        rows.iter().map(version_from_row).collect()
    }

    /// The issued (current) version of every warning, for the public feed.
    pub async fn issued_versions(&self) -> Result<Vec<WarningVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM warning_versions v JOIN warnings w ON w.id = v.warning_id
             WHERE v.state = 'issued' ORDER BY v.issued_at DESC"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Recipients changed after the mark `(revision, id)`, in mark order, at most `limit`:
    /// pass the last change's mark to read on.
    pub async fn recipient_changes_since(
        &self,
        after: (i64, i64),
        limit: i64,
    ) -> Result<Vec<RecipientChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, lat, lon, active, revision FROM recipients
             WHERE revision > $1 OR (revision = $1 AND id > $2) ORDER BY revision, id LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RecipientChange {
                    id: row.try_get("id")?,
                    position: LatLon { lat: row.try_get("lat")?, lon: row.try_get("lon")? },
                    active: row.try_get::<i64, _>("active")? != 0,
                    revision: row.try_get("revision")?,
                })
            })
            .collect()
    }

    pub async fn recipient_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM recipients WHERE active = 1")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Recipients by id (for showing who a warning reaches), at most `limit` of them.
    pub async fn recipients_by_id(&self, ids: &[i64]) -> Result<Vec<Recipient>, StoreError> {
        self.recipient_columns("r.*", ids).await?.iter().map(recipient_from_row).collect()
    }

    /// `columns` of the recipients `ids`, in id order.
    async fn recipient_columns(&self, columns: &str, ids: &[i64]) -> Result<Vec<AnyRow>, StoreError> {
        // A membership test the planner answers from the primary key; a join against the id
        // list let PostgreSQL choose a scan of every recipient.
        let membership = match self.backend {
            Backend::Sqlite => "r.id IN (SELECT CAST(value AS INTEGER) FROM json_each($1))",
            Backend::Postgres => "r.id = ANY(string_to_array($1, ',')::bigint[])",
        };
        let sql = format!("SELECT {columns} FROM recipients r WHERE {membership} ORDER BY r.id");
        Ok(sqlx::query(&sql).bind(id_list(self.backend, ids)).fetch_all(&self.pool).await?)
    }

    pub async fn recipients_page(&self, after_id: i64, limit: i64) -> Result<Vec<Recipient>, StoreError> {
        let rows = sqlx::query("SELECT * FROM recipients WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(recipient_from_row).collect()
    }

    /// The latest delivery (sent or already answered) of the recent issued warnings to the
    /// recipient reached on `channel` at `address`: what a text-message reply answers. Only
    /// the 50 latest issued versions are looked at, each through the deliveries' primary key.
    pub async fn latest_delivery_to(
        &self,
        channel: Channel,
        address: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT d.version_id, d.recipient_id FROM recipients r
             JOIN deliveries d ON d.recipient_id = r.id AND d.version_id IN
                 (SELECT id FROM warning_versions WHERE state IN ('issued', 'superseded') ORDER BY id DESC LIMIT 50)
             WHERE r.channel = $1 AND r.address = $2 AND d.state IN (2, 4)
             ORDER BY d.version_id DESC LIMIT 1",
        )
        .bind(channel.as_str())
        .bind(address)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((row.try_get("version_id")?, row.try_get("recipient_id")?))).transpose()
    }

    /// The recipients whose answer to a version is "help", longest waiting first, with when
    /// they answered: responders' list.
    pub async fn needing_help(&self, version_id: i64) -> Result<Vec<(Recipient, Timestamp)>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.*, d.ack_at FROM deliveries d JOIN recipients r ON r.id = d.recipient_id
             WHERE d.version_id = $1 AND d.ack = 'help' ORDER BY d.ack_at, r.id",
        )
        .bind(version_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((recipient_from_row(row)?, Timestamp(row.try_get("ack_at")?)))).collect()
    }

    /// Where a version's recipients are and how far their delivery has got: at most about
    /// `limit` of them, spread over the whole list (every n-th recipient), for a map.
    /// Deliveries still waiting in runs of targets are not rows yet and are not among them.
    pub async fn delivery_positions(
        &self,
        version_id: i64,
        limit: i64,
    ) -> Result<Vec<(LatLon, DeliveryState, Option<AckStatus>)>, StoreError> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE version_id = $1")
            .bind(version_id)
            .fetch_one(&self.pool)
            .await?;
        let step = (total / limit.max(1)).max(1);
        let rows = sqlx::query(
            "SELECT r.lat, r.lon, d.state, d.ack FROM deliveries d JOIN recipients r ON r.id = d.recipient_id
             WHERE d.version_id = $1 AND d.recipient_id % $2 = 0 ORDER BY d.recipient_id LIMIT $3",
        )
        .bind(version_id)
        .bind(step)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let state = DeliveryState::from_code(row.try_get("state")?)
                    .ok_or_else(|| StoreError::Corrupt("unknown delivery state".into()))?;
                let ack: Option<String> = row.try_get("ack")?;
                Ok((
                    LatLon { lat: row.try_get("lat")?, lon: row.try_get("lon")? },
                    state,
                    ack.as_deref().and_then(AckStatus::parse),
                ))
            })
            .collect()
    }

    /// Every answer to a version: where the recipient is registered, what they answered and
    /// when, in the order they answered.
    pub async fn answers(&self, version_id: i64) -> Result<Vec<Answer>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.lat, r.lon, d.ack, d.ack_at FROM deliveries d JOIN recipients r ON r.id = d.recipient_id
             WHERE d.version_id = $1 AND d.ack IS NOT NULL AND d.ack_at IS NOT NULL ORDER BY d.ack_at",
        )
        .bind(version_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Answer {
                    position: LatLon { lat: row.try_get("lat")?, lon: row.try_get("lon")? },
                    status: answer_of(row)?,
                    at: Timestamp(row.try_get("ack_at")?),
                })
            })
            .collect()
    }

    /// How many answered a version each way, and when the latest of each answer came.
    pub async fn answer_totals(
        &self,
        version_id: i64,
    ) -> Result<Vec<(AckStatus, i64, Timestamp)>, StoreError> {
        let rows = sqlx::query(
            "SELECT ack, COUNT(*) AS n, MAX(ack_at) AS latest FROM deliveries
             WHERE version_id = $1 AND ack IS NOT NULL AND ack_at IS NOT NULL GROUP BY ack",
        )
        .bind(version_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((answer_of(row)?, row.try_get("n")?, Timestamp(row.try_get("latest")?))))
            .collect()
    }

    /// When the first and the latest delivery of a version reached its receiver.
    pub async fn delivery_span(&self, version_id: i64) -> Result<Option<(Timestamp, Timestamp)>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(sent_at) AS first, MAX(sent_at) AS last FROM deliveries
             WHERE version_id = $1 AND sent_at IS NOT NULL",
        )
        .bind(version_id)
        .fetch_one(&self.pool)
        .await?;
        let first: Option<i64> = row.try_get("first")?;
        let last: Option<i64> = row.try_get("last")?;
        Ok(first.zip(last).map(|(first, last)| (Timestamp(first), Timestamp(last))))
    }

    /// Deliveries queued as runs of targets not yet written as rows: of one version, or of
    /// every version.
    pub(crate) async fn targets_in_runs(&self, version_id: Option<i64>) -> Result<i64, StoreError> {
        let queued: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(id_count) AS BIGINT) FROM delivery_targets WHERE $1 IS NULL OR version_id = $1",
        )
        .bind(version_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(queued.unwrap_or(0))
    }

    pub async fn delivery_counts(&self, version_id: i64) -> Result<DeliveryCounts, StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, SUM(CASE WHEN ack = 'safe' THEN 1 ELSE 0 END) AS safe,
                 SUM(CASE WHEN ack = 'help' THEN 1 ELSE 0 END) AS help
             FROM deliveries WHERE version_id = $1 GROUP BY state",
        )
        .bind(version_id)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = DeliveryCounts::default();
        for row in rows {
            let n: i64 = row.try_get("n")?;
            match DeliveryState::from_code(row.try_get("state")?) {
                Some(DeliveryState::Queued) => counts.queued = n,
                Some(DeliveryState::Sending) => counts.sending = n,
                Some(DeliveryState::Sent) => counts.sent = n,
                Some(DeliveryState::Failed) => counts.failed = n,
                Some(DeliveryState::Acknowledged) => {
                    counts.acknowledged = n;
                    counts.safe = row.try_get::<Option<i64>, _>("safe")?.unwrap_or(0);
                    counts.help = row.try_get::<Option<i64>, _>("help")?.unwrap_or(0);
                }
                None => return Err(StoreError::Corrupt("unknown delivery state".into())),
            }
        }
        counts.queued += self.targets_in_runs(Some(version_id)).await?;
        Ok(counts)
    }

    pub async fn partner_alerts(&self, limit: i64) -> Result<Vec<PartnerAlert>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, alert, cap_xml, origin, received_at FROM partner_alerts ORDER BY sent_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let alert: String = row.try_get("alert")?;
                Ok(PartnerAlert {
                    id: row.try_get("id")?,
                    alert: serde_json::from_str(&alert).map_err(corrupt("stored partner alert"))?,
                    cap_xml: row.try_get("cap_xml")?,
                    origin: row.try_get("origin")?,
                    received_at: Timestamp(row.try_get("received_at")?),
                })
            })
            .collect()
    }

    /// The registered partner keys, of one sender or of all.
    pub async fn partner_keys(&self, sender: Option<&str>) -> Result<Vec<PartnerKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, sender, label, public_key, fingerprint, added_at FROM partner_keys
             WHERE $1 IS NULL OR sender = $1 ORDER BY sender, id",
        )
        .bind(sender)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PartnerKeyRecord {
                    id: row.try_get("id")?,
                    sender: row.try_get("sender")?,
                    label: row.try_get("label")?,
                    public_key: row.try_get("public_key")?,
                    fingerprint: row.try_get("fingerprint")?,
                    added_at: Timestamp(row.try_get("added_at")?),
                })
            })
            .collect()
    }

    pub async fn partner_feeds(&self) -> Result<Vec<PartnerFeed>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, url, last_polled_at, last_error, paused, failures, next_poll_at
             FROM partner_feeds ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PartnerFeed {
                    id: row.try_get("id")?,
                    url: row.try_get("url")?,
                    last_polled_at: row.try_get::<Option<i64>, _>("last_polled_at")?.map(Timestamp),
                    last_error: row.try_get("last_error")?,
                    paused: row.try_get::<i64, _>("paused")? == 1,
                    failures: row.try_get("failures")?,
                    next_poll_at: row.try_get::<Option<i64>, _>("next_poll_at")?.map(Timestamp),
                })
            })
            .collect()
    }
}

impl Writer<'_> {
    pub async fn create_threat(
        self,
        unit: UnitId,
        assessment: &ThreatAssessment,
        by: UserId,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO threats (unit_id, title, status, assessment, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(unit.0)
        .bind(&assessment.title)
        .bind(assessment.status.as_str())
        .bind(to_json(assessment)?)
        .bind(by.0)
        .bind(at.0)
        .fetch_one(&mut *write.tx)
        .await?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    pub async fn update_threat(
        self,
        id: i64,
        assessment: &ThreatAssessment,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE threats SET title = $2, status = $3, assessment = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(&assessment.title)
        .bind(assessment.status.as_str())
        .bind(to_json(assessment)?)
        .bind(at.0)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound("threat"));
        }
        write.commit().await
    }

    pub async fn set_unit_requires_approval(self, unit: UnitId, required: bool) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE units SET actual_warnings_need_approval = $2 WHERE id = $1")
            .bind(unit.0)
            .bind(i64::from(required))
            .execute(&mut *write.tx)
            .await?;
        write.commit().await
    }

    /// Starts a warning with its first draft. Returns (warning id, version id).
    pub async fn create_warning(
        self,
        unit: UnitId,
        threat_id: Option<i64>,
        alert: &Alert,
        by: UserId,
        at: Timestamp,
    ) -> Result<(i64, i64), StoreError> {
        let mut write = self.begin_write().await?;
        let warning_id: i64 = sqlx::query_scalar(
            "INSERT INTO warnings (unit_id, threat_id, created_by, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(unit.0)
        .bind(threat_id)
        .bind(by.0)
        .bind(at.0)
        .fetch_one(&mut *write.tx)
        .await?;
        let version_id = insert_version(&mut write.tx, warning_id, 1, alert, by, at).await?;
        write.created(warning_id);
        write.commit().await?;
        Ok((warning_id, version_id))
    }

    /// Drafts the next version (an Update or Cancel) of a warning.
    pub async fn draft_next_version(
        self,
        warning_id: i64,
        alert: &Alert,
        by: UserId,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM warning_versions WHERE warning_id = $1")
                .bind(warning_id)
                .fetch_one(&mut *write.tx)
                .await?;
        let latest = latest.ok_or(StoreError::NotFound("warning"))?;
        let id = insert_version(&mut write.tx, warning_id, latest + 1, alert, by, at).await?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Replaces a draft's alert; only drafts (not yet submitted) can be edited.
    pub async fn edit_draft(self, version_id: i64, alert: &Alert) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE warning_versions SET alert = $2, msg_type = $3, cap_status = $4, headline = $5, expires_at = $6
             WHERE id = $1 AND state = 'draft'",
        )
        .bind(version_id)
        .bind(to_json(alert)?)
        .bind(alert.msg_type.as_str())
        .bind(alert.status.as_str())
        .bind(headline_of(alert))
        .bind(alert.expires().map(|e| e.millis))
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict("an issued or submitted version; only drafts can be edited"));
        }
        write.commit().await
    }

    /// Moves a version from one state to another if it is still in `from`; returns whether it was.
    pub async fn move_version(
        self,
        version_id: i64,
        from: VersionState,
        to: VersionState,
    ) -> Result<bool, StoreError> {
        let mut write = self.begin_write().await?;
        let changed = sqlx::query("UPDATE warning_versions SET state = $3 WHERE id = $1 AND state = $2")
            .bind(version_id)
            .bind(from.as_str())
            .bind(to.as_str())
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        write.commit().await?;
        Ok(changed == 1)
    }

    /// Issues a version: fixes its XML, supersedes the warning's previously issued version,
    /// and queues one delivery per target, all in one transaction. Returns how many
    /// deliveries were queued.
    ///
    /// A first issue writes its targets as runs of up to [`TARGETS_PER_RUN`] ids
    /// (`delivery_targets`), which the dispatcher turns into rows as it reaches them: a
    /// million recipients are a hundred rows at issue. An update or cancellation
    /// (`carry_from`) also reaches everyone the earlier version was to reach, queued or
    /// sent, and is written as rows at once, so its count is exact.
    pub async fn issue_version(self, issue: IssueVersion<'_>) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE warning_versions SET state = 'issued', cap_xml = $2, approved_by = $3, issued_at = $4, alert = $5
             WHERE id = $1 AND state IN ('draft', 'awaiting-approval')",
        )
        .bind(issue.version_id)
        .bind(issue.alert.to_xml())
        .bind(issue.approved_by.map(|u| u.0))
        .bind(issue.at.0)
        .bind(to_json(issue.alert)?)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict(
                "an issued version; this version was issued or discarded already",
            ));
        }
        sqlx::query(
            "UPDATE warning_versions SET state = 'superseded'
             WHERE state = 'issued' AND id <> $1 AND warning_id = (SELECT warning_id FROM warning_versions WHERE id = $1)",
        )
        .bind(issue.version_id)
        .execute(&mut *write.tx)
        .await?;
        let mut targets = std::borrow::Cow::Borrowed(issue.targets);
        if !targets.windows(2).all(|pair| pair[0] < pair[1]) {
            targets.to_mut().sort_unstable();
            targets.to_mut().dedup();
        }
        let count = match issue.carry_from {
            None => {
                for runs in targets.chunks(TARGETS_PER_RUN * RUNS_PER_STATEMENT) {
                    let mut values = Vec::with_capacity(RUNS_PER_STATEMENT);
                    let mut lists = Vec::with_capacity(RUNS_PER_STATEMENT);
                    for (i, run) in runs.chunks(TARGETS_PER_RUN).enumerate() {
                        // Ids and counts are integers, written as literals; the lists are bound.
                        values.push(format!("($1, {}, {}, ${})", run[0], run.len(), i + 2));
                        lists.push(id_list(self.backend, run));
                    }
                    let sql = format!(
                        "INSERT INTO delivery_targets (version_id, first_id, id_count, ids) VALUES {}",
                        values.join(", ")
                    );
                    let mut query = sqlx::query(&sql).bind(issue.version_id);
                    for list in lists {
                        query = query.bind(list);
                    }
                    query.execute(&mut *write.tx).await?;
                }
                targets.len() as u64
            }
            Some(previous) => {
                let insert = self.queue_listed();
                let targeted = sqlx::query(&insert)
                    .bind(issue.version_id)
                    .bind(issue.at.0)
                    .bind(id_list(self.backend, &targets))
                    .execute(&mut *write.tx)
                    .await?
                    .rows_affected();
                // Everyone the earlier version was to reach: its rows, and its ids still in runs.
                let (runs, id) = self.ids_in_runs();
                let mut carried = 0;
                for (recipient, earlier) in [
                    ("recipient_id", "deliveries WHERE version_id = $3".to_owned()),
                    (id, format!("{runs} WHERE dt.version_id = $3")),
                ] {
                    let carry = queue_deliveries(recipient, &earlier);
                    carried += sqlx::query(&carry)
                        .bind(issue.version_id)
                        .bind(issue.at.0)
                        .bind(previous)
                        .execute(&mut *write.tx)
                        .await?
                        .rows_affected();
                }
                targeted + carried
            }
        };
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        sqlx::query(
            "UPDATE warning_versions SET target_count = $2, dispatch_cursor = CASE WHEN $2 > 0 THEN 0 END WHERE id = $1",
        )
            .bind(issue.version_id)
            .bind(count)
            .execute(&mut *write.tx)
            .await?;
        write.commit().await?;
        Ok(count)
    }

    /// Adds recipients, or updates those whose `external_id` is already known, under one new
    /// revision, many rows per statement. Returns their ids in input order (a repeated
    /// external id counts once, as its last registration).
    pub async fn upsert_recipients(
        self,
        recipients: &[Registration],
        at: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        // Within one statement an external id may appear once; the last registration wins.
        let mut last_of = std::collections::HashMap::new();
        for (i, recipient) in recipients.iter().enumerate() {
            if let Some(external_id) = &recipient.external_id {
                last_of.insert(external_id.as_str(), i);
            }
        }
        let unique: Vec<&Registration> = recipients
            .iter()
            .enumerate()
            .filter(|(i, r)| r.external_id.as_deref().is_none_or(|id| last_of.get(id) == Some(i)))
            .map(|(_, r)| r)
            .collect();
        let mut write = self.begin_write().await?;
        let revision = next_recipient_revision(&mut write.tx).await?;
        let mut ids = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(recipients_per_statement(self.backend)) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let p: Vec<String> = (1..=8).map(|column| format!("${}", row * 8 + column + 2)).collect();
                    format!(
                        "({}, {}, {}, {}, {}, {}, 1, $1, {}, $2, {})",
                        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO recipients (name, kind, channel, address, lat, lon, active, revision, external_id, created_at, language)
                 VALUES {}
                 ON CONFLICT (external_id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                    channel = excluded.channel, address = excluded.address, lat = excluded.lat, lon = excluded.lon,
                    active = 1, revision = excluded.revision, language = excluded.language
                 RETURNING id",
                rows.join(", ")
            );
            let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(revision).bind(at.0);
            for recipient in chunk {
                query = query
                    .bind(&recipient.name)
                    .bind(recipient.kind.as_str())
                    .bind(recipient.channel.as_str())
                    .bind(&recipient.address)
                    .bind(recipient.position.lat)
                    .bind(recipient.position.lon)
                    .bind(recipient.external_id.as_deref())
                    .bind(recipient.language.as_deref());
            }
            ids.extend(query.fetch_all(&mut *write.tx).await?);
        }
        write.commit().await?;
        Ok(ids)
    }

    /// Stops targeting a recipient; their past deliveries stay on record.
    pub async fn deactivate_recipient(self, id: i64) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let revision = next_recipient_revision(&mut write.tx).await?;
        let changed = sqlx::query("UPDATE recipients SET active = 0, revision = $2 WHERE id = $1")
            .bind(id)
            .bind(revision)
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound("recipient"));
        }
        write.commit().await
    }

    /// Takes up to `limit` deliveries that are due, leasing them until `lease_until`, and
    /// counts the attempt: first those waiting for a retry (or whose dispatcher's lease ran
    /// out), then first attempts, walking each issued version's recipients in id order
    /// behind its dispatch cursor. First attempts need no index of their own, so queuing a
    /// million deliveries writes only the primary key.
    pub async fn claim_due_deliveries(
        self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        // Keys first, through the small partial index; then the update by primary key, so no
        // planner can turn the claim into a scan of the whole outbox. The update repeats the
        // selection's conditions, so a row another dispatcher claimed meanwhile is skipped.
        let due: Vec<(i64, i64)> = sqlx::query(&format!(
            "SELECT version_id, recipient_id FROM deliveries
             WHERE {TAKEN_UP_BY_TIME} AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2"
        ))
        .bind(now.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("version_id")?, row.try_get("recipient_id")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        // The keys are integers read from the database, written as literals. The update runs
        // even with none, so that SQLite's write lock is held from the transaction's start.
        let keys: Vec<String> = due.iter().map(|(v, r)| format!("({v}, {r})")).collect();
        let keys = if keys.is_empty() { "(NULL, NULL)".to_owned() } else { keys.join(", ") };
        let mut write = self.begin_write().await?;
        let retries = sqlx::query(&format!(
            "UPDATE deliveries SET state = 1, attempts = attempts + 1, next_attempt_at = $2
             WHERE (version_id, recipient_id) IN ({keys}) AND {TAKEN_UP_BY_TIME} AND next_attempt_at <= $1
             RETURNING version_id, recipient_id, attempts"
        ))
        .bind(now.0)
        .bind(lease_until.0)
        .fetch_all(&mut *write.tx)
        .await?;
        let mut claimed: Vec<(i64, i64, i64)> = rows_of(&retries)?;
        let pending = sqlx::query(
            "SELECT id, dispatch_cursor FROM warning_versions WHERE dispatch_cursor IS NOT NULL ORDER BY id DESC",
        )
        .fetch_all(&mut *write.tx)
        .await?;
        for version in &pending {
            if claimed.len() as i64 >= limit {
                break;
            }
            let version_id: i64 = version.try_get("id")?;
            let mut cursor: i64 = version.try_get("dispatch_cursor")?;
            let mut done = false;
            loop {
                let wanted = limit - claimed.len() as i64;
                if wanted <= 0 {
                    break;
                }
                // Rows behind the cursor come first: the window runs up to the first id still
                // in a run of targets, as every target below it is a row already (carried
                // from an earlier version, or left queued when a run was split).
                let next_run: Option<i64> =
                    sqlx::query_scalar("SELECT MIN(first_id) FROM delivery_targets WHERE version_id = $1")
                        .bind(version_id)
                        .fetch_one(&mut *write.tx)
                        .await?;
                let window: Vec<i64> = sqlx::query_scalar(
                    "SELECT recipient_id FROM deliveries WHERE version_id = $1 AND recipient_id > $2
                       AND recipient_id < $4 ORDER BY recipient_id LIMIT $3",
                )
                .bind(version_id)
                .bind(cursor)
                .bind(wanted)
                .bind(next_run.unwrap_or(i64::MAX))
                .fetch_all(&mut *write.tx)
                .await?;
                if let Some(&last) = window.last() {
                    let fresh = sqlx::query(
                        "UPDATE deliveries SET state = 1, attempts = 1, next_attempt_at = $4
                         WHERE version_id = $1 AND recipient_id > $2 AND recipient_id <= $3 AND state = 0 AND attempts = 0
                         RETURNING version_id, recipient_id, attempts",
                    )
                    .bind(version_id)
                    .bind(cursor)
                    .bind(last)
                    .bind(lease_until.0)
                    .fetch_all(&mut *write.tx)
                    .await?;
                    claimed.extend(rows_of(&fresh)?);
                    cursor = last;
                }
                let short = usize::try_from(wanted).unwrap_or(usize::MAX) - window.len();
                if short == 0 {
                    break;
                }
                // Short of a full window, the next run becomes rows, as many claimed as wanted.
                let Some(first_id) = next_run else {
                    done = true;
                    break;
                };
                // A run another dispatcher took is rows now, behind the cursor: look again.
                let Some(run) =
                    self.store.claim_run(&mut write, version_id, first_id, short, (now, lease_until)).await?
                else {
                    continue;
                };
                if let Some(&last) = run.claimed.last() {
                    cursor = cursor.max(last);
                }
                claimed.extend(run.claimed.into_iter().map(|recipient| (version_id, recipient, 1)));
                if run.split {
                    break;
                }
            }
            // Another process may have moved the cursor further meanwhile; never move it back.
            sqlx::query(
                "UPDATE warning_versions SET dispatch_cursor = CASE WHEN $3 = 1 THEN NULL
                    WHEN dispatch_cursor < $2 THEN $2 ELSE dispatch_cursor END
                 WHERE id = $1 AND dispatch_cursor IS NOT NULL",
            )
            .bind(version_id)
            .bind(cursor)
            .bind(i64::from(done))
            .execute(&mut *write.tx)
            .await?;
        }
        write.commit().await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        claimed.sort_unstable_by_key(|(_, recipient, _)| *recipient);
        let ids: Vec<i64> = claimed.iter().map(|(_, recipient, _)| *recipient).collect();
        // Only what a delivery needs: a million rows' names and positions are not read.
        let mut addresses = std::collections::HashMap::with_capacity(ids.len());
        for row in self.recipient_columns("r.id, r.channel, r.address, r.language", &ids).await? {
            let channel: String = row.try_get(1)?;
            let channel = Channel::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?;
            addresses.insert(
                row.try_get::<i64, _>(0)?,
                (channel, row.try_get::<String, _>(2)?, row.try_get::<Option<String>, _>(3)?),
            );
        }
        let mut out = Vec::with_capacity(claimed.len());
        for (version_id, recipient_id, attempts) in claimed {
            // One recipient may be in a batch for two versions of a warning.
            if let Some((channel, address, language)) = addresses.get(&recipient_id) {
                let (channel, address, language) = (*channel, String::clone(address), language.clone());
                out.push(ClaimedDelivery {
                    version_id,
                    recipient_id,
                    attempts,
                    channel,
                    address,
                    language,
                    leased_until: lease_until,
                });
            }
        }
        Ok(out)
    }

    /// Writes attempts' outcomes back, up to [`OUTCOMES_PER_STATEMENT`] in one statement. An
    /// outcome for a row that was meanwhile re-claimed by another dispatcher (its lease ran
    /// out) is ignored: the newer attempt decides. A claim is known by its attempt number and
    /// the end of its lease, which a later claim never shares.
    ///
    /// An outcome whose state is still `Sending` hands a delivery back unattempted: its
    /// attempt is taken back and its lease ends at `next_attempt_at`, its last error kept, so
    /// a dispatcher takes it up again as though its lease had run out, with nothing counted.
    ///
    /// The outcomes travel as one JSON argument (receivers' error texts among them), so the
    /// statement's text never changes and is prepared once; the rows it lists are found by
    /// primary key whatever the table's statistics say, as the planner takes a set-returning
    /// function for a hundred rows. The lease is compared as `next_attempt_at + 0`, which no
    /// index serves: a round's claims share one lease, and looking them up through the retry
    /// index by it would walk the whole round for every outcome.
    pub async fn record_attempts(self, outcomes: &[AttemptOutcome], at: Timestamp) -> Result<(), StoreError> {
        let elements = match self.store.backend() {
            Backend::Sqlite => {
                "SELECT json_extract(value, '$[0]') AS version_id, json_extract(value, '$[1]') AS recipient_id,
                    json_extract(value, '$[2]') AS attempts, json_extract(value, '$[3]') AS state,
                    json_extract(value, '$[4]') AS next_attempt_at, json_extract(value, '$[5]') AS last_error,
                    json_extract(value, '$[6]') AS leased_until
                 FROM json_each($2)"
            }
            Backend::Postgres => {
                "SELECT (e->>0)::bigint AS version_id, (e->>1)::bigint AS recipient_id, (e->>2)::bigint AS attempts,
                    (e->>3)::bigint AS state, (e->>4)::bigint AS next_attempt_at, e->>5 AS last_error,
                    (e->>6)::bigint AS leased_until
                 FROM json_array_elements($2::json) AS e"
            }
        };
        let sql = format!(
            "UPDATE deliveries SET state = v.state, next_attempt_at = v.next_attempt_at,
                last_error = CASE WHEN v.state = 1 THEN deliveries.last_error ELSE v.last_error END,
                attempts = CASE WHEN v.state = 1 THEN deliveries.attempts - 1 ELSE deliveries.attempts END,
                sent_at = CASE WHEN v.state = 2 THEN $1 ELSE deliveries.sent_at END
             FROM ({elements}) v WHERE deliveries.version_id = v.version_id AND deliveries.recipient_id = v.recipient_id
                AND deliveries.attempts = v.attempts AND deliveries.next_attempt_at + 0 = v.leased_until
                AND deliveries.state = 1"
        );
        let batches = outcomes
            .chunks(OUTCOMES_PER_STATEMENT)
            .map(|batch| {
                let rows: Vec<_> = batch
                    .iter()
                    .map(|o| {
                        (
                            o.version_id,
                            o.recipient_id,
                            o.attempts,
                            o.state.code(),
                            o.next_attempt_at.0,
                            &o.error,
                            o.leased_until.0,
                        )
                    })
                    .collect();
                serde_json::to_string(&rows)
                    .map_err(|e| StoreError::Corrupt(format!("delivery outcomes: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let statements = batches
            .into_iter()
            .map(|batch| crate::Statement::Bound(sqlx::query(&sql).bind(at.0).bind(batch)))
            .collect();
        self.statements(statements).await?;
        Ok(())
    }

    /// Records a recipient's answer to a delivery; `false` when there is no such delivery.
    /// See [`Writer::answer_deliveries`].
    pub async fn acknowledge_delivery(
        self,
        version_id: i64,
        recipient_id: i64,
        status: AckStatus,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let answered =
            self.answer_deliveries(&[DeliveryAnswer { version_id, recipient_id, status, at }]).await?;
        Ok(answered.first().copied().unwrap_or(false))
    }

    /// Records many recipients' answers at once, all or none (group commit: whoever answers
    /// while the last batch commits goes in the next); for each, whether its delivery exists.
    /// The answer that stands follows `AckStatus::answered`, in the order given: the batch is
    /// folded per delivery here, and one statement applies each fold to the delivery's row
    /// as it stands once locked (`ANSWERED_SQL`), so answers at once on several servers
    /// cannot both read the old one. Rows are locked in key order, so they never deadlock.
    ///
    /// The statement carries only integers and a closed set of words, written as literals
    /// (`Statement::Literal`): up to `ANSWERS_PER_STATEMENT` deliveries are one
    /// round trip; more share a transaction.
    pub async fn answer_deliveries(self, answers: &[DeliveryAnswer]) -> Result<Vec<bool>, StoreError> {
        let mut folded: std::collections::BTreeMap<(i64, i64), (AckStatus, Timestamp)> =
            std::collections::BTreeMap::new();
        for answer in answers {
            let standing = folded.get(&(answer.version_id, answer.recipient_id)).copied();
            let next = AckStatus::answered(standing, (answer.status, answer.at));
            folded.insert((answer.version_id, answer.recipient_id), next);
        }
        let lock = crate::lock_rows(self.store.backend());
        let (ack, ack_at) = &*ANSWERED_SQL;
        let folded: Vec<_> = folded.into_iter().collect();
        let statements: Vec<String> = folded
            .chunks(ANSWERS_PER_STATEMENT)
            .map(|batch| {
                let values: Vec<String> = batch
                    .iter()
                    .map(|((version, recipient), (ack, at))| {
                        format!("({version}, {recipient}, '{}', {})", ack.as_str(), at.0)
                    })
                    .collect();
                format!(
                    "WITH v (version_id, recipient_id, ack, ack_at) AS (VALUES {values}),
                     locked AS (SELECT d.version_id, d.recipient_id FROM deliveries d
                        JOIN v ON d.version_id = v.version_id AND d.recipient_id = v.recipient_id
                        ORDER BY d.version_id, d.recipient_id{lock})
                     UPDATE deliveries SET state = 4, ack = {ack}, ack_at = {ack_at}
                     FROM v JOIN locked ON locked.version_id = v.version_id AND locked.recipient_id = v.recipient_id
                     WHERE deliveries.version_id = v.version_id AND deliveries.recipient_id = v.recipient_id
                     RETURNING deliveries.version_id, deliveries.recipient_id",
                    values = values.join(", ")
                )
            })
            .collect();
        let mut found = std::collections::HashSet::with_capacity(folded.len());
        let statements = statements.iter().map(|text| crate::Statement::Literal(text)).collect();
        for row in self.statements(statements).await? {
            found.insert((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?));
        }
        Ok(answers.iter().map(|a| found.contains(&(a.version_id, a.recipient_id))).collect())
    }

    /// A named secret, created on first use by whoever asks first.
    pub async fn warn_secret(self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query("INSERT INTO warn_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(fresh)
            .execute(&mut *write.tx)
            .await?;
        let value: Vec<u8> = sqlx::query_scalar("SELECT value FROM warn_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *write.tx)
            .await?;
        write.commit().await?;
        Ok(value)
    }

    /// Stores a partner's alert; the same (sender, identifier, sent) twice is a conflict.
    pub async fn insert_partner_alert(
        self,
        alert: &Alert,
        cap_xml: &str,
        origin: &str,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO partner_alerts (sender, identifier, sent, sent_at, msg_type, cap_status, headline,
                expires_at, alert, cap_xml, origin, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(&alert.sender)
        .bind(&alert.identifier)
        .bind(alert.sent.to_string())
        .bind(alert.sent.millis)
        .bind(alert.msg_type.as_str())
        .bind(alert.status.as_str())
        .bind(headline_of(alert))
        .bind(alert.expires().map(|e| e.millis))
        .bind(to_json(alert)?)
        .bind(cap_xml)
        .bind(origin)
        .bind(at.0)
        .fetch_one(&mut *write.tx)
        .await
        .map_err(conflict_as("a partner alert with that sender, identifier and sent time"))?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Registers a partner's key (already read and fingerprinted by the caller) for a sender.
    pub async fn add_partner_key(self, key: &PartnerKeyRecord, by: UserId) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO partner_keys (sender, label, public_key, fingerprint, added_by, added_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&key.sender)
        .bind(&key.label)
        .bind(&key.public_key)
        .bind(&key.fingerprint)
        .bind(by.0)
        .bind(key.added_at.0)
        .fetch_one(&mut *write.tx)
        .await
        .map_err(conflict_as("that key registered for that sender"))?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Withdraws a partner's key (rotated, or compromised); alerts it verified are checked
    /// again against the keys that remain.
    pub async fn remove_partner_key(self, id: i64) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query("DELETE FROM partner_keys WHERE id = $1")
            .bind(id)
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        if rows != 1 {
            return Err(StoreError::NotFound("partner key"));
        }
        write.commit().await
    }

    /// Stops polling a partner's feed; the alerts already taken from it stay.
    pub async fn remove_partner_feed(self, id: i64) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query("DELETE FROM partner_feeds WHERE id = $1")
            .bind(id)
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        one_feed(rows)?;
        write.commit().await
    }

    pub async fn add_partner_feed(self, url: &str, by: UserId, at: Timestamp) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO partner_feeds (url, added_by, added_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(url)
        .bind(by.0)
        .bind(at.0)
        .fetch_one(&mut *write.tx)
        .await
        .map_err(conflict_as("a partner feed with that URL"))?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Pauses a feed, or resumes it (due at the next round, its failures forgotten).
    pub async fn set_partner_feed_paused(self, id: i64, paused: bool) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE partner_feeds SET paused = $2,
                 failures = CASE WHEN $2 = 0 THEN 0 ELSE failures END,
                 next_poll_at = CASE WHEN $2 = 0 THEN NULL ELSE next_poll_at END
             WHERE id = $1",
        )
        .bind(id)
        .bind(i64::from(paused))
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        one_feed(rows)?;
        write.commit().await
    }

    /// Records a poll: its time, its first error (`None` for a clean poll, which forgets
    /// earlier failures) and when the feed is next due.
    pub async fn note_feed_poll(
        self,
        id: i64,
        at: Timestamp,
        error: Option<&str>,
        next_poll_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "UPDATE partner_feeds SET last_polled_at = $2, last_error = $3, next_poll_at = $4,
                 failures = CASE WHEN $3 IS NULL THEN 0 ELSE failures + 1 END
             WHERE id = $1",
        )
        .bind(id)
        .bind(at.0)
        .bind(error)
        .bind(next_poll_at.0)
        .execute(&mut *write.tx)
        .await?;
        write.commit().await
    }
}

/// A change that names a partner feed touched it, or the feed does not exist.
fn one_feed(rows: u64) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound("partner feed"))
    }
}

/// (version, recipient, attempts) of claimed deliveries.
fn rows_of(rows: &[AnyRow]) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    rows.iter()
        .map(|row| Ok((row.try_get("version_id")?, row.try_get("recipient_id")?, row.try_get("attempts")?)))
        .collect()
}

/// Rows per multi-row INSERT. SQLite resolves each bound `$N` by scanning the statement's
/// parameter names (sqlx binds by name), so binding costs grow with the statement's width:
/// narrow statements there, wide ones on PostgreSQL.
fn recipients_per_statement(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 40,
        Backend::Postgres => 1_000,
    }
}

/// What issuing a version needs.
pub struct IssueVersion<'a> {
    pub version_id: i64,
    /// The alert as issued (its `sent` is the moment of issue); its XML is what is served.
    pub alert: &'a Alert,
    pub approved_by: Option<UserId>,
    pub at: Timestamp,
    /// Recipient ids inside the alert's areas, ascending.
    pub targets: &'a [i64],
    /// The version this one replaces: its recipients hear of the update or cancellation too.
    pub carry_from: Option<i64>,
}

/// The headline people see in lists: the first info's headline, else its event.
pub fn headline_of(alert: &Alert) -> String {
    alert
        .infos
        .first()
        .map(|info| info.headline.clone().unwrap_or_else(|| info.event.clone()))
        .unwrap_or_else(|| format!("{} {}", alert.msg_type, alert.identifier))
}

async fn insert_version(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    warning_id: i64,
    version: i64,
    alert: &Alert,
    by: UserId,
    at: Timestamp,
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO warning_versions (warning_id, version, identifier, msg_type, cap_status, state, headline,
            alert, expires_at, drafted_by, drafted_at)
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(warning_id)
    .bind(version)
    .bind(&alert.identifier)
    .bind(alert.msg_type.as_str())
    .bind(alert.status.as_str())
    .bind(headline_of(alert))
    .bind(to_json(alert)?)
    .bind(alert.expires().map(|e| e.millis))
    .bind(by.0)
    .bind(at.0)
    .fetch_one(&mut **tx)
    .await
    .map_err(conflict_as("an alert with that identifier"))?;
    Ok(id)
}

async fn next_recipient_revision(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE warn_counters SET value = value + 1 WHERE name = 'recipient_revision' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A run of targets is read back exactly as it was written, on either backend.
        #[test]
        fn an_id_list_reads_back_as_written(ids in proptest::collection::vec(any::<i64>(), 0..200)) {
            for backend in [Backend::Sqlite, Backend::Postgres] {
                prop_assert_eq!(parse_id_list(&id_list(backend, &ids)).unwrap(), ids.clone());
            }
        }
    }

    #[test]
    fn a_damaged_id_list_is_an_error_not_a_guess() {
        assert!(matches!(parse_id_list("[1,two,3]"), Err(StoreError::Corrupt(_))));
    }
}
