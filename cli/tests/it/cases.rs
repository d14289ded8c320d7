//! The jobs of `jobs/` as cases of the mode matrix (`crate::cluster`): each job's output tables and how to make its
//! inputs. Every job file in `jobs/` must have a case.

use std::ffi::OsStr;
use std::path::Path;

use crate::cluster::text;
use crate::*;

/// Output tables of each job in `jobs/`, and how to generate its inputs.
pub(crate) struct JobCase {
    pub(crate) file: &'static str,
    pub(crate) tables: &'static [&'static str],
    /// Output tables in PostgreSQL, in `database`, compared by digest.
    pub(crate) postgres: &'static [&'static str],
    pub(crate) database: &'static str,
    /// `NAME=VALUE` job parameters.
    pub(crate) params: &'static [&'static str],
    pub(crate) setup: fn(&Path, usize, u64),
}

impl JobCase {
    /// `strata run` arguments for this case into `warehouse`.
    pub(crate) fn run_args(&self, warehouse: impl AsRef<OsStr>, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec!["run".into(), self.file.into(), "--no-progress".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--warehouse".to_string(), text(&warehouse).to_string()]);
        for p in self.params {
            args.extend(["--param".to_string(), p.to_string()]);
        }
        args
    }
}

pub(crate) const STOCK_TABLES: &[&str] = &[
    "silver.daily_bars",
    "silver.weekly_bars",
    "silver.monthly_bars",
    "silver.bars_3d",
    "silver.bars_5d",
    "silver.bars_8d",
    "silver.bars_13d",
    "silver.bars_21d",
    "silver.bars_34d",
    "gold.sector_strength",
    "gold.daily_indicators",
];

pub(crate) fn generate_market(warehouse: &Path, symbols: usize, seed: u64) {
    let out = warehouse.join("bronze/market_daily");
    let symbols = symbols.to_string();
    let seed = seed.to_string();
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", &symbols, "--start", "2016-01-01", "--end", "2024-12-31",
        "--seed", &seed, "--defect-rate", "0.01", "--out", out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

const STREAM_TABLES: &[&str] = &[
    "bronze.stock_prices",
    "silver.stock_aggregates",
    "bronze.raw_ticks_dead_letter",
];

/// Ticks for `jobs/stock_stream/ingest.sql` on the test broker: 4 partitions, 1% malformed. Every mode's warehouse
/// starts without offsets, so each reads the topic from the beginning.
fn produce_ticks(_warehouse: &Path, symbols: usize, seed: u64) {
    use crate::kafka::{create_topic, produce};
    if seed == 11 {
        create_topic("raw-stock-data", 4);
        create_topic("processed-stock-data", 2);
    }
    let mut messages = Vec::new();
    for i in 0..2000u64 {
        let symbol = format!("S{}", (i + seed) % symbols as u64);
        let value = if i % 100 == 7 {
            format!(r#"{{"symbol":"{symbol}","price":"n/a","timestamp":"2024-05-01T10:00:00Z"}}"#)
        } else {
            format!(
                r#"{{"symbol":"{symbol}","price":{}.{},"volume":{},"timestamp":"2024-05-01T{:02}:{:02}:{:02}Z","fetch_timestamp":{}}}"#,
                100 + (i * seed) % 37,
                i % 100,
                1000 + i % 13,
                9 + i / 600,
                i / 10 % 60,
                i % 60,
                1_714_557_600 + i
            )
        };
        messages.push((symbol, value));
    }
    produce("raw-stock-data", &messages, false);
}

/// Ticks in PostgreSQL for `jobs/stock_postgres/aggregates.sql` (seed 001's `stock_prices`, unconstrained
/// numerics), with defects the job must clean: missing and negative prices, and ticks fetched twice.
fn load_stock_prices(warehouse: &Path, symbols: usize, seed: u64) {
    use crate::postgres::{Pg, fresh_database};
    std::fs::create_dir_all(warehouse).unwrap();
    let db = fresh_database("market");
    Pg::connect(&db).exec(&format!(
        "CREATE TABLE stock_prices (id serial PRIMARY KEY, symbol varchar(10), price numeric, volume numeric,
           \"timestamp\" timestamp, fetch_timestamp bigint);
         INSERT INTO stock_prices (symbol, price, volume, \"timestamp\", fetch_timestamp)
         SELECT 'S' || (i % {symbols}),
                CASE WHEN i % 211 = 0 THEN NULL WHEN i % 307 = 0 THEN -1
                     ELSE round((100 + 25 * sin((i + {seed}) / 700.0) + ((i * {seed}) % 17) * 0.03)::numeric, 4) END,
                (i * 37 + {seed}) % 5000,
                timestamp '2024-01-02 09:30' + (i / {symbols}) * interval '5 minutes',
                1704186000 + i
         FROM generate_series(1, 40000) i;
         -- The same ticks fetched again later with another price: the later fetch wins.
         INSERT INTO stock_prices (symbol, price, volume, \"timestamp\", fetch_timestamp)
         SELECT symbol, price + 1, volume, \"timestamp\", fetch_timestamp + 60 FROM stock_prices WHERE id % 97 = 0;"
    ));
}

/// Ticks on `raw-stock-data` for `jobs/stock_storage/storage.sql` (the stream case's topic, which it created and
/// filled first), and an empty `market` database: each mode's run creates the tables and reads the topic from its
/// beginning.
fn store_ticks(warehouse: &Path, symbols: usize, seed: u64) {
    std::fs::create_dir_all(warehouse).unwrap();
    crate::postgres::fresh_database("market");
    produce_ticks(warehouse, symbols, seed + 100);
}

/// An empty `market` database for `jobs/stock_stream/store.sql`, which reads `processed-stock-data` (the windows
/// the stream case's runs produced). Other seeds add one window of their own, so their runs store something else.
fn store_windows(warehouse: &Path, _symbols: usize, seed: u64) {
    std::fs::create_dir_all(warehouse).unwrap();
    crate::postgres::fresh_database("market");
    if seed != 11 {
        let window = format!(
            r#"{{"symbol":"X{seed}","window_start":"2024-05-01T09:00:00","window_end":"2024-05-01T09:01:00","avg_price":10.5,"max_price":11.0,"min_price":10.0,"avg_volume":7.0,"ticks":2,"volumes":2}}"#
        );
        crate::kafka::produce("processed-stock-data", &[(format!("X{seed}"), window)], false);
    }
}

/// The taxi job takes no parameters since its month is its input directory's; kept for the engine matrix's shape.
pub(crate) const TRIP_PARAMS: &[&str] = &[];

/// A month of raw taxi trips with 2% injected defects (`dev/generate_trips.py`), and an empty `chillflow` database.
fn generate_trips(warehouse: &Path, _symbols: usize, seed: u64) {
    crate::expectations::generate_trips(warehouse, 3000, seed);
    crate::postgres::fresh_database("chillflow");
}

/// A month of curated trips (`jobs/taxi_trips/curate.sql` run once, embedded) for `jobs/taxi_trips/status.sql`, which
/// reads its tables and the run ledger (copied with the warehouse, so every engine reads the same runs).
fn curated_trips(warehouse: &Path, symbols: usize, seed: u64) {
    generate_trips(warehouse, symbols, seed);
    let wh = warehouse.to_str().unwrap();
    let out = strata(&["run", "jobs/taxi_trips/curate.sql", "--no-progress", "--warehouse", wh]);
    assert!(out.status.success(), "{}", stderr(&out));
}

pub(crate) fn jobs() -> Vec<JobCase> {
    let cases = vec![
        JobCase {
            file: "jobs/stock_market/pipeline.sql",
            tables: STOCK_TABLES,
            postgres: &[],
            database: "",
            params: &[],
            setup: generate_market,
        },
        JobCase {
            file: "jobs/stock_stream/ingest.sql",
            tables: STREAM_TABLES,
            postgres: &[],
            database: "",
            params: &[],
            setup: produce_ticks,
        },
        JobCase {
            file: "jobs/stock_postgres/aggregates.sql",
            tables: &["silver.stock_ticks", "silver.clean_ticks", "silver.stock_daily"],
            postgres: &[
                "stock_daily_aggregates",
                "stock_weekly_aggregates",
                "stock_monthly_aggregates",
            ],
            database: "market",
            params: &[],
            setup: load_stock_prices,
        },
        JobCase {
            file: "jobs/stock_storage/storage.sql",
            tables: &["bronze.stock_storage_dead_letter"],
            postgres: &["stock_prices", "stock_metrics"],
            database: "market",
            params: &[],
            setup: store_ticks,
        },
        JobCase {
            file: "jobs/stock_stream/store.sql",
            tables: &[],
            postgres: &["processed_stock_data"],
            database: "market",
            params: &[],
            setup: store_windows,
        },
        JobCase {
            file: "jobs/taxi_trips/curate.sql",
            tables: &[
                "silver.trips",
                "silver.trips_quarantine",
                "gold.zone_hourly_kpis",
                "gold.monthly_kpis",
            ],
            postgres: &["trips", "zone_hourly_kpis"],
            database: "chillflow",
            params: TRIP_PARAMS,
            setup: generate_trips,
        },
        JobCase {
            file: "jobs/taxi_trips/status.sql",
            tables: &["gold.kpi_status"],
            postgres: &["kpi_status"],
            database: "chillflow",
            params: &[],
            setup: curated_trips,
        },
    ];
    // Every job file in jobs/ must have a case here.
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("jobs"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| p.strip_prefix(repo_root()).unwrap().display().to_string())
        .collect();
    files.sort();
    let mut covered: Vec<String> = cases.iter().map(|c| c.file.to_string()).collect();
    covered.sort();
    assert_eq!(files, covered, "every job in jobs/ needs a case in the mode matrix");
    cases
}
