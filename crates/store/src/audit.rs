//! The verifiable audit log's storage, behind the domain's [`AuditLog`] port.
//!
//! Appends go through one appender task that commits them in batches (group commit): many
//! concurrent appenders, one durable transaction per batch, and no append acknowledged
//! before its batch has committed. Each batch stores its entries, every tree node it
//! creates (Go tlog stored-hash indexes, so an append writes O(log n) hashes at worst and a
//! proof reads O(log n)), the new size, and a checkpoint signed over the new root.
//!
//! The batch first takes the one `audit_tree` row's write lock and reads the size under it,
//! so several processes on one PostgreSQL database still append one linear sequence; a
//! process that finds the size moved reloads its right edge from the stored hashes.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::Row;
use tearline_auditlog::checkpoint::CheckpointSigner;
use tearline_auditlog::frontier::{Frontier, StoredHash};
use tearline_auditlog::proof::{self, ProofError};
use tearline_auditlog::{entry, Hash};
use tearline_domain::audit::{AuditError, AuditEvent, AuditLog, AuditRecord};
use tokio::sync::{mpsc, oneshot};

use crate::{now_millis, Backend, Store, StoreError};

/// Entries committed in one transaction at most.
const MAX_BATCH: usize = 4096;
/// Hashes read per query (SQLite allows 32766 parameters).
const HASHES_PER_READ: usize = 500;

struct Pending {
    data: Vec<u8>,
    /// Set for an entry that was committed with its change into `audit_pending`: the batch
    /// that appends it also deletes that row, so it is appended exactly once.
    pending_id: Option<i64>,
    /// The entry's index, or `None` when another process's batch appended it first.
    done: oneshot::Sender<Result<Option<u64>, String>>,
}

/// What the appender is asked to do.
enum Request {
    Append(Pending),
    /// Answered once every entry that had committed with its change when the barrier was
    /// sent, in any process, is in the log: readers of the log ask first, so they read
    /// their own writes and everyone else's that committed before.
    Barrier(oneshot::Sender<Result<(), String>>),
}

/// How long the appender lets entries that nobody waits for gather before it commits them.
const LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// How often each process looks for entries committed with their change but not yet in
/// the log (their process died in between), and how old such an entry must be to be taken.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
const SWEEP_AFTER_MILLIS: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("size {requested} is beyond the latest checkpoint (size {latest})")]
    BeyondCheckpoint { requested: u64, latest: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LogError {
    fn from(error: sqlx::Error) -> LogError {
        LogError::Store(StoreError::Database(error))
    }
}

/// A stored log whose hashes disagree with its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The first entry whose stored bytes, hashes or checkpoint do not agree.
    pub first_bad_index: u64,
    pub what: String,
}

/// The audit log stored in the database: cheap to clone.
#[derive(Clone)]
pub struct MerkleLog {
    store: Store,
    queue: mpsc::Sender<Request>,
    signer: Arc<CheckpointSigner>,
}

impl MerkleLog {
    /// Starts the appender task on the current Tokio runtime.
    pub fn start(store: Store, signer: CheckpointSigner) -> MerkleLog {
        let (queue, requests) = mpsc::channel(MAX_BATCH * 4);
        let signer = Arc::new(signer);
        tokio::spawn(run_appender(store.clone(), Arc::clone(&signer), requests));
        tokio::spawn(sweep_pending(store.clone(), queue.downgrade()));
        MerkleLog { store, queue, signer }
    }

