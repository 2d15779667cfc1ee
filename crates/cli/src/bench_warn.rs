//! `tearline bench warn`: how fast a warning reaches the outbox, and targeting beside PostGIS.
//!
//! Registers N recipients (default 1 000 000) on a deterministic grid over a 2° square, then
//! on SQLite and on PostgreSQL times "issue warning" through the real service (policy,
//! audit, targeting through the spatial index, the targets written durably as runs of ids in
//! the issuing transaction) for an area that covers every recipient, beside PostgreSQL's own
//! `COPY` of one row per recipient into a bare table, the floor for writing them as rows. Targeting alone is timed for a
//! concave area over about a tenth of the recipients and for one over all of them, beside
//! PostGIS `ST_Covers` with a GiST index on the same points in the same run. PostGIS is
//! timed answering `count(*)`, which spares it sending the ids: the comparison favours it.
//! Before the issues are timed (each leaves a million deliveries in the outbox), a warning for
//! the town is issued and the dispatcher delivers it over HTTP to a local receiver, one
//! request a recipient, and one to text-message recipients through a local aggregator that
//! takes batches; each is timed until every delivery is accepted, with nothing else queued.

use std::time::Instant;
use tearline_kernel::{CpuPool, Kernel};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use sqlx::postgres::PgPoolOptions;
use sqlx::Row;
use tearline_domain::Role;
use tearline_service::accounts::{create_user, NewUserRequest};
use tearline_service::auth::Caller;
use tearline_service::warn::service::{self, DraftRequest, Submitted};
use tearline_service::{open_audit_log, system_clock, AppState, ServerSettings, VaultKeys};
use tearline_store::{scratch, Store};

use crate::in_memory_search;
use tearline_warn::cap::{CapArea, CapTime, Category, Certainty, Info, Scope, Severity, Status, Urgency};
use tearline_warn::delivery::{Channel, RecipientKind};
use tearline_warn::geo::{Area, LatLon, Polygon};
use tearline_warn::recipients::Registration;

use crate::bench::{print_rows, Measurement};

#[derive(Args)]
pub struct WarnBenchArgs {
    /// Recipients to register.
    #[arg(long, default_value_t = 1_000_000)]
    recipients: usize,
    /// Warnings to issue per backend (each queues one delivery per recipient).
    #[arg(long, default_value_t = 3)]
    issues: usize,
    /// Targeting queries per area and engine.
    #[arg(long, default_value_t = 20)]
    queries: usize,
    /// Text-message recipients warned through a local aggregator that takes batches.
    #[arg(long, default_value_t = 200_000)]
    gateway_recipients: usize,
    /// Text messages per request to that aggregator (`--gateway-batch`).
    #[arg(long, default_value_t = 500)]
    gateway_batch: usize,
    /// The PostgreSQL server (with the PostGIS extension available) for the PostgreSQL run
    /// and the PostGIS peer; work happens in scratch schemas dropped afterwards.
    #[arg(
        long,
        env = "TEARLINE_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
}

/// The recipients' square: from (33.0, 36.0), 2° on each side.
pub(crate) fn position(i: usize, count: usize) -> LatLon {
    let side = (count as f64).sqrt().ceil() as usize;
    let (row, col) = (i / side, i % side);
    LatLon {
        lat: 33.0 + 2.0 * (row as f64 + 0.5) / side as f64,
        lon: 36.0 + 2.0 * (col as f64 + 0.5) / side as f64,
    }
}

/// (name, CAP polygon): a concave "town" area over about a tenth of the square, and an area
/// holding all of it.
const AREAS: [(&str, &str); 2] = [
    ("town (concave, ~10%)", "33.6,36.6 33.6,37.2 34.2,37.2 33.9,36.9 34.2,36.6 33.6,36.6"),
    ("whole region (100%)", "32.9,35.9 32.9,38.1 35.1,38.1 35.1,35.9 32.9,35.9"),
];

