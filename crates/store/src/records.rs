//! Units, accounts, sessions, vault key checks and the source registry.

use sqlx::any::AnyRow;
use sqlx::Row;
use tearline_domain::source::{Assignment, CaseRole, PseudonymousRef, SourceRecord, SourceStatus};
use tearline_domain::{Role, Seniority, SourceId, Standing, Timestamp, UnitId, UserId};

use crate::{conflict_as, Store, StoreError, Writer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub seniority: Seniority,
    pub unit_id: UnitId,
    /// The Argon2id PHC string; never a password.
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until: Option<Timestamp>,
    /// An account whose role reaches identities, made by an administrator, that no senior
    /// controller of its unit has approved yet: it cannot log in.
    pub awaiting_approval: bool,
    /// Disabled by an administrator: it cannot log in and holds no session.
    pub disabled: bool,
}

impl User {
    pub fn standing(&self) -> Standing {
        Standing { role: self.role, seniority: self.seniority, unit_id: self.unit_id }
    }
}

/// A change of an account's standing that waits for a senior controller of the unit it
/// names (`to.unit_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    pub id: i64,
    pub user_id: UserId,
    pub to: Standing,
    pub requested_by: Option<UserId>,
    pub requested_at: Timestamp,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("unit_id", &self.unit_id)
            .finish_non_exhaustive()
    }
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub seniority: Seniority,
    pub unit_id: UnitId,
    pub password_hash: &'a str,
    /// Whether the account waits for a senior controller's approval before it takes effect.
    pub awaiting_approval: bool,
}

/// A live session and the account behind it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

/// A sealed identity or sealed text as stored: ciphertext and wrapped data key, never
/// plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedColumns {
    pub key_id: i64,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedColumns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedColumns {{ key_id: {}, {} bytes sealed }}", self.key_id, self.ciphertext.len())
    }
}

/// A record's data key wrapped anew under another key-encryption key, replacing the
/// wrapped key that was read.
pub struct Rewrap<'a, Id = SourceId> {
    pub id: Id,
    pub previous: &'a SealedColumns,
    pub key_id: i64,
    pub wrapped_key: Vec<u8>,
}

pub struct NewSource<'a> {
    pub code_name: &'a str,
    pub reference: &'a PseudonymousRef,
    pub unit_id: UnitId,
    pub handler_id: UserId,
    pub controller_id: UserId,
    pub status: SourceStatus,
    pub recruited_at: Timestamp,
    pub sealed: SealedColumns,
}

const USER_COLUMNS: &str =
    "u.id, u.username, u.display_name, u.role, u.seniority, u.unit_id, u.password_hash, u.failed_logins, u.locked_until,
    u.awaiting_approval, u.disabled_at";

const SOURCE_COLUMNS: &str =
    "s.id, s.code_name, s.reference, s.unit_id, s.status, s.recruited_at, s.created_at,
    (SELECT a.user_id FROM source_assignments a
      WHERE a.source_id = s.id AND a.case_role = 'handler' AND a.until_at IS NULL) AS handler_id,
    (SELECT a.user_id FROM source_assignments a
      WHERE a.source_id = s.id AND a.case_role = 'controller' AND a.until_at IS NULL) AS controller_id";

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: UserId(row.try_get("id")?),
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: role.parse().map_err(|e| StoreError::Corrupt(format!("user role: {e}")))?,
        seniority: Seniority::parse(&row.try_get::<String, _>("seniority")?)
            .ok_or_else(|| StoreError::Corrupt("user seniority".into()))?,
        unit_id: UnitId(row.try_get("unit_id")?),
        password_hash: row.try_get("password_hash")?,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: row.try_get::<Option<i64>, _>("locked_until")?.map(Timestamp),
        awaiting_approval: row.try_get::<i64, _>("awaiting_approval")? == 1,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
    })
}

