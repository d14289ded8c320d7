//! `strata optimize TABLE…` and `strata vacuum TABLE…`: table maintenance on the warehouse's tables, local or on
//! an object store (see `strata_connectors::delta::maintain` for what each guarantees). A table is named as a job
//! names it (`silver.bars_3d`, under the warehouse) or by its location (a path or a URL).

use clap::Args;
use strata_connectors::delta::maintain;
use strata_connectors::location::{self, Warehouse};

use crate::args::{LogFormat, Place, PlaceArgs};
use crate::error::CliError;

/// `strata optimize`: the tables, and how to compact them.
#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// Tables: `schema.table` under the warehouse, or a table's location (path or URL).
    #[arg(required = true, value_name = "TABLE")]
    pub tables: Vec<String>,
    /// Z-order the rewritten files by these columns (comma-separated), e.g. `symbol`; default: bin-packing only.
    #[arg(long, value_delimiter = ',', value_name = "COLUMN")]
    pub zorder_by: Vec<String>,
    /// Target file size in bytes (default: the table's `delta.targetFileSize`, else 100 MiB).
    #[arg(long, value_name = "BYTES")]
    pub target_size: Option<u64>,
    /// The warehouse the tables are in.
    #[command(flatten)]
    pub places: PlaceArgs,
}

/// `strata vacuum`: the tables, and how long removed files are kept.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Tables: `schema.table` under the warehouse, or a table's location (path or URL).
    #[arg(required = true, value_name = "TABLE")]
    pub tables: Vec<String>,
    /// Keep files a version of the last HOURS hours may read (default: the table's
    /// `delta.deletedFileRetentionDuration`, 7 days unless set).
    #[arg(long, value_name = "HOURS")]
    pub retain: Option<u64>,
    /// Allow a retention below the table's minimum (only when no run is writing to the table).
    #[arg(long)]
    pub force: bool,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The warehouse the tables are in.
    #[command(flatten)]
    pub places: PlaceArgs,
}

/// The location of `table` as the command line names it.
fn table_url(table: &str, warehouse: &Warehouse) -> Result<strata_connectors::location::Url, CliError> {
    // A location has a separator or a scheme; a job's name for a table has neither.
    let url = if table.contains('/') || table.contains("://") {
        location::resolve(table, warehouse)?
    } else {
        location::warehouse_table(table, warehouse)?
    };
    Ok(url)
}

fn warehouse(places: &PlaceArgs, command: &str) -> Result<Warehouse, CliError> {
    places.refuse(
        command,
        &[Place::KafkaBrokers, Place::Ledger],
        "it maintains Delta tables and records no run",
    )?;
    Ok(Warehouse::parse(&places.warehouse)?)
}

/// Compact each table in turn, printing what changed; the first failure stops (earlier tables stay optimized).
pub async fn optimize(args: OptimizeArgs, format: LogFormat) -> Result<(), CliError> {
    let warehouse = warehouse(&args.places, "optimize")?;
    for table in &args.tables {
        let url = table_url(table, &warehouse)?;
        let done = maintain::optimize(&url, &args.zorder_by, args.target_size).await?;
        match format {
            LogFormat::Json => println!("{}", serde_json::json!({ "table": table, "optimized": done })),
            LogFormat::Human => println!(
                "optimized {table}: {} files -> {} (version {}, {} added, {} removed)",
                done.files_before, done.files_after, done.version, done.files_added, done.files_removed
            ),
        }
    }
    Ok(())
}

/// Vacuum each table in turn, printing how many files went (or would go).
pub async fn vacuum(args: VacuumArgs, format: LogFormat) -> Result<(), CliError> {
    let warehouse = warehouse(&args.places, "vacuum")?;
    for table in &args.tables {
        let url = table_url(table, &warehouse)?;
        let done = maintain::vacuum(&url, args.retain, args.force, args.dry_run).await?;
        match format {
            LogFormat::Json => println!("{}", serde_json::json!({ "table": table, "vacuumed": done })),
            LogFormat::Human => println!(
                "{} {table}: {} files{}",
                if done.dry_run { "would vacuum" } else { "vacuumed" },
                done.files_deleted.len(),
                if done.dry_run { " (dry run)" } else { "" }
            ),
        }
    }
    Ok(())
}