pub(crate) fn area(index: usize) -> Result<Area> {
    let polygon = Polygon::parse_cap(AREAS[index].1).map_err(|e| anyhow!("benchmark polygon: {e}"))?;
    Ok(Area { description: AREAS[index].0.into(), polygons: vec![polygon], circles: Vec::new() })
}

pub async fn run(args: WarnBenchArgs) -> Result<()> {
    if args.recipients == 0 || args.issues == 0 || args.queries == 0 {
        bail!("--recipients, --issues and --queries must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let mut found = Vec::new();
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    let (sqlite_rows, state) = backend(&args, "sqlite", &sqlite_url, dir.path()).await?;
    rows.extend(sqlite_rows);
    let (index_rows, index_found): (Vec<_>, Vec<_>) = index_targeting(&args, &state)?.into_iter().unzip();
    rows.extend(index_rows);
    found.push(index_found);
    state.store.close().await;

    let schema = scratch::create(&args.postgres, "tearline_bench")
        .await
        .with_context(|| "creating a scratch schema on the PostgreSQL server (--postgres)")?;
    let measured = async {
        let (mut rows, state) = backend(&args, "postgres", &schema.url, dir.path()).await?;
        state.store.close().await;
        rows.push(copy_floor(&args, &schema.url).await?);
        let (postgis_rows, postgis_found): (Vec<_>, Vec<_>) =
            postgis_targeting(&args).await?.into_iter().unzip();
        rows.extend(postgis_rows);
        Ok::<_, anyhow::Error>((rows, postgis_found))
    }
    .await;
    scratch::drop(&args.postgres, &schema.schema).await?;
    let (postgres_rows, postgis_found) = measured?;
    rows.extend(postgres_rows);
    found.push(postgis_found);
    print_table(&args, &rows);
    let agree = found[0] == found[1];
    println!(
        "Tearline and PostGIS target the same number of recipients in every area: {}",
        if agree { "yes" } else { "NO" }
    );
    if !agree {
        bail!("targeting disagrees with PostGIS: {:?} vs {:?}", found[0], found[1]);
    }
    Ok(())
}

/// Registers the recipients and times issuing warnings on one backend.
async fn backend(
    args: &WarnBenchArgs,
    name: &'static str,
    url: &str,
    dir: &std::path::Path,
) -> Result<(Vec<Measurement>, AppState)> {
    let aggregator = aggregator().await?;
    let mut settings = ServerSettings::default();
    settings.warn.sms_gateway_url = Some(aggregator);
    settings.warn.gateway_batch = args.gateway_batch.max(1);
    let (state, caller, kernel) = officer_state(name, url, dir, settings).await?;
    let clock = system_clock();

    let receiver = receiver().await?;
    let bar = crate::progress_bar(format!("{name}: registering"));
    bar.set_length(args.recipients as u64);
    let registered = Instant::now();
    register(&kernel, args.recipients, &bar, |i| Registration {
        external_id: None,
        name: format!("Recipient {i}"),
        kind: RecipientKind::Person,
        channel: Channel::Webhook,
        address: format!("{receiver}/{i}"),
        position: position(i, args.recipients),
        language: None,
    })
    .await?;
    bar.finish_and_clear();
    let registering = Measurement {
        backend: name,
        operation: "register recipients".into(),
        count: args.recipients,
        elapsed: registered.elapsed(),
        latencies: vec![registered.elapsed()],
    };
    let loaded = Instant::now();
    state.warn.targeting.refresh(&state.store).await?;
    let loading = Measurement {
        backend: name,
        operation: "load spatial index".into(),
        count: args.recipients,
        elapsed: loaded.elapsed(),
        latencies: vec![loaded.elapsed()],
    };

    // Delivery first, while the outbox holds nothing else: the issues timed below leave a
    // million deliveries each behind them, which a dispatcher would work through too.
    let (delivering, _) = dispatch(&state, &caller, name, &area(0)?, "deliver town warning (HTTP)").await?;
    let count = args.gateway_recipients;
    register(&kernel, count, &indicatif::ProgressBar::hidden(), |i| {
        let at = position(i, count);
        Registration {
            external_id: None,
            name: format!("Texting recipient {i}"),
            kind: RecipientKind::Person,
            channel: Channel::Sms,
            address: format!("+44770{i:07}"),
            position: LatLon { lat: at.lat + 7.0, lon: at.lon },
            language: None,
        }
    })
    .await?;
    state.warn.targeting.refresh(&state.store).await?;
    let operation = format!("deliver by SMS aggregator, {} a request", args.gateway_batch.max(1));
    let (texting, _) = dispatch(&state, &caller, name, &texting_area()?, &operation).await?;
    let whole = area(1)?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..args.issues {
        let draft = service::draft_alert(&state, &caller, warning(&whole, clock().0)).await?;
        let began = Instant::now();
        let submitted = service::submit(&state, &caller, draft.id, Default::default()).await?;
        latencies.push(began.elapsed());
        match submitted {
            Submitted::Issued { deliveries } if deliveries == args.recipients as i64 => {}
            other => bail!("expected {} deliveries, got {other:?}", args.recipients),
        }
    }
    let issuing = Measurement {
        backend: name,
        operation: "issue warning → outbox".into(),
        count: args.issues * args.recipients,
        elapsed: started.elapsed(),
        latencies,
    };
    Ok((vec![registering, loading, issuing, delivering, texting], state))
}

/// A server's state on a fresh store at `url` with one warning officer of a benchmark unit,
/// acting through the real service (policy, audit, store).
pub(crate) async fn officer_state(
    name: &'static str,
    url: &str,
    dir: &std::path::Path,
    settings: ServerSettings,
) -> Result<(AppState, Caller, Kernel)> {
    let store = Store::open(url).await.with_context(|| format!("opening the {name} store"))?;
    let clock = system_clock();
    let keys = VaultKeys::open(&store, dir.join(format!("{name}.key")), clock()).await?;
    let request = NewUserRequest {
        seniority: Default::default(),
        username: "bench-officer".into(),
        display_name: None,
        role: Role::WarningOfficer,
        unit: "Benchmark Unit".into(),
        password: zeroize::Zeroizing::new("benchmark password".into()),
    };
    let log = open_audit_log(&store, &dir.join(format!("{name}-audit.key"))).await?;
    let kernel = Kernel::new(store.clone(), log.clone(), clock.clone());
    let officer = create_user(&kernel, &CpuPool::new(1), None, &request).await?;
    let user = store.user(officer.id).await?.ok_or_else(|| anyhow!("benchmark user vanished"))?;
    let state = AppState::new(store.clone(), log, keys, clock.clone(), settings, in_memory_search()?);
    let caller = Caller::acting_as(user);
    Ok((state, caller, kernel))
}

/// A local receiver that accepts every delivery at once, as a healthy partner would.
pub(crate) async fn receiver() -> Result<String> {
    let routes = axum::Router::new()
        .route("/{n}", axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, routes).await });
    Ok(format!("http://{address}"))
}

