//! The source lifecycle's records: authorisations and their register of events, risk
//! assessments, contacts, tasks, welfare records, payments and the ledger.
//!
//! The rules live in `tearline_lifecycle`; this module stores what they decided. State
//! changes are conditional updates (`WHERE state = ...`), so two officers acting at once
//! cannot both move the same record, and the loser hears [`StoreError::StateChanged`].

use sqlx::any::AnyRow;
use sqlx::Row;
use tearline_domain::{SourceId, Timestamp, UnitId, UserId};
use tearline_lifecycle::above_line::{CaseDetails, ContactNotes, RiskNarrative, WelfareNotes};
use tearline_lifecycle::authorisation::{Application, AuthorisationKind, Deployment, EventKind, Grant};
use tearline_lifecycle::ledger::{Account, Currency, Entry, Ledger, LedgerError, Line, Money};

use crate::above_line::{bind_sealed, sealed_record, sealed_text, SEALED_COLUMNS};
use crate::{Backend, SealedColumns, SealedRecord, Store, StoreError, WriteTx, Writer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorisationState {
    Applied,
    Granted,
    Refused,
    Cancelled,
}

impl AuthorisationState {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorisationState::Applied => "applied",
            AuthorisationState::Granted => "granted",
            AuthorisationState::Refused => "refused",
            AuthorisationState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<AuthorisationState> {
        [
            AuthorisationState::Applied,
            AuthorisationState::Granted,
            AuthorisationState::Refused,
            AuthorisationState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// An authorisation: the application, and what was decided. `T` is the application's case:
/// sealed as stored, [`CaseDetails`] once opened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuthorisationRecord<T = SealedColumns> {
    pub id: i64,
    pub source_id: SourceId,
    pub application: Application<T>,
    pub applicant_id: UserId,
    pub applied_at: Timestamp,
    pub state: AuthorisationState,
    pub authoriser_id: Option<UserId>,
    pub grant: Option<Grant>,
    pub written_up_at: Option<Timestamp>,
    /// When it was refused or cancelled.
    pub ended_at: Option<Timestamp>,
}

impl SealedRecord for AuthorisationRecord {
    type Text = CaseDetails;
    type Opened = AuthorisationRecord<CaseDetails>;
    fn source_id(&self) -> SourceId {
        self.source_id
    }
    fn sealed(&self) -> &SealedColumns {
        &self.application.case
    }
    fn opened(self, case: CaseDetails) -> AuthorisationRecord<CaseDetails> {
        self.with_case(case)
    }
}

impl<T> AuthorisationRecord<T> {
    /// The same authorisation with another case: opened, or withheld (`()`).
    pub fn with_case<U>(self, case: U) -> AuthorisationRecord<U> {
        let Application { kind, vulnerable, .. } = self.application;
        AuthorisationRecord {
            application: Application { kind, vulnerable, case },
            id: self.id,
            source_id: self.source_id,
            applicant_id: self.applicant_id,
            applied_at: self.applied_at,
            state: self.state,
            authoriser_id: self.authoriser_id,
            grant: self.grant,
            written_up_at: self.written_up_at,
            ended_at: self.ended_at,
        }
    }

    /// The grant, if it is in force at `now`.
    pub fn live_grant(&self, now: Timestamp) -> Option<Grant> {
        self.grant.filter(|grant| self.state == AuthorisationState::Granted && grant.is_live(now))
    }

    /// The span this authorisation deployed the source, for the cumulative clock.
    pub fn deployment(&self) -> Option<Deployment> {
        let grant = self.grant?;
        let until = match self.state {
            AuthorisationState::Cancelled => self.ended_at.unwrap_or(grant.expires_at).min(grant.expires_at),
            _ => grant.expires_at,
        };
        Some(Deployment { from: grant.starts_at, until })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuthorisationEvent {
    pub id: i64,
    pub authorisation_id: i64,
    pub at: Timestamp,
    pub actor_id: UserId,
    pub actor: String,
    pub kind: EventKind,
    pub note: String,
    /// The expiry a grant or renewal set.
    pub expires_at: Option<Timestamp>,
    /// The risk assessment a review was made against.
    pub risk_assessment_id: Option<i64>,
}

/// One row of the unit's register: an authorisation with its source and every event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegisterRow<T = SealedColumns> {
    pub code_name: String,
    pub reference: String,
    pub authorisation: AuthorisationRecord<T>,
    pub events: Vec<AuthorisationEvent>,
}

/// A version of a source's risk assessment; `T` is its narrative, sealed as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RiskAssessment<T = SealedColumns> {
    pub id: i64,
    pub source_id: SourceId,
    pub version: i64,
    pub assessed_by: UserId,
    pub assessed_at: Timestamp,
    pub risk_level: String,
    #[serde(flatten)]
    pub text: T,
}
sealed_record!(RiskAssessment, RiskNarrative, [id, source_id, version, assessed_by, assessed_at, risk_level]);

pub struct NewRiskAssessment<'a> {
    pub source_id: SourceId,
    pub assessed_by: UserId,
    pub at: Timestamp,
    pub risk_level: &'a str,
    pub text: &'a SealedColumns,
}

/// A contact with a source; `T` is where it was and what passed, sealed as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Contact<T = SealedColumns> {
    pub id: i64,
    pub source_id: SourceId,
    pub logged_by: UserId,
    pub at: Timestamp,
    pub method: String,
    #[serde(flatten)]
    pub text: T,
    /// Whether an authorisation was live when the contact happened.
    pub authorised: bool,
    /// The source's situation (or that of the family member their help turns on) changed:
    /// a welfare check and a risk review fall due.
    pub situation_changed: bool,
}
sealed_record!(Contact, ContactNotes, [id, source_id, logged_by, at, method, authorised, situation_changed]);

pub struct NewContact<'a> {
    pub source_id: SourceId,
    pub logged_by: UserId,
    pub at: Timestamp,
    pub method: &'a str,
    pub text: &'a SealedColumns,
    pub authorised: bool,
    pub situation_changed: bool,
    pub logged_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    pub id: i64,
    pub source_id: SourceId,
    pub given_by: UserId,
    pub given_at: Timestamp,
    pub description: String,
    pub acknowledged_at: Option<Timestamp>,
}