fn standing_from_row(row: &AnyRow) -> Result<Standing, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(Standing {
        role: role.parse().map_err(|e| StoreError::Corrupt(format!("account role: {e}")))?,
        seniority: Seniority::parse(&row.try_get::<String, _>("seniority")?)
            .ok_or_else(|| StoreError::Corrupt("account seniority".into()))?,
        unit_id: UnitId(row.try_get("unit_id")?),
    })
}

fn account_change_from_row(row: &AnyRow) -> Result<AccountChange, StoreError> {
    Ok(AccountChange {
        id: row.try_get("id")?,
        user_id: UserId(row.try_get("user_id")?),
        to: standing_from_row(row)?,
        requested_by: row.try_get::<Option<i64>, _>("requested_by")?.map(UserId),
        requested_at: Timestamp(row.try_get("requested_at")?),
    })
}

const ACCOUNT_CHANGE_COLUMNS: &str = "id, user_id, role, seniority, unit_id, requested_by, requested_at";

/// A row's `reference` column: a source's pseudonymous reference.
pub(crate) fn reference_of(row: &AnyRow) -> Result<PseudonymousRef, StoreError> {
    let reference: String = row.try_get("reference")?;
    PseudonymousRef::parse(&reference)
        .ok_or_else(|| StoreError::Corrupt("a source has a malformed reference".into()))
}

fn source_from_row(row: &AnyRow) -> Result<SourceRecord, StoreError> {
    let id = SourceId(row.try_get("id")?);
    let missing = |what: &str| StoreError::Corrupt(format!("source {} has no current {what}", id.0));
    let status: String = row.try_get("status")?;
    Ok(SourceRecord {
        id,
        code_name: row.try_get("code_name")?,
        reference: reference_of(row)?,
        unit_id: UnitId(row.try_get("unit_id")?),
        handler_id: UserId(row.try_get::<Option<i64>, _>("handler_id")?.ok_or_else(|| missing("handler"))?),
        controller_id: UserId(
            row.try_get::<Option<i64>, _>("controller_id")?.ok_or_else(|| missing("controller"))?,
        ),
        status: status.parse().map_err(|e| StoreError::Corrupt(format!("source {}: {e}", id.0)))?,
        recruited_at: Timestamp(row.try_get("recruited_at")?),
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn sealed_from_row(row: &AnyRow) -> Result<SealedColumns, StoreError> {
    Ok(SealedColumns {
        key_id: row.try_get("vault_key_id")?,
        wrapped_key: row.try_get("wrapped_key")?,
        ciphertext: row.try_get("identity_ciphertext")?,
    })
}

impl Store {
    pub async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        let rows = sqlx::query("SELECT id, name FROM units ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok(Unit { id: UnitId(row.try_get("id")?), name: row.try_get("name")? }))
            .collect()
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1");
        let row = sqlx::query(&sql).bind(username).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
        let row = sqlx::query(&sql).bind(id.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Every change of account that waits for approval, oldest first.
    pub async fn account_changes(&self) -> Result<Vec<AccountChange>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_CHANGE_COLUMNS} FROM account_changes WHERE decided_at IS NULL ORDER BY id"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(account_change_from_row).collect()
    }

    /// A change of account, waiting or decided.
    pub async fn account_change(&self, id: i64) -> Result<Option<AccountChange>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_CHANGE_COLUMNS} FROM account_changes WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_change_from_row).transpose()
    }

    /// How many sources an account handles or controls now.
    pub async fn current_assignments_of(&self, user: UserId) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM source_assignments WHERE user_id = $1 AND until_at IS NULL",
        )
        .bind(user.0)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The live session for a token hash, if it has not expired by `now` and its account
    /// is in effect (neither disabled nor awaiting approval, whatever a login in flight
    /// while it was disabled may have written).
    pub async fn session(&self, token_hash: &[u8], now: Timestamp) -> Result<Option<Session>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2
             AND u.disabled_at IS NULL AND u.awaiting_approval = 0"
        );
        let row = sqlx::query(&sql).bind(token_hash.to_vec()).bind(now.0).fetch_optional(&self.pool).await?;
        row.map(|row| {
            Ok(Session {
                user: user_from_row(&row)?,
                csrf_token: row.try_get("csrf_token")?,
                expires_at: Timestamp(row.try_get("expires_at")?),
            })
        })
        .transpose()
    }

    /// Fingerprints of the vault keys this database's records were sealed under.
    pub async fn vault_key_checks(&self) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT key_id, check_value FROM vault_keys ORDER BY key_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok((row.try_get("key_id")?, row.try_get("check_value")?))).collect()
    }

    pub async fn sources_in_unit(&self, unit: UnitId) -> Result<Vec<SourceRecord>, StoreError> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources s WHERE s.unit_id = $1 ORDER BY s.code_name");
        let rows = sqlx::query(&sql).bind(unit.0).fetch_all(&self.pool).await?;
        rows.iter().map(source_from_row).collect()
    }

    pub async fn source(&self, id: SourceId) -> Result<Option<SourceRecord>, StoreError> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources s WHERE s.id = $1");
        let row = sqlx::query(&sql).bind(id.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(source_from_row).transpose()
    }

    /// The sealed identity of a source, still sealed.
    pub async fn sealed_identity(&self, id: SourceId) -> Result<Option<SealedColumns>, StoreError> {
        let row =
            sqlx::query("SELECT vault_key_id, wrapped_key, identity_ciphertext FROM sources WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(sealed_from_row).transpose()
    }

    /// Every sealed identity whose data key is not yet wrapped under `key_id`.
    pub async fn sealed_identities_not_under(
        &self,
        key_id: i64,
    ) -> Result<Vec<(SourceId, PseudonymousRef, SealedColumns)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, reference, vault_key_id, wrapped_key, identity_ciphertext FROM sources
             WHERE vault_key_id <> $1 ORDER BY id",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((SourceId(row.try_get("id")?), reference_of(row)?, sealed_from_row(row)?)))
            .collect()
    }

    /// Who held each case role for a source, and when, oldest first.
    pub async fn assignments(&self, id: SourceId) -> Result<Vec<Assignment>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.case_role, a.user_id, u.username, a.from_at, a.until_at FROM source_assignments a
             JOIN users u ON u.id = a.user_id WHERE a.source_id = $1 ORDER BY a.from_at, a.id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("case_role")?;
                Ok(Assignment {
                    role: CaseRole::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown case role {role:?}")))?,
                    user_id: UserId(row.try_get("user_id")?),
                    username: row.try_get("username")?,
                    from: Timestamp(row.try_get("from_at")?),
                    until: row.try_get::<Option<i64>, _>("until_at")?.map(Timestamp),
                })
            })
            .collect()
    }
}