/// A local SMS aggregator that takes a batch of messages in one request and answers each
/// "sent", as bulk gateways do.
async fn aggregator() -> Result<String> {
    async fn accept(body: axum::body::Bytes) -> axum::response::Response {
        use axum::response::IntoResponse;
        let messages: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let results: Vec<serde_json::Value> = messages["messages"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|m| serde_json::json!({"idempotency_key": m["idempotency_key"], "status": "sent"}))
                    .collect()
            })
            .unwrap_or_default();
        axum::Json(serde_json::json!({ "results": results })).into_response()
    }
    let routes = axum::Router::new()
        .route("/", axum::routing::post(accept))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, routes).await });
    Ok(format!("http://{address}/"))
}

/// Where the text-message recipients live: a square of their own, north of the others.
fn texting_area() -> Result<Area> {
    let polygon = Polygon::parse_cap("39.9,35.9 39.9,38.1 42.1,38.1 42.1,35.9 39.9,35.9")
        .map_err(|e| anyhow!("benchmark polygon: {e}"))?;
    Ok(Area { description: "texting region".into(), polygons: vec![polygon], circles: Vec::new() })
}

/// Registers `count` recipients made by `make`, 50 000 to a change, counting on `bar`.
pub(crate) async fn register(
    kernel: &Kernel,
    count: usize,
    bar: &indicatif::ProgressBar,
    make: impl Fn(usize) -> Registration,
) -> Result<()> {
    for start in (0..count).step_by(50_000) {
        let chunk: Vec<Registration> = (start..(start + 50_000).min(count)).map(&make).collect();
        kernel
            .change(None, "recipient.import", "recipients", Some("benchmark"))
            .upsert_recipients(&chunk, system_clock()())
            .await?;
        bar.inc(chunk.len() as u64);
    }
    Ok(())
}