/// A welfare check or concern; `T` is its notes, sealed as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WelfareRecord<T = SealedColumns> {
    pub id: i64,
    pub source_id: SourceId,
    pub recorded_by: UserId,
    pub at: Timestamp,
    /// `check` or `concern`.
    pub kind: String,
    #[serde(flatten)]
    pub text: T,
}
sealed_record!(WelfareRecord, WelfareNotes, [id, source_id, recorded_by, at, kind]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaymentState {
    Requested,
    Approved,
    Refused,
    Paid,
    Receipted,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Requested => "requested",
            PaymentState::Approved => "approved",
            PaymentState::Refused => "refused",
            PaymentState::Paid => "paid",
            PaymentState::Receipted => "receipted",
        }
    }

    fn parse(s: &str) -> Option<PaymentState> {
        [
            PaymentState::Requested,
            PaymentState::Approved,
            PaymentState::Refused,
            PaymentState::Paid,
            PaymentState::Receipted,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }

    /// Whether the payment was approved (and so counts towards the thresholds).
    pub fn approved(self) -> bool {
        matches!(self, PaymentState::Approved | PaymentState::Paid | PaymentState::Receipted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Payment {
    pub id: i64,
    pub source_id: SourceId,
    pub requested_by: UserId,
    pub requested_at: Timestamp,
    pub amount: Money,
    pub purpose: String,
    pub state: PaymentState,
    /// The thresholds the request crossed; any means a senior approver.
    pub thresholds_crossed: Vec<String>,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<Timestamp>,
    pub decision_note: Option<String>,
    pub paid_by: Option<UserId>,
    pub witness_id: Option<UserId>,
    pub paid_at: Option<Timestamp>,
    /// The code name the source signed the receipt with.
    pub receipt_code_name: Option<String>,
    pub receipt_at: Option<Timestamp>,
}

pub struct NewPayment<'a> {
    pub source_id: SourceId,
    pub requested_by: UserId,
    pub at: Timestamp,
    pub amount: Money,
    pub purpose: &'a str,
    pub thresholds_crossed: &'a [&'a str],
}

fn opt_time(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(Timestamp))
}

fn opt_user(row: &AnyRow, column: &str) -> Result<Option<UserId>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(UserId))
}

const AUTHORISATION_COLUMNS: &str = "a.id, a.source_id, a.kind, a.vulnerable, a.sealed_key_id,
    a.sealed_wrapped_key, a.sealed_text, a.applicant_id, a.applied_at, a.state, a.authoriser_id, a.starts_at,
    a.expires_at, a.review_every_millis, a.written_up_at, a.ended_at";

