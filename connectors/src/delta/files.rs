//! A fixed set of a Delta table's data files, read as a plain Parquet scan.
//!
//! On a cluster every plan crosses the wire. delta-rs' own scan (1.1) has no physical codec, so Strata pins the
//! files when the job is planned (a source's snapshot, or the uncommitted files an upstream stage wrote) and scans
//! them with DataFusion's Parquet source, which the stock codecs carry and any executor can run.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use deltalake::kernel::Add;
use deltalake::{DeltaTable, ObjectMeta, Path};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ConnectorError;

/// One data file, relative to the table root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path of the file relative to the table root, as its `add` action records it.
    pub path: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// Partition column → value as Delta records it (text; `None` for a null partition value).
    pub partition_values: HashMap<String, Option<String>>,
    /// The `stats` JSON its `add` action records (row count, bounds, null counts), when the writer recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
}

impl From<&Add> for DataFile {
    fn from(add: &Add) -> Self {
        Self {
            path: add.path.clone(),
            size: add.size.max(0) as u64,
            partition_values: add.partition_values.clone(),
            stats: add.stats.clone(),
        }
    }
}

/// A table made of pinned Delta data files. `schema` is the table's column order; partition columns take their
/// values from each file's partition values.
#[derive(Debug, Clone)]
pub struct DeltaFiles {
    /// The table's root.
    pub table_url: Url,
    /// The table's columns in order, partition columns included.
    pub schema: SchemaRef,
    /// The table's partition columns.
    pub partition_columns: Vec<String>,
    /// The data files of the pinned version.
    pub files: Vec<DataFile>,
}

impl DeltaFiles {
    /// The files of a loaded table's current version. Tables needing deletion vectors or column mapping are
    /// refused rather than read wrongly.
    pub fn from_table(table: &DeltaTable) -> crate::Result<Self> {
        use deltalake::delta_datafusion::DataFusionMixins;
        let url = table.table_url().clone();
        let snapshot = table.snapshot().map_err(super::delta_err(&url))?;
        let mapping = snapshot.metadata().configuration().get("delta.columnMapping.mode");
        if mapping.is_some_and(|m| m != "none") {
            return Err(ConnectorError::Unsupported {
                location: url.to_string(),
                message: "column mapping is not supported on a cluster yet".into(),
            });
        }
        let mut files = Vec::new();
        for view in snapshot.log_data() {
            if view.deletion_vector_descriptor().is_some() {
                return Err(ConnectorError::Unsupported {
                    location: url.to_string(),
                    message: "deletion vectors are not supported on a cluster yet".into(),
                });
            }
            files.push(DataFile {
                path: view.object_store_path().to_string(),
                size: view.size().max(0) as u64,
                partition_values: view.partition_values_map(),
                stats: view.stats(),
            });
        }
        Ok(Self {
            table_url: url,
            schema: snapshot.snapshot().input_schema(),
            partition_columns: snapshot.metadata().partition_columns().to_vec(),
            files,
        })
    }

    /// Position of each table column in the scan's order (file columns first, then partition columns).
    fn scan_layout(&self) -> (SchemaRef, Vec<FieldRef>, Vec<usize>) {
        let is_part = |f: &Field| self.partition_columns.iter().any(|p| p == f.name());
        let file_fields: Vec<FieldRef> = self.schema.fields().iter().filter(|f| !is_part(f)).cloned().collect();
        let part_fields: Vec<FieldRef> = self
            .partition_columns
            .iter()
            .filter_map(|p| self.schema.field_with_name(p).ok().map(|f| Arc::new(f.clone())))
            .collect();
        let scan_names: Vec<&String> = file_fields.iter().chain(&part_fields).map(|f| f.name()).collect();
        let order = self
            .schema
            .fields()
            .iter()
            .map(|f| scan_names.iter().position(|n| *n == f.name()).unwrap_or(0))
            .collect();
        (Arc::new(Schema::new(file_fields)), part_fields, order)
    }

    fn store_url_and_root(&self) -> Result<(ObjectStoreUrl, Path)> {
        let url = &self.table_url;
        let authority = &url[url::Position::BeforeHost..url::Position::AfterPort];
        let store = ObjectStoreUrl::parse(format!("{}://{}", url.scheme(), authority))?;
        let root = Path::from_url_path(url.path()).map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok((store, root))
    }
}

