//! Output tables a run creates: a failed run leaves no trace of a table that did not exist before it.

use crate::plan::PlannedJob;

/// The output tables (quarantines included) that do not exist yet: a failed run removes what its stages wrote into
/// them, leaving no trace. (Files written into an existing table by a failed run are never referenced by its log;
/// `VACUUM` removes them.)
pub(crate) async fn fresh_tables(planned: &PlannedJob) -> Vec<url::Url> {
    let mut urls: Vec<url::Url> = Vec::new();
    for stage in &planned.stages {
        if let Some(output) = stage.output().filter(|o| o.sink.is_none()) {
            urls.push(output.url.clone());
        }
        if let Some((_, quarantine)) = stage.expectations().and_then(|e| e.quarantine.as_ref()) {
            urls.push(quarantine.url.clone());
        }
    }
    urls.sort();
    urls.dedup();
    let mut fresh = Vec::new();
    for url in urls {
        if !has_log(&url).await {
            fresh.push(url);
        }
    }
    fresh
}

async fn has_log(table: &url::Url) -> bool {
    // An unreadable answer counts as a log: a table is never removed on a guess.
    match url::Url::parse(&format!("{}/_delta_log/", table.as_str().trim_end_matches('/'))) {
        Ok(log) => strata_connectors::store::exists(&log).await.unwrap_or(true),
        Err(_) => true,
    }
}

/// After a failed run: remove each table in `fresh` that is still without a log (none of this run's commits made it).
pub(crate) async fn discard_fresh(fresh: &[url::Url]) {
    for table in fresh {
        if has_log(table).await {
            continue;
        }
        if let Err(e) = strata_connectors::store::remove_all(table).await {
            tracing::warn!(table = %table, error = %e, "could not remove a failed run's files");
        }
    }
}