/// Issues a warning for `area` and runs the dispatcher until every one of its deliveries
/// was accepted over HTTP; the measurement and the version issued.
pub(crate) async fn dispatch(
    state: &AppState,
    caller: &Caller,
    name: &'static str,
    area: &Area,
    operation: &str,
) -> Result<(Measurement, i64)> {
    let draft = service::draft_alert(state, caller, warning(area, state.now().0)).await?;
    let Submitted::Issued { deliveries } =
        service::submit(state, caller, draft.id, Default::default()).await?
    else {
        bail!("the benchmark warning was not issued");
    };
    let started = Instant::now();
    let mut dispatcher = tearline_service::warn::dispatch::Dispatcher::default();
    // The newest warning is dispatched first; count its deliveries (a scan of its rows) only
    // once enough attempts were made to have covered it, so the count does not slow the run.
    let mut attempted = 0;
    loop {
        let round = dispatcher.round(state).await?;
        attempted += round;
        if attempted < usize::try_from(deliveries).unwrap_or(usize::MAX) && round > 0 {
            continue;
        }
        let counts = state.store.delivery_counts(draft.id).await?;
        if counts.sent == deliveries {
            break;
        }
        if counts.failed > 0 || round == 0 {
            bail!("the benchmark warning stalled: {counts:?}");
        }
    }
    let elapsed = started.elapsed();
    let measured = Measurement {
        backend: name,
        operation: operation.into(),
        count: usize::try_from(deliveries).unwrap_or(0),
        elapsed,
        latencies: vec![elapsed],
    };
    Ok((measured, draft.id))
}

pub(crate) fn warning(area: &Area, now: i64) -> DraftRequest {
    DraftRequest {
        threat_id: None,
        status: Status::Exercise,
        scope: Scope::Public,
        restriction: None,
        addresses: None,
        note: None,
        incidents: None,
        infos: vec![Info {
            language: "en-GB".into(),
            categories: vec![Category::Security],
            event: "Benchmark".into(),
            response_types: Vec::new(),
            urgency: Urgency::Immediate,
            severity: Severity::Severe,
            certainty: Certainty::Likely,
            audience: None,
            event_codes: Vec::new(),
            effective: None,
            onset: None,
            expires: Some(CapTime::utc(now + 3_600_000)),
            sender_name: None,
            headline: Some("Benchmark warning".into()),
            description: None,
            instruction: None,
            web: None,
            contact: None,
            parameters: Vec::new(),
            areas: vec![CapArea { area: area.clone(), geocodes: Vec::new(), altitude: None, ceiling: None }],
        }],
    }
}

fn timed(
    backend: &'static str,
    operation: String,
    queries: usize,
    mut query: impl FnMut() -> Result<usize>,
) -> Result<(Measurement, usize)> {
    let mut latencies = Vec::with_capacity(queries);
    let mut found = 0;
    let started = Instant::now();
    for _ in 0..queries {
        let began = Instant::now();
        found = query()?;
        latencies.push(began.elapsed());
    }
    Ok((Measurement { backend, operation, count: queries, elapsed: started.elapsed(), latencies }, found))
}

