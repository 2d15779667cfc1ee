//! The first form of the audit trail: an append-only table behind the domain's
//! [`AuditLog`] port. The verifiable Merkle log replaces this storage, not the port.

use sqlx::Row;
use tearline_domain::audit::{AuditError, AuditEvent, AuditLog, AuditRecord, Outcome};
use tearline_domain::{Timestamp, UserId};

use crate::Store;

#[async_trait::async_trait]
impl AuditLog for Store {
    async fn append(&self, event: &AuditEvent) -> Result<i64, AuditError> {
        let failed = |e: crate::StoreError| AuditError(e.to_string());
        let mut write = self.begin_write().await.map_err(failed)?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO audit_events (at, actor_id, action, object, reason, outcome)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
        )
        .bind(event.at.0)
        .bind(event.actor.map(|actor| actor.0))
        .bind(&event.action)
        .bind(&event.object)
        .bind(event.reason.as_deref())
        .bind(event.outcome.as_str())
        .fetch_one(&mut *write.tx)
        .await
        .map_err(|e| AuditError(e.to_string()))?;
        // Returning only after the commit is what makes "audited before shown" hold.
        write.commit().await.map_err(failed)?;
        Ok(seq)
    }

    async fn newest_seq(&self) -> Result<i64, AuditError> {
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_events")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| AuditError(e.to_string()))?;
        Ok(newest.unwrap_or(0))
    }

    async fn read(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, AuditError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor_id, action, object, reason, outcome FROM audit_events
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| AuditError(e.to_string()))?;
        rows.iter()
            .map(|row| {
                let outcome: String = row.try_get("outcome")?;
                let outcome = Outcome::parse(&outcome).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown audit outcome {outcome:?}").into())
                })?;
                Ok(AuditRecord {
                    seq: row.try_get("seq")?,
                    event: AuditEvent {
                        at: Timestamp(row.try_get("at")?),
                        actor: row.try_get::<Option<i64>, _>("actor_id")?.map(UserId),
                        action: row.try_get("action")?,
                        object: row.try_get("object")?,
                        reason: row.try_get("reason")?,
                        outcome,
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| AuditError(e.to_string()))
    }
}
