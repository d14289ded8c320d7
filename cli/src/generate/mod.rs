//! Synthetic data generators.

pub mod market;
mod rng;

pub use market::{BarInterval, DefectCounts, Generated, MarketSpec, generate};
