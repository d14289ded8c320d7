//! What a Delta table's log says about its columns without reading a data file: the largest value of an event-time
//! column, from every file's `maxValues` statistic. Incremental runs start from it instead of scanning the table.

use deltalake::DeltaTable;

/// The largest value of `column` (a timestamp or date) over the table's files, in microseconds since the epoch,
/// from the log's statistics; `None` when a file with rows lacks the statistic or the table cannot say. Writers
/// truncate timestamp statistics to milliseconds: the value may be up to 1 ms below the true maximum (or, rounded
/// up, above it), so callers treat it as a hint to narrow a scan, not as the answer.
pub fn max_micros(table: &DeltaTable, column: &str) -> Option<i64> {
    let snapshot = table.snapshot().ok()?;
    let mut best: Option<i64> = None;
    for view in snapshot.log_data() {
        let stats: serde_json::Value = serde_json::from_str(&view.stats()?).ok()?;
        if stats.get("numRecords").and_then(serde_json::Value::as_i64) == Some(0) {
            continue;
        }
        let value = stats.get("maxValues")?.get(column)?;
        let micros = match value {
            serde_json::Value::Null => continue, // every row of the file is NULL there
            serde_json::Value::String(text) => parse_micros(text)?,
            _ => return None,
        };
        best = Some(best.map_or(micros, |b| b.max(micros)));
    }
    best
}

/// A statistic's text — an RFC 3339 timestamp or a date — as microseconds since the epoch (UTC).
fn parse_micros(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_texts_parse_as_utc_microseconds() {
        assert_eq!(parse_micros("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_micros("1970-01-01T00:00:00.001Z"), Some(1_000));
        assert_eq!(parse_micros("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_micros("1970-01-02"), Some(86_400_000_000));
        assert_eq!(parse_micros("1970-01-01T00:00:02.5"), Some(2_500_000));
        assert_eq!(parse_micros("soon"), None);
    }
}
