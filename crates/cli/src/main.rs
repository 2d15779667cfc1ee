//! The `tearline` binary: `serve` runs the server; `admin` creates accounts and rotates the
//! vault key from the data directory. Every setting has a flag, an environment variable and
//! a config-file key; a flag wins over the environment, the environment over the file.

mod audit;
mod bench;
mod bench_audit;
mod bench_public;
mod bench_search;
mod bench_warn;
mod config;
mod recipients;

use std::io::BufRead;
use std::path::PathBuf;
use tearline_kernel::{CpuPool, Kernel};

use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use tearline_demo as demo;
use tearline_domain::{Role, Seniority};
use tearline_service::accounts::{create_user, NewUserRequest};
use tearline_service::lifecycle::LifecycleSettings;
use tearline_service::warn::{GatewayToken, WarnSettings};
use tearline_service::{open_audit_log, system_clock, AppState, ServerSettings, VaultKeys};
use tearline_store::Store;

use crate::config::{DataOptions, Settings};

/// mimalloc for the whole process (see `Cargo.toml` for why); measured in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tearline",
    version,
    about = "Source handling with a sealed identity vault, graded intelligence and public warnings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written to standard error: text for people, json (one object a
    /// line) for a log collector
    #[arg(long, global = true, env = "TEARLINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API and web UI).
    Serve(Box<ServeArgs>),
    /// Rebuild the intelligence search index from the store, with a progress bar.
    Reindex {
        #[command(flatten)]
        data: DataOptions,
    },
    /// Inspect the verifiable audit log: key, export, verify, check.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Measure and print a table.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Administer accounts and keys directly on the data directory.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The registry of people and places that receive warnings.
    #[command(subcommand)]
    Recipients(RecipientsCommand),
    /// Print a shell completion script: `tearline completions bash > /etc/bash_completion.d/tearline`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages: tearline.1 and one per subcommand (tearline-serve.1, …).
    Man {
        /// The directory to write them to (created if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// The registry of people and places that receive warnings.
#[derive(Subcommand)]
enum RecipientsCommand {
    /// Register recipients from a CSV or GeoJSON file, with a progress bar
    Import(recipients::ImportArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Requests end to end (register, read, unseal) on SQLite and PostgreSQL, and pgcrypto.
    Foundation(bench::BenchArgs),
    /// The verifiable audit log: appends, proofs, and verification beside sha256sum.
    Audit(bench_audit::AuditBenchArgs),
    /// Issue-to-outbox time for a million recipients on SQLite and PostgreSQL, and targeting beside PostGIS
    Warn(bench_warn::WarnBenchArgs),
    /// Search over a million released reports: tantivy beside PostgreSQL full-text search and SQLite FTS5
    Search(bench_search::SearchBenchArgs),
    /// The public CAP feed and an alert under load (wrk), beside nginx serving the same bytes
    Public(bench_public::PublicBenchArgs),
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataOptions,
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free port).
    #[arg(long, env = "TEARLINE_LISTEN")]
    listen: Option<String>,
    /// Seed a fictional demo unit into an empty database and print its logins.
    #[arg(long, env = "TEARLINE_DEMO")]
    demo: bool,
    /// Mark session cookies `Secure`: set this when a TLS proxy is in front.
    #[arg(long, env = "TEARLINE_BEHIND_TLS")]
    behind_tls: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics, on this separate address only
    /// (off unless set; port 0 picks a free port)
    #[arg(long, env = "TEARLINE_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// A report's location, or a warning's area, this close (in metres) to an address of a
    /// source behind it is flagged to whoever releases or issues it
    #[arg(long, env = "TEARLINE_PLACE_FLAG_METRES", default_value_t = 250.0)]
    place_flag_metres: f64,
    #[command(flatten)]
    warn: WarnOptions,
    #[command(flatten)]
    lifecycle: LifecycleOptions,
}

/// The unit's payment thresholds and how old a risk assessment may grow.
#[derive(Args)]
struct LifecycleOptions {
    /// The currency payment thresholds are set in (ISO 4217); payments in any other
    /// currency always need a senior approver
    #[arg(long, env = "TEARLINE_PAYMENT_CURRENCY", default_value = "GBP")]
    payment_currency: String,
    /// Above this single payment, a senior controller approves
    #[arg(long, env = "TEARLINE_PAYMENT_THRESHOLD", default_value = "1000")]
    payment_threshold: String,
    /// Above this paid to one source within 365 days, a senior controller approves
    #[arg(long, env = "TEARLINE_PAYMENT_THRESHOLD_YEAR", default_value = "5000")]
    payment_threshold_year: String,
    /// Above this paid to one source ever, a senior controller approves
    #[arg(long, env = "TEARLINE_PAYMENT_THRESHOLD_CUMULATIVE", default_value = "20000")]
    payment_threshold_cumulative: String,
    /// A risk assessment older than this many days is flagged stale
    #[arg(long, env = "TEARLINE_RISK_ASSESSMENT_MAX_AGE_DAYS", default_value_t = 180)]
    risk_assessment_max_age_days: u32,
}

/// How warnings leave the server and where the public finds them.
#[derive(Args)]
struct WarnOptions {
    /// The public origin of this server, used in the CAP feed and acknowledgement links
    /// [default: http://LISTEN-ADDRESS]
    #[arg(long, env = "TEARLINE_PUBLIC_URL")]
    public_url: Option<String>,
    /// CAP `sender`, a globally unique name of this alerting authority [default: tearline@HOST]
    #[arg(long, env = "TEARLINE_CAP_SENDER")]
    cap_sender: Option<String>,
    /// The SMS gateway's webhook; SMS deliveries are posted there as JSON
    #[arg(long, env = "TEARLINE_SMS_GATEWAY_URL")]
    sms_gateway_url: Option<String>,
    /// The email gateway's webhook; email deliveries are posted there as JSON
    #[arg(long, env = "TEARLINE_EMAIL_GATEWAY_URL")]
    email_gateway_url: Option<String>,
    /// The most parts one warning's text message may take: GSM-7 where the text allows it
    /// (153 characters a part), UCS-2 otherwise (67); longer text is cut at a word
    #[arg(long, env = "TEARLINE_SMS_MAX_PARTS", default_value_t = 3)]
    sms_max_parts: usize,
    /// The bearer token the SMS gateway presents when it forwards recipients' replies to
    /// POST /cap/sms-replies; without it replies are not taken
    #[arg(long, env = "TEARLINE_SMS_REPLY_TOKEN", hide_env_values = true)]
    sms_reply_token: Option<String>,
    /// Deliveries in flight at once
    #[arg(long, env = "TEARLINE_DELIVERY_CONCURRENCY", default_value_t = 64)]
    delivery_concurrency: usize,
    /// Requests in flight to one receiving host at once (a webhook's host, or a gateway)
    #[arg(long, env = "TEARLINE_DELIVERY_PER_HOST", default_value_t = 64)]
    delivery_per_host: usize,
    /// Text messages and e-mails sent to their gateway in one request, as aggregators
    /// accept: {"messages": [...]} answered {"results": [{idempotency_key, status}]}; 1 sends
    /// each alone
    #[arg(long, env = "TEARLINE_GATEWAY_BATCH", default_value_t = 1)]
    gateway_batch: usize,
    /// Seconds a delivery attempt may take before it counts as failed and is retried
    #[arg(long, env = "TEARLINE_DELIVERY_TIMEOUT_SECS", default_value_t = 10)]
    delivery_timeout_secs: u64,
    /// Seconds a claimed delivery stays with its dispatcher; after a crash, its deliveries
    /// are taken up again once this runs out. Must exceed the delivery timeout.
    #[arg(long, env = "TEARLINE_DELIVERY_LEASE_SECS", default_value_t = 60)]
    delivery_lease_secs: u64,
    /// Map tiles as a URL template (https://.../{z}/{x}/{y}.png); without it maps show the
    /// bundled Natural Earth basemap and need no network
    #[arg(long, env = "TEARLINE_MAP_TILES_URL")]
    map_tiles_url: Option<String>,
    /// The main roads and named places of the area covered, as a GeoJSON FeatureCollection
    /// of LineStrings (property name, kind main or minor) and Points (property name), drawn
    /// over the offline basemap; the demo uses its town's own
    #[arg(long, env = "TEARLINE_MAP_OVERLAY", value_name = "FILE")]
    map_overlay: Option<PathBuf>,
    /// How many recipients the demo registers around its fictional town
    #[arg(long, env = "TEARLINE_DEMO_RECIPIENTS", default_value_t = 3000)]
    demo_recipients: usize,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user (and their unit, if new). The password is read from standard input.
    CreateUser {
        #[command(flatten)]
        data: DataOptions,
        /// The login name: 3 to 40 lowercase letters, digits, '.', '_' or '-'.
        #[arg(long)]
        username: String,
        /// handler, controller, authorising-officer, analyst, warning-officer, inspector or administrator
        #[arg(long)]
        role: Role,
        /// The unit the account belongs to, created if new (1 to 100 characters).
        #[arg(long)]
        unit: String,
        /// The name shown for the account (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// A senior officer: authorises juveniles and vulnerable sources, approves payments
        /// above the thresholds.
        #[arg(long)]
        senior: bool,
    },
    /// Disable an account at once: it cannot log in and its sessions end (for an emergency,
    /// such as the only administrator's account falling into the wrong hands).
    DisableUser {
        #[command(flatten)]
        data: DataOptions,
        /// The login name of the account.
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled account again; it takes effect at once.
    EnableUser {
        #[command(flatten)]
        data: DataOptions,
        /// The login name of the account.
        #[arg(long)]
        username: String,
    },
    /// Add a vault key-encryption key and re-wrap every data key under it.
    RotateKey {
        #[command(flatten)]
        data: DataOptions,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Benchmarks run statements slow on purpose (a million rows at once); keep their table clean.
    let default_filter =
        if matches!(cli.command, Command::Bench(_)) { "warn,sqlx=error" } else { "info,sqlx=warn" };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("TEARLINE_LOG").unwrap_or_else(|_| default_filter.into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Bench(BenchCommand::Foundation(args)) => bench::run(args).await,
        Command::Bench(BenchCommand::Audit(args)) => bench_audit::run(args).await,
        Command::Bench(BenchCommand::Warn(args)) => bench_warn::run(args).await,
        Command::Bench(BenchCommand::Search(args)) => bench_search::run(args).await,
        Command::Bench(BenchCommand::Public(args)) => bench_public::run(args).await,
        Command::Recipients(RecipientsCommand::Import(args)) => recipients::import(args).await,
        Command::Audit(command) => audit::run(command).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tearline", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            clap_mangen::generate_to(Cli::command(), &out)
                .with_context(|| format!("writing manual pages to {}", out.display()))?;
            println!(
                "wrote the manual pages to {} (read one with `man -l {}/tearline.1`)",
                out.display(),
                out.display()
            );
            Ok(())
        }
        Command::Reindex { data } => {
            let settings = Settings::resolve(&data, None)?;
            let store = open_store(&settings).await?;
            let search = open_search(&settings)?;
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} released reports indexed")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let count = tearline_service::intel::reindex(&store, &search, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish_and_clear();
            println!("indexed {count} released reports");
            Ok(())
        }
        Command::Admin(AdminCommand::CreateUser { data, username, role, unit, display_name, senior }) => {
            // Everything that can be checked is, before a password is asked for.
            tearline_service::accounts::validate_username(username.trim())?;
            tearline_service::accounts::validate_unit(&unit)?;
            let settings = Settings::resolve(&data, None)?;
            let store = open_store(&settings).await?;
            VaultKeys::open(&store, settings.key_file.clone(), (system_clock())()).await?;
            eprintln!("Password for {username} (12 or more characters), read from standard input:");
            let mut password = zeroize::Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut password).context("reading the password")?;
            let password = zeroize::Zeroizing::new(password.trim_end_matches(['\r', '\n']).to_owned());
            let seniority = if senior { Seniority::Senior } else { Seniority::Standard };
            let request = NewUserRequest { username, display_name, role, seniority, unit, password };
            let kernel = open_kernel(&settings, &store).await?;
            let user = create_user(&kernel, &CpuPool::for_this_machine(), None, &request).await?;
            println!("created {} {} (id {}) in unit {}", user.role, user.username, user.id.0, request.unit);
            Ok(())
        }
        Command::Admin(AdminCommand::DisableUser { data, username }) => {
            let (kernel, user) = installation_and_account(&data, &username).await?;
            tearline_service::accounts::disable(&kernel, None, user.id).await?;
            println!("disabled {username}: it cannot log in, and its sessions have ended");
            Ok(())
        }
        Command::Admin(AdminCommand::EnableUser { data, username }) => {
            let (kernel, user) = installation_and_account(&data, &username).await?;
            tearline_service::accounts::enable(&kernel, None, &user).await?;
            println!("enabled {username}");
            Ok(())
        }
        Command::Admin(AdminCommand::RotateKey { data }) => {
            let settings = Settings::resolve(&data, None)?;
            let store = open_store(&settings).await?;
            let keys = VaultKeys::open(&store, settings.key_file.clone(), (system_clock())()).await?;
            let kernel = open_kernel(&settings, &store).await?;
            let bar = progress_bar("re-wrapping data keys");
            let report = tearline_service::sources::rotate_vault_key(&kernel, None, &keys, &|done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .await?;
            println!("vault key {} is now active; {} data keys re-wrapped", report.key_id, report.rewrapped);
            Ok(())
        }
    }
}

/// The kernel as the installation itself acts through it, and the account named `username`.
async fn installation_and_account(
    data: &DataOptions,
    username: &str,
) -> Result<(Kernel, tearline_store::User)> {
    let settings = Settings::resolve(data, None)?;
    let store = open_store(&settings).await?;
    let user = store
        .user_by_username(username)
        .await?
        .with_context(|| format!("no account is named {username:?}"))?;
    Ok((open_kernel(&settings, &store).await?, user))
}

/// A progress bar on stderr for long work; hidden when stderr is not a terminal.
pub fn progress_bar(message: impl Into<std::borrow::Cow<'static, str>>) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:<24} {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(message);
    bar
}

/// A search index in memory, for benchmarks that never search.
pub(crate) fn in_memory_search() -> Result<std::sync::Arc<tearline_search::SearchIndex>> {
    Ok(std::sync::Arc::new(tearline_search::SearchIndex::in_memory().context("creating a search index")?))
}

/// The search index in the data directory.
pub(crate) fn open_search(settings: &Settings) -> Result<std::sync::Arc<tearline_search::SearchIndex>> {
    let dir = settings.data_dir.join("search-index");
    let index = tearline_search::SearchIndex::open(&dir)
        .with_context(|| format!("opening the search index in {}", dir.display()))?;
    Ok(std::sync::Arc::new(index))
}

/// The operation kernel over `store`, for command-line work: its changes are audited as
/// the installation's (no account), with the log's own signing key.
pub(crate) async fn open_kernel(settings: &Settings, store: &Store) -> Result<Kernel> {
    let log = open_audit_log(store, &settings.audit_key_file).await?;
    Ok(Kernel::new(store.clone(), log, system_clock()))
}

/// The store of an installation that exists already. Only `serve` creates one: every other
/// command on a data directory that holds no database says so and leaves nothing behind.
pub(crate) async fn open_store(settings: &Settings) -> Result<Store> {
    if let Some(path) = settings.sqlite_path() {
        if !path.exists() {
            bail!(
                "there is no Tearline database at {}: start the server once to create one \
                 (`tearline serve --data {}`, or `tearline serve --demo`), or pass the --data or \
                 --database the server uses",
                path.display(),
                settings.data_dir.display()
            );
        }
    }
    Store::open(&settings.database_url.replace("mode=rwc", "mode=rw"))
        .await
        .with_context(|| format!("opening the database {}", settings.redacted_database_url()))
}

/// The store `serve` runs on, created with its data directory on a first start.
async fn create_or_open_store(settings: &Settings) -> Result<Store> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating the data directory {}", settings.data_dir.display()))?;
    Store::open(&settings.database_url)
        .await
        .with_context(|| format!("opening the database {}", settings.redacted_database_url()))
}

