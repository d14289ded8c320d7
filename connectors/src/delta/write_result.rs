//! What a parallel Delta write reports, and how the coordinator turns those reports into one commit's actions.
//!
//! Every execution of a write partition reports one batch: a row per data file it wrote (the `add` action as JSON
//! and its row count), or a single row with no action when it wrote nothing, each tagged with the partition it
//! wrote, the execution (Ballista's task identity) and its generation (the stage attempt that ran it).
//!
//! A cluster that loses an executor may deliver a partition's write more than once: Ballista re-runs the lost
//! executor's finished tasks (or the whole stage, as a new stage attempt) but keeps the earlier results in the job's
//! output, and a client that can still read them receives both. Each delivery is a complete write of that
//! partition, so committing them all would duplicate rows. [`collect_adds`] guarantees instead that the committed
//! files are exactly one execution of every partition delivered, all from one generation (the newest one that
//! covers every partition any generation delivered: a re-run stage may split rows between partitions
//! differently), or it fails and commits nothing. The files of the other executions stay unreferenced in the
//! table's directory, for `vacuum`.
//!
//! The partition is the stage's global partition: a Ballista task runs a slice of a stage's partitions as local
//! partitions 0, 1, …, and Strata's executors tell each write its slice (`strata_executor`'s execution engine).
//! Embedded, the local partition is the global one. A write that cannot know it (Ballista's in-process executor,
//! which no fault can take away) reports none, and its files are all committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, StringArray, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use deltalake::kernel::Add;

/// Output of a write: one row per data file written (one row with a null `add` for a partition with no file).
pub static WRITE_RESULT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("add", DataType::Utf8, true),
        Field::new("rows", DataType::UInt64, false),
        Field::new("partition", DataType::UInt32, true),
        Field::new("generation", DataType::UInt32, false),
        Field::new("execution", DataType::Utf8, false),
    ]))
});

/// Which execution of which partition produced a write's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The global partition written; `None` when the executor did not say.
    pub partition: Option<u32>,
    /// The stage attempt that ran it (0 outside a cluster).
    pub generation: u32,
    /// What tells this execution from another of the same partition (the task's identity).
    pub id: String,
}

impl Execution {
    /// The execution of local partition `partition`, of a task whose local partitions are the global `slices` (set
    /// by Strata's executors), by the task `task_id` (DataFusion's task identity: on Ballista `TID <job>/<stage>.<stage
    /// attempt>/<task>.<task attempt>`, unset when embedded, where local partitions are global).
    pub fn new(partition: usize, slices: Option<&[usize]>, task_id: Option<String>) -> Self {
        let global = match (slices, &task_id) {
            (Some(slices), _) => slices.get(partition).map(|p| *p as u32),
            (None, None) => Some(partition as u32),
            (None, Some(_)) => None,
        };
        let id = task_id.unwrap_or_else(|| format!("local-{partition}"));
        Self {
            partition: global,
            generation: stage_attempt(&id).unwrap_or(0),
            id,
        }
    }

    /// The report of this execution: one row per file, or one row without an action when nothing was written.
    pub fn report(&self, adds: &[Add], rows: &[u64]) -> Result<RecordBatch> {
        let mut json = adds
            .iter()
            .map(|a| serde_json::to_string(a).map(Some))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut rows = rows.to_vec();
        if json.is_empty() {
            json.push(None);
            rows.push(0);
        }
        let n = json.len();
        RecordBatch::try_new(
            WRITE_RESULT_SCHEMA.clone(),
            vec![
                Arc::new(StringArray::from(json)),
                Arc::new(UInt64Array::from(rows)),
                Arc::new(UInt32Array::from(vec![self.partition; n])),
                Arc::new(UInt32Array::from(vec![self.generation; n])),
                Arc::new(StringArray::from(vec![self.id.as_str(); n])),
            ],
        )
        .map_err(DataFusionError::from)
    }
}

/// The stage attempt in a Ballista task identity (`TID <job>/<stage>.<attempt>/<task>.<attempt>`).
fn stage_attempt(task_id: &str) -> Option<u32> {
    let mut parts = task_id.rsplit('/');
    parts.next()?;
    let stage = parts.next()?;
    stage.rsplit_once('.')?.1.parse().ok()
}

