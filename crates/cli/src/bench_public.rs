//! `tearline bench public`: the public CAP feed and a published alert under load, beside
//! Debian's nginx serving the same bytes as static files, in the same `wrk` run.
//!
//! Issues `--alerts` public warnings (two languages each) through the real service on a
//! fresh SQLite store, serves the real router on loopback, copies the feed and one alert's
//! bytes as Tearline serves them into a directory nginx serves, and drives both with `wrk`
//! (`--threads`, `--connections`, `--seconds`), first plain, then revalidating with
//! `If-None-Match` (304, no body), `--rounds` times each, the two servers taking turns.
//! Prints the median requests per second, each round's ratio to nginx and their median.

use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::bench_warn::{area, officer_state, warning};
use tearline_service::warn::service;
use tearline_service::ServerSettings;

#[derive(Args)]
pub struct PublicBenchArgs {
    /// Public warnings in the feed.
    #[arg(long, default_value_t = 20)]
    alerts: usize,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// wrk connections (keep-alive).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds each wrk run lasts.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Runs of each document on each server, taking turns (Tearline first in odd rounds,
    /// nginx first in even ones); the table shows the medians. On two shared cores one run
    /// swings by a fifth either way.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Recipients of a warning who then answer it, over and over, through their links.
    #[arg(long, default_value_t = 20_000)]
    answers: usize,
    /// A PostgreSQL server to time the answers on too, in a scratch schema dropped afterwards.
    #[arg(long, env = "TEARLINE_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
}

/// nginx in the foreground on `port`, serving `root`, with no access log (Tearline logs
/// nothing per request either) and as many workers as cores.
struct Nginx(Child);