fn authorisation_from_row(row: &AnyRow) -> Result<AuthorisationRecord, StoreError> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("authorisation {id}: {what}"));
    let kind = AuthorisationKind::parse(&row.try_get::<String, _>("kind")?).ok_or_else(|| corrupt("kind"))?;
    let state =
        AuthorisationState::parse(&row.try_get::<String, _>("state")?).ok_or_else(|| corrupt("state"))?;
    let grant = match (
        row.try_get::<Option<i64>, _>("starts_at")?,
        row.try_get::<Option<i64>, _>("expires_at")?,
        row.try_get::<Option<i64>, _>("review_every_millis")?,
    ) {
        (Some(starts), Some(expires), Some(every)) => Some(Grant {
            kind,
            starts_at: Timestamp(starts),
            expires_at: Timestamp(expires),
            review_every_millis: every,
        }),
        _ => None,
    };
    Ok(AuthorisationRecord {
        id,
        source_id: SourceId(row.try_get("source_id")?),
        application: Application {
            kind,
            vulnerable: row.try_get::<i64, _>("vulnerable")? != 0,
            case: sealed_text(row, &format!("authorisation {id}"))?,
        },
        applicant_id: UserId(row.try_get("applicant_id")?),
        applied_at: Timestamp(row.try_get("applied_at")?),
        state,
        authoriser_id: opt_user(row, "authoriser_id")?,
        grant,
        written_up_at: opt_time(row, "written_up_at")?,
        ended_at: opt_time(row, "ended_at")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<AuthorisationEvent, StoreError> {
    let id: i64 = row.try_get("id")?;
    let kind: String = row.try_get("event")?;
    Ok(AuthorisationEvent {
        id,
        authorisation_id: row.try_get("authorisation_id")?,
        at: Timestamp(row.try_get("at")?),
        actor_id: UserId(row.try_get("actor_id")?),
        actor: row.try_get("username")?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("authorisation event {id}: kind {kind:?}")))?,
        note: row.try_get("note")?,
        expires_at: opt_time(row, "expires_at")?,
        risk_assessment_id: row.try_get("risk_assessment_id")?,
    })
}

const EVENT_COLUMNS: &str = "e.id, e.authorisation_id, e.at, e.actor_id, u.username, e.event, e.note,
    e.expires_at, e.risk_assessment_id";

fn payment_from_row(row: &AnyRow) -> Result<Payment, StoreError> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("payment {id}: {what}"));
    let currency =
        Currency::parse(&row.try_get::<String, _>("currency")?).map_err(|_| corrupt("currency"))?;
    let crossed: String = row.try_get("thresholds_crossed")?;
    Ok(Payment {
        id,
        source_id: SourceId(row.try_get("source_id")?),
        requested_by: UserId(row.try_get("requested_by")?),
        requested_at: Timestamp(row.try_get("requested_at")?),
        amount: Money { minor: row.try_get("amount_minor")?, currency },
        purpose: row.try_get("purpose")?,
        state: PaymentState::parse(&row.try_get::<String, _>("state")?).ok_or_else(|| corrupt("state"))?,
        thresholds_crossed: crossed.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
        decided_by: opt_user(row, "decided_by")?,
        decided_at: opt_time(row, "decided_at")?,
        decision_note: row.try_get("decision_note")?,
        paid_by: opt_user(row, "paid_by")?,
        witness_id: opt_user(row, "witness_id")?,
        paid_at: opt_time(row, "paid_at")?,
        receipt_code_name: row.try_get("receipt_code_name")?,
        receipt_at: opt_time(row, "receipt_at")?,
    })
}

/// Fails with [`StoreError::StateChanged`] when a conditional update matched no row.
fn changed(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::StateChanged(what))
    }
}

impl Store {
    pub async fn authorisation(&self, id: i64) -> Result<Option<AuthorisationRecord>, StoreError> {
        let sql = format!("SELECT {AUTHORISATION_COLUMNS} FROM authorisations a WHERE a.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(authorisation_from_row).transpose()
    }

    /// A source's authorisations, oldest first.
    pub async fn authorisations_of(&self, source: SourceId) -> Result<Vec<AuthorisationRecord>, StoreError> {
        let sql = format!(
            "SELECT {AUTHORISATION_COLUMNS} FROM authorisations a WHERE a.source_id = $1 ORDER BY a.id"
        );
        let rows = sqlx::query(&sql).bind(source.0).fetch_all(&self.pool).await?;
        rows.iter().map(authorisation_from_row).collect()
    }

    /// Every event of a source's authorisations, in order.
    pub async fn authorisation_events_of(
        &self,
        source: SourceId,
    ) -> Result<Vec<AuthorisationEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM authorisation_events e JOIN users u ON u.id = e.actor_id
             JOIN authorisations a ON a.id = e.authorisation_id WHERE a.source_id = $1 ORDER BY e.id"
        );
        let rows = sqlx::query(&sql).bind(source.0).fetch_all(&self.pool).await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The unit's register: every authorisation ever applied for, with its events.
    pub async fn authorisation_register(&self, unit: UnitId) -> Result<Vec<RegisterRow>, StoreError> {
        let sql = format!(
            "SELECT {AUTHORISATION_COLUMNS}, s.code_name, s.reference FROM authorisations a
             JOIN sources s ON s.id = a.source_id WHERE s.unit_id = $1 ORDER BY a.id"
        );
        let rows = sqlx::query(&sql).bind(unit.0).fetch_all(&self.pool).await?;
        let events_sql = format!(
            "SELECT {EVENT_COLUMNS} FROM authorisation_events e JOIN users u ON u.id = e.actor_id
             JOIN authorisations a ON a.id = e.authorisation_id JOIN sources s ON s.id = a.source_id
             WHERE s.unit_id = $1 ORDER BY e.id"
        );
        let events: Vec<AuthorisationEvent> = sqlx::query(&events_sql)
            .bind(unit.0)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()?;
        rows.iter()
            .map(|row| {
                let authorisation = authorisation_from_row(row)?;
                let events =
                    events.iter().filter(|e| e.authorisation_id == authorisation.id).cloned().collect();
                Ok(RegisterRow {
                    code_name: row.try_get("code_name")?,
                    reference: row.try_get("reference")?,
                    authorisation,
                    events,
                })
            })
            .collect()
    }

