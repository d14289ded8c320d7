//! Which locations Strata opens, and which option keys a job file may not hold: the facts every store module and
//! the planner check against. A leaf: it imports nothing of the crate but the error and URL helpers.

use url::Url;

use crate::error::{ConnectorError, Result};
use crate::urls::redacted;

/// The URL schemes a location may have: local files, S3-compatible stores (`s3a://` is Hadoop's name for
/// `s3://`) and Azure Blob Storage (`az://container/…`). Google Cloud Storage is not among them: no emulator
/// reachable here takes the uploads `object_store` sends, and a store Strata cannot test is refused by name.
pub const SCHEMES: &[&str] = &["file", "s3", "s3a", "az"];

/// The object store a URL scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Amazon S3 and S3-compatible stores (`s3://`, `s3a://`).
    S3,
    /// Azure Blob Storage (`az://`).
    Azure,
}

impl Service {
    /// The service of `scheme`, or `None` for the local file system and anything unsupported.
    pub fn of(scheme: &str) -> Option<Self> {
        match scheme {
            "s3" | "s3a" => Some(Self::S3),
            "az" => Some(Self::Azure),
            _ => None,
        }
    }

    /// Where a process takes this service's credentials from, for messages.
    pub fn credentials(self) -> &'static str {
        match self {
            Self::S3 => "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN",
            Self::Azure => "AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY (or a SAS / client secret)",
        }
    }
}

/// Whether `scheme` names an object store (not the local file system).
pub fn is_object_store(scheme: &str) -> bool {
    Service::of(scheme).is_some()
}

/// Refuse a URL Strata cannot open: an unsupported scheme, credentials inside the URL, an object-store URL
/// without a bucket. The error names the location without any user name or password.
pub fn check_url(url: &Url) -> Result<()> {
    let invalid = |message: String| ConnectorError::InvalidLocation {
        location: redacted(url),
        message,
    };
    if !SCHEMES.contains(&url.scheme()) {
        return Err(invalid(format!(
            "'{}://' is not a supported store: use a local path, file://, s3://, s3a:// or az://",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        let from = Service::of(url.scheme()).unwrap_or(Service::S3).credentials();
        return Err(invalid(format!(
            "credentials do not belong in a location: give them as {from} in the environment"
        )));
    }
    if is_object_store(url.scheme()) && url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!(
            "an object-store location needs a bucket: {}://BUCKET/path",
            url.scheme()
        )));
    }
    Ok(())
}

/// Option keys that carry credentials: a job file may not give them (the environment does).
const SECRET_KEYS: &[&str] = &[
    "access_key_id",
    "aws_access_key_id",
    "secret_access_key",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
    "token",
    "aws_token",
    "password",
    "secret",
    // Azure: account keys, SAS, client secrets and bearer tokens.
    "access_key",
    "account_key",
    "azure_storage_account_key",
    "azure_storage_access_key",
    "master_key",
    "sas_key",
    "sas_token",
    "azure_storage_sas_key",
    "azure_storage_sas_token",
    "bearer_token",
    "azure_storage_token",
    // Google (refused as a store, and as a credential): a service account's key or its file.
    "service_account_key",
    "google_service_account_key",
    "service_account",
    "google_service_account",
    "service_account_path",
    "google_service_account_path",
    "application_credentials",
    "google_application_credentials",
];

/// Whether an option key names a credential.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let key = key.strip_prefix("storage.").unwrap_or(&key);
    SECRET_KEYS.contains(&key)
        || key.contains("secret")
        || key.contains("password")
        || key.contains("private_key")
        || key.ends_with("_token")
}

/// The options a job file may give a location on an S3-compatible store, for its whole bucket: where the bucket
/// is served (`endpoint`, `allow_http` for a plain-HTTP endpoint) and its `region`. Never a credential.
pub const LOCATION_OPTIONS: &[&str] = &["endpoint", "region", "allow_http"];

/// Whether `key` is one of [`LOCATION_OPTIONS`] (any case).
pub fn is_location_option(key: &str) -> bool {
    LOCATION_OPTIONS.contains(&key.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_supported_schemes_without_credentials_pass() {
        for ok in ["file:///data/wh/", "s3://lake/wh/", "s3a://lake/wh/", "az://lake/wh/"] {
            check_url(&Url::parse(ok).unwrap()).unwrap();
        }
        for (bad, says) in [
            ("hdfs://nn:8020/wh", "'hdfs://' is not a supported store"),
            ("ftp://host/wh", "'ftp://' is not a supported store"),
            (
                "wasbs://c@acct.blob.core.windows.net/wh",
                "'wasbs://' is not a supported store",
            ),
            ("s3://AKIAKEY:topsecret@lake/wh", "credentials do not belong"),
            ("az://acct:topsecret@lake/wh", "AZURE_STORAGE_ACCOUNT_KEY"),
            ("gs://lake/wh", "'gs://' is not a supported store"),
            ("az:///wh", "needs a bucket: az://BUCKET/path"),
        ] {
            let err = check_url(&Url::parse(bad).unwrap()).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
            assert!(!err.contains("topsecret") && !err.contains("AKIAKEY"), "{err}");
        }
    }

    #[test]
    fn credential_keys_are_recognised() {
        for key in [
            "aws_secret_access_key",
            "SECRET_ACCESS_KEY",
            "storage.aws_session_token",
            "password",
            "azure_storage_account_key",
            "sas_token",
            "google_service_account_key",
            "client_secret",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["endpoint", "region", "aws_allow_http", "format", "format.has_header"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
