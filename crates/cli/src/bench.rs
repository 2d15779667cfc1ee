//! `tearline bench`: end-to-end numbers for the foundation, printed as a table.
//!
//! Requests go through the whole application in-process (router → session → policy → audit
//! → store → vault), without the network, on SQLite and, when given a server, PostgreSQL.
//! The peer is PostgreSQL's own column encryption, pgcrypto, run on the same identities
//! over the same connection: the design most systems use instead of an envelope vault.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tearline_kernel::{CpuPool, Kernel};

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::Args;
use serde_json::{json, Value};
use sqlx::{Connection, Executor, Row};
use tearline_domain::Role;
use tearline_service::accounts::{create_user, NewUserRequest};
use tearline_service::{open_audit_log, system_clock, AppState, ServerSettings, VaultKeys};
use tearline_store::{scratch, Store};

use crate::in_memory_search;
use tearline_vault::{FileKeyring, Identity};
use tower::ServiceExt;

#[derive(Args)]
pub struct BenchArgs {
    /// Sources to register (each one seals an identity).
    #[arg(long, default_value_t = 1000)]
    sources: usize,
    /// Unseals and record reads to perform.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Contacts logged on one source before its lifecycle page is read.
    #[arg(long, default_value_t = 200)]
    contacts: usize,
    /// A PostgreSQL server to run the same benchmark on, in a scratch schema that is dropped
    /// afterwards; also runs the pgcrypto peer.
    #[arg(long, env = "TEARLINE_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
}

/// One line of the table.
pub(crate) struct Measurement {
    pub(crate) backend: &'static str,
    pub(crate) operation: String,
    pub(crate) count: usize,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<Duration>,
}

impl Measurement {
    pub(crate) fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub(crate) fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

pub async fn run(args: BenchArgs) -> Result<()> {
    if args.sources == 0 || args.requests == 0 || args.concurrency == 0 {
        bail!("--sources, --requests and --concurrency must be at least 1");
    }
    let mut rows = Vec::new();
    let dir = tempfile::tempdir()?;
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    rows.extend(application(&args, "sqlite", &sqlite_url, dir.path()).await?);
    if let Some(base) = &args.postgres {
        let schema = scratch::create(base, "tearline_bench").await?;
        let measured = async {
            let mut rows = application(&args, "postgres", &schema.url, dir.path()).await?;
            rows.extend(pgcrypto_peer(&args, &schema.url, dir.path()).await?);
            Ok::<_, anyhow::Error>(rows)
        }
        .await;
        scratch::drop(base, &schema.schema).await?;
        rows.extend(measured?);
    }
    print_table(&args, &rows);
    Ok(())
}

fn identity(n: usize) -> Identity {
    let mut identity = Identity::default();
    identity.full_name = format!("Benchmark Person {n:06}");
    identity.aliases = vec![format!("Alias {n}"), format!("اسم مستعار {n}")];
    identity.date_of_birth = Some("1985-03-14".into());
    identity.phone_numbers = vec![format!("+44 7700 9{:05}", n % 100_000)];
    identity.addresses = vec![format!("{n} Benchmark Street, Testford")];
    identity.family = vec![format!("Relative {n} (sibling)")];
    identity.notes = "Synthetic benchmark identity.".repeat(4);
    identity
}

async fn application(
    args: &BenchArgs,
    backend: &'static str,
    url: &str,
    dir: &std::path::Path,
) -> Result<Vec<Measurement>> {
    let store = Store::open(url).await.with_context(|| format!("opening the {backend} store"))?;
    let clock = system_clock();
    let keys = VaultKeys::open(&store, dir.join(format!("{backend}.key")), clock()).await?;
    let log = open_audit_log(&store, &dir.join(format!("{backend}-audit.key"))).await?;
    let kernel = Kernel::new(store.clone(), log.clone(), clock.clone());
    for (username, role) in [("bench-handler", Role::Handler), ("bench-controller", Role::Controller)] {
        let request = NewUserRequest {
            seniority: Default::default(),
            username: username.into(),
            display_name: None,
            role,
            unit: "Benchmark Unit".into(),
            password: zeroize::Zeroizing::new("benchmark password".into()),
        };
        create_user(&kernel, &CpuPool::new(1), None, &request).await?;
    }
    let state =
        AppState::new(store.clone(), log, keys, clock, ServerSettings::default(), in_memory_search()?);
    let app = tearline_server::router(state);
    let login = call(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        json!({"username": "bench-handler", "password": "benchmark password"}),
    )
    .await?;
    let token = login["token"].as_str().ok_or_else(|| anyhow!("benchmark login failed: {login}"))?.to_owned();

    let mut session = Session { app, token: token.into(), ids: Arc::new(Vec::new()) };
    let register = measure(backend, "register source (seal)", args.sources, args.concurrency, &session, |s, n| async move {
        let body = json!({"code_name": format!("BENCH {n}"), "controller": "bench-controller", "identity": identity(n)});
        call(&s.app, "POST", "/api/v1/sources", Some(&s.token), body).await.map(drop)
    })
    .await?;
    let listed = call(&session.app, "GET", "/api/v1/sources", Some(&session.token), Value::Null).await?;
    let ids: Vec<i64> = listed["sources"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["id"].as_i64()).collect())
        .unwrap_or_default();
    if ids.len() != args.sources {
        bail!("expected {} sources after registering, found {}", args.sources, ids.len());
    }
    session.ids = Arc::new(ids);
    let read = measure(
        backend,
        "read source record",
        args.requests,
        args.concurrency,
        &session,
        |s, n| async move {
            let id = s.ids[n % s.ids.len()];
            call(&s.app, "GET", &format!("/api/v1/sources/{id}"), Some(&s.token), Value::Null).await.map(drop)
        },
    )
    .await?;
    let unseal = measure(
        backend,
        "unseal (audit + open)",
        args.requests,
        args.concurrency,
        &session,
        |s, n| async move {
            let id = s.ids[(n * 7919) % s.ids.len()];
            let body = json!({"reason": "benchmark of the unseal path"});
            call(&s.app, "POST", &format!("/api/v1/sources/{id}/unseal"), Some(&s.token), body)
                .await
                .map(drop)
        },
    )
    .await?;
    let lifecycle = lifecycle_page(args, backend, &session).await?;
    store.close().await;
    Ok(vec![register, read, unseal, lifecycle])
}

