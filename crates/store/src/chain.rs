//! The chain from a source's report to a warning and back: the released reports a threat
//! rests on, the reviews a correction or withdrawal raises (the database raises them, in the
//! transaction that releases the correction or records the withdrawal), a threat's outcome
//! with each supporting report's accuracy, and controllers' validations of a source's grade.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use tearline_domain::{SourceId, Timestamp, UnitId, UserId};
use tearline_intel::grading::Reliability;
use tearline_intel::track::{Accuracy, ReleasedReport};
use tearline_warn::threat::ThreatOutcome;

use crate::{Store, StoreError, Writer};

/// A released report cited by a threat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreatLink {
    pub threat_id: i64,
    pub report_id: i64,
    pub linked_by: UserId,
    pub linked_at: Timestamp,
    /// How the report proved, once the threat's outcome is recorded.
    pub accuracy: Option<Accuracy>,
}

/// Why a threat is under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewCause {
    /// A correction of a supporting report was released (`report_id` is the correction).
    Corrected,
    /// A supporting report was withdrawn.
    Withdrawn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreatReview {
    pub id: i64,
    pub threat_id: i64,
    pub report_id: i64,
    pub cause: ReviewCause,
    pub raised_at: Timestamp,
    pub cleared_by: Option<UserId>,
    pub cleared_at: Option<Timestamp>,
    pub note: Option<String>,
}

impl ThreatReview {
    pub fn is_open(&self) -> bool {
        self.cleared_at.is_none()
    }
}

/// A released report taken back: it stays as released, immutable, with this beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Withdrawal {
    pub report_id: i64,
    pub withdrawn_by: UserId,
    pub withdrawn_at: Timestamp,
    pub reason: String,
}

/// The outcome recorded for a threat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedOutcome {
    pub outcome: ThreatOutcome,
    pub note: String,
    pub recorded_by: UserId,
    pub recorded_at: Timestamp,
}

/// A controller's judgement of a source's reliability against its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validation {
    pub id: i64,
    pub source_id: SourceId,
    pub validated_by: UserId,
    pub validated_at: Timestamp,
    pub reliability: Reliability,
    pub note: String,
}

pub(crate) fn outcome_from_row(row: &AnyRow) -> Result<Option<RecordedOutcome>, StoreError> {
    let Some(outcome) = row.try_get::<Option<String>, _>("outcome")? else { return Ok(None) };
    Ok(Some(RecordedOutcome {
        outcome: ThreatOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown threat outcome {outcome:?}")))?,
        note: row.try_get::<Option<String>, _>("outcome_note")?.unwrap_or_default(),
        recorded_by: UserId(row.try_get::<Option<i64>, _>("outcome_by")?.unwrap_or_default()),
        recorded_at: Timestamp(row.try_get::<Option<i64>, _>("outcome_at")?.unwrap_or_default()),
    }))
}

fn accuracy_from(text: Option<String>) -> Result<Option<Accuracy>, StoreError> {
    text.map(|t| Accuracy::parse(&t).ok_or_else(|| StoreError::Corrupt(format!("unknown accuracy {t:?}"))))
        .transpose()
}

fn link_from_row(row: &AnyRow) -> Result<ThreatLink, StoreError> {
    Ok(ThreatLink {
        threat_id: row.try_get("threat_id")?,
        report_id: row.try_get("report_id")?,
        linked_by: UserId(row.try_get("linked_by")?),
        linked_at: Timestamp(row.try_get("linked_at")?),
        accuracy: accuracy_from(row.try_get("accuracy")?)?,
    })
}

fn review_from_row(row: &AnyRow) -> Result<ThreatReview, StoreError> {
    let cause: String = row.try_get("cause")?;
    Ok(ThreatReview {
        id: row.try_get("id")?,
        threat_id: row.try_get("threat_id")?,
        report_id: row.try_get("report_id")?,
        cause: match cause.as_str() {
            "corrected" => ReviewCause::Corrected,
            "withdrawn" => ReviewCause::Withdrawn,
            other => return Err(StoreError::Corrupt(format!("unknown review cause {other:?}"))),
        },
        raised_at: Timestamp(row.try_get("raised_at")?),
        cleared_by: row.try_get::<Option<i64>, _>("cleared_by")?.map(UserId),
        cleared_at: row.try_get::<Option<i64>, _>("cleared_at")?.map(Timestamp),
        note: row.try_get("note")?,
    })
}