/// Reads the map's context layer, refusing a file too large to be one before reading it.
fn read_overlay(path: &std::path::Path) -> Result<tearline_warn::overlay::Overlay> {
    let size =
        std::fs::metadata(path).with_context(|| format!("reading the map overlay {}", path.display()))?.len();
    if size > tearline_warn::overlay::MAX_BYTES as u64 {
        anyhow::bail!(
            "the map overlay {} is larger than {} bytes",
            path.display(),
            tearline_warn::overlay::MAX_BYTES
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the map overlay {}", path.display()))?;
    tearline_warn::overlay::Overlay::parse(&text).with_context(|| format!("in {}", path.display()))
}

async fn serve(args: ServeArgs) -> Result<()> {
    let settings = Settings::resolve(&args.data, args.listen.as_deref())?;
    let store = create_or_open_store(&settings).await?;
    let clock = system_clock();
    let keys = VaultKeys::open(&store, settings.key_file.clone(), clock()).await?;
    let log = open_audit_log(&store, &settings.audit_key_file).await?;
    let kernel = Kernel::new(store.clone(), log.clone(), clock.clone());
    // Text written by a build from before it was sealed is sealed before anything is served.
    let sealed = tearline_service::above_line::seal_text_written_before_sealing(&kernel, &keys).await?;
    if sealed > 0 {
        println!("Sealed {sealed} records of text about sources written before this version sealed it.");
    }
    let seeded = if args.demo || settings.demo {
        demo::seed(&kernel, &keys).await?;
        true
    } else {
        false
    };
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let users = store.users().await?;
    let public_url = args
        .warn
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"))
        .trim_end_matches('/')
        .to_owned();
    let host =
        public_url.split("://").nth(1).and_then(|rest| rest.split([':', '/']).next()).unwrap_or("localhost");
    let warn = WarnSettings {
        sender: args.warn.cap_sender.clone().unwrap_or_else(|| format!("tearline@{host}")),
        public_url,
        sms_gateway_url: args.warn.sms_gateway_url.clone(),
        email_gateway_url: args.warn.email_gateway_url.clone(),
        sms_max_parts: args.warn.sms_max_parts.max(1),
        sms_reply_token: args.warn.sms_reply_token.clone().filter(|t| !t.is_empty()).map(GatewayToken::new),
        concurrency: args.warn.delivery_concurrency.max(1),
        per_host_concurrency: args.warn.delivery_per_host.max(1),
        gateway_batch: args.warn.gateway_batch.clamp(1, 1000),
        request_timeout: std::time::Duration::from_secs(args.warn.delivery_timeout_secs.max(1)),
        lease: std::time::Duration::from_secs(
            args.warn.delivery_lease_secs.max(args.warn.delivery_timeout_secs + 1),
        ),
        ..WarnSettings::default()
    };
    let options = &args.lifecycle;
    let lifecycle = LifecycleSettings::new(
        &options.payment_currency,
        [&options.payment_threshold, &options.payment_threshold_year, &options.payment_threshold_cumulative],
        options.risk_assessment_max_age_days,
    )
    .context("the payment thresholds")?;
    let server_settings = ServerSettings {
        lifecycle,
        behind_tls: args.behind_tls || settings.behind_tls,
        map_tiles_url: args.warn.map_tiles_url.clone(),
        map_overlay: match &args.warn.map_overlay {
            Some(path) => Some(std::sync::Arc::new(read_overlay(path)?)),
            None if seeded => Some(std::sync::Arc::new(demo::town_overlay())),
            None => None,
        },
        place_flag_metres: if args.place_flag_metres.is_finite() && args.place_flag_metres >= 0.0 {
            args.place_flag_metres
        } else {
            anyhow::bail!("--place-flag-metres must be a distance in metres, 0 or more")
        },
        warn,
        ..ServerSettings::default()
    };
    let search = open_search(&settings)?;
    // The index is a cache of the store: rebuild it when it does not match (a restored
    // backup, a deleted directory, a crash between commit and index).
    if !tearline_service::intel::index_is_current(&store, &search).await? {
        tearline_service::intel::reindex(&store, &search, &|_, _| {}).await?;
    }
    let state = AppState::new(store.clone(), log, keys, clock, server_settings, search);
    state.warn.targeting.refresh(&state.store).await.context("loading the recipient index")?;
    tokio::spawn(tearline_service::warn::dispatch::run(state.clone()));
    tokio::spawn(tearline_service::warn::partners::run_poller(state.clone()));
    tokio::spawn(tearline_service::intel::follow_releases(state.clone()));
    let metrics_address = match &args.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listening for metrics on {address}"))?;
            let bound = listener.local_addr()?;
            let metrics = tearline_server::metrics_router(state.clone());
            tokio::spawn(async move {
                axum::serve(listener, metrics).with_graceful_shutdown(shutdown_signal()).await
            });
            Some(bound)
        }
        None => None,
    };
    let demo_receiver = if seeded { tearline_demo::receiver_routes() } else { axum::Router::new() };
    let app = tearline_server::router_with(state.clone(), demo_receiver);
    let server = tokio::spawn(async move {
        // The peer's address feeds the per-address login throttle.
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(tearline_server::without_delay(listener), app)
            .with_graceful_shutdown(shutdown_signal())
            .await
    });
    if seeded {
        demo::seed_early_warning(&state, args.warn.demo_recipients).await?;
        demo::seed_intelligence(&state).await?;
    }
    println!("Tearline is running at http://{address}/");
    println!("  database: {}", settings.redacted_database_url());
    println!("  vault key file: {}", settings.key_file.display());
    println!("  audit log verifier key: {}", state.log.verifier_key());
    println!("  public CAP feed: {}/cap/feed.atom", state.settings.warn.public_url);
    if let Some(address) = metrics_address {
        println!("  metrics: http://{address}/metrics");
    }
    if seeded {
        println!("Demo unit \"{}\" (fictional). Log in as:", demo::DEMO_UNIT);
        for (role, username, _, password) in demo::DEMO_USERS {
            println!("login: {role} {username} {password}");
        }
    } else if users.is_empty() {
        println!("No users yet. Create the first administrator with:");
        println!(
            "  tearline admin create-user --data {} --username admin --role administrator --unit HQ",
            settings.data_dir.display()
        );
    }
    println!("Press Ctrl-C to stop.");
    server.await.context("the server task")?.context("serving")?;
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! { _ = interrupt => {}, _ = terminate.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every command and every flag says what it is for (`--help`, the man pages and the
    /// completions show it).
    #[test]
    fn every_command_and_flag_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            if command.get_about().is_none() && path != " tearline" {
                missing.push(path.clone());
            }
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
    }

    #[test]
    fn an_unknown_role_is_a_clear_usage_error() {
        let parsed = Cli::try_parse_from([
            "tearline",
            "admin",
            "create-user",
            "--username",
            "x",
            "--role",
            "root",
            "--unit",
            "u",
        ]);
        let message = parsed.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("unknown role"), "{message}");
    }

    /// Session tokens are base64url: about one in 64 begins with a dash, and the export
    /// must still take it as the token rather than as an unknown flag.
    #[test]
    fn a_token_beginning_with_a_dash_is_the_tokens_value() {
        let parsed = Cli::try_parse_from([
            "tearline",
            "audit",
            "export",
            "--out",
            "bundle",
            "--server",
            "http://127.0.0.1:1",
            "--token",
            "-4abc_def",
        ]);
        assert!(parsed.is_ok(), "{:?}", parsed.err().map(|e| e.to_string()));
    }
}