/// One execution's files, as reported.
#[derive(Default)]
struct Delivery {
    adds: Vec<String>,
    rows: u64,
}

/// Decode a write's reports into the actions to commit and their row count: one execution of every partition,
/// from the newest generation that covers every partition delivered (see the module docs). Fails when no
/// generation covers them all.
pub fn collect_adds(batches: &[RecordBatch]) -> Result<(Vec<Add>, u64)> {
    // generation -> partition -> (last execution delivered, execution -> its files).
    let mut generations: BTreeMap<u32, Generation> = BTreeMap::new();
    // Reports of writes that did not say their partition: committed as they are.
    let mut unplaced = Delivery::default();
    for batch in batches {
        let json = column::<StringArray>(batch, "add")?;
        let counts = column::<UInt64Array>(batch, "rows")?;
        let partition = column::<UInt32Array>(batch, "partition")?;
        let generation = column::<UInt32Array>(batch, "generation")?;
        let execution = column::<StringArray>(batch, "execution")?;
        for i in 0..batch.num_rows() {
            let delivery = if partition.is_valid(i) {
                let (last, executions) = generations
                    .entry(generation.value(i))
                    .or_default()
                    .entry(partition.value(i))
                    .or_default();
                last.clear();
                last.push_str(execution.value(i));
                executions.entry(execution.value(i).to_string()).or_default()
            } else {
                &mut unplaced
            };
            if json.is_valid(i) {
                let add = json.value(i).to_string();
                // The same execution delivered twice counts once.
                if !delivery.adds.contains(&add) {
                    delivery.adds.push(add);
                    delivery.rows += counts.value(i);
                }
            }
        }
    }
    let mut adds = Vec::new();
    let mut rows = unplaced.rows;
    for add in &unplaced.adds {
        adds.push(serde_json::from_str(add).map_err(|e| DataFusionError::External(Box::new(e)))?);
    }
    if generations.is_empty() {
        return Ok((adds, rows));
    }
    let delivered: BTreeSet<u32> = generations.values().flat_map(|g| g.keys().copied()).collect();
    let executions: usize = generations
        .values()
        .flat_map(|g| g.values())
        .map(|(_, e)| e.len())
        .sum();
    let Some((generation, chosen)) = generations
        .iter()
        .rev()
        .find(|(_, g)| delivered.iter().all(|p| g.contains_key(p)))
    else {
        return Err(DataFusionError::Execution(format!(
            "the cluster returned an incomplete write: no stage attempt delivered all {} partitions (delivered: \
             {}); nothing is committed",
            delivered.len(),
            generations
                .iter()
                .map(|(g, parts)| format!("attempt {g}: {} partitions", parts.len()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    for (last, executions) in chosen.values() {
        let Some(delivery) = executions.get(last) else {
            continue;
        };
        for add in &delivery.adds {
            adds.push(serde_json::from_str(add).map_err(|e| DataFusionError::External(Box::new(e)))?);
        }
        rows += delivery.rows;
    }
    if executions > delivered.len() {
        tracing::warn!(
            partitions = delivered.len(),
            executions,
            generation,
            "the cluster delivered some partitions' writes more than once (tasks ran again after an executor was \
             lost); one execution of each is committed, the other files are left to vacuum"
        );
    }
    Ok((adds, rows))
}

/// One generation's deliveries: per partition, the last execution delivered and every execution's files.
type Generation = BTreeMap<u32, (String, HashMap<String, Delivery>)>;

/// Column `name` of a write report, as its array type.
fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DataFusionError::Internal(format!("write result without a '{name}' column")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(path: &str) -> Add {
        serde_json::from_str(&format!(
            r#"{{"path":"{path}","partitionValues":{{}},"size":1,"modificationTime":0,"dataChange":true,"stats":"{{\"numRecords\":5}}"}}"#
        ))
        .unwrap()
    }

    /// The report of global partition `p` by task `task` of stage attempt `attempt`, with files `paths`.
    fn report(p: usize, attempt: u32, task: u32, paths: &[&str]) -> RecordBatch {
        let adds: Vec<Add> = paths.iter().map(|p| add(p)).collect();
        let rows = vec![5; adds.len()];
        // Every Ballista task runs its slice as local partition 0.
        Execution::new(0, Some(&[p]), Some(format!("TID job1/3.{attempt}/{task}.0")))
            .report(&adds, &rows)
            .unwrap()
    }

    fn paths(adds: &[Add]) -> Vec<&str> {
        adds.iter().map(|a| a.path.as_str()).collect()
    }

    #[test]
    fn the_stage_attempt_is_read_from_the_task_identity() {
        assert_eq!(stage_attempt("TID abc/7.2/31.0"), Some(2));
        assert_eq!(Execution::new(1, None, None).generation, 0);
        // Embedded, the local partition is the global one; on Ballista without a slice, it is unknown.
        assert_eq!(Execution::new(1, None, None).partition, Some(1));
        assert_eq!(Execution::new(1, None, Some("TID j/1.0/2.0".into())).partition, None);
        assert_eq!(
            Execution::new(1, Some(&[4, 7]), Some("TID j/1.0/2.0".into())).partition,
            Some(7)
        );
        assert_eq!(stage_attempt("local-1"), None);
    }

    #[test]
    fn every_partition_once_when_nothing_was_lost() {
        let (adds, rows) = collect_adds(&[report(0, 0, 1, &["a", "b"]), report(1, 0, 2, &[])]).unwrap();
        assert_eq!(paths(&adds), ["a", "b"]);
        assert_eq!(rows, 10);
    }

    #[test]
    fn a_partition_run_again_in_the_same_attempt_is_committed_once() {
        let batches = [
            report(0, 0, 1, &["p0-first"]),
            report(1, 0, 2, &["p1"]),
            report(0, 0, 3, &["p0-again"]),
            // The same execution's report read twice.
            report(1, 0, 2, &["p1"]),
        ];
        let (adds, rows) = collect_adds(&batches).unwrap();
        assert_eq!(paths(&adds), ["p0-again", "p1"]);
        assert_eq!(rows, 10);
    }

    #[test]
    fn a_stage_run_again_is_committed_from_its_newest_complete_attempt_only() {
        // Attempt 0 finished partition 0 before the stage was rolled back; attempt 1 ran both partitions, which
        // may split rows differently: mixing the attempts could lose or repeat rows.
        let batches = [
            report(0, 0, 1, &["old-p0"]),
            report(0, 1, 4, &["new-p0"]),
            report(1, 1, 5, &["new-p1"]),
        ];
        let (adds, _) = collect_adds(&batches).unwrap();
        assert_eq!(paths(&adds), ["new-p0", "new-p1"]);
        // A newer attempt that did not cover every partition is not used.
        let batches = [
            report(0, 0, 1, &["old-p0"]),
            report(1, 0, 2, &["old-p1"]),
            report(1, 1, 5, &["new-p1"]),
        ];
        let (adds, _) = collect_adds(&batches).unwrap();
        assert_eq!(paths(&adds), ["old-p0", "old-p1"]);
    }

    #[test]
    fn a_newest_attempt_missing_a_partition_is_not_used_and_none_complete_is_refused() {
        let batches = [report(0, 0, 1, &["a"]), report(1, 1, 2, &["b"])];
        let err = collect_adds(&batches).unwrap_err().to_string();
        assert!(err.contains("incomplete write"), "{err}");
        assert!(err.contains("all 2 partitions"), "{err}");
    }

    #[test]
    fn writes_that_do_not_know_their_partition_are_all_committed() {
        let unknown = |path: &str, task: u32| {
            Execution::new(0, None, Some(format!("TID job1/3.0/{task}.0")))
                .report(&[add(path)], &[5])
                .unwrap()
        };
        let (adds, rows) = collect_adds(&[unknown("a", 1), unknown("b", 2)]).unwrap();
        assert_eq!(paths(&adds), ["a", "b"]);
        assert_eq!(rows, 10);
    }
}
