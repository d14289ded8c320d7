//! The stage DAG: which statement must finish before which, found by following table references.

use std::collections::{BTreeSet, HashMap};

use strata_sql::{JobFile, JobStatement, SourceLocation, StatementKind};

use crate::error::{PlannerError, Result};

/// One node of the DAG: a statement of the job file.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Position in the job file (0-based); also the stage's id.
    pub index: usize,
    /// Display name: the table defined or written.
    pub name: String,
    /// The parsed statement this stage runs.
    pub statement: JobStatement,
    /// Stages that must finish first.
    pub deps: BTreeSet<usize>,
}

impl Stage {
    /// Where the stage's statement starts in the job file.
    pub fn location(&self) -> &SourceLocation {
        &self.statement.location
    }

    /// The statement's kind: `source`, `view`, `table`, `insert` or `merge`.
    pub fn kind(&self) -> &'static str {
        self.statement.kind_name()
    }
}

/// Stages and a topological order of them.
#[derive(Debug, Clone)]
pub struct StageDag {
    /// Every stage, in file order: `stages[i].index == i`.
    pub stages: Vec<Stage>,
    /// Stage indices, each after all of its dependencies; ties kept in file order.
    pub order: Vec<usize>,
}

impl StageDag {
    /// Build the DAG of `job`, rejecting duplicate definitions, unknown tables and cycles.
    pub fn build(job: &JobFile) -> Result<Self> {
        let mut defined: HashMap<String, usize> = HashMap::new();
        for (i, st) in job.statements.iter().enumerate() {
            if matches!(st.kind, StatementKind::Insert { .. }) {
                continue;
            }
            let target = st.target();
            if let Some(&prev) = defined.get(&target.name) {
                return Err(PlannerError::Job {
                    location: target.location,
                    message: format!(
                        "table '{}' is already defined at {}",
                        target.name, job.statements[prev].location
                    ),
                });
            }
            defined.insert(target.name, i);
        }

        let mut stages = Vec::with_capacity(job.statements.len());
        for (i, st) in job.statements.iter().enumerate() {
            let target = st.target();
            let mut deps = BTreeSet::new();
            let is_insert = matches!(st.kind, StatementKind::Insert { .. });
            if is_insert {
                if let Some(&d) = defined.get(&target.name) {
                    deps.insert(d);
                }
                deps.extend(earlier_inserts(job, i, &target.name));
            }
            for r in st.references() {
                if !is_insert && r.name == target.name {
                    return Err(PlannerError::Job {
                        location: r.location,
                        message: format!("cycle: '{}' reads itself", r.name),
                    });
                }
                let inserts = earlier_inserts(job, i, &r.name);
                match defined.get(&r.name) {
                    Some(&d) => {
                        deps.insert(d);
                    }
                    None if inserts.is_empty() => {
                        return Err(PlannerError::Job {
                            location: r.location,
                            message: format!(
                                "unknown table '{}': declare it with CREATE EXTERNAL TABLE, CREATE VIEW or CREATE TABLE",
                                r.name
                            ),
                        });
                    }
                    None => {}
                }
                deps.extend(inserts);
            }
            stages.push(Stage {
                index: i,
                name: stage_name(st, &target.name),
                statement: st.clone(),
                deps,
            });
        }
        let order = topological_order(&stages)?;
        Ok(Self { stages, order })
    }

    /// Stages that depend on `index`.
    pub fn dependents(&self, index: usize) -> impl Iterator<Item = &Stage> {
        self.stages.iter().filter(move |s| s.deps.contains(&index))
    }
}

fn stage_name(st: &JobStatement, target: &str) -> String {
    match st.kind {
        StatementKind::Insert { .. } => format!("insert into {target} @{}", st.location.line),
        _ => target.to_string(),
    }
}

/// Inserts into `table` that appear before statement `before` in the file.
fn earlier_inserts(job: &JobFile, before: usize, table: &str) -> Vec<usize> {
    job.statements[..before]
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.kind, StatementKind::Insert { .. }) && s.target().name == table)
        .map(|(i, _)| i)
        .collect()
}

