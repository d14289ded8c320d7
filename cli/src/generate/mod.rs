//! Synthetic data generators.

pub mod market;
mod rng;
pub mod symbols;

pub use market::{BarInterval, DefectCounts, Generated, MarketSpec, generate};
