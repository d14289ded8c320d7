//! How the warehouse looks to SQL clients: catalog `strata`, one schema per warehouse directory.
//!
//! Strata stores a job's `CREATE TABLE schema.table` at `<warehouse>/schema/table`
//! ([`strata_connectors::location::warehouse_table`]), so the directory tree already is the catalog: every
//! first-level directory holding Delta tables (directories with a `_delta_log`) is a schema — `bronze`, `silver`,
//! `gold`, and whatever a job names, quarantine (`silver.trips_quarantine`) and dead-letter
//! (`bronze.raw_ticks_dead_letter`) tables included — and the run ledger, `_strata/runs`, is `_strata.runs`.
//! On an object store the "directories" are prefixes, listed with the store's delimiter. Nothing is cached: the
//! tree is listed again for every request, so a table a job just created is there at
//! once, and each query reads the tables' latest committed versions.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use strata_connectors::ConnectorError;
use strata_connectors::location::{Url, Warehouse};
use strata_connectors::store::exists;
use strata_planner::Engine;
use tonic::Status;

/// The one catalog Flight SQL clients see.
pub const CATALOG: &str = "strata";
/// Where unqualified table names resolve (no warehouse table lives there).
pub const DEFAULT_SCHEMA: &str = "public";
/// The run ledger's schema and table: `<warehouse>/_strata/runs`.
pub const LEDGER_SCHEMA: &str = "_strata";
/// The run ledger's table in [`LEDGER_SCHEMA`]: clients query `_strata.runs`.
pub const LEDGER_TABLE: &str = "runs";
/// Table types, as GetTableTypes reports them.
pub const TABLE: &str = "TABLE";
pub const SYSTEM_TABLE: &str = "SYSTEM TABLE";
pub const TABLE_TYPES: [&str; 2] = [SYSTEM_TABLE, TABLE];

/// A Delta table in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WarehouseTable {
    pub schema: String,
    pub name: String,
}

impl WarehouseTable {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// `SYSTEM TABLE` for the run ledger, `TABLE` for everything jobs write.
    pub fn table_type(&self) -> &'static str {
        if self.schema == LEDGER_SCHEMA {
            SYSTEM_TABLE
        } else {
            TABLE
        }
    }

    /// The table's directory relative to the warehouse.
    pub fn location(&self) -> String {
        format!("{}/{}", self.schema, self.name)
    }
}

impl std::fmt::Display for WarehouseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// Whether the directory `url` is a Delta table (holds a `_delta_log`).
async fn is_delta_table(url: &Url) -> bool {
    match url.join("_delta_log/") {
        Ok(log) => exists(&log).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "Flight SQL: cannot look for a Delta log");
            false
        }),
        Err(_) => false,
    }
}

/// Sub-directory names of `url`, sorted; a directory that cannot be listed is logged and has none.
async fn subdirectories(url: &Url) -> Vec<String> {
    strata_connectors::store::subdirectories(url).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "Flight SQL: cannot list the warehouse");
        Vec::new()
    })
}

/// Every Delta table in the warehouse, a local directory or an object-store prefix, sorted by schema and name.
pub async fn list_tables(warehouse: &Warehouse) -> Vec<WarehouseTable> {
    let mut tables = Vec::new();
    for schema in subdirectories(warehouse.url()).await {
        if schema == LEDGER_SCHEMA {
            // Only the ledger: `_strata` also holds the schedule's lock and state files.
            let ledger = WarehouseTable::new(LEDGER_SCHEMA, LEDGER_TABLE);
            if let Ok(url) = warehouse.join(&ledger.location())
                && is_delta_table(&url).await
            {
                tables.push(ledger);
            }
            continue;
        }
        let Ok(dir) = warehouse.join(&schema) else { continue };
        let names = subdirectories(&dir).await;
        // One look-up per table, a few at a time: on an object store each is a request.
        let found: Vec<Option<WarehouseTable>> = futures::stream::iter(names)
            .map(|name| {
                let table = WarehouseTable::new(schema.clone(), name);
                let url = warehouse.join(&table.location());
                async move {
                    match url {
                        Ok(url) if is_delta_table(&url).await => Some(table),
                        _ => None,
                    }
                }
            })
            .buffered(LIST_CONCURRENCY)
            .collect()
            .await;
        tables.extend(found.into_iter().flatten());
    }
    tables
}

/// How many tables are looked up at once while listing.
const LIST_CONCURRENCY: usize = 8;

/// The schemas that hold at least one table, sorted.
pub fn schemas(tables: &[WarehouseTable]) -> Vec<String> {
    let set: BTreeSet<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    set.into_iter().map(str::to_string).collect()
}

/// The tables a statement references (`None`: it needs them all, e.g. it reads the information schema).
pub fn referenced(tables: &[WarehouseTable], references: &[TableReference]) -> Option<Vec<WarehouseTable>> {
    let mut wanted = BTreeSet::new();
    for reference in references {
        let resolved = reference.clone().resolve(CATALOG, DEFAULT_SCHEMA);
        if &*resolved.catalog != CATALOG {
            // Planning reports the unknown catalog.
            continue;
        }
        if resolved.schema.eq_ignore_ascii_case("information_schema") {
            return None;
        }
        if let Some(table) = tables
            .iter()
            .find(|t| t.schema == *resolved.schema && t.name == *resolved.table)
        {
            wanted.insert(table.clone());
        }
    }
    Some(wanted.into_iter().collect())
}