    /// A writer whose change commits together with `event`: the entry is written in the
    /// change's own transaction and handed to the appender right after the commit.
    /// Only the operation kernel calls this (`crates/kernel/tests/tidy.rs` checks).
    pub fn audited(&self, event: AuditEvent) -> crate::Writer<'_> {
        crate::Writer::audited(&self.store, self, event)
    }

    /// Hands the appender an entry that committed with its change; its batch deletes the
    /// pending row as it appends the entry, so it is appended exactly once. The change does
    /// not wait for the batch: the entry is already durable, readers of the log wait for it
    /// ([`MerkleLog::settled`]), and a crash before the batch leaves it to the sweep.
    pub(crate) async fn settle_later(&self, pending_id: i64, data: Vec<u8>) {
        let (done, _) = oneshot::channel();
        // A stopped appender leaves the entry to the next process's sweep.
        let _ = self.queue.send(Request::Append(Pending { data, pending_id: Some(pending_id), done })).await;
    }

    async fn enqueue(&self, data: Vec<u8>, pending_id: Option<i64>) -> Result<Option<u64>, AuditError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Request::Append(Pending { data, pending_id, done }))
            .await
            .map_err(|_| AuditError("the audit appender has stopped".into()))?;
        answer.await.map_err(|_| AuditError("the audit appender has stopped".into()))?.map_err(AuditError)
    }

    /// Returns once every entry that committed with its change before this call, in any
    /// process, is in the log. Every read of the log asks first.
    pub async fn settled(&self) -> Result<(), StoreError> {
        let stopped = || StoreError::Corrupt("the audit appender has stopped".into());
        let (done, answer) = oneshot::channel();
        self.queue.send(Request::Barrier(done)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(StoreError::Corrupt)
    }

    pub fn origin(&self) -> &str {
        self.signer.origin()
    }

    pub fn verifier_key(&self) -> &str {
        self.signer.verifier_key()
    }

    /// Appends canonical entry bytes; returns the entry's index once its batch is durable.
    pub async fn append_bytes(&self, data: Vec<u8>) -> Result<u64, AuditError> {
        self.enqueue(data, None)
            .await?
            .ok_or_else(|| AuditError("an entry without a pending row was settled elsewhere".into()))
    }

    /// The newest signed checkpoint, and the size it covers.
    pub async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.settled().await?;
        MerkleLog::latest_checkpoint_of(&self.store).await
    }

    /// The newest signed checkpoint in `store`, before any log is started on it.
    pub async fn latest_checkpoint_of(store: &Store) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query("SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&store.pool)
            .await?;
        row.map(|row| Ok((to_u64(row.try_get("size")?)?, row.try_get("note")?))).transpose()
    }

    /// Signed checkpoints with `size >= start`, oldest first.
    pub async fn checkpoints(&self, start: u64, limit: u64) -> Result<Vec<(u64, String)>, StoreError> {
        self.settled().await?;
        let rows =
            sqlx::query("SELECT size, note FROM audit_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2")
                .bind(to_i64(start)?)
                .bind(to_i64(limit)?)
                .fetch_all(&self.store.pool)
                .await?;
        rows.iter().map(|row| Ok((to_u64(row.try_get("size")?)?, row.try_get("note")?))).collect()
    }

    /// Entries with `start <= index < end`, as the exact bytes that were hashed.
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.settled().await?;
        let rows =
            sqlx::query("SELECT idx, data FROM audit_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(to_i64(start)?)
                .bind(to_i64(end)?)
                .fetch_all(&self.store.pool)
                .await?;
        rows.iter().map(|row| Ok((to_u64(row.try_get("idx")?)?, row.try_get("data")?))).collect()
    }

    async fn latest_size(&self) -> Result<u64, LogError> {
        Ok(self.latest_checkpoint().await?.map_or(0, |(size, _)| size))
    }

    /// Checks that a tree of `size` entries is signed. A size the newest checkpoint already
    /// covers needs no barrier: proofs for it read only hashes that never change.
    async fn within_checkpoint(&self, size: u64) -> Result<(), LogError> {
        let signed = MerkleLog::latest_checkpoint_of(&self.store).await?.map_or(0, |(size, _)| size);
        if size <= signed {
            return Ok(());
        }
        let latest = self.latest_size().await?;
        if size > latest {
            return Err(LogError::BeyondCheckpoint { requested: size, latest });
        }
        Ok(())
    }

    /// The RFC 9162 §2.1.3.1 inclusion proof of entry `index` in the tree of `size`.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.within_checkpoint(size).await?;
        let plan = proof::inclusion_plan(index, size)?;
        let hashes =
            read_hashes(&mut *self.store.pool.acquire().await.map_err(StoreError::from)?, &plan).await?;
        Ok(proof::inclusion_proof(index, size, &hashes)?)
    }

    /// The RFC 9162 §2.1.4.1 consistency proof between trees of `from` and `to` entries.
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, LogError> {
        self.within_checkpoint(to).await?;
        let plan = proof::consistency_plan(from, to)?;
        let hashes =
            read_hashes(&mut *self.store.pool.acquire().await.map_err(StoreError::from)?, &plan).await?;
        Ok(proof::consistency_proof(from, to, &hashes)?)
    }

    /// The root of the tree of `size` entries, from O(log n) stored hashes.
    pub async fn root(&self, size: u64) -> Result<Hash, LogError> {
        let indexes = Frontier::stored_indexes(size);
        let hashes =
            read_hashes(&mut *self.store.pool.acquire().await.map_err(StoreError::from)?, &indexes).await?;
        let ordered: Vec<Hash> = indexes.iter().filter_map(|i| hashes.get(i).copied()).collect();
        let frontier = Frontier::from_stored(size, &ordered)
            .map_err(|e| StoreError::Corrupt(format!("audit log right edge: {e}")))?;
        Ok(frontier.root())
    }

    /// Recomputes every hash and checkpoint root from the stored entries and compares them
    /// with what is stored. `progress` hears (entries done, total).
    pub async fn check(&self, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Option<Damage>, LogError> {
        let total = self.size().await.map_err(|e| StoreError::Corrupt(e.0))?;
        let checkpoints: HashMap<u64, String> =
            self.checkpoints(0, u64::MAX >> 1).await?.into_iter().collect();
        let mut frontier = Frontier::empty();
        let mut start = 0;
        while start < total {
            let end = (start + 10_000).min(total);
            let entries = self.entries(start, end).await?;
            let mut expected: Vec<(u64, StoredHash)> = Vec::new();
            // A fault found while reading stops the walk; a stored hash that disagrees with an
            // entry at or before it is the first damage, since a checkpoint covers many
            // entries and names only the last of them.
            let mut found = None;
            for (position, (index, data)) in entries.iter().enumerate() {
                if *index != start + position as u64 {
                    let what = "entry missing".to_owned();
                    found = Some(Damage { first_bad_index: start + position as u64, what });
                    break;
                }
                if let Err(error) = entry::decode(data) {
                    found = Some(Damage { first_bad_index: *index, what: error.to_string() });
                    break;
                }
                expected.extend(frontier.append(data).into_iter().map(|hash| (*index, hash)));
                if let Some(note) = checkpoints.get(&(index + 1)) {
                    let what =
                        match tearline_auditlog::checkpoint::verify(note.as_bytes(), self.verifier_key()) {
                            Ok(signed) if signed.root == frontier.root() => continue,
                            Ok(_) => format!("checkpoint at size {} does not match the entries", index + 1),
                            Err(error) => format!("checkpoint at size {}: {error}", index + 1),
                        };
                    found = Some(Damage { first_bad_index: *index, what });
                    break;
                }
            }
            let ids: Vec<u64> = expected.iter().map(|(_, hash)| hash.index).collect();
            let stored =
                read_hashes(&mut *self.store.pool.acquire().await.map_err(StoreError::from)?, &ids).await?;
            for (index, hash) in &expected {
                if stored.get(&hash.index) != Some(&hash.hash) {
                    let what = format!("stored hash {} does not match the entries", hash.index);
                    return Ok(Some(Damage { first_bad_index: *index, what }));
                }
            }
            if found.is_some() {
                return Ok(found);
            }
            progress(end, total);
            start = end;
        }
        Ok(None)
    }
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{value} is out of range")))
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative audit log position {value}")))
}