/// A source's lifecycle page once `--contacts` contacts are logged on it: what a handler
/// opens before every meeting, and what sealing the text said about a source costs.
async fn lifecycle_page(args: &BenchArgs, backend: &'static str, session: &Session) -> Result<Measurement> {
    let id = *session.ids.first().ok_or_else(|| anyhow!("no source to log contacts on"))?;
    let bar = crate::progress_bar(format!("log {} contacts", args.contacts));
    bar.set_length(args.contacts as u64);
    for n in 0..args.contacts {
        let body = json!({
            "method": "meeting",
            "place": format!("Harbour café {n}, upstairs room"),
            "summary": format!("Contact {n}: the source described the week's deliveries at length. ").repeat(6),
        });
        call(&session.app, "POST", &format!("/api/v1/sources/{id}/contacts"), Some(&session.token), body)
            .await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let operation = format!("lifecycle page, {} contacts", args.contacts);
    let reads = args.requests.div_ceil(10);
    measure(backend, &operation, reads, args.concurrency, session, move |s, _| async move {
        call(&s.app, "GET", &format!("/api/v1/sources/{id}/lifecycle"), Some(&s.token), Value::Null)
            .await
            .map(drop)
    })
    .await
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Result<Value> {
    let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = if body.is_null() { Body::empty() } else { Body::from(body.to_string()) };
    let response = app.clone().oneshot(request.body(body)?).await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    if !(status.is_success() || status == StatusCode::CREATED) {
        bail!("{method} {path} answered {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A logged-in client of the in-process application.
#[derive(Clone)]
struct Session {
    app: axum::Router,
    token: Arc<str>,
    ids: Arc<Vec<i64>>,
}

/// Runs `count` operations with `concurrency` workers and a progress bar.
pub(crate) async fn measure<S, F, Fut>(
    backend: &'static str,
    operation: &str,
    count: usize,
    concurrency: usize,
    session: &S,
    make: F,
) -> Result<Measurement>
where
    S: Clone + Send + 'static,
    F: Fn(S, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let bar = crate::progress_bar(operation.to_owned());
    bar.set_length(count as u64);
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (next, make, bar, session) = (Arc::clone(&next), Arc::clone(&make), bar.clone(), session.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let began = Instant::now();
                make(session.clone(), n).await?;
                latencies.push(began.elapsed());
                bar.inc(1);
            }
        });
    }
    let mut latencies = Vec::with_capacity(count);
    while let Some(joined) = workers.join_next().await {
        latencies.extend(joined??);
    }
    bar.finish_and_clear();
    Ok(Measurement { backend, operation: operation.to_owned(), count, elapsed: started.elapsed(), latencies })
}

/// The same identities sealed by Tearline's vault and stored, against pgcrypto's
/// `pgp_sym_encrypt` in SQL, one connection, one statement at a time for both.
async fn pgcrypto_peer(args: &BenchArgs, url: &str, dir: &std::path::Path) -> Result<Vec<Measurement>> {
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    connection.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public").await?;
    connection
        .execute(
            "CREATE TABLE peer_vault (id BIGINT PRIMARY KEY, key_id BIGINT, wrapped BYTEA, sealed BYTEA)",
        )
        .await?;
    connection.execute("CREATE TABLE peer_pgcrypto (id BIGINT PRIMARY KEY, sealed BYTEA)").await?;
    let keys = FileKeyring::create(&dir.join("peer.key"))?;
    let passphrase = "bench passphrase held by the database session";
    let documents: Vec<String> =
        (0..args.sources).map(|n| serde_json::to_string(&identity(n)).unwrap_or_default()).collect();
    let pick = |n: usize| ((n * 7919) % documents.len()) as i64;
    let connection = &mut connection;
    let vault_seal = sequential("postgres", "peer: vault seal + INSERT", documents.len(), async |n| {
        let sealed = tearline_vault::seal(&keys, &identity(n), format!("peer-{n}").as_bytes())?;
        sqlx::query("INSERT INTO peer_vault (id, key_id, wrapped, sealed) VALUES ($1, $2, $3, $4)")
            .bind(n as i64)
            .bind(i64::from(sealed.key_id))
            .bind(sealed.wrapped_key)
            .bind(sealed.ciphertext)
            .execute(&mut *connection)
            .await?;
        Ok(())
    })
    .await?;
    let pgcrypto_seal = sequential("postgres", "peer: pgcrypto encrypt INSERT", documents.len(), async |n| {
        sqlx::query("INSERT INTO peer_pgcrypto (id, sealed) VALUES ($1, public.pgp_sym_encrypt($2, $3))")
            .bind(n as i64)
            .bind(documents[n].as_str())
            .bind(passphrase)
            .execute(&mut *connection)
            .await?;
        Ok(())
    })
    .await?;
    let vault_open = sequential("postgres", "peer: SELECT + vault open", args.requests, async |n| {
        let id = pick(n);
        let row = sqlx::query("SELECT key_id, wrapped, sealed FROM peer_vault WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *connection)
            .await?;
        let sealed = tearline_vault::Sealed {
            key_id: u32::try_from(row.try_get::<i64, _>("key_id")?)?,
            wrapped_key: row.try_get("wrapped")?,
            ciphertext: row.try_get("sealed")?,
        };
        tearline_vault::open(&keys, &sealed, format!("peer-{id}").as_bytes())?;
        Ok(())
    })
    .await?;
    let pgcrypto_open = sequential("postgres", "peer: pgcrypto decrypt SELECT", args.requests, async |n| {
        let plain: String =
            sqlx::query_scalar("SELECT public.pgp_sym_decrypt(sealed, $2) FROM peer_pgcrypto WHERE id = $1")
                .bind(pick(n))
                .bind(passphrase)
                .fetch_one(&mut *connection)
                .await?;
        if plain.is_empty() {
            bail!("pgcrypto returned an empty document");
        }
        Ok(())
    })
    .await?;
    Ok(vec![vault_seal, pgcrypto_seal, vault_open, pgcrypto_open])
}

/// Runs `count` steps one after another, timing each.
pub(crate) async fn sequential(
    backend: &'static str,
    operation: &str,
    count: usize,
    mut step: impl AsyncFnMut(usize) -> Result<()>,
) -> Result<Measurement> {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    for n in 0..count {
        let began = Instant::now();
        step(n).await?;
        latencies.push(began.elapsed());
    }
    Ok(Measurement { backend, operation: operation.to_owned(), count, elapsed: started.elapsed(), latencies })
}

fn print_table(args: &BenchArgs, rows: &[Measurement]) {
    println!(
        "tearline bench: {} sources, {} requests, concurrency {} (in-process requests through router, policy, audit, store and vault)",
        args.sources, args.requests, args.concurrency
    );
    println!();
    print_rows(rows);
    let find = |backend: &str, operation: &str| {
        rows.iter().find(|r| r.backend == backend && r.operation == operation)
    };
    let ratio = |ours: Option<&Measurement>, theirs: Option<&Measurement>, what: &str| {
        if let (Some(ours), Some(theirs)) = (ours, theirs) {
            println!("{what}: {:.2}x", ours.per_second() / theirs.per_second());
        }
    };
    println!();
    ratio(
        find("sqlite", "unseal (audit + open)"),
        find("postgres", "unseal (audit + open)"),
        "unseal throughput, SQLite / PostgreSQL",
    );
    ratio(
        find("postgres", "peer: vault seal + INSERT"),
        find("postgres", "peer: pgcrypto encrypt INSERT"),
        "seal + store, Tearline vault / pgcrypto",
    );
    ratio(
        find("postgres", "peer: SELECT + vault open"),
        find("postgres", "peer: pgcrypto decrypt SELECT"),
        "load + open, Tearline vault / pgcrypto",
    );
}

/// The measurements as a Markdown table.
pub(crate) fn print_rows(rows: &[Measurement]) {
    println!("| backend  | operation                      |     count |    ops/s |  p50 ms |  p99 ms |");
    println!("|----------|--------------------------------|----------:|---------:|--------:|--------:|");
    for row in rows {
        println!(
            "| {:<8} | {:<30} | {:>9} | {:>8.0} | {:>7.3} | {:>7.3} |",
            row.backend,
            row.operation,
            row.count,
            row.per_second(),
            row.percentile(0.5),
            row.percentile(0.99)
        );
    }
}