/// SQL `LIKE` as Flight SQL filter patterns use it: `%` any run of characters, `_` any one character.
pub fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Classic wildcard matching with backtracking to the last `%`.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// Tables that can pass a GetTables filter (the response builder applies the filters again, exactly).
pub fn filter(
    tables: Vec<WarehouseTable>,
    catalog: Option<&str>,
    schema_pattern: Option<&str>,
    table_pattern: Option<&str>,
) -> Vec<WarehouseTable> {
    if catalog.is_some_and(|c| c != CATALOG) {
        return Vec::new();
    }
    tables
        .into_iter()
        .filter(|t| schema_pattern.is_none_or(|p| like(p, &t.schema)))
        .filter(|t| table_pattern.is_none_or(|p| like(p, &t.name)))
        .collect()
}

/// Open a table's latest version as a DataFusion provider, the way `engine` reads Delta tables.
pub async fn open(
    warehouse: &Warehouse,
    table: &WarehouseTable,
    engine: &Engine,
    ctx: &SessionContext,
) -> Result<Arc<dyn TableProvider>, Status> {
    let status = |e: ConnectorError| match e {
        ConnectorError::Missing { .. } | ConnectorError::NotDelta { .. } => {
            Status::not_found(format!("table {table} is no longer in the warehouse: {e}"))
        }
        e => Status::internal(format!("cannot open Delta table {table}: {e}")),
    };
    let url = warehouse.join(&table.location()).map_err(status)?;
    let delta = strata_connectors::delta::open(&url).await.map_err(status)?;
    engine.delta_provider(&delta, ctx).await.map_err(status)
}

/// Register `provider` as `strata.<schema>.<name>` in `ctx`.
pub fn register(ctx: &SessionContext, table: &WarehouseTable, provider: Arc<dyn TableProvider>) -> Result<(), Status> {
    let internal = |e: datafusion::error::DataFusionError| {
        Status::internal(format!("cannot register table {table}: {}", e.strip_backtrace()))
    };
    let catalog = ctx
        .catalog(CATALOG)
        .ok_or_else(|| Status::internal(format!("the session has no catalog '{CATALOG}'")))?;
    let schema = match catalog.schema(&table.schema) {
        Some(schema) => schema,
        None => {
            let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
            catalog
                .register_schema(&table.schema, Arc::clone(&schema))
                .map_err(internal)?;
            schema
        }
    };
    schema.register_table(table.name.clone(), provider).map_err(internal)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;

    fn delta_dir(root: &Path, rel: &str) {
        std::fs::create_dir_all(root.join(rel).join("_delta_log")).unwrap();
    }

    #[tokio::test]
    async fn the_directory_tree_is_the_catalog() {
        let wh = tempfile::tempdir().unwrap();
        let root = wh.path();
        delta_dir(root, "gold/daily_indicators");
        delta_dir(root, "silver/daily_bars");
        delta_dir(root, "silver/trips_quarantine");
        delta_dir(root, "bronze/raw_ticks_dead_letter");
        delta_dir(root, "_strata/runs");
        delta_dir(root, "_strata/other");
        delta_dir(root, ".hidden/t");
        std::fs::create_dir_all(root.join("raw/yellow")).unwrap(); // Parquet, not Delta
        std::fs::create_dir_all(root.join("_strata/schedule")).unwrap();
        std::fs::write(root.join("gold/README"), "not a table").unwrap();

        let tables = list_tables(&Warehouse::local(root).unwrap()).await;
        let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            names,
            [
                "_strata.runs",
                "bronze.raw_ticks_dead_letter",
                "gold.daily_indicators",
                "silver.daily_bars",
                "silver.trips_quarantine"
            ]
        );
        assert_eq!(tables[0].table_type(), SYSTEM_TABLE);
        assert_eq!(tables[2].table_type(), TABLE);
        assert_eq!(schemas(&tables), ["_strata", "bronze", "gold", "silver"]);
        assert!(
            list_tables(&Warehouse::local(&root.join("missing")).unwrap())
                .await
                .is_empty()
        );
    }

    #[test]
    fn statements_pick_their_tables() {
        let tables = vec![
            WarehouseTable::new("gold", "daily_indicators"),
            WarehouseTable::new("silver", "daily_bars"),
        ];
        let refs = [
            TableReference::partial("gold", "daily_indicators"),
            TableReference::full(CATALOG, "gold", "daily_indicators"),
            TableReference::partial("gold", "missing"),
            TableReference::full("other", "silver", "daily_bars"),
        ];
        assert_eq!(referenced(&tables, &refs), Some(vec![tables[0].clone()]));
        let info = [TableReference::partial("information_schema", "tables")];
        assert_eq!(referenced(&tables, &info), None);
    }

    #[test]
    fn like_patterns() {
        assert!(like("%", ""));
        assert!(like("gold", "gold"));
        assert!(!like("gold", "golden"));
        assert!(like("gol_", "gold"));
        assert!(like("%_quarantine", "trips_quarantine"));
        assert!(like("d%y%s", "daily_indicators"));
        assert!(!like("d%x%", "daily_indicators"));
        let tables = vec![WarehouseTable::new("gold", "a"), WarehouseTable::new("silver", "b")];
        assert_eq!(
            filter(tables.clone(), Some("strata"), Some("g%"), None),
            vec![tables[0].clone()]
        );
        assert!(filter(tables.clone(), Some("other"), None, None).is_empty());
        assert_eq!(filter(tables.clone(), None, None, Some("b")), vec![tables[1].clone()]);
    }
}
