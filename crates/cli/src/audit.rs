//! `tearline audit`: the inspector's tools. `key` prints the verifier key, `export` writes a
//! bundle (from a data directory or from a running server with an inspector's token),
//! `verify` checks a bundle offline, and `check` recomputes a stored log in place.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use clap::{Args, Subcommand};
use serde_json::Value;
use tearline_auditlog::bundle;
use tearline_auditlog::checkpoint::CheckpointSigner;
use tearline_store::MerkleLog;

use crate::config::{DataOptions, Settings};
use crate::{open_store, progress_bar};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Print the log's verifier key (name+hash+base64) on a line of its own.
    Key {
        #[command(flatten)]
        data: DataOptions,
    },
    /// Write every entry and signed checkpoint to a bundle for offline verification.
    Export(ExportArgs),
    /// Verify a bundle offline: every leaf, every root, every signature, and consistency
    /// with a checkpoint kept from an earlier visit. Exits non-zero naming the first bad entry.
    Verify {
        /// The bundle written by `tearline audit export`.
        bundle: PathBuf,
        /// The log's verifier key (name+hash+base64), obtained out of band.
        #[arg(long)]
        key: String,
        /// A signed checkpoint kept from an earlier visit: the log must extend it.
        #[arg(long)]
        trusted: Option<PathBuf>,
        /// Write the bundle's latest checkpoint here, to keep for the next visit.
        #[arg(long)]
        save_checkpoint: Option<PathBuf>,
    },
    /// Recompute a stored log from its entries and compare every stored hash and checkpoint.
    Check {
        #[command(flatten)]
        data: DataOptions,
    },
}

#[derive(Args)]
pub struct ExportArgs {
    /// Where to write the bundle.
    #[arg(long)]
    out: PathBuf,
    /// Export from a running server (e.g. http://127.0.0.1:8080) instead of a data directory.
    #[arg(long)]
    server: Option<String>,
    /// An inspector's bearer token, for --server. Tokens are base64url, so one may begin with
    /// a dash; it is still taken as this flag's value.
    #[arg(long, env = "TEARLINE_TOKEN", hide_env_values = true, allow_hyphen_values = true)]
    token: Option<String>,
    #[command(flatten)]
    data: DataOptions,
}

pub async fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Key { data } => {
            let settings = Settings::resolve(&data, None)?;
            let text = tearline_vault::read_secret_file(
                &settings.audit_key_file,
                "this is the audit signing key file, which the server creates when it first starts on a data directory; run `tearline serve` (or `tearline serve --demo`) once, or pass the --data directory the server uses",
            )?;
            let signer = CheckpointSigner::from_key_file(&text)?;
            println!("{}", signer.verifier_key());
            Ok(())
        }
        AuditCommand::Export(args) => {
            let (origin, checkpoints, entries) = match &args.server {
                Some(server) => export_from_server(server, args.token.as_deref()).await?,
                None => export_from_data(&args.data).await?,
            };
            let bytes = bundle::encode(&origin, &checkpoints, &entries);
            std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
            println!(
                "exported {} entries and {} checkpoints ({} bytes) to {}",
                entries.len(),
                checkpoints.len(),
                bytes.len(),
                args.out.display()
            );
            Ok(())
        }
        AuditCommand::Verify { bundle: path, key, trusted, save_checkpoint } => {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let trusted = trusted
                .map(|p| std::fs::read(&p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            let bar = progress_bar("verifying entries");
            let verified = bundle::verify(&bytes, &key, trusted.as_deref(), &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            });
            bar.finish_and_clear();
            let verified = verified.map_err(|error| match error.first_bad_index() {
                Some(index) => anyhow!("verification FAILED at entry {index}: {error}"),
                None => anyhow!("verification FAILED: {error}"),
            })?;
            println!(
                "verified: {} entries, {} signed checkpoints, root {}",
                verified.size, verified.checkpoints, verified.root
            );
            if let Some(size) = verified.extends_trusted {
                println!("consistent with the trusted checkpoint at size {size}: nothing before it was altered, removed or reordered");
            }
            if let Some(out) = save_checkpoint {
                let decoded = bundle::decode(&bytes)?;
                let latest =
                    decoded.checkpoints.last().ok_or_else(|| anyhow!("the bundle has no checkpoint"))?;
                std::fs::write(&out, latest).with_context(|| format!("writing {}", out.display()))?;
                println!("saved the latest checkpoint to {}", out.display());
            }
            Ok(())
        }
        AuditCommand::Check { data } => {
            let settings = Settings::resolve(&data, None)?;
            let store = open_store(&settings).await?;
            let log = tearline_service::open_audit_log(&store, &settings.audit_key_file).await?;
            let bar = progress_bar("checking entries");
            let report = |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let damage = log.check(&report).await?;
            bar.finish_and_clear();
            match damage {
                None => {
                    println!("the stored log is intact");
                    Ok(())
                }
                Some(damage) => {
                    bail!("the stored log is damaged at entry {}: {}", damage.first_bad_index, damage.what)
                }
            }
        }
    }
}