fn reliability_from(letter: &str) -> Result<Reliability, StoreError> {
    Reliability::from_letter(letter)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown reliability {letter:?}")))
}

impl Store {
    /// The released reports a threat cites, in the order they were linked.
    pub async fn threat_links(&self, threat: i64) -> Result<Vec<ThreatLink>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM threat_reports WHERE threat_id = $1 ORDER BY linked_at, report_id")
                .bind(threat)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(link_from_row).collect()
    }

    /// The threats citing a report.
    pub async fn threats_citing(&self, report: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT threat_id FROM threat_reports WHERE report_id = $1 ORDER BY threat_id")
            .bind(report)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn threat_review(&self, id: i64) -> Result<Option<ThreatReview>, StoreError> {
        let row = sqlx::query("SELECT * FROM threat_reviews WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(review_from_row).transpose()
    }

    /// Every review a threat was put under, the open ones first, latest first.
    pub async fn threat_reviews(&self, threat: i64) -> Result<Vec<ThreatReview>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM threat_reviews WHERE threat_id = $1
             ORDER BY CASE WHEN cleared_at IS NULL THEN 0 ELSE 1 END, raised_at DESC, id DESC",
        )
        .bind(threat)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(review_from_row).collect()
    }

    /// The open reviews of a unit's threats: what its analysts and warning officers must
    /// look at again.
    pub async fn open_reviews_in_unit(&self, unit: UnitId) -> Result<Vec<ThreatReview>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.* FROM threat_reviews v JOIN threats t ON t.id = v.threat_id
             WHERE t.unit_id = $1 AND v.cleared_at IS NULL ORDER BY v.raised_at, v.id",
        )
        .bind(unit.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(review_from_row).collect()
    }

    pub async fn withdrawal(&self, report: i64) -> Result<Option<Withdrawal>, StoreError> {
        let row = sqlx::query("SELECT * FROM report_withdrawals WHERE report_id = $1")
            .bind(report)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Withdrawal {
                report_id: row.try_get("report_id")?,
                withdrawn_by: UserId(row.try_get("withdrawn_by")?),
                withdrawn_at: Timestamp(row.try_get("withdrawn_at")?),
                reason: row.try_get("reason")?,
            })
        })
        .transpose()
    }

    /// Every released report under a pseudonymous reference, with the accuracy judged in
    /// each threat it supported: what its track record is built from.
    pub async fn released_under_reference(&self, reference: &str) -> Result<Vec<ReleasedReport>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.supersedes, l.accuracy FROM intel_reports r
             LEFT JOIN threat_reports l ON l.report_id = r.id
             WHERE r.source_reference = $1 AND r.state = 'released' ORDER BY r.id",
        )
        .bind(reference)
        .fetch_all(&self.pool)
        .await?;
        let mut reports: Vec<ReleasedReport> = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let judged = accuracy_from(row.try_get("accuracy")?)?;
            if reports.last().is_none_or(|r| r.id != id) {
                reports.push(ReleasedReport {
                    id,
                    supersedes: row.try_get("supersedes")?,
                    judgements: Vec::new(),
                });
            }
            if let (Some(accuracy), Some(report)) = (judged, reports.last_mut()) {
                report.judgements.push(accuracy);
            }
        }
        Ok(reports)
    }

    /// A source's validations, latest first.
    pub async fn validations(&self, source: SourceId) -> Result<Vec<Validation>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM source_validations WHERE source_id = $1 ORDER BY validated_at DESC, id DESC",
        )
        .bind(source.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Validation {
                    id: row.try_get("id")?,
                    source_id: SourceId(row.try_get("source_id")?),
                    validated_by: UserId(row.try_get("validated_by")?),
                    validated_at: Timestamp(row.try_get("validated_at")?),
                    reliability: reliability_from(&row.try_get::<String, _>("reliability")?)?,
                    note: row.try_get("note")?,
                })
            })
            .collect()
    }
}