#[async_trait]
impl TableProvider for DeltaFiles {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (file_schema, part_fields, order) = self.scan_layout();
        if self.files.is_empty() {
            let schema = datafusion::common::project_schema(&self.schema, projection)?;
            return empty_scan(schema);
        }
        let (store_url, root) = self.store_url_and_root()?;
        let mut files = Vec::with_capacity(self.files.len());
        // Statistics for every file or for none: a merged row count must not leave a file out. A file with a NULL
        // partition value claims none either: DataFusion would record its partition column as exactly one value
        // with no NULLs, and answer `count(column)` from that.
        let null_partition = |f: &DataFile| part_fields.iter().any(|p| file_partition_value(f, p.name()).is_none());
        let stats: Option<Vec<_>> = self
            .files
            .iter()
            .map(|f| {
                f.stats
                    .as_deref()
                    .filter(|_| !null_partition(f))
                    .and_then(|s| super::file_stats::file_statistics(s, &file_schema))
            })
            .collect();
        let mut stats = stats.map(Vec::into_iter);
        for file in &self.files {
            let values = part_fields
                .iter()
                .map(|f| match file_partition_value(file, f.name()) {
                    Some(s) => ScalarValue::try_from_string(s.clone(), f.data_type()),
                    None => ScalarValue::try_from(f.data_type()),
                })
                .collect::<Result<Vec<_>>>()?;
            let relative = Path::parse(&file.path).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let meta = ObjectMeta {
                location: Path::from_iter(root.parts().chain(relative.parts())),
                size: file.size,
                last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                e_tag: None,
                version: None,
            };
            let mut file = PartitionedFile::new_from_meta(meta).with_partition_values(values);
            if let Some(s) = stats.as_mut().and_then(Iterator::next) {
                file = file.with_statistics(Arc::new(s));
            }
            files.push(file);
        }
        let target = state.config().target_partitions().max(1);
        let table_schema = TableSchema::builder(file_schema)
            .with_table_partition_cols(part_fields)
            .build();
        let groups = FileGroup::new(files).split_files(target);
        let (groups, statistics) = match stats {
            Some(_) => group_statistics(groups, table_schema.table_schema())?,
            None => (groups, Statistics::new_unknown(table_schema.table_schema())),
        };
        let indices: Vec<usize> = match projection {
            Some(p) => p.iter().map(|&i| order[i]).collect(),
            None => order.clone(),
        };
        let config = FileScanConfigBuilder::new(store_url, Arc::new(ParquetSource::new(table_schema)))
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_limit(limit)
            .with_projection_indices(Some(indices))?
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// A file's value of partition column `name`; `None` when it is NULL (or missing).
fn file_partition_value<'a>(file: &'a DataFile, name: &str) -> Option<&'a String> {
    file.partition_values.get(name).and_then(Option::as_ref)
}

/// Each group's statistics merged from its files', and the scan's from the groups' (what DataFusion's listing
/// table does with the statistics of the files it lists).
fn group_statistics(groups: Vec<FileGroup>, schema: &Schema) -> Result<(Vec<FileGroup>, Statistics)> {
    let groups = groups
        .into_iter()
        .map(|group| {
            let merged = match group.is_empty() {
                true => Statistics::new_unknown(schema).with_num_rows(Precision::Exact(0)),
                false => Statistics::try_merge_iter(group.iter().filter_map(|f| f.statistics.as_deref()), schema)?,
            };
            Ok(group.with_statistics(Arc::new(merged)))
        })
        .collect::<Result<Vec<_>>>()?;
    let filled = groups.iter().filter(|g| !g.is_empty());
    let total = Statistics::try_merge_iter(filled.filter_map(|g| g.file_statistics(None)), schema)?;
    Ok((groups, total))
}

/// A scan with no rows: one empty partition of an in-memory source, not `EmptyExec`. On a cluster Ballista gives
/// the tasks of a UNION stage that do not cover an `EmptyExec` an empty memory source instead, which reports one
/// metric set more than `EmptyExec`; the scheduler then refuses the stage's metrics and the job never ends. A
/// memory source on every task keeps the counts equal.
pub fn empty_scan(schema: SchemaRef) -> Result<Arc<dyn ExecutionPlan>> {
    let source = datafusion::datasource::memory::MemorySourceConfig::try_new_exec(&[vec![]], schema, None)?;
    Ok(source)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::prelude::SessionContext;

    use super::*;

    fn table(files: Vec<(Option<&str>, Option<&str>)>) -> DeltaFiles {
        DeltaFiles {
            table_url: Url::parse("file:///tmp/strata-no-such-table/").unwrap(),
            schema: Arc::new(Schema::new(vec![
                Field::new("volume", DataType::Int64, true),
                Field::new("region", DataType::Utf8, true),
            ])),
            partition_columns: vec!["region".into()],
            files: files
                .into_iter()
                .enumerate()
                .map(|(i, (region, stats))| DataFile {
                    path: format!("part-{i}.parquet"),
                    size: 100,
                    partition_values: HashMap::from([("region".to_string(), region.map(str::to_string))]),
                    stats: stats.map(str::to_string),
                })
                .collect(),
        }
    }

    async fn rows(files: Vec<(Option<&str>, Option<&str>)>) -> Precision<usize> {
        let ctx = SessionContext::new();
        let plan = table(files).scan(&ctx.state(), None, &[], None).await.unwrap();
        let source = plan.downcast_ref::<DataSourceExec>().unwrap();
        source.data_source().partition_statistics(None).unwrap().num_rows
    }

    #[tokio::test]
    async fn a_scan_counts_rows_only_when_every_file_can_say() {
        let five =
            Some(r#"{"numRecords":5,"minValues":{"volume":1},"maxValues":{"volume":9},"nullCount":{"volume":0}}"#);
        assert_eq!(
            rows(vec![(Some("eu"), five), (Some("us"), five)]).await,
            Precision::Exact(10)
        );
        // A file without statistics: no count at all, not the other files' count.
        assert_eq!(
            rows(vec![(Some("eu"), five), (Some("us"), None)]).await,
            Precision::Absent
        );
        // A NULL partition value: DataFusion would take the column for one non-NULL value and answer
        // count(region) from it.
        assert_eq!(rows(vec![(Some("eu"), five), (None, five)]).await, Precision::Absent);
    }
}
