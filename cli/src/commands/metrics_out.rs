//! Where a one-shot `strata run` sends its metrics, since nothing scrapes a process that has ended: a Prometheus
//! Pushgateway, a node-exporter textfile, or both. Either happens after the run, whether it succeeded or failed,
//! and neither changes the run's exit code: the run's outcome is what the exit code reports, and a missed push is
//! logged (the metrics are a copy of what the ledger holds).

use std::path::{Path, PathBuf};

use base64::Engine;
use clap::Args;

use crate::error::CliError;

/// `--metrics-push` and `--metrics-textfile`.
#[derive(Debug, Args, Clone, Default)]
pub struct MetricsOut {
    /// After the run, push its metrics to this Prometheus Pushgateway (`http://HOST:9091`), grouped as
    /// `job="strata"` plus the job file (`strata_job`): a later run of the same job file replaces them.
    #[arg(long, env = "STRATA_METRICS_PUSH", value_name = "URL")]
    pub metrics_push: Option<url::Url>,
    /// After the run, write its metrics to this file (`*.prom`, for node-exporter's textfile collector); written
    /// to a temporary file beside it and renamed, so a scrape never reads half of it.
    #[arg(long, env = "STRATA_METRICS_TEXTFILE", value_name = "FILE")]
    pub metrics_textfile: Option<PathBuf>,
}

impl MetricsOut {
    /// Send the process's metrics where asked; failures are logged, not returned.
    pub async fn publish(&self, job: &str) {
        if self.metrics_push.is_none() && self.metrics_textfile.is_none() {
            return;
        }
        let Some(text) = strata_planner::metrics::render() else {
            tracing::warn!("metrics: no recorder is installed; nothing to push or write");
            return;
        };
        if let Some(url) = &self.metrics_push {
            match push(url, job, &text).await {
                Ok(()) => tracing::info!(gateway = %redacted(url), "metrics pushed"),
                Err(e) => tracing::error!(gateway = %redacted(url), error = %e, "metrics: the push failed"),
            }
        }
        if let Some(path) = &self.metrics_textfile {
            match write_textfile(path, &text) {
                Ok(()) => tracing::info!(path = %path.display(), "metrics written"),
                Err(e) => tracing::error!(error = %e, "metrics: the textfile was not written"),
            }
        }
    }
}

/// The Pushgateway URL of `job`'s group: `/metrics/job/strata/strata_job@base64/<job file>`.
pub fn group_url(gateway: &url::Url, job: &str) -> String {
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(job);
    format!(
        "{}/metrics/job/strata/strata_job@base64/{encoded}",
        gateway.as_str().trim_end_matches('/')
    )
}

/// A URL as logs may show it: without a user's password.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

async fn push(gateway: &url::Url, job: &str, text: &str) -> Result<(), String> {
    let mut request = reqwest::Client::new()
        .put(group_url(gateway, job))
        .header("content-type", "text/plain; version=0.0.4")
        .timeout(std::time::Duration::from_secs(30))
        .body(text.to_string());
    if !gateway.username().is_empty() {
        request = request.basic_auth(gateway.username(), gateway.password());
    }
    let response = request.send().await.map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let body = response.text().await.unwrap_or_default();
        Err(format!("the gateway answered {status}: {}", body.trim()))
    }
}

fn write_textfile(path: &Path, text: &str) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_file_is_one_pushgateway_group_and_passwords_stay_out_of_logs() {
        let gateway = url::Url::parse("http://ops:s3cret@gw:9091/").unwrap();
        assert_eq!(
            group_url(&gateway, "jobs/stock_market/pipeline.sql"),
            "http://ops:s3cret@gw:9091/metrics/job/strata/strata_job@base64/am9icy9zdG9ja19tYXJrZXQvcGlwZWxpbmUuc3Fs"
        );
        assert!(!redacted(&gateway).contains("s3cret"));
    }
}