fn hash_from(row: &AnyRow) -> Result<(u64, Hash), StoreError> {
    let bytes: Vec<u8> = row.try_get("hash")?;
    let hash =
        bytes.try_into().map_err(|_| StoreError::Corrupt("a stored audit hash is not 32 bytes".into()))?;
    Ok((to_u64(row.try_get("id")?)?, Hash(hash)))
}

/// Reads the stored hashes at `indexes`, in as few queries as the parameter limit allows.
async fn read_hashes(
    connection: &mut sqlx::AnyConnection,
    indexes: &[u64],
) -> Result<HashMap<u64, Hash>, StoreError> {
    let mut found = HashMap::with_capacity(indexes.len());
    for chunk in indexes.chunks(HASHES_PER_READ) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!("SELECT id, hash FROM audit_hashes WHERE id IN ({})", placeholders.join(", "));
        let mut query = sqlx::query(&sql);
        for index in chunk {
            query = query.bind(to_i64(*index)?);
        }
        for row in query.fetch_all(&mut *connection).await? {
            let (id, hash) = hash_from(&row)?;
            found.insert(id, hash);
        }
    }
    Ok(found)
}

/// Writes `bytes` as a blob literal of `backend`.
fn blob_literal(backend: Backend, bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str(match backend {
        Backend::Sqlite => "X'",
        Backend::Postgres => "'\\x",
    });
    for byte in bytes {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    out.push_str(match backend {
        Backend::Sqlite => "'",
        Backend::Postgres => "'::bytea",
    });
}

/// Appends `INSERT`s of (integer key, bytes) rows, 500 rows to a statement.
fn insert_script<'a>(
    backend: Backend,
    insert: &str,
    rows: impl Iterator<Item = (u64, &'a [u8])>,
    out: &mut String,
) {
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        out.push_str(insert);
        for (n, (key, bytes)) in rows.by_ref().take(500).enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            out.push('(');
            out.push_str(&key.to_string());
            out.push_str(", ");
            blob_literal(backend, bytes, out);
            out.push(')');
        }
        out.push_str(";\n");
    }
}