    /// A source's risk assessments, newest first.
    pub async fn risk_assessments(&self, source: SourceId) -> Result<Vec<RiskAssessment>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, source_id, version, assessed_by, assessed_at, risk_level, sealed_key_id, sealed_wrapped_key,
                sealed_text
             FROM risk_assessments WHERE source_id = $1 ORDER BY version DESC",
        )
        .bind(source.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(RiskAssessment {
                    id,
                    source_id: SourceId(row.try_get("source_id")?),
                    version: row.try_get("version")?,
                    assessed_by: UserId(row.try_get("assessed_by")?),
                    assessed_at: Timestamp(row.try_get("assessed_at")?),
                    risk_level: row.try_get("risk_level")?,
                    text: sealed_text(row, &format!("risk assessment {id}"))?,
                })
            })
            .collect()
    }

    /// A source's contacts, newest first.
    pub async fn contacts(&self, source: SourceId) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, source_id, logged_by, at, method, sealed_key_id, sealed_wrapped_key, sealed_text, authorised,
                situation_changed FROM contacts
             WHERE source_id = $1 ORDER BY at DESC, id DESC",
        )
        .bind(source.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(Contact {
                    id,
                    source_id: SourceId(row.try_get("source_id")?),
                    logged_by: UserId(row.try_get("logged_by")?),
                    at: Timestamp(row.try_get("at")?),
                    method: row.try_get("method")?,
                    text: sealed_text(row, &format!("contact {id}"))?,
                    authorised: row.try_get::<i64, _>("authorised")? != 0,
                    situation_changed: row.try_get::<i64, _>("situation_changed")? != 0,
                })
            })
            .collect()
    }

    pub async fn task(&self, id: i64) -> Result<Option<Task>, StoreError> {
        Ok(self.tasks_where("id = $1", id).await?.into_iter().next())
    }

    /// A source's tasks, newest first.
    pub async fn tasks(&self, source: SourceId) -> Result<Vec<Task>, StoreError> {
        self.tasks_where("source_id = $1", source.0).await
    }

    async fn tasks_where(&self, condition: &str, value: i64) -> Result<Vec<Task>, StoreError> {
        let sql = format!(
            "SELECT id, source_id, given_by, given_at, description, acknowledged_at FROM tasks
             WHERE {condition} ORDER BY given_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql).bind(value).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(Task {
                    id: row.try_get("id")?,
                    source_id: SourceId(row.try_get("source_id")?),
                    given_by: UserId(row.try_get("given_by")?),
                    given_at: Timestamp(row.try_get("given_at")?),
                    description: row.try_get("description")?,
                    acknowledged_at: opt_time(row, "acknowledged_at")?,
                })
            })
            .collect()
    }

    /// A source's welfare checks and concerns, newest first.
    pub async fn welfare_records(&self, source: SourceId) -> Result<Vec<WelfareRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, source_id, recorded_by, at, kind, sealed_key_id, sealed_wrapped_key, sealed_text
             FROM welfare_records
             WHERE source_id = $1 ORDER BY at DESC, id DESC",
        )
        .bind(source.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(WelfareRecord {
                    id,
                    source_id: SourceId(row.try_get("source_id")?),
                    recorded_by: UserId(row.try_get("recorded_by")?),
                    at: Timestamp(row.try_get("at")?),
                    kind: row.try_get("kind")?,
                    text: sealed_text(row, &format!("welfare record {id}"))?,
                })
            })
            .collect()
    }

    pub async fn payment(&self, id: i64) -> Result<Option<Payment>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM payments WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// A source's payments, oldest first.
    pub async fn payments(&self, source: SourceId) -> Result<Vec<Payment>, StoreError> {
        let rows = sqlx::query("SELECT * FROM payments WHERE source_id = $1 ORDER BY requested_at, id")
            .bind(source.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(payment_from_row).collect()
    }

    /// The source's approved payments in `payment`'s currency other than `payment` itself:
    /// when each was approved and its amount, as the payment thresholds count them.
    pub async fn approved_amounts(&self, payment: &Payment) -> Result<Vec<(Timestamp, i64)>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        approved_amounts(&mut connection, payment).await
    }

    /// The whole ledger, checked as it is loaded.
    pub async fn ledger(&self) -> Result<Ledger, StoreError> {
        let mut connection = self.pool.acquire().await?;
        load_ledger(&mut connection).await
    }

    /// Runs a ledger operation on the ledger as it stands inside `write` and appends what it
    /// posted. Posts are serialised (SQLite's single writer; an advisory lock on PostgreSQL),
    /// so entry ids stay positions.
    async fn post(
        &self,
        write: &mut WriteTx<'_>,
        by: UserId,
        payment: Option<i64>,
        operation: impl FnOnce(&mut Ledger) -> Result<u64, LedgerError>,
    ) -> Result<u64, StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LEDGER_LOCK).execute(&mut *write.tx).await?;
        }
        let mut ledger = load_ledger(&mut write.tx).await?;
        let before = ledger.entries().len();
        let id = operation(&mut ledger)?;
        for entry in ledger.appended_since(before) {
            sqlx::query(
                "INSERT INTO ledger_entries (id, at, memo, reverses, payment_id, posted_by)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(entry_id(entry.id)?)
            .bind(entry.at.0)
            .bind(&entry.memo)
            .bind(entry.reverses.map(entry_id).transpose()?)
            .bind(payment)
            .bind(by.0)
            .execute(&mut *write.tx)
            .await?;
            for (number, line) in entry.lines.iter().enumerate() {
                let (account, source) = line.account.parts();
                sqlx::query(
                    "INSERT INTO ledger_lines (entry_id, line_no, account, source_id, currency, amount_minor)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(entry_id(entry.id)?)
                .bind(number as i64)
                .bind(account)
                .bind(source.map(|s| s.0))
                .bind(line.amount.currency.code())
                .bind(line.amount.minor)
                .execute(&mut *write.tx)
                .await?;
            }
        }
        Ok(id)
    }
}