impl Writer<'_> {
    pub async fn create_unit(self, name: &str, at: Timestamp) -> Result<UnitId, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar("INSERT INTO units (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name)
            .bind(at.0)
            .fetch_one(&mut *write.tx)
            .await
            .map_err(conflict_as("a unit with that name"))?;
        write.created(id);
        write.commit().await?;
        Ok(UnitId(id))
    }

    pub async fn create_user(self, user: NewUser<'_>, at: Timestamp) -> Result<UserId, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, role, unit_id, password_hash, failed_logins, created_at, seniority,
                                awaiting_approval)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8) RETURNING id",
        )
        .bind(user.username)
        .bind(user.display_name)
        .bind(user.role.as_str())
        .bind(user.unit_id.0)
        .bind(user.password_hash)
        .bind(at.0)
        .bind(user.seniority.as_str())
        .bind(i64::from(user.awaiting_approval))
        .fetch_one(&mut *write.tx)
        .await
        .map_err(conflict_as("a user with that username"))?;
        write.created(id);
        write.commit().await?;
        Ok(UserId(id))
    }

    /// Lets an account that awaited approval take effect, approved by `by`. Conditional, so
    /// two approvals at once approve once.
    pub async fn approve_account(self, id: UserId, by: UserId) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE users SET awaiting_approval = 0, approved_by = $2 WHERE id = $1 AND awaiting_approval = 1",
        )
        .bind(id.0)
        .bind(by.0)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged("the account was approved meanwhile"));
        }
        write.commit().await
    }

    /// Sets an account's standing at once, if it still stands at `from` (what the change was
    /// judged against), and withdraws any change of it that waited for approval. An account
    /// that cannot log in yet (`awaiting_approval`) keeps waiting when its new role
    /// reaches identities.
    pub async fn change_account(
        self,
        id: UserId,
        from: Standing,
        to: Standing,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = standing_move(
            "UPDATE users SET role = $5, seniority = $6, unit_id = $7,
                    awaiting_approval = CASE WHEN awaiting_approval = 1 AND $8 = 1 THEN 1 ELSE 0 END
             WHERE id = $1 AND role = $2 AND seniority = $3 AND unit_id = $4",
            id,
            from,
            to,
        )
        .bind(i64::from(to.role.reaches_identities()))
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged("the account was changed meanwhile"));
        }
        withdraw_waiting_change(&mut write.tx, id, at).await?;
        write.commit().await
    }

    /// Records a change of an account that waits for approval, replacing any earlier one
    /// of it, if the account still stands at `from`.
    pub async fn request_account_change(
        self,
        id: UserId,
        from: Standing,
        to: Standing,
        by: Option<UserId>,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        withdraw_waiting_change(&mut write.tx, id, at).await?;
        let change = standing_move(
            "INSERT INTO account_changes (user_id, role, seniority, unit_id, requested_by, requested_at)
             SELECT id, $5, $6, $7, $8, $9 FROM users
             WHERE id = $1 AND role = $2 AND seniority = $3 AND unit_id = $4
             RETURNING id",
            id,
            from,
            to,
        )
        .bind(by.map(|user| user.0))
        .bind(at.0)
        .fetch_optional(&mut *write.tx)
        .await?
        .ok_or(StoreError::StateChanged("the account was changed meanwhile"))?;
        let change: i64 = change.try_get("id")?;
        write.created(change);
        write.commit().await?;
        Ok(change)
    }

    /// Applies a change that waited for approval, marking it approved by `by`, in one
    /// transaction; a change decided meanwhile (approved, refused, withdrawn) is
    /// `StateChanged`. Returns the account changed.
    pub async fn apply_account_change(
        self,
        change: i64,
        by: UserId,
        at: Timestamp,
    ) -> Result<UserId, StoreError> {
        self.settle_account_change(change, by, at, true).await
    }

    /// Refuses a change that waited for approval: it is marked refused, nothing applied.
    pub async fn refuse_account_change(
        self,
        change: i64,
        by: UserId,
        at: Timestamp,
    ) -> Result<UserId, StoreError> {
        self.settle_account_change(change, by, at, false).await
    }

    async fn settle_account_change(
        self,
        change: i64,
        by: UserId,
        at: Timestamp,
        apply: bool,
    ) -> Result<UserId, StoreError> {
        let mut write = self.begin_write().await?;
        let sql = format!(
            "UPDATE account_changes SET decided_at = $2, decided_by = $3, decision = $4
             WHERE id = $1 AND decided_at IS NULL RETURNING {ACCOUNT_CHANGE_COLUMNS}"
        );
        let decision = if apply { "approved" } else { "refused" };
        let row = sqlx::query(&sql)
            .bind(change)
            .bind(at.0)
            .bind(by.0)
            .bind(decision)
            .fetch_optional(&mut *write.tx)
            .await?;
        let change = row
            .as_ref()
            .map(account_change_from_row)
            .transpose()?
            .ok_or(StoreError::StateChanged("the change was decided meanwhile"))?;
        if apply {
            sqlx::query("UPDATE users SET role = $2, seniority = $3, unit_id = $4 WHERE id = $1")
                .bind(change.user_id.0)
                .bind(change.to.role.as_str())
                .bind(change.to.seniority.as_str())
                .bind(change.to.unit_id.0)
                .execute(&mut *write.tx)
                .await?;
        }
        write.commit().await?;
        Ok(change.user_id)
    }

    /// Disables an account at `at`: its sessions end and any change of it that waited is
    /// withdrawn, in the same transaction.
    pub async fn disable_account(self, id: UserId, at: Timestamp) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL")
            .bind(id.0)
            .bind(at.0)
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged("the account is disabled already"));
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.0).execute(&mut *write.tx).await?;
        withdraw_waiting_change(&mut write.tx, id, at).await?;
        write.commit().await
    }

    /// Enables a disabled account again; it waits for approval first when `awaiting_approval`.
    pub async fn enable_account(self, id: UserId, awaiting_approval: bool) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE users SET disabled_at = NULL, awaiting_approval = $2, failed_logins = 0, locked_until = NULL
             WHERE id = $1 AND disabled_at IS NOT NULL",
        )
        .bind(id.0)
        .bind(i64::from(awaiting_approval))
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged("the account is not disabled"));
        }
        write.commit().await
    }

    /// Counts a login attempt before its password is checked, atomically: the attempt that
    /// reaches `lock_after` locks the account until `lock_until`, and an account locked at
    /// `now` takes no attempt at all (`None`). However many guesses arrive at once, at most
    /// `lock_after` of them are ever verified; a correct password clears the count.
    pub async fn reserve_login_attempt(
        self,
        id: UserId,
        now: Timestamp,
        lock_after: i64,
        lock_until: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let mut write = self.begin_write().await?;
        let attempts: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET failed_logins = failed_logins + 1,
                locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $4) RETURNING failed_logins",
        )
        .bind(id.0)
        .bind(lock_after)
        .bind(lock_until.0)
        .bind(now.0)
        .fetch_optional(&mut *write.tx)
        .await?;
        write.commit().await?;
        Ok(attempts)
    }

    /// Counts a login attempt from a client address before its password is checked,
    /// atomically: the window restarts once `window_millis` have passed since it began.
    /// Returns the attempt's number in the window.
    pub async fn reserve_address_attempt(
        self,
        address: &str,
        now: Timestamp,
        window_millis: i64,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let attempt: i64 = sqlx::query_scalar(
            "INSERT INTO login_throttle (address, window_start, attempts) VALUES ($1, $2, 1)
             ON CONFLICT (address) DO UPDATE SET
                attempts = CASE WHEN login_throttle.window_start <= $3 THEN 1 ELSE login_throttle.attempts + 1 END,
                window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 ELSE login_throttle.window_start END
             RETURNING attempts",
        )
        .bind(address)
        .bind(now.0)
        .bind(now.0 - window_millis)
        .fetch_one(&mut *write.tx)
        .await?;
        write.commit().await?;
        Ok(attempt)
    }

    /// Gives a successful login's attempt back to its address.
    pub async fn refund_address_attempt(self, address: &str) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE login_throttle SET attempts = attempts - 1 WHERE address = $1 AND attempts > 0")
            .bind(address)
            .execute(&mut *write.tx)
            .await?;
        write.commit().await
    }

    pub async fn clear_login_failures(self, id: UserId) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(id.0)
            .execute(&mut *write.tx)
            .await?;
        write.commit().await
    }

    pub async fn create_session(
        self,
        token_hash: &[u8],
        user: UserId,
        csrf_token: &str,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash.to_vec())
        .bind(user.0)
        .bind(csrf_token)
        .bind(at.0)
        .bind(expires_at.0)
        .execute(&mut *write.tx)
        .await?;
        write.commit().await
    }

    pub async fn delete_session(self, token_hash: &[u8]) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_vec())
            .execute(&mut *write.tx)
            .await?;
        write.commit().await
    }

    /// Remembers a vault key's fingerprint; a key already known is left as it is.
    pub async fn remember_vault_key(
        self,
        key_id: i64,
        check: &[u8],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO vault_keys (key_id, check_value, added_at) VALUES ($1, $2, $3)
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key_id)
        .bind(check.to_vec())
        .bind(at.0)
        .execute(&mut *write.tx)
        .await?;
        write.commit().await
    }

    /// Registers a source with its sealed identity and its first handler and controller, and
    /// answers the record as a read of it would (`Store::source`), built from what was
    /// written rather than read back.
    pub async fn create_source(
        self,
        source: NewSource<'_>,
        at: Timestamp,
    ) -> Result<SourceRecord, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sources (code_name, reference, unit_id, status, recruited_at, created_at,
                                  vault_key_id, wrapped_key, identity_ciphertext)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(source.code_name)
        .bind(source.reference.as_str())
        .bind(source.unit_id.0)
        .bind(source.status.as_str())
        .bind(source.recruited_at.0)
        .bind(at.0)
        .bind(source.sealed.key_id)
        .bind(source.sealed.wrapped_key)
        .bind(source.sealed.ciphertext)
        .fetch_one(&mut *write.tx)
        .await
        .map_err(conflict_as("a source with that code name in this unit"))?;
        // Both case roles in one statement: one round trip fewer while the write is held.
        sqlx::query(
            "INSERT INTO source_assignments (source_id, case_role, user_id, from_at)
             VALUES ($1, $2, $3, $6), ($1, $4, $5, $6)",
        )
        .bind(id)
        .bind(CaseRole::Handler.as_str())
        .bind(source.handler_id.0)
        .bind(CaseRole::Controller.as_str())
        .bind(source.controller_id.0)
        .bind(at.0)
        .execute(&mut *write.tx)
        .await?;
        write.created(id);
        write.commit().await?;
        Ok(SourceRecord {
            id: SourceId(id),
            code_name: source.code_name.to_owned(),
            reference: source.reference.clone(),
            unit_id: source.unit_id,
            handler_id: source.handler_id,
            controller_id: source.controller_id,
            status: source.status,
            recruited_at: source.recruited_at,
            created_at: at,
        })
    }

    /// Replaces sources' wrapped data keys; see [`Writer::replace_keys`].
    pub async fn replace_wrapped_keys(
        self,
        replacements: &[Rewrap<'_>],
    ) -> Result<Vec<SourceId>, StoreError> {
        let update = "UPDATE sources SET vault_key_id = $1, wrapped_key = $2
             WHERE id = $3 AND vault_key_id = $4 AND wrapped_key = $5";
        self.replace_keys(update, replacements, |id: SourceId| id.0).await
    }

    /// Hands a case role to another user: the current holder's term ends, the new one begins.
    pub async fn reassign(
        self,
        id: SourceId,
        role: CaseRole,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let ended = sqlx::query(
            "UPDATE source_assignments SET until_at = $1
             WHERE source_id = $2 AND case_role = $3 AND until_at IS NULL",
        )
        .bind(at.0)
        .bind(id.0)
        .bind(role.as_str())
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if ended == 0 {
            return Err(StoreError::NotFound("source"));
        }
        sqlx::query(
            "INSERT INTO source_assignments (source_id, case_role, user_id, from_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.0)
        .bind(role.as_str())
        .bind(user.0)
        .bind(at.0)
        .execute(&mut *write.tx)
        .await?;
        write.commit().await
    }
}

/// `sql` with an account's id ($1), the standing a change of it was judged against ($2 to
/// $4, so that it applies only while the account still stands there) and the standing
/// asked for ($5 to $7) bound.
fn standing_move(
    sql: &str,
    id: UserId,
    from: Standing,
    to: Standing,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(sql)
        .bind(id.0)
        .bind(from.role.as_str())
        .bind(from.seniority.as_str())
        .bind(from.unit_id.0)
        .bind(to.role.as_str())
        .bind(to.seniority.as_str())
        .bind(to.unit_id.0)
}

/// Withdraws the change of `user` that waited for approval, if any: any other change of the
/// account, in the same transaction, supersedes it.
async fn withdraw_waiting_change(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: UserId,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE account_changes SET decided_at = $2, decision = 'withdrawn' WHERE user_id = $1 AND decided_at IS NULL",
    )
    .bind(user.0)
    .bind(at.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