/// Kahn's algorithm, always taking the earliest ready statement so the order is stable.
fn topological_order(stages: &[Stage]) -> Result<Vec<usize>> {
    let mut remaining: Vec<usize> = stages.iter().map(|s| s.deps.len()).collect();
    let mut done = vec![false; stages.len()];
    let mut order = Vec::with_capacity(stages.len());
    while order.len() < stages.len() {
        let Some(next) = (0..stages.len()).find(|&i| !done[i] && remaining[i] == 0) else {
            return Err(cycle_error(stages, &done));
        };
        done[next] = true;
        order.push(next);
        for s in stages.iter().filter(|s| s.deps.contains(&next)) {
            remaining[s.index] -= 1;
        }
    }
    Ok(order)
}

/// Describe one cycle among the stages not yet ordered.
fn cycle_error(stages: &[Stage], done: &[bool]) -> PlannerError {
    // Every unfinished stage has an unfinished dependency, so walking them must revisit a stage.
    let start = (0..stages.len()).find(|&i| !done[i]).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    while let Some(&next) = stages[current].deps.iter().find(|&&d| !done[d]) {
        if let Some(pos) = path.iter().position(|&p| p == next) {
            path.drain(..pos);
            path.push(next);
            break;
        }
        path.push(next);
        current = next;
    }
    // Report the cycle from its first statement in file order, following data flow.
    let mut cycle: Vec<usize> = path.clone();
    cycle.pop();
    cycle.reverse();
    let first = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, i)| **i)
        .map(|(p, _)| p)
        .unwrap_or(0);
    cycle.rotate_left(first);
    let head = cycle[0];
    let names: Vec<&str> = cycle
        .iter()
        .chain(std::iter::once(&head))
        .map(|&i| stages[i].name.as_str())
        .collect();
    PlannerError::Job {
        location: stages[head].location().clone(),
        message: format!("cycle between stages: {}", names.join(" -> ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_sql::job::parse_job;

    fn dag(sql: &str) -> Result<StageDag> {
        StageDag::build(&parse_job("job.sql", sql).unwrap())
    }

    #[test]
    fn orders_by_references_not_file_order() {
        let d = dag("CREATE TABLE b AS SELECT * FROM a;\n\
                     CREATE VIEW a AS SELECT * FROM src;\n\
                     CREATE EXTERNAL TABLE src STORED AS PARQUET LOCATION '/x';\n\
                     CREATE TABLE c AS SELECT * FROM src;")
        .unwrap();
        assert_eq!(d.order, vec![2, 1, 0, 3]);
        assert_eq!(d.stages[0].deps, BTreeSet::from([1]));
        assert_eq!(d.stages[3].deps, BTreeSet::from([2]));
        let independent: Vec<_> = d.dependents(2).map(|s| s.index).collect();
        assert_eq!(independent, vec![1, 3]);
    }

    #[test]
    fn inserts_follow_definition_and_earlier_inserts() {
        let d = dag("CREATE EXTERNAL TABLE src STORED AS PARQUET LOCATION '/x';\n\
                     INSERT INTO sink SELECT * FROM src;\n\
                     INSERT INTO sink SELECT * FROM src;\n\
                     CREATE TABLE report AS SELECT count(*) FROM sink;")
        .unwrap();
        assert_eq!(d.stages[2].deps, BTreeSet::from([0, 1]));
        assert_eq!(d.stages[3].deps, BTreeSet::from([1, 2]));
        assert_eq!(d.stages[1].name, "insert into sink @2");
    }

    #[test]
    fn unknown_table_is_located() {
        let err = dag("CREATE VIEW a AS\nSELECT * FROM   nowhere").unwrap_err();
        assert_eq!(
            err.to_string(),
            "job.sql:2:17: unknown table 'nowhere': declare it with CREATE EXTERNAL TABLE, CREATE VIEW or CREATE TABLE"
        );
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let err = dag("CREATE TABLE a AS SELECT * FROM c;\n\
                       CREATE TABLE b AS SELECT * FROM a;\n\
                       CREATE VIEW c AS SELECT * FROM b;")
        .unwrap_err();
        assert_eq!(err.to_string(), "job.sql:1:1: cycle between stages: a -> b -> c -> a");
        let err = dag("CREATE VIEW a AS SELECT * FROM a").unwrap_err();
        assert_eq!(err.to_string(), "job.sql:1:32: cycle: 'a' reads itself");
    }

    #[test]
    fn duplicate_definitions_are_rejected() {
        let err = dag("CREATE VIEW a AS SELECT 1;\nCREATE TABLE a AS SELECT 2").unwrap_err();
        assert_eq!(
            err.to_string(),
            "job.sql:2:14: table 'a' is already defined at job.sql:1:1"
        );
    }
}