impl Writer<'_> {
    /// Files an application. Refused while the source has a live authorisation (renew that
    /// instead): authorisations never overlap.
    pub async fn apply_for_authorisation(
        self,
        source: SourceId,
        application: &Application<SealedColumns>,
        applicant: UserId,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM authorisations WHERE source_id = $1
               AND state = 'granted' AND starts_at <= $2 AND expires_at > $2",
        )
        .bind(source.0)
        .bind(at.0)
        .fetch_one(&mut *write.tx)
        .await?;
        if open > 0 {
            return Err(StoreError::Conflict("a live authorisation for this source (renew it instead)"));
        }
        let sql = format!(
            "INSERT INTO authorisations (source_id, kind, vulnerable, applicant_id, applied_at, state, {SEALED_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, 'applied', $6, $7, $8) RETURNING id"
        );
        let query = sqlx::query(&sql)
            .bind(source.0)
            .bind(application.kind.as_str())
            .bind(i64::from(application.vulnerable))
            .bind(applicant.0)
            .bind(at.0);
        let id: i64 = bind_sealed(query, &application.case).fetch_one(&mut *write.tx).await?.try_get(0)?;
        NewEvent::new(id, EventKind::Applied, applicant, at, "").insert(&mut write).await?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Records an attempt a rule refused (self-authorisation, too junior an officer): the
    /// register shows that it was tried and stopped.
    pub async fn note_refused_attempt(
        self,
        id: i64,
        kind: EventKind,
        actor: UserId,
        at: Timestamp,
        note: &str,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        NewEvent::new(id, kind, actor, at, note).insert(&mut write).await?;
        write.commit().await
    }

    pub async fn grant_authorisation(
        self,
        id: i64,
        authoriser: UserId,
        grant: &Grant,
        note: &str,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let overlapping: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM authorisations WHERE state = 'granted' AND expires_at > $2 AND id <> $1
               AND source_id = (SELECT source_id FROM authorisations WHERE id = $1)",
        )
        .bind(id)
        .bind(grant.starts_at.0)
        .fetch_one(&mut *write.tx)
        .await?;
        if overlapping > 0 {
            return Err(StoreError::Conflict("a live authorisation for this source (renew it instead)"));
        }
        let rows = sqlx::query(
            "UPDATE authorisations SET state = 'granted', authoriser_id = $2, starts_at = $3, expires_at = $4,
                review_every_millis = $5 WHERE id = $1 AND state = 'applied'",
        )
        .bind(id)
        .bind(authoriser.0)
        .bind(grant.starts_at.0)
        .bind(grant.expires_at.0)
        .bind(grant.review_every_millis)
        .execute(&mut *write.tx)
        .await
        .map_err(overlapping_grant_as_conflict)?
        .rows_affected();
        changed(rows, "the application was decided meanwhile")?;
        NewEvent {
            expires_at: Some(grant.expires_at),
            ..NewEvent::new(id, EventKind::Granted, authoriser, grant.starts_at, note)
        }
        .insert(&mut write)
        .await?;
        write.commit().await
    }

    /// Ends an application (refused) or a grant (cancelled), with the reason.
    pub async fn end_authorisation(
        self,
        id: i64,
        kind: EventKind,
        actor: UserId,
        at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError> {
        let (from, to, what) = match kind {
            EventKind::Refused => ("applied", "refused", "the application was decided meanwhile"),
            EventKind::Cancelled => ("granted", "cancelled", "the authorisation is no longer in force"),
            _ => return Err(StoreError::Corrupt(format!("{} does not end an authorisation", kind.as_str()))),
        };
        let mut write = self.begin_write().await?;
        let rows =
            sqlx::query("UPDATE authorisations SET state = $2, ended_at = $3 WHERE id = $1 AND state = $4")
                .bind(id)
                .bind(to)
                .bind(at.0)
                .bind(from)
                .execute(&mut *write.tx)
                .await?
                .rows_affected();
        changed(rows, what)?;
        NewEvent::new(id, kind, actor, at, reason).insert(&mut write).await?;
        write.commit().await
    }

    /// Moves the expiry of a granted authorisation from `old` to `new`.
    pub async fn renew_authorisation(
        self,
        id: i64,
        actor: UserId,
        old: Timestamp,
        new: Timestamp,
        at: Timestamp,
        note: &str,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE authorisations SET expires_at = $3 WHERE id = $1 AND state = 'granted' AND expires_at = $2",
        )
        .bind(id)
        .bind(old.0)
        .bind(new.0)
        .execute(&mut *write.tx)
        .await
        .map_err(overlapping_grant_as_conflict)?
        .rows_affected();
        changed(rows, "the authorisation changed meanwhile")?;
        NewEvent { expires_at: Some(new), ..NewEvent::new(id, EventKind::Renewed, actor, at, note) }
            .insert(&mut write)
            .await?;
        write.commit().await
    }

    /// Records a review of a granted authorisation against a risk assessment.
    pub async fn review_authorisation(
        self,
        id: i64,
        actor: UserId,
        at: Timestamp,
        note: &str,
        risk_assessment: i64,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        NewEvent {
            risk_assessment: Some(risk_assessment),
            ..NewEvent::new(id, EventKind::Reviewed, actor, at, note)
        }
        .insert(&mut write)
        .await?;
        write.commit().await
    }

    /// Records that an urgent oral authorisation was written up.
    pub async fn write_up_authorisation(
        self,
        id: i64,
        actor: UserId,
        at: Timestamp,
        note: &str,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE authorisations SET written_up_at = $2
             WHERE id = $1 AND kind = 'urgent-oral' AND state = 'granted' AND written_up_at IS NULL",
        )
        .bind(id)
        .bind(at.0)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        changed(rows, "only a granted urgent oral authorisation not yet written up can be written up")?;
        NewEvent::new(id, EventKind::WrittenUp, actor, at, note).insert(&mut write).await?;
        write.commit().await
    }

    /// Adds the next version of a source's risk assessment; returns (id, version).
    pub async fn add_risk_assessment(self, new: NewRiskAssessment<'_>) -> Result<(i64, i64), StoreError> {
        let mut write = self.begin_write().await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM risk_assessments WHERE source_id = $1")
                .bind(new.source_id.0)
                .fetch_one(&mut *write.tx)
                .await?;
        let version = latest.unwrap_or(0) + 1;
        let sql = format!(
            "INSERT INTO risk_assessments (source_id, version, assessed_by, assessed_at, risk_level,
                explained_and_understood, {SEALED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8) RETURNING id"
        );
        let query = sqlx::query(&sql)
            .bind(new.source_id.0)
            .bind(version)
            .bind(new.assessed_by.0)
            .bind(new.at.0)
            .bind(new.risk_level);
        let id: i64 = bind_sealed(query, new.text)
            .fetch_one(&mut *write.tx)
            .await
            .map_err(crate::conflict_as("that risk assessment version"))?
            .try_get(0)?;
        write.created(id);
        write.commit().await?;
        Ok((id, version))
    }

    pub async fn log_contact(self, contact: NewContact<'_>) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO contacts (source_id, logged_by, at, method, authorised, situation_changed, logged_at,
                 {SEALED_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
        );
        let query = sqlx::query(&sql)
            .bind(contact.source_id.0)
            .bind(contact.logged_by.0)
            .bind(contact.at.0)
            .bind(contact.method)
            .bind(i64::from(contact.authorised))
            .bind(i64::from(contact.situation_changed))
            .bind(contact.logged_at.0);
        let id: i64 = bind_sealed(query, contact.text).fetch_one(&mut *write.tx).await?.try_get(0)?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    pub async fn give_task(
        self,
        source: SourceId,
        given_by: UserId,
        at: Timestamp,
        description: &str,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tasks (source_id, given_by, given_at, description) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(source.0)
        .bind(given_by.0)
        .bind(at.0)
        .bind(description)
        .fetch_one(&mut *write.tx)
        .await?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Records that the source acknowledged a task. Acknowledging again changes nothing:
    /// the first acknowledgement stands.
    pub async fn acknowledge_task(self, task: i64, at: Timestamp) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE tasks SET acknowledged_at = $2 WHERE id = $1 AND acknowledged_at IS NULL")
            .bind(task)
            .bind(at.0)
            .execute(&mut *write.tx)
            .await?;
        write.commit().await
    }

    pub async fn record_welfare(
        self,
        source: SourceId,
        recorded_by: UserId,
        at: Timestamp,
        kind: &str,
        notes: &SealedColumns,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO welfare_records (source_id, recorded_by, at, kind, {SEALED_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        );
        let query = sqlx::query(&sql).bind(source.0).bind(recorded_by.0).bind(at.0).bind(kind);
        let id: i64 = bind_sealed(query, notes).fetch_one(&mut *write.tx).await?.try_get(0)?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Files a payment request, attested as not contingent on any outcome.
    pub async fn request_payment(self, new: NewPayment<'_>) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO payments (source_id, requested_by, requested_at, amount_minor, currency, purpose,
                not_contingent, state, thresholds_crossed)
             VALUES ($1, $2, $3, $4, $5, $6, 1, 'requested', $7) RETURNING id",
        )
        .bind(new.source_id.0)
        .bind(new.requested_by.0)
        .bind(new.at.0)
        .bind(new.amount.minor)
        .bind(new.amount.currency.code())
        .bind(new.purpose)
        .bind(new.thresholds_crossed.join(","))
        .fetch_one(&mut *write.tx)
        .await?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Approves a requested payment and posts it to the ledger, in one transaction.
    /// Approves a requested payment and posts it to the ledger, unless `stops`, given the
    /// source's earlier approvals in the payment's currency as the transaction sees them,
    /// names a threshold that stops this approver.
    pub async fn approve_payment(
        self,
        payment: &Payment,
        by: UserId,
        at: Timestamp,
        note: &str,
        stops: impl FnOnce(&[(Timestamp, i64)]) -> Vec<&'static str>,
    ) -> Result<Approval, StoreError> {
        let mut write = self.begin_write().await?;
        // Approvals of the ledger take turns (the advisory lock `post` takes again, or
        // SQLite's single writer), so the thresholds below see every approval committed
        // before this one, and none can commit between the check and the approval.
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LEDGER_LOCK).execute(&mut *write.tx).await?;
        }
        let earlier = approved_amounts(&mut write.tx, payment).await?;
        let stopped = stops(&earlier);
        if !stopped.is_empty() {
            return Ok(Approval::Stopped(stopped));
        }
        let rows = sqlx::query(
            "UPDATE payments SET state = 'approved', decided_by = $2, decided_at = $3, decision_note = $4
             WHERE id = $1 AND state = 'requested'",
        )
        .bind(payment.id)
        .bind(by.0)
        .bind(at.0)
        .bind(note)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        changed(rows, "the payment was decided meanwhile")?;
        let entry = self
            .post(&mut write, by, Some(payment.id), |ledger| {
                ledger.approve_payment(at, payment.source_id, payment.amount)
            })
            .await?;
        write.commit().await?;
        Ok(Approval::Posted(entry))
    }

    pub async fn refuse_payment(
        self,
        id: i64,
        by: UserId,
        at: Timestamp,
        note: &str,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE payments SET state = 'refused', decided_by = $2, decided_at = $3, decision_note = $4
             WHERE id = $1 AND state = 'requested'",
        )
        .bind(id)
        .bind(by.0)
        .bind(at.0)
        .bind(note)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        changed(rows, "the payment was decided meanwhile")?;
        write.commit().await
    }

    /// Records an approved payment handed over in front of a witness, and posts it.
    pub async fn record_payment_made(
        self,
        payment: &Payment,
        by: UserId,
        witness: UserId,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE payments SET state = 'paid', paid_by = $2, witness_id = $3, paid_at = $4
             WHERE id = $1 AND state = 'approved'",
        )
        .bind(payment.id)
        .bind(by.0)
        .bind(witness.0)
        .bind(at.0)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        changed(rows, "only an approved, unpaid payment can be paid")?;
        let entry = self
            .post(&mut write, by, Some(payment.id), |ledger| {
                ledger.pay(at, payment.source_id, payment.amount)
            })
            .await?;
        write.commit().await?;
        Ok(entry)
    }

    /// Records the source's receipt, signed with their code name.
    pub async fn record_receipt(self, id: i64, code_name: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE payments SET state = 'receipted', receipt_code_name = $2, receipt_at = $3
             WHERE id = $1 AND state = 'paid'",
        )
        .bind(id)
        .bind(code_name)
        .bind(at.0)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        changed(rows, "only a paid payment can be receipted, once")?;
        write.commit().await
    }

    /// Corrects a ledger entry by posting its reversal.
    pub async fn reverse_ledger_entry(
        self,
        entry: u64,
        by: UserId,
        at: Timestamp,
        memo: &str,
    ) -> Result<u64, StoreError> {
        let mut write = self.begin_write().await?;
        let id = self.post(&mut write, by, None, |ledger| ledger.reverse(at, entry, memo)).await?;
        write.commit().await?;
        Ok(id)
    }
}

