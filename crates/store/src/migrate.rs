//! Versioned migrations, embedded in the binary, applied in order inside one transaction
//! each, and recorded in `schema_migrations`.

use sqlx::Executor;

use crate::{Backend, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "early_warning",
        sqlite: include_str!("../migrations/sqlite/0002_early_warning.sql"),
        postgres: include_str!("../migrations/postgres/0002_early_warning.sql"),
    },
    Migration {
        version: 3,
        name: "source_lifecycle",
        sqlite: include_str!("../migrations/sqlite/0003_source_lifecycle.sql"),
        postgres: include_str!("../migrations/postgres/0003_source_lifecycle.sql"),
    },
    Migration {
        version: 4,
        name: "intelligence",
        sqlite: include_str!("../migrations/sqlite/0004_intelligence.sql"),
        postgres: include_str!("../migrations/postgres/0004_intelligence.sql"),
    },
    Migration {
        version: 5,
        name: "kernel",
        sqlite: include_str!("../migrations/sqlite/0005_kernel.sql"),
        postgres: include_str!("../migrations/postgres/0005_kernel.sql"),
    },
    Migration {
        version: 6,
        name: "compartments",
        sqlite: include_str!("../migrations/sqlite/0006_compartments.sql"),
        postgres: include_str!("../migrations/postgres/0006_compartments.sql"),
    },
    Migration {
        version: 7,
        name: "partner_feeds",
        sqlite: include_str!("../migrations/sqlite/0007_partner_feeds.sql"),
        postgres: include_str!("../migrations/postgres/0007_partner_feeds.sql"),
    },
    Migration {
        version: 8,
        name: "partner_keys",
        sqlite: include_str!("../migrations/sqlite/0008_partner_keys.sql"),
        postgres: include_str!("../migrations/postgres/0008_partner_keys.sql"),
    },
    Migration {
        version: 9,
        name: "recipient_language",
        sqlite: include_str!("../migrations/sqlite/0009_recipient_language.sql"),
        postgres: include_str!("../migrations/postgres/0009_recipient_language.sql"),
    },
    Migration {
        version: 10,
        name: "recipient_address_index",
        sqlite: include_str!("../migrations/sqlite/0010_recipient_address_index.sql"),
        postgres: include_str!("../migrations/postgres/0010_recipient_address_index.sql"),
    },
    Migration {
        version: 11,
        name: "threat_intelligence",
        sqlite: include_str!("../migrations/sqlite/0011_threat_intelligence.sql"),
        postgres: include_str!("../migrations/postgres/0011_threat_intelligence.sql"),
    },
    Migration {
        version: 12,
        name: "release_follow",
        sqlite: include_str!("../migrations/sqlite/0012_release_follow.sql"),
        postgres: include_str!("../migrations/postgres/0012_release_follow.sql"),
    },
    Migration {
        version: 13,
        name: "above_line_sealed",
        sqlite: include_str!("../migrations/sqlite/0013_above_line_sealed.sql"),
        postgres: include_str!("../migrations/postgres/0013_above_line_sealed.sql"),
    },
    Migration {
        version: 14,
        name: "delivery_targets",
        sqlite: include_str!("../migrations/sqlite/0014_delivery_targets.sql"),
        postgres: include_str!("../migrations/postgres/0014_delivery_targets.sql"),
    },
    Migration {
        version: 15,
        name: "delivery_hand_back",
        sqlite: include_str!("../migrations/sqlite/0015_delivery_hand_back.sql"),
        postgres: include_str!("../migrations/postgres/0015_delivery_hand_back.sql"),
    },
    Migration {
        version: 16,
        name: "account_changes",
        sqlite: include_str!("../migrations/sqlite/0016_account_changes.sql"),
        postgres: include_str!("../migrations/postgres/0016_account_changes.sql"),
    },
];

/// Applies every migration newer than the schema, up to version `up_to`.
pub(crate) async fn run(store: &Store, up_to: i64) -> Result<(), StoreError> {
    let mut write = store.begin_write().await?;
    if store.backend == Backend::Postgres {
        // Several servers may start at once against one database; one migrates, the rest wait.
        write.tx.execute("SELECT pg_advisory_xact_lock(7201626)").await?;
    }
    write
        .tx
        .execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&mut *write.tx).await?;
    let applied = applied.unwrap_or(0);
    if let Some(newest) = MIGRATIONS.last() {
        if applied > newest.version {
            return Err(StoreError::Corrupt(format!(
                "the database schema is at version {applied}, newer than this build knows ({}); upgrade Tearline",
                newest.version
            )));
        }
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > applied && m.version <= up_to) {
        let sql = match store.backend {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        sqlx::raw_sql(sql).execute(&mut *write.tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(crate::now_millis())
            .execute(&mut *write.tx)
            .await?;
    }
    write.commit().await
}