type Exported = (String, Vec<Vec<u8>>, Vec<Vec<u8>>);

async fn export_from_data(data: &DataOptions) -> Result<Exported> {
    let settings = Settings::resolve(data, None)?;
    let store = open_store(&settings).await?;
    let log: MerkleLog = tearline_service::open_audit_log(&store, &settings.audit_key_file).await?;
    let checkpoints: Vec<Vec<u8>> =
        log.checkpoints(0, u64::MAX >> 1).await?.into_iter().map(|(_, note)| note.into_bytes()).collect();
    let size = log.latest_checkpoint().await?.map_or(0, |(size, _)| size);
    let bar = progress_bar("exporting entries");
    bar.set_length(size);
    let mut entries = Vec::with_capacity(size as usize);
    while (entries.len() as u64) < size {
        let start = entries.len() as u64;
        let page = log.entries(start, (start + 10_000).min(size)).await?;
        if page.is_empty() {
            bail!("the stored log ends at entry {start}, before its latest checkpoint (size {size})");
        }
        entries.extend(page.into_iter().map(|(_, data)| data));
        bar.set_position(entries.len() as u64);
    }
    bar.finish_and_clear();
    Ok((log.origin().to_owned(), checkpoints, entries))
}

async fn export_from_server(server: &str, token: Option<&str>) -> Result<Exported> {
    let token =
        token.ok_or_else(|| anyhow!("--server needs an inspector's token (--token or TEARLINE_TOKEN)"))?;
    let client = reqwest::Client::new();
    let base = server.trim_end_matches('/');
    let get = |path: String| {
        let request = client.get(format!("{base}{path}")).bearer_auth(token);
        async move {
            let response = request.send().await.context("reaching the server")?;
            let status = response.status();
            let body: Value = response.json().await.context("reading the server's answer")?;
            if !status.is_success() {
                bail!("the server answered {status}: {}", body["message"].as_str().unwrap_or("no message"));
            }
            Ok(body)
        }
    };
    // Every read by an inspector is itself logged, so the log grows while we export: fix the
    // size first, from the public checkpoint, and export exactly that tree.
    let latest =
        client.get(format!("{base}/api/v1/audit/checkpoint")).send().await.context("reaching the server")?;
    if !latest.status().is_success() {
        bail!("the server has no signed checkpoint yet ({})", latest.status());
    }
    let latest = latest.text().await.context("reading the checkpoint")?;
    let size: u64 = latest
        .lines()
        .nth(1)
        .and_then(|line| line.parse().ok())
        .ok_or_else(|| anyhow!("the server's checkpoint is malformed"))?;
    let mut checkpoints: Vec<(u64, Vec<u8>)> = Vec::new();
    while checkpoints.last().is_none_or(|(last, _)| *last < size) {
        let start = checkpoints.last().map_or(0, |(last, _)| last + 1);
        let page = get(format!("/api/v1/audit/checkpoints?start={start}")).await?;
        let items = page["checkpoints"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            bail!("the server's checkpoints end before size {size}");
        }
        for item in items {
            let at = item["size"].as_u64().ok_or_else(|| anyhow!("a checkpoint without a size"))?;
            let note = item["note"].as_str().ok_or_else(|| anyhow!("a checkpoint without a note"))?;
            if at <= size {
                checkpoints.push((at, note.as_bytes().to_vec()));
            }
        }
    }
    let bar = progress_bar("exporting entries");
    bar.set_length(size);
    let mut entries: Vec<Vec<u8>> = Vec::with_capacity(size as usize);
    while (entries.len() as u64) < size {
        let start = entries.len() as u64;
        let page = get(format!("/api/v1/audit/entries?start={start}&end={size}")).await?;
        let items = page["entries"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            bail!("the server's log ends at entry {start}, before its checkpoint (size {size})");
        }
        for item in items {
            let data = item["data"].as_str().ok_or_else(|| anyhow!("an entry without data"))?;
            entries.push(BASE64.decode(data).context("an entry's data is not base64")?);
        }
        bar.set_position(entries.len() as u64);
    }
    bar.finish_and_clear();
    let origin = checkpoints
        .first()
        .and_then(|(_, note)| note.split(|b| *b == b'\n').next())
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .ok_or_else(|| anyhow!("the server has no signed checkpoint yet"))?;
    Ok((origin, checkpoints.into_iter().map(|(_, note)| note).collect(), entries))
}