/// The batch's writes as one SQL script, so that a batch costs one round trip to the
/// database however many entries it holds. Every value in it is an integer, hex-encoded
/// bytes, or the checkpoint note this process signed (base64, digits and the origin), so no
/// caller-controlled text is ever spliced into SQL.
fn batch_script(
    backend: Backend,
    first_index: u64,
    entries: &[&[u8]],
    hashes: &[StoredHash],
    new_size: u64,
    note: &str,
) -> String {
    let mut script = String::with_capacity(entries.len() * 420 + hashes.len() * 80 + 1024);
    // The append lock first, so that a concurrent process waits rather than interleaves.
    script.push_str("UPDATE audit_tree SET size = size WHERE id = 1;\n");
    let entries = entries.iter().enumerate().map(|(offset, data)| (first_index + offset as u64, *data));
    insert_script(backend, "INSERT INTO audit_entries (idx, data) VALUES ", entries, &mut script);
    let hashes = hashes.iter().map(|stored| (stored.index, stored.hash.0.as_slice()));
    insert_script(backend, "INSERT INTO audit_hashes (id, hash) VALUES ", hashes, &mut script);
    script.push_str(&format!(
        "UPDATE audit_tree SET size = {new_size} WHERE id = 1;\n\
         INSERT INTO audit_checkpoints (size, note, signed_at) VALUES ({new_size}, '{}', {});\n",
        note.replace('\'', "''"),
        now_millis()
    ));
    script
}

