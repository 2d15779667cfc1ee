//! `tearline bench audit`: the verifiable log's numbers, printed as a table.
//!
//! - durable appends per second with 1, 8 and 64 (or `--appenders`) concurrent appenders (each acknowledged
//!   only after its batch committed), on SQLite and, when given a server, PostgreSQL;
//! - inclusion and consistency proof latency read from the store at the sizes asked for
//!   (the log is grown to each size by the same appender);
//! - offline verification throughput of an exported bundle, beside `sha256sum` on the same
//!   file in the same run.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use tearline_auditlog::checkpoint::CheckpointSigner;
use tearline_auditlog::{bundle, entry};
use tearline_domain::audit::{AuditEvent, Outcome};
use tearline_domain::{Timestamp, UserId};
use tearline_store::{scratch, MerkleLog, Store};

use crate::bench::{measure, print_rows, sequential, Measurement};

#[derive(Args)]
pub struct AuditBenchArgs {
    /// Appends per concurrency level (a tenth of it for a single appender).
    #[arg(long, default_value_t = 20_000)]
    appends: usize,
    /// Concurrent appenders to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    appenders: Vec<usize>,
    /// Log sizes at which to measure proof latency (on SQLite), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    proof_sizes: Vec<u64>,
    /// Proofs of each kind measured at each size.
    #[arg(long, default_value_t = 1000)]
    proofs: usize,
    /// Entries in the bundle whose verification is timed.
    #[arg(long, default_value_t = 1_000_000)]
    bundle_entries: usize,
    /// A PostgreSQL server for the append benchmark, in a scratch schema dropped afterwards.
    #[arg(long, env = "TEARLINE_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
}

fn entry_bytes(n: usize) -> Vec<u8> {
    entry::encode(&AuditEvent {
        at: Timestamp(1_795_000_000_000 + n as i64),
        actor: Some(UserId((n % 50) as i64)),
        action: "source.read".into(),
        object: format!("source:{}", n % 5000),
        reason: None,
        outcome: Outcome::Allowed,
    })
}

fn signer() -> Result<CheckpointSigner> {
    Ok(CheckpointSigner::from_key_file(&CheckpointSigner::generate_key_file())?)
}

async fn appends(log: &MerkleLog, backend: &'static str, args: &AuditBenchArgs) -> Result<Vec<Measurement>> {
    let mut rows = Vec::new();
    for concurrency in args.appenders.iter().map(|c| (*c).max(1)) {
        let count = if concurrency == 1 { (args.appends / 10).max(1) } else { args.appends };
        let label = match concurrency {
            1 => "append, 1 appender".to_owned(),
            many => format!("append, {many} appenders"),
        };
        rows.push(
            measure(backend, &label, count, concurrency, log, |log: MerkleLog, n| async move {
                log.append_bytes(entry_bytes(n)).await.map(drop).map_err(|e| anyhow::anyhow!(e.0))
            })
            .await?,
        );
    }
    Ok(rows)
}

/// Grows the log to `size` entries with 64 appenders.
async fn grow(log: &MerkleLog, size: u64) -> Result<()> {
    let current = tearline_domain::audit::AuditLog::size(log).await.map_err(|e| anyhow::anyhow!(e.0))?;
    if current >= size {
        return Ok(());
    }
    let missing = (size - current) as usize;
    measure("sqlite", "growing the log", missing, 64, log, |log: MerkleLog, n| async move {
        log.append_bytes(entry_bytes(n)).await.map(drop).map_err(|e| anyhow::anyhow!(e.0))
    })
    .await?;
    Ok(())
}

async fn proofs(log: &MerkleLog, size: u64, count: usize) -> Result<Vec<Measurement>> {
    let size = log.latest_checkpoint().await?.map_or(0, |(latest, _)| latest).max(size);
    let label = |kind: &str| format!("{kind} proof @ {size}");
    let pick = |n: usize| (n as u64).wrapping_mul(7_919_993) % size;
    let inclusion = sequential("sqlite", &label("inclusion"), count, async |n| {
        log.inclusion_proof(pick(n), size).await.map(drop).map_err(anyhow::Error::from)
    })
    .await?;
    let consistency = sequential("sqlite", &label("consistency"), count, async |n| {
        log.consistency_proof(1 + pick(n), size).await.map(drop).map_err(anyhow::Error::from)
    })
    .await?;
    Ok(vec![inclusion, consistency])
}

/// Builds a bundle as the log would (a checkpoint every 4096 entries), then times
/// verifying it against `sha256sum` over the same file.
fn verification(entries: usize, dir: &std::path::Path) -> Result<(f64, f64, usize)> {
    let signer = signer()?;
    let data: Vec<Vec<u8>> = (0..entries).map(entry_bytes).collect();
    let mut frontier = tearline_auditlog::frontier::Frontier::empty();
    let mut notes = Vec::new();
    for (n, item) in data.iter().enumerate() {
        frontier.append(item);
        if (n + 1) % 4096 == 0 || n + 1 == entries {
            notes.push(signer.sign(n as u64 + 1, frontier.root())?);
        }
    }
    let bytes = bundle::encode(signer.origin(), &notes, &data);
    let path = dir.join("bench.bundle");
    std::fs::write(&path, &bytes)?;
    let bar = crate::progress_bar("verifying the bundle");
    let started = Instant::now();
    bundle::verify(&bytes, signer.verifier_key(), None, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    let ours = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let started = Instant::now();
    let status = std::process::Command::new("sha256sum")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running sha256sum")?;
    if !status.success() {
        bail!("sha256sum failed");
    }
    let theirs = started.elapsed().as_secs_f64();
    let megabytes = bytes.len() as f64 / 1e6;
    Ok((megabytes / ours, megabytes / theirs, bytes.len()))
}

pub async fn run(args: AuditBenchArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let sqlite = Store::open(&format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display())).await?;
    let log = MerkleLog::start(sqlite, signer()?);
    rows.extend(appends(&log, "sqlite", &args).await?);
    if let Some(base) = &args.postgres {
        let schema = scratch::create(base, "tearline_bench").await?;
        let measured = async {
            let store = Store::open(&schema.url).await?;
            let rows = appends(&MerkleLog::start(store.clone(), signer()?), "postgres", &args).await;
            store.close().await;
            rows
        }
        .await;
        scratch::drop(base, &schema.schema).await?;
        rows.extend(measured?);
    }
    let mut sizes = args.proof_sizes.clone();
    sizes.sort_unstable();
    for size in sizes {
        grow(&log, size).await?;
        rows.extend(proofs(&log, size, args.proofs).await?);
    }
    let (ours, sha256sum, bytes) = verification(args.bundle_entries, dir.path())?;
    println!("tearline bench audit: durable appends (acknowledged after commit), proofs read from the store");
    println!();
    print_rows(&rows);
    println!();
    println!(
        "| verification of a {:.0} MB bundle ({} entries) | MB/s |",
        bytes as f64 / 1e6,
        args.bundle_entries
    );
    println!("|---|---:|");
    println!("| tearline audit verify (every leaf, root and signature) | {ours:.0} |");
    println!("| sha256sum of the same file | {sha256sum:.0} |");
    println!();
    println!("verify / sha256sum: {:.2}x", ours / sha256sum);
    Ok(())
}
