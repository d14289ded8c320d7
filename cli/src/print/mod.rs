//! What the CLI prints about runs, as text and JSON values rather than writes to stdout, so that tests read it
//! without a process: runs as a ledger records them ([`ledger`]), runs as a scheduler reports them
//! ([`scheduler`]), and what a planned run would rewrite ([`ranges`]).

pub mod ledger;
pub mod scheduler;

use strata_planner::RunMode;
use strata_planner::modes::RangeReport;

/// What a run in `mode` rewrites of each table with an event time (empty when the job has none).
pub fn ranges(mode: &RunMode, ranges: &[RangeReport]) -> String {
    if ranges.is_empty() {
        return String::new();
    }
    let mut out = format!("\n== what the run rewrites ({})\n", mode.describe());
    out.push_str(&format!(
        "  {:<28} {:<40} {:<48} READ\n",
        "TABLE", "ACTION", "EVENT TIMES REWRITTEN"
    ));
    for r in ranges {
        out.push_str(&format!(
            "  {:<28} {:<40} {:<48} {}\n",
            r.table,
            format!("{} ({})", r.action, r.reason),
            r.range,
            r.read
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_list_each_table_under_the_mode() {
        assert_eq!(ranges(&RunMode::Incremental, &[]), "");
        let text = ranges(
            &RunMode::FullRefresh,
            &[RangeReport {
                table: "silver.bars".into(),
                action: "whole",
                range: "beginning .. end".into(),
                read: "beginning .. end".into(),
                reason: "full refresh".into(),
            }],
        );
        assert!(
            text.starts_with("\n== what the run rewrites (full-refresh)\n"),
            "{text}"
        );
        let row = text.lines().last().unwrap();
        assert!(row.trim_start().starts_with("silver.bars "), "{row}");
        assert!(
            row.contains("whole (full refresh)") && row.ends_with("beginning .. end"),
            "{row}"
        );
    }
}