/// Targeting through Tearline's in-memory R-tree (returns every id, sorted).
fn index_targeting(args: &WarnBenchArgs, state: &AppState) -> Result<Vec<(Measurement, usize)>> {
    let mut rows = Vec::new();
    for (index, (name, _)) in AREAS.iter().enumerate() {
        let areas = vec![area(index)?];
        let (row, found) = timed("index", format!("target {name}"), args.queries, || {
            Ok(state.warn.targeting.targets(&areas).len())
        })?;
        println!("Tearline index, {name}: {found} recipients");
        rows.push((row, found));
    }
    Ok(rows)
}

/// The same points and areas in PostGIS: `ST_Covers` over a GiST index.
async fn postgis_targeting(args: &WarnBenchArgs) -> Result<Vec<(Measurement, usize)>> {
    let pool = PgPoolOptions::new().max_connections(1).connect(&args.postgres).await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis").execute(&pool).await.context(
        "PostGIS is needed for the comparison: install Debian's postgresql-15-postgis-3 (or your server's postgis package)",
    )?;
    sqlx::query("DROP TABLE IF EXISTS tearline_bench_postgis").execute(&pool).await?;
    sqlx::query("CREATE UNLOGGED TABLE tearline_bench_postgis (id bigint PRIMARY KEY, geom geometry(Point, 4326) NOT NULL)")
        .execute(&pool)
        .await?;
    let bar = crate::progress_bar("postgis: loading points");
    bar.set_length(args.recipients as u64);
    for start in (0..args.recipients).step_by(100_000) {
        let end = (start + 100_000).min(args.recipients);
        let ids: Vec<i64> = (start..end).map(|i| i as i64 + 1).collect();
        let (lats, lons): (Vec<f64>, Vec<f64>) =
            (start..end).map(|i| position(i, args.recipients)).map(|p| (p.lat, p.lon)).unzip();
        sqlx::query(
            "INSERT INTO tearline_bench_postgis (id, geom)
             SELECT id, ST_SetSRID(ST_MakePoint(lon, lat), 4326) FROM unnest($1::bigint[], $2::float8[], $3::float8[]) AS t(id, lat, lon)",
        )
        .bind(ids)
        .bind(lats)
        .bind(lons)
        .execute(&pool)
        .await?;
        bar.inc((end - start) as u64);
    }
    bar.finish_and_clear();
    sqlx::query("CREATE INDEX ON tearline_bench_postgis USING gist (geom)").execute(&pool).await?;
    sqlx::query("ANALYZE tearline_bench_postgis").execute(&pool).await?;
    let mut rows = Vec::new();
    for (name, polygon) in AREAS {
        let wkt = wkt_of(polygon)?;
        // Warm the cache once, as the index is warm for Tearline.
        sqlx::query(
            "SELECT count(*) FROM tearline_bench_postgis WHERE ST_Covers(ST_GeomFromText($1, 4326), geom)",
        )
        .bind(&wkt)
        .fetch_one(&pool)
        .await?;
        let mut latencies = Vec::with_capacity(args.queries);
        let mut found = 0i64;
        let started = Instant::now();
        for _ in 0..args.queries {
            let began = Instant::now();
            let row = sqlx::query("SELECT count(*) AS n FROM tearline_bench_postgis WHERE ST_Covers(ST_GeomFromText($1, 4326), geom)")
                .bind(&wkt)
                .fetch_one(&pool)
                .await?;
            found = row.try_get("n")?;
            latencies.push(began.elapsed());
        }
        println!("PostGIS, {name}: {found} recipients");
        let measured = Measurement {
            backend: "postgis",
            operation: format!("target {name}"),
            count: args.queries,
            elapsed: started.elapsed(),
            latencies,
        };
        rows.push((measured, usize::try_from(found).unwrap_or(0)));
    }
    sqlx::query("DROP TABLE tearline_bench_postgis").execute(&pool).await?;
    Ok(rows)
}