fn entry_id(id: u64) -> Result<i64, StoreError> {
    i64::try_from(id).map_err(|_| StoreError::Corrupt(format!("ledger entry id {id} out of range")))
}

async fn load_ledger(connection: &mut sqlx::AnyConnection) -> Result<Ledger, StoreError> {
    let entries = sqlx::query("SELECT id, at, memo, reverses FROM ledger_entries ORDER BY id")
        .fetch_all(&mut *connection)
        .await?;
    let lines = sqlx::query(
        "SELECT entry_id, account, source_id, currency, amount_minor FROM ledger_lines ORDER BY entry_id, line_no",
    )
    .fetch_all(&mut *connection)
    .await?;
    let mut lines = lines.iter().peekable();
    let mut loaded = Vec::with_capacity(entries.len());
    for row in &entries {
        let id: i64 = row.try_get("id")?;
        let corrupt = |what: &str| StoreError::Corrupt(format!("ledger entry {id}: {what}"));
        let mut entry = Entry {
            id: u64::try_from(id).map_err(|_| corrupt("id"))?,
            at: Timestamp(row.try_get("at")?),
            memo: row.try_get("memo")?,
            lines: Vec::new(),
            reverses: row.try_get::<Option<i64>, _>("reverses")?.map(|r| r as u64),
        };
        while let Some(line) = lines.next_if(|line| line.try_get::<i64, _>("entry_id").ok() == Some(id)) {
            let account = Account::from_parts(
                &line.try_get::<String, _>("account")?,
                line.try_get::<Option<i64>, _>("source_id")?.map(SourceId),
            )
            .ok_or_else(|| corrupt("account"))?;
            let currency =
                Currency::parse(&line.try_get::<String, _>("currency")?).map_err(|_| corrupt("currency"))?;
            entry
                .lines
                .push(Line { account, amount: Money { minor: line.try_get("amount_minor")?, currency } });
        }
        loaded.push(entry);
    }
    if lines.next().is_some() {
        return Err(StoreError::Corrupt("ledger lines without an entry".into()));
    }
    Ok(Ledger::from_entries(loaded)?)
}

