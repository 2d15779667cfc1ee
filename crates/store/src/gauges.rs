//! What an operator's scrape reads from the database: the outbox by state and how long its
//! oldest due work has waited, the audit log's size and latest checkpoint, and how many
//! reports are released (the search index should hold as many).

use sqlx::Row;
use tearline_domain::Timestamp;
use tearline_warn::delivery::DeliveryState;

use crate::{Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub deliveries_by_state: Vec<(DeliveryState, i64)>,
    /// When the oldest delivery still due became due: the first attempt of an issued
    /// version not yet fully dispatched, or a retry.
    pub oldest_due_at: Option<Timestamp>,
    pub audit_entries: i64,
    pub last_checkpoint_at: Option<Timestamp>,
    pub released_reports: i64,
}

impl Store {
    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut deliveries_by_state = Vec::with_capacity(rows.len() + 1);
        for row in rows {
            let state = DeliveryState::from_code(row.try_get("state")?)
                .ok_or_else(|| StoreError::Corrupt("unknown delivery state".into()))?;
            deliveries_by_state.push((state, row.try_get("n")?));
        }
        let in_runs = self.targets_in_runs(None).await?;
        match deliveries_by_state.iter_mut().find(|(state, _)| *state == DeliveryState::Queued) {
            Some((_, queued)) => *queued += in_runs,
            None if in_runs > 0 => deliveries_by_state.push((DeliveryState::Queued, in_runs)),
            None => {}
        }
        let first_attempts: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(issued_at) FROM warning_versions WHERE dispatch_cursor IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        // Through the partial index on retries.
        let retries: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE {}",
            crate::warn::TAKEN_UP_BY_TIME
        ))
        .fetch_one(&self.pool)
        .await?;
        let checkpoint =
            sqlx::query("SELECT MAX(size) AS size, MAX(signed_at) AS signed_at FROM audit_checkpoints")
                .fetch_one(&self.pool)
                .await?;
        Ok(Gauges {
            deliveries_by_state,
            oldest_due_at: first_attempts.into_iter().chain(retries).min().map(Timestamp),
            audit_entries: checkpoint.try_get::<Option<i64>, _>("size")?.unwrap_or(0),
            last_checkpoint_at: checkpoint.try_get::<Option<i64>, _>("signed_at")?.map(Timestamp),
            released_reports: self.released_report_count().await?,
        })
    }
}