/// The floor for queuing on PostgreSQL: its own `COPY` of one (version, recipient) row per
/// recipient into a bare table — no key, no index — committed, as many times as warnings
/// are issued.
async fn copy_floor(args: &WarnBenchArgs, url: &str) -> Result<Measurement> {
    use sqlx::{Connection, Executor};
    let mut connection = sqlx::PgConnection::connect(url).await?;
    connection
        .execute(
            "CREATE TABLE tearline_bench_copy (version_id bigint NOT NULL, recipient_id bigint NOT NULL)",
        )
        .await?;
    let mut rows = String::with_capacity(args.recipients * 12);
    for id in 1..=args.recipients {
        rows.push_str("1\t");
        rows.push_str(&id.to_string());
        rows.push('\n');
    }
    let mut latencies = Vec::with_capacity(args.issues);
    let started = Instant::now();
    for _ in 0..args.issues {
        connection.execute("TRUNCATE tearline_bench_copy").await?;
        let began = Instant::now();
        let mut transaction = connection.begin().await?;
        let mut copy =
            transaction.copy_in_raw("COPY tearline_bench_copy (version_id, recipient_id) FROM STDIN").await?;
        copy.send(rows.as_bytes()).await?;
        copy.finish().await?;
        transaction.commit().await?;
        latencies.push(began.elapsed());
    }
    let elapsed = started.elapsed();
    connection.execute("DROP TABLE tearline_bench_copy").await?;
    Ok(Measurement {
        backend: "postgres",
        operation: "peer: COPY into a bare table".into(),
        count: args.issues * args.recipients,
        elapsed,
        latencies,
    })
}

/// CAP `lat,lon` pairs as WKT (`lon lat`).
fn wkt_of(cap: &str) -> Result<String> {
    let polygon = Polygon::parse_cap(cap).map_err(|e| anyhow!("{e}"))?;
    let points: Vec<String> = polygon.points().iter().map(|p| format!("{} {}", p.lon, p.lat)).collect();
    Ok(format!("POLYGON(({}))", points.join(", ")))
}

fn print_table(args: &WarnBenchArgs, rows: &[Measurement]) {
    println!();
    println!(
        "tearline bench warn: {} recipients, {} warnings per backend, {} targeting queries per area",
        args.recipients, args.issues, args.queries
    );
    println!();
    print_rows(rows);
    println!();
    let p50 = |backend: &str, operation: &str| {
        rows.iter().find(|r| r.backend == backend && r.operation == operation).map(|r| r.percentile(0.5))
    };
    for backend in ["sqlite", "postgres"] {
        if let Some(ms) = p50(backend, "issue warning → outbox") {
            println!("issue → every delivery durably queued, {backend}: p50 {:.0} ms", ms);
        }
        if let Some(row) =
            rows.iter().find(|r| r.backend == backend && r.operation.starts_with("deliver town"))
        {
            println!(
                "town warning delivered over HTTP to all {} recipients, {backend}: {:.1} s ({:.0} deliveries/s)",
                row.count,
                row.elapsed.as_secs_f64(),
                row.per_second()
            );
        }
        if let Some(row) =
            rows.iter().find(|r| r.backend == backend && r.operation.starts_with("deliver by SMS"))
        {
            println!(
                "warning delivered by text message to all {} recipients through a batching aggregator, {backend}: \
                 {:.1} s ({:.0} deliveries/s)",
                row.count,
                row.elapsed.as_secs_f64(),
                row.per_second()
            );
        }
    }
    if let (Some(ours), Some(floor)) =
        (p50("postgres", "issue warning → outbox"), p50("postgres", "peer: COPY into a bare table"))
    {
        println!(
            "queuing on PostgreSQL: Tearline issue {ours:.0} ms (policy, audit, targeting, runs of targets), \
             COPY of one row per recipient into a bare table {floor:.0} ms, ratio {:.2}x",
            floor / ours.max(f64::EPSILON)
        );
    }
    for (name, _) in AREAS {
        let operation = format!("target {name}");
        if let (Some(ours), Some(theirs)) = (p50("index", &operation), p50("postgis", &operation)) {
            println!(
                "targeting {name}: Tearline index {ours:.2} ms, PostGIS {theirs:.2} ms, ratio {:.1}x",
                theirs / ours.max(f64::EPSILON)
            );
        }
    }
}
