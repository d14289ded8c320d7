//! `strata generate market`: synthetic OHLCV bars written as a Delta table.

use std::time::Instant;

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use strata_connectors::delta::{self, WriteMode};
use strata_connectors::location::Warehouse;

use crate::args::LogFormat;
use crate::error::CliError;
use crate::generate::{self, BarInterval, MarketSpec};

/// `strata generate`: the kinds of synthetic data it writes.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Daily (or minute) OHLCV bars for N symbols on the NYSE calendar, as a Delta table partitioned by year.
    ///
    /// Prices follow a geometric Brownian motion per symbol; the same arguments always give the same rows.
    Market(MarketArgs),
}

/// `strata generate market`: what to generate and where to write it.
#[derive(Debug, Args)]
pub struct MarketArgs {
    /// Number of symbols (tickers AAAA, AAAB, …).
    #[arg(long, default_value_t = 100)]
    pub symbols: usize,
    /// First calendar date (YYYY-MM-DD); only NYSE sessions produce bars.
    #[arg(long)]
    pub start: NaiveDate,
    /// Last calendar date (YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub end: NaiveDate,
    /// Random seed: same seed, same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of rows given one defect (duplicate, NULL or non-positive price, high < low, ×50 spike,
    /// out-of-order), for cleaning stages to remove.
    #[arg(long, default_value_t = 0.0)]
    pub defect_rate: f64,
    /// Bar size.
    #[arg(long, value_enum, default_value_t = BarInterval::Daily)]
    pub interval: BarInterval,
    /// Output Delta table: a directory or an `s3://bucket/path` URL; replaced if it exists.
    #[arg(long)]
    pub out: String,
    /// Where to write the symbols' metadata (name, sector, market cap) as a Delta table, replaced if it exists
    /// (default: `symbol_metadata` next to --out; `none`: not written).
    #[arg(long)]
    pub metadata_out: Option<String>,
}

/// The metadata table's location: `--metadata-out`, else `symbol_metadata` beside `out`; `None` for `none`.
fn metadata_location(out: &Warehouse, given: Option<&str>) -> Result<Option<Warehouse>, CliError> {
    match given {
        Some("none") => Ok(None),
        Some(place) => Ok(Some(Warehouse::parse(place)?)),
        None => {
            let base = out.url().as_str().trim_end_matches('/');
            let parent = base.rsplit_once('/').map_or(base, |(parent, _)| parent);
            Ok(Some(Warehouse::parse(&format!("{parent}/symbol_metadata"))?))
        }
    }
}

/// Write the metadata of `symbols` symbols (seed `seed`) over the Delta table at `place`; returns its version.
async fn write_metadata(place: &Warehouse, symbols: usize, seed: u64) -> Result<u64, CliError> {
    let batch = generate::symbols::symbol_metadata(symbols, seed)?;
    let schema = batch.schema();
    let target = delta::commit::write_target(place.url(), &schema, &[], WriteMode::Overwrite).await?;
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::once(async move { Ok(batch) }),
    ));
    let (adds, counts) = delta::write_exec::write_stream(stream, &target)
        .await
        .map_err(strata_connectors::ConnectorError::from)?;
    let written =
        delta::commit::commit_files(&target, adds, counts.iter().sum(), WriteMode::Overwrite, Vec::new()).await?;
    Ok(written.version)
}

/// What the generator reports when the table writer has gone (its own error is the one to show).
const WRITER_STOPPED: &str = "the table writer stopped";

/// What was generated.
struct Totals {
    rows: usize,
    defects: generate::DefectCounts,
}

/// Generate the data and write it over the Delta table at `--out` (partitioned by `year`), then print what was
/// written: rows, Delta version, defects and timings (one JSON object in `json` format).
pub async fn generate(command: GenerateCommand, format: LogFormat) -> Result<(), CliError> {
    let GenerateCommand::Market(a) = command;
    // Checked before anything is generated: an unsupported URL is refused, never taken for a local folder `s3:`.
    let out = Warehouse::parse(&a.out)?;
    let metadata = metadata_location(&out, a.metadata_out.as_deref())?;
    let started = Instant::now();
    let spec = MarketSpec {
        symbols: a.symbols,
        start: a.start,
        end: a.end,
        seed: a.seed,
        defect_rate: a.defect_rate,
        interval: a.interval,
    };
    // Generated and written as a stream of batches into uncommitted files, then committed at once: memory holds
    // a few batches whatever the size, and a failure commits nothing (the table stays at its last version).
    let schema = generate::market::market_schema();
    let partitions = ["year".to_string()];
    let target = delta::commit::write_target(out.url(), &schema, &partitions, WriteMode::Overwrite).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<datafusion::error::Result<RecordBatch>>(2);
    let job = spec.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let generated = generate::market::generate_each(&job, |batch| {
            tx.blocking_send(Ok(batch))
                .map_err(|_| ArrowError::ComputeError(WRITER_STOPPED.into()))
        });
        if let Err(e) = &generated {
            // The writer aborts instead of taking the end of the stream for the end of the data: nothing is
            // committed (files already written stay behind, referenced by no version).
            let failed = datafusion::error::DataFusionError::Execution(format!("generating data: {e}"));
            let _ = tx.blocking_send(Err(failed));
        }
        generated
    });
    let batches = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let stream = Box::pin(RecordBatchStreamAdapter::new(schema, batches));
    let written = delta::write_exec::write_stream(stream, &target).await;
    let generated = producer.await.map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
    // The writer's error first: when the writer fails, the generator only sees that it stopped.
    let (adds, counts) = written.map_err(strata_connectors::ConnectorError::from)?;
    let (rows, defects) = generated?;
    let generated_in = started.elapsed();
    let written =
        delta::commit::commit_files(&target, adds, counts.iter().sum(), WriteMode::Overwrite, Vec::new()).await?;
    let metadata_version = match &metadata {
        Some(place) => Some(write_metadata(place, spec.symbols, spec.seed).await?),
        None => None,
    };
    let data = Totals { rows, defects };
    let report = serde_json::json!({
        "table": out.to_string(),
        "version": written.version,
        "rows": data.rows,
        "symbols": spec.symbols,
        "interval": spec.interval,
        "defects": data.defects,
        "defects_removable": data.defects.removable(),
        "metadata": metadata.as_ref().map(|m| m.to_string()),
        "metadata_version": metadata_version,
        "generate_ms": generated_in.as_millis() as u64,
        "total_ms": started.elapsed().as_millis() as u64,
    });
    match format {
        LogFormat::Json => println!("{report}"),
        LogFormat::Human => {
            println!(
                "wrote {} rows ({} symbols) to {} (Delta version {}) in {:.2}s",
                data.rows,
                spec.symbols,
                out,
                written.version,
                started.elapsed().as_secs_f64()
            );
            if spec.defect_rate > 0.0 {
                let d = data.defects;
                println!(
                    "defects: {} duplicates, {} null prices, {} non-positive prices, {} high<low, {} spikes, {} out of order",
                    d.duplicates, d.null_prices, d.non_positive_prices, d.high_below_low, d.spikes, d.out_of_order
                );
            }
        }
    }
    Ok(())
}