/// One line of the register, as it is written.
struct NewEvent<'a> {
    authorisation: i64,
    kind: EventKind,
    actor: UserId,
    at: Timestamp,
    note: &'a str,
    expires_at: Option<Timestamp>,
    risk_assessment: Option<i64>,
}

impl<'a> NewEvent<'a> {
    fn new(authorisation: i64, kind: EventKind, actor: UserId, at: Timestamp, note: &'a str) -> NewEvent<'a> {
        NewEvent { authorisation, kind, actor, at, note, expires_at: None, risk_assessment: None }
    }

    async fn insert(self, write: &mut WriteTx<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authorisation_events (authorisation_id, at, actor_id, event, note, expires_at, risk_assessment_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.authorisation)
        .bind(self.at.0)
        .bind(self.actor.0)
        .bind(self.kind.as_str())
        .bind(self.note)
        .bind(self.expires_at.map(|t| t.0))
        .bind(self.risk_assessment)
        .execute(&mut *write.tx)
        .await?;
        Ok(())
    }
}

/// The database's own refusal of a second live authorisation for a source (an exclusion
/// constraint on PostgreSQL, a trigger on SQLite), for grants that raced past the check.
/// Two grants that insert conflicting periods at once can each wait for the other's
/// exclusion check, and PostgreSQL then aborts one as a deadlock (40P01): that one lost the
/// same race, so it is the same conflict.
fn overlapping_grant_as_conflict(error: sqlx::Error) -> StoreError {
    let overlapping = match &error {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("23P01" | "40P01"))
                || db.message().contains("overlapping live authorisation")
        }
        _ => false,
    };
    if overlapping {
        StoreError::Conflict("a live authorisation for this source (renew it instead)")
    } else {
        StoreError::Database(error)
    }
}

/// The advisory lock under which PostgreSQL transactions post to the ledger in turn.
const LEDGER_LOCK: i64 = 7_201_627;

/// What became of an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Approved and posted as this ledger entry.
    Posted(u64),
    /// Not approved: these thresholds stop the approver. Nothing was written.
    Stopped(Vec<&'static str>),
}

async fn approved_amounts(
    connection: &mut sqlx::AnyConnection,
    payment: &Payment,
) -> Result<Vec<(Timestamp, i64)>, StoreError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT COALESCE(decided_at, requested_at), amount_minor FROM payments
         WHERE source_id = $1 AND id <> $2 AND currency = $3 AND state IN ('approved', 'paid', 'receipted')",
    )
    .bind(payment.source_id.0)
    .bind(payment.id)
    .bind(payment.amount.currency.code())
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(|(at, minor)| (Timestamp(at), minor)).collect())
}