impl Writer<'_> {
    /// Cites a released report of the threat's own unit; citing it again changes nothing.
    /// Returns whether a link was made.
    pub async fn link_report(
        self,
        threat: i64,
        report: i64,
        by: UserId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "INSERT INTO threat_reports (threat_id, report_id, linked_by, linked_at)
             SELECT t.id, r.id, $3, $4 FROM threats t JOIN intel_reports r ON r.unit_id = t.unit_id
             WHERE t.id = $1 AND r.id = $2 AND r.state = 'released'
             ON CONFLICT (threat_id, report_id) DO NOTHING",
        )
        .bind(threat)
        .bind(report)
        .bind(by.0)
        .bind(at.0)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        write.commit().await?;
        Ok(rows == 1)
    }

    pub async fn unlink_report(self, threat: i64, report: i64) -> Result<bool, StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query("DELETE FROM threat_reports WHERE threat_id = $1 AND report_id = $2")
            .bind(threat)
            .bind(report)
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        write.commit().await?;
        Ok(rows == 1)
    }

    /// Clears an open review of the threat; one already cleared has moved on.
    pub async fn clear_review(
        self,
        threat: i64,
        review: i64,
        by: UserId,
        at: Timestamp,
        note: &str,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE threat_reviews SET cleared_by = $3, cleared_at = $4, note = $5
             WHERE id = $2 AND threat_id = $1 AND cleared_at IS NULL",
        )
        .bind(threat)
        .bind(review)
        .bind(by.0)
        .bind(at.0)
        .bind(note)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged("the review is already cleared"));
        }
        write.commit().await
    }

    /// Records (or revises) a threat's outcome and, in the same transaction, how each cited
    /// report proved. Every judged report must be cited by the threat.
    pub async fn record_outcome(
        self,
        threat: i64,
        outcome: &RecordedOutcome,
        judgements: &[(i64, Accuracy)],
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE threats SET outcome = $2, outcome_note = $3, outcome_by = $4, outcome_at = $5 WHERE id = $1",
        )
        .bind(threat)
        .bind(outcome.outcome.as_str())
        .bind(&outcome.note)
        .bind(outcome.recorded_by.0)
        .bind(outcome.recorded_at.0)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if rows != 1 {
            return Err(StoreError::NotFound("threat"));
        }
        for (report, accuracy) in judgements {
            let rows = sqlx::query(
                "UPDATE threat_reports SET accuracy = $3 WHERE threat_id = $1 AND report_id = $2",
            )
            .bind(threat)
            .bind(report)
            .bind(accuracy.as_str())
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
            if rows != 1 {
                return Err(StoreError::StateChanged("a judged report is not cited by the threat"));
            }
        }
        write.commit().await
    }

    /// Withdraws a released report; the database puts every threat citing it under review in
    /// the same transaction.
    pub async fn withdraw_report(
        self,
        report: i64,
        by: UserId,
        at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "INSERT INTO report_withdrawals (report_id, withdrawn_by, withdrawn_at, reason)
             SELECT id, $2, $3, $4 FROM intel_reports WHERE id = $1 AND state = 'released'
             ON CONFLICT (report_id) DO NOTHING",
        )
        .bind(report)
        .bind(by.0)
        .bind(at.0)
        .bind(reason)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged(
                "only a released report not yet withdrawn can be withdrawn",
            ));
        }
        write.commit().await
    }

    pub async fn validate_source(
        self,
        source: SourceId,
        reliability: Reliability,
        note: &str,
        by: UserId,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO source_validations (source_id, validated_by, validated_at, reliability, note)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(source.0)
        .bind(by.0)
        .bind(at.0)
        .bind(reliability.letter().to_string())
        .bind(note)
        .fetch_one(&mut *write.tx)
        .await?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }
}