async fn run_appender(store: Store, signer: Arc<CheckpointSigner>, mut requests: mpsc::Receiver<Request>) {
    let mut frontier: Option<Frontier> = None;
    while let Some(first) = requests.recv().await {
        let (mut batch, mut barriers) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        let linger_until = tokio::time::Instant::now() + LINGER;
        while let Some(request) = next.take() {
            match request {
                Request::Append(pending) => batch.push(pending),
                Request::Barrier(done) => barriers.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = requests.try_recv().ok();
                // Entries whose change already answered wait for company, so that a burst
                // of changes costs a few batches (and fsyncs), not one each; anyone waiting
                // (a read, an unseal, a reader's barrier) ends the wait at once.
                let nobody_waits = barriers.is_empty() && batch.iter().all(|p| p.done.is_closed());
                if next.is_none() && nobody_waits {
                    next = tokio::time::timeout_at(linger_until, requests.recv()).await.ok().flatten();
                }
            }
        }
        let result = commit_batch(&store, &signer, &mut frontier, &batch, !barriers.is_empty()).await;
        for (position, pending) in batch.into_iter().enumerate() {
            let answer = match &result {
                Ok(indexes) => Ok(indexes.get(position).copied().flatten()),
                Err(error) => Err(error.to_string()),
            };
            let _ = pending.done.send(answer);
        }
        for done in barriers {
            let _ = done.send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
    }
}

/// Commits one batch durably and signs a checkpoint over it. With `sweep`, the batch also
/// takes every entry committed with its change that is still pending, whichever process
/// committed it (until none is left). On failure nothing of the batch is stored and the
/// cached right edge is dropped, to be reloaded.
///
/// With a cached right edge the batch is written straight away (three round trips: begin,
/// script, commit; one on PostgreSQL when there is nothing to claim or sweep, see
/// [`write_in_one_statement`]). The entries' primary key guards it: if another process appended since,
/// the first index collides, the transaction rolls back, and the batch is retried after
/// reading the size under the append lock and reloading the right edge.
async fn commit_batch(
    store: &Store,
    signer: &CheckpointSigner,
    cached: &mut Option<Frontier>,
    batch: &[Pending],
    sweep: bool,
) -> Result<Vec<Option<u64>>, StoreError> {
    if batch.is_empty() && !(sweep && anything_pending(store).await?) {
        return Ok(Vec::new());
    }
    let mut indexes = None;
    loop {
        let own = if indexes.is_none() { batch } else { &[] };
        let (written, swept_all) = write_with_retry(store, signer, cached, own, sweep).await?;
        indexes.get_or_insert(written);
        if swept_all {
            return Ok(indexes.unwrap_or_default());
        }
    }
}

async fn write_with_retry(
    store: &Store,
    signer: &CheckpointSigner,
    cached: &mut Option<Frontier>,
    batch: &[Pending],
    sweep: bool,
) -> Result<(Vec<Option<u64>>, bool), StoreError> {
    if let Some(frontier) = cached.take() {
        match write_batch(store, signer, frontier, batch, sweep, false).await {
            Ok((indexes, frontier, swept_all)) => {
                *cached = Some(frontier);
                return Ok((indexes, swept_all));
            }
            Err(StoreError::Database(sqlx::Error::Database(error))) if error.is_unique_violation() => {}
            Err(error) => return Err(error),
        }
    }
    let (indexes, frontier, swept_all) =
        write_batch(store, signer, Frontier::empty(), batch, sweep, true).await?;
    *cached = Some(frontier);
    Ok((indexes, swept_all))
}

async fn anything_pending(store: &Store) -> Result<bool, StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM audit_pending LIMIT 1").fetch_optional(&store.pool).await?;
    Ok(found.is_some())
}

