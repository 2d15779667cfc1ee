//! `tearline recipients import`: registers recipients from a CSV or GeoJSON file straight
//! into the store, with a progress bar, for registries too large for a browser upload.
//! Bad rows are listed with their row numbers; the good ones are registered either way.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use tearline_service::system_clock;
use tearline_warn::recipients::{read_csv, read_geojson};

use crate::config::{DataOptions, Settings};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Geojson,
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: DataOptions,
    /// The file: CSV (name, kind, channel, address, lat, lon[, external_id]) or GeoJSON points
    file: PathBuf,
    /// The file's format [default: from its extension]
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// Rows per transaction.
const BATCH: usize = 5_000;

pub async fn import(args: ImportArgs) -> Result<()> {
    let format = match args.format {
        Some(format) => format,
        None => {
            match args.file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
                Some("csv") => Format::Csv,
                Some("geojson" | "json") => Format::Geojson,
                _ => bail!(
                    "cannot tell the format of {} from its name; pass --format csv or --format geojson",
                    args.file.display()
                ),
            }
        }
    };
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let (good, errors) = match format {
        Format::Csv => read_csv(&bytes),
        Format::Geojson => read_geojson(&bytes),
    }
    .with_context(|| format!("{} cannot be imported", args.file.display()))?;

    let settings = Settings::resolve(&args.data, None)?;
    let store = crate::open_store(&settings).await?;
    let clock = system_clock();
    let kernel = crate::open_kernel(&settings, &store).await?;
    let bar = crate::progress_bar("registering recipients");
    bar.set_length(good.len() as u64);
    for batch in good.chunks(BATCH) {
        // Each batch commits with its own entry: an interrupted import leaves a trace of
        // exactly what it registered.
        let object = format!("recipients:{}", batch.len());
        let writer = kernel.change(None, "recipient.import", &object, Some("command line import"));
        writer.upsert_recipients(batch, clock()).await?;
        bar.inc(batch.len() as u64);
    }
    bar.finish();
    for error in errors.iter().take(50) {
        eprintln!("{}: {error}", args.file.display());
    }
    println!("registered {} recipients from {}", good.len(), args.file.display());
    store.close().await;
    if !errors.is_empty() {
        bail!(
            "{} rows had errors (listed above) and were not registered; fix them and import the file again",
            errors.len()
        );
    }
    Ok(())
}
