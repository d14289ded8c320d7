//! Reference data for the generated market: each symbol's company name, sector and market capitalisation, as the
//! seed pipelines' metadata fetchers keep it (a `symbol_metadata` table), deterministic in the seed.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use super::market::ticker;
use super::rng::Rng;

/// The eleven GICS sectors.
pub const SECTORS: [&str; 11] = [
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
];

const SUFFIXES: [&str; 6] = ["Corp", "Inc", "Holdings", "Group", "Industries", "Systems"];

/// The metadata schema: `symbol`, `name`, `sector`, `market_cap` (US dollars).
pub fn metadata_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("sector", DataType::Utf8, false),
        Field::new("market_cap", DataType::Int64, false),
    ]))
}

/// One row per symbol of a market generated with `symbols` and `seed` (its own random stream: the prices do not
/// change with it). Market caps are log-normal, from about $300M to $3T.
pub fn symbol_metadata(symbols: usize, seed: u64) -> Result<RecordBatch, ArrowError> {
    let mut rng = Rng::new(seed, u64::MAX - 1);
    let (mut symbol, mut name, mut sector) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut cap = Int64Builder::with_capacity(symbols);
    for i in 0..symbols {
        let t = ticker(i);
        let suffix = SUFFIXES[rng.below(SUFFIXES.len() as u64) as usize];
        name.append_value(format!("{}{} {suffix}", &t[..1], t[1..].to_lowercase()));
        symbol.append_value(t);
        sector.append_value(SECTORS[rng.below(SECTORS.len() as u64) as usize]);
        // ln(cap) ~ N(ln 10e9, 1.5), clamped to a market's range.
        let c = (10e9_f64.ln() + 1.5 * rng.normal()).exp().clamp(3e8, 3e12);
        cap.append_value(c.round() as i64);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(symbol.finish()),
        Arc::new(name.finish()),
        Arc::new(sector.finish()),
        Arc::new(cap.finish()),
    ];
    RecordBatch::try_new(metadata_schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_deterministic_and_covers_every_symbol() {
        let a = symbol_metadata(40, 7).unwrap();
        let b = symbol_metadata(40, 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.num_rows(), 40);
        let sectors = a
            .column(2)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        let distinct: std::collections::HashSet<&str> = sectors.iter().flatten().collect();
        assert!(distinct.len() >= 5, "{distinct:?}");
        assert_ne!(a, symbol_metadata(40, 8).unwrap());
    }
}