/// Writes a batch after `frontier`, or, with `reload`, after the right edge read under the
/// append lock. Answers each entry's index (`None` for one another process appended), the
/// new right edge, and, with `sweep`, whether no committed entry is left pending.
async fn write_batch(
    store: &Store,
    signer: &CheckpointSigner,
    mut frontier: Frontier,
    batch: &[Pending],
    sweep: bool,
    reload: bool,
) -> Result<(Vec<Option<u64>>, Frontier, bool), StoreError> {
    if store.backend == Backend::Postgres && !sweep && !reload && batch.iter().all(|p| p.pending_id.is_none())
    {
        return write_in_one_statement(store, signer, frontier, batch).await;
    }
    let mut write = store.begin_write().await?;
    let claimed = claim_pending(store.backend, &mut write.tx, batch).await?;
    let swept = if sweep { claim_committed(store.backend, &mut write.tx).await? } else { Vec::new() };
    let swept_all = swept.len() < MAX_BATCH;
    let mut included: Vec<&[u8]> = batch
        .iter()
        .filter(|p| p.pending_id.is_none_or(|id| claimed.contains(&id)))
        .map(|p| p.data.as_slice())
        .collect();
    included.extend(swept.iter().map(Vec::as_slice));
    if included.is_empty() {
        write.commit().await?;
        return Ok((vec![None; batch.len()], frontier, swept_all));
    }
    if reload {
        // Take the row's write lock and read the size under it in one statement, so that no
        // other process can append in between.
        let size: i64 = sqlx::query_scalar("UPDATE audit_tree SET size = size WHERE id = 1 RETURNING size")
            .fetch_one(&mut *write.tx)
            .await?;
        let size = to_u64(size)?;
        let indexes = Frontier::stored_indexes(size);
        let stored = read_hashes(&mut write.tx, &indexes).await?;
        let ordered: Vec<Hash> = indexes.iter().filter_map(|i| stored.get(i).copied()).collect();
        frontier = Frontier::from_stored(size, &ordered)
            .map_err(|e| StoreError::Corrupt(format!("audit log: {e}")))?;
    }
    let (first, script) = append_script(store.backend, signer, &mut frontier, &included)?;
    // Without arguments the script runs as one simple query: one round trip.
    if let Err(error) = sqlx::Executor::execute(&mut *write.tx, script.as_str()).await {
        // Roll back now, not when the connection is next used, so the write lock is free
        // for the retry.
        let _ = write.tx.rollback().await;
        return Err(error.into());
    }
    write.commit().await?;
    let mut next = first;
    let indexes = batch
        .iter()
        .map(|p| {
            p.pending_id.is_none_or(|id| claimed.contains(&id)).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    Ok((indexes, frontier, swept_all))
}

/// Appends `included` to `frontier` and answers the index of the first entry and the
/// script that stores the entries, their new hashes, the new size and a checkpoint signed
/// over the new root.
fn append_script(
    backend: Backend,
    signer: &CheckpointSigner,
    frontier: &mut Frontier,
    included: &[&[u8]],
) -> Result<(u64, String), StoreError> {
    let first = frontier.size();
    let mut hashes: Vec<StoredHash> = Vec::with_capacity(included.len() * 2);
    for data in included {
        hashes.extend(frontier.append(data));
    }
    let new_size = frontier.size();
    let note = signer
        .sign(new_size, frontier.root())
        .map_err(|e| StoreError::Corrupt(format!("signing the checkpoint: {e}")))?;
    Ok((first, batch_script(backend, first, included, &hashes, new_size, &note)))
}

/// The common batch on PostgreSQL — entries that wait for their answer, after the right
/// edge this process holds, nothing to claim or sweep — in one round trip: a simple query
/// of several statements runs as one transaction (PostgreSQL's protocol, "Multiple
/// Statements in a Simple Query"), committed durably before the answer arrives, or rolled
/// back whole. A collision on the first index (another process appended) fails it whole,
/// and the caller retries after reloading the right edge, as for any batch.
async fn write_in_one_statement(
    store: &Store,
    signer: &CheckpointSigner,
    mut frontier: Frontier,
    batch: &[Pending],
) -> Result<(Vec<Option<u64>>, Frontier, bool), StoreError> {
    let included: Vec<&[u8]> = batch.iter().map(|p| p.data.as_slice()).collect();
    let (first, script) = append_script(store.backend, signer, &mut frontier, &included)?;
    sqlx::raw_sql(&script).execute(&store.pool).await?;
    let indexes = (first..).take(batch.len()).map(Some).collect();
    Ok((indexes, frontier, true))
}

/// Deletes the batch's pending rows and returns the ids this transaction deleted; a row
/// another process deleted first (and so appended) is not among them. Row locks make
/// this exactly-once across processes; the deletes roll back with the batch.
async fn claim_pending(
    backend: Backend,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    batch: &[Pending],
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let ids: Vec<i64> = batch.iter().filter_map(|p| p.pending_id).collect();
    let mut claimed = std::collections::HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(HASHES_PER_READ) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let sql = format!(
            "DELETE FROM audit_pending WHERE id IN \
             (SELECT id FROM audit_pending WHERE id IN ({}) ORDER BY id{}) RETURNING id",
            list.join(", "),
            crate::lock_rows(backend)
        );
        let deleted: Vec<i64> = sqlx::query_scalar(&sql).fetch_all(&mut **tx).await?;
        claimed.extend(deleted);
    }
    Ok(claimed)
}

/// Deletes and returns, oldest first, up to a batch of the entries still pending that
/// committed before this statement, whichever process committed them.
async fn claim_committed(
    backend: Backend,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let sql = format!(
        "DELETE FROM audit_pending WHERE id IN \
         (SELECT id FROM audit_pending ORDER BY id LIMIT {MAX_BATCH}{}) RETURNING id, data",
        crate::lock_rows(backend)
    );
    let mut rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(&sql).fetch_all(&mut **tx).await?;
    rows.sort_by_key(|(id, _)| *id);
    Ok(rows.into_iter().map(|(_, data)| data).collect())
}

/// Settles the entries that committed with their change but whose process died before
/// its appender took them: everything at start, then whatever has waited a few seconds.
async fn sweep_pending(store: Store, queue: mpsc::WeakSender<Request>) {
    let mut waited_millis = 0;
    loop {
        let cutoff = crate::now_millis().saturating_sub(waited_millis);
        waited_millis = SWEEP_AFTER_MILLIS;
        let stale: Result<Option<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT id FROM audit_pending WHERE queued_at <= $1 LIMIT 1")
                .bind(cutoff)
                .fetch_optional(&store.pool)
                .await;
        if let Ok(Some(_)) = stale {
            let Some(queue) = queue.upgrade() else { return };
            let (done, answer) = oneshot::channel();
            if queue.send(Request::Barrier(done)).await.is_err() {
                return;
            }
            drop(queue);
            let _ = answer.await;
        } else if queue.upgrade().is_none() {
            return;
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

#[async_trait::async_trait]
impl AuditLog for MerkleLog {
    async fn append(&self, event: &AuditEvent) -> Result<u64, AuditError> {
        self.append_bytes(entry::encode(event)).await
    }

    async fn size(&self) -> Result<u64, AuditError> {
        self.settled().await.map_err(|e| AuditError(e.to_string()))?;
        let size: i64 = sqlx::query_scalar("SELECT size FROM audit_tree WHERE id = 1")
            .fetch_one(&self.store.pool)
            .await
            .map_err(|e| AuditError(e.to_string()))?;
        to_u64(size).map_err(|e| AuditError(e.to_string()))
    }

    async fn read(&self, start: u64, limit: u64) -> Result<Vec<AuditRecord>, AuditError> {
        let failed = |e: StoreError| AuditError(e.to_string());
        let entries = self.entries(start, start.saturating_add(limit)).await.map_err(failed)?;
        entries
            .into_iter()
            .map(|(index, data)| {
                let event = entry::decode(&data).map_err(|e| AuditError(format!("entry {index}: {e}")))?;
                Ok(AuditRecord { index, event })
            })
            .collect()
    }
}