impl Nginx {
    fn start(dir: &std::path::Path, root: &std::path::Path, port: u16) -> Result<Nginx> {
        let config = dir.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                "worker_processes auto;\npid {pid};\nerror_log {log} warn;\ndaemon off;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
                 types {{ application/atom+xml atom; application/cap+xml xml; }}\n\
                 server {{ listen 127.0.0.1:{port}; root {root}; etag on; }}\n}}\n",
                pid = dir.join("nginx.pid").display(),
                log = dir.join("nginx-error.log").display(),
                root = root.display(),
            ),
        )?;
        let child = Command::new("nginx")
            .args(["-p", &dir.display().to_string(), "-c", &config.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx: install Debian's nginx-light (or nginx) for the comparison")?;
        Ok(Nginx(child))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The middle value (the mean of the middle two for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Requests per second `wrk` measured for `url`, with `header` sent on every request, or
/// the requests a Lua `script` makes.
fn wrk(
    args: &PublicBenchArgs,
    url: &str,
    header: Option<&str>,
    script: Option<&std::path::Path>,
) -> Result<f64> {
    let mut command = Command::new("wrk");
    command.args([
        "-t",
        &args.threads.to_string(),
        "-c",
        &args.connections.to_string(),
        "-d",
        &format!("{}s", args.seconds),
    ]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output().context("running wrk: install Debian's wrk for the comparison")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx or 3xx responses") {
        bail!("wrk on {url} failed: {text}");
    }
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .with_context(|| format!("wrk printed no rate for {url}: {text}"))
}

async fn wait_until_up(url: &str) -> Result<()> {
    for _ in 0..100 {
        if reqwest::get(url).await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    bail!("{url} did not answer")
}

pub async fn run(args: PublicBenchArgs) -> Result<()> {
    if args.alerts == 0 || args.threads == 0 || args.connections == 0 || args.seconds == 0 {
        bail!("--alerts, --threads, --connections and --seconds must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    let (state, caller, _) = officer_state("sqlite", &url, dir.path(), ServerSettings::default()).await?;
    let bar = crate::progress_bar("issuing public warnings");
    bar.set_length(args.alerts as u64);
    let mut identifier = String::new();
    for n in 0..args.alerts {
        let mut request = warning(&area(0)?, state.now().0);
        let mut arabic = request.infos[0].clone();
        arabic.language = "ar".into();
        arabic.headline = Some(format!("تحذير تجريبي {n}"));
        request.infos[0].headline = Some(format!("Benchmark warning {n}"));
        request.infos[0].instruction = Some("Stay away from the area until further notice.".into());
        request.infos.push(arabic);
        let draft = service::draft_alert(&state, &caller, request).await?;
        service::submit(&state, &caller, draft.id, Default::default()).await?;
        identifier = draft.alert.identifier;
        bar.inc(1);
    }
    bar.finish_and_clear();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let tearline = format!("http://{}", listener.local_addr()?);
    serve_as_tearline_does(listener, tearline_server::router(state.clone()));
    let feed_path = "/cap/feed.atom".to_owned();
    let alert_path = format!("/cap/alerts/{identifier}.xml");
    wait_until_up(&format!("{tearline}{feed_path}")).await?;

    // nginx serves exactly the bytes Tearline serves.
    let root = dir.path().join("www");
    std::fs::create_dir_all(root.join("cap/alerts"))?;
    let mut tags = Vec::new();
    for path in [&feed_path, &alert_path] {
        let reply = reqwest::get(format!("{tearline}{path}")).await?;
        let tag = reply.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        std::fs::write(root.join(path.trim_start_matches('/')), reply.bytes().await?)?;
        tags.push(tag);
    }
    let port = free_port()?;
    let _nginx = Nginx::start(dir.path(), &root, port)?;
    let nginx = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{nginx}{feed_path}")).await?;
    let nginx_tags: Vec<String> = {
        let mut tags = Vec::new();
        for path in [&feed_path, &alert_path] {
            let reply = reqwest::get(format!("{nginx}{path}")).await?;
            tags.push(
                reply.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
            );
        }
        tags
    };

    let cases = [
        ("feed", &feed_path, None, None),
        ("alert", &alert_path, None, None),
        ("feed, If-None-Match (304)", &feed_path, Some(&tags[0]), Some(&nginx_tags[0])),
        ("alert, If-None-Match (304)", &alert_path, Some(&tags[1]), Some(&nginx_tags[1])),
    ];
    let mut rows = Vec::new();
    for (name, path, ours, theirs) in cases {
        let header = |tag: Option<&String>| tag.map(|t| format!("If-None-Match: {t}"));
        let (mut ours_rates, mut theirs_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..args.rounds {
            // wrk blocks; let the server's workers run meanwhile.
            let (ours_rate, theirs_rate) = tokio::task::block_in_place(|| {
                let ours = || wrk(&args, &format!("{tearline}{path}"), header(ours).as_deref(), None);
                let theirs = || wrk(&args, &format!("{nginx}{path}"), header(theirs).as_deref(), None);
                if round % 2 == 0 {
                    let ours_rate = ours()?;
                    Ok::<_, anyhow::Error>((ours_rate, theirs()?))
                } else {
                    let theirs_rate = theirs()?;
                    Ok((ours()?, theirs_rate))
                }
            })?;
            ours_rates.push(ours_rate);
            theirs_rates.push(theirs_rate);
            ratios.push(ours_rate / theirs_rate);
        }
        rows.push((name, median(&mut ours_rates), median(&mut theirs_rates), ratios));
    }
    let bytes =
        |path: &str| std::fs::metadata(root.join(path.trim_start_matches('/'))).map(|m| m.len()).unwrap_or(0);
    println!(
        "\nPublic documents under load (wrk -t{} -c{} -d{}s, loopback, medians of {} rounds taking turns; \
         feed {} bytes with {} alerts, alert {} bytes)",
        args.threads,
        args.connections,
        args.seconds,
        args.rounds,
        bytes(&feed_path),
        args.alerts,
        bytes(&alert_path)
    );
    println!(
        "{:<28} {:>14} {:>14} {:<24} {:>8}",
        "document", "Tearline req/s", "nginx req/s", "  each round", "ratio"
    );
    for (name, ours, theirs, mut ratios) in rows {
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "{name:<28} {ours:>14.0} {theirs:>14.0}   {:<22} {:>7.2}x",
            each.join(" · "),
            median(&mut ratios)
        );
    }
    state.store.close().await;
    let answers_dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}?mode=rwc", answers_dir.path().join("answers.db").display());
    answers(&args, "sqlite", &sqlite, answers_dir.path()).await?;
    if let Some(base) = &args.postgres {
        let schema = tearline_store::scratch::create(base, "tearline_bench").await?;
        let measured = answers(&args, "postgres", &schema.url, answers_dir.path()).await;
        tearline_store::scratch::drop(base, &schema.schema).await?;
        measured?;
    }
    Ok(())
}

/// `--answers` recipients get a warning, then answer it through their links, again and
/// again, for `--seconds`: each answer is committed before its 200 (group commit).
async fn answers(
    args: &PublicBenchArgs,
    backend: &'static str,
    url: &str,
    dir: &std::path::Path,
) -> Result<()> {
    use tearline_warn::delivery::{Channel, RecipientKind};
    use tearline_warn::recipients::Registration;
    let (state, caller, kernel) = officer_state(backend, url, dir, ServerSettings::default()).await?;
    let (state, caller, kernel) = (&state, &caller, &kernel);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let tearline = format!("http://{}", listener.local_addr()?);
    serve_as_tearline_does(listener, tearline_server::router(state.clone()));
    let receiver = crate::bench_warn::receiver().await?;
    let count = args.answers;
    crate::bench_warn::register(kernel, count, &indicatif::ProgressBar::hidden(), |i| Registration {
        external_id: None,
        name: format!("Answering recipient {i}"),
        kind: RecipientKind::Person,
        channel: Channel::Webhook,
        address: format!("{receiver}/{i}"),
        position: crate::bench_warn::position(i, count),
        language: None,
    })
    .await?;
    state.warn.targeting.refresh(&state.store).await?;
    let (_, version) = crate::bench_warn::dispatch(state, caller, backend, &area(1)?, "deliver").await?;
    let mut paths = String::new();
    for recipient in state.store.recipients_page(0, i64::try_from(count).unwrap_or(i64::MAX) + 1).await? {
        let link = tearline_service::warn::dispatch::ack_url(state, version, recipient.id).await?;
        let path =
            link.split_once("//").and_then(|(_, rest)| rest.split_once('/')).map_or("", |(_, path)| path);
        paths.push_str(&format!("/{path}?status=safe\n"));
    }
    let list = dir.join(format!("answers-{backend}.txt"));
    std::fs::write(&list, paths)?;
    let script = dir.join(format!("answers-{backend}.lua"));
    std::fs::write(
        &script,
        format!(
            "local paths = {{}}\nfor line in io.lines(\"{}\") do paths[#paths + 1] = line end\n\
             local i = math.random(#paths)\n\
             request = function()\n  i = i % #paths + 1\n  return wrk.format(\"POST\", paths[i])\nend\n",
            list.display()
        ),
    )?;
    let rate = tokio::task::block_in_place(|| wrk(args, &tearline, None, Some(&script)))?;
    let counts = state.store.delivery_counts(version).await?;
    println!(
        "\nAnswers through the links, {backend} (wrk -t{} -c{} -d{}s, POST /cap/ack/…?status=safe over {} \
         deliveries, each committed before its 200): {rate:.0} answers/s; {} deliveries answered, {} safe",
        args.threads,
        args.connections,
        args.seconds,
        counts.total(),
        counts.acknowledged,
        counts.safe
    );
    if counts.acknowledged != counts.total() {
        bail!("not every delivery was answered: {counts:?}");
    }
    state.store.close().await;
    Ok(())
}

/// Serves `app` in the background as `tearline serve` does: through the same listener, with
/// each peer's address (the login throttle reads it).
fn serve_as_tearline_does(listener: tokio::net::TcpListener, app: axum::Router) {
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(tearline_server::without_delay(listener), app).await });
}
