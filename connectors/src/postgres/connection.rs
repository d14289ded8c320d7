//! Where a PostgreSQL server is and how to log in to it: the [`PgAddress`] of a location, the [`CredentialSource`]
//! and the [`ConnectOptions`] a table's options resolve to, and [`connect`], which opens a connection with
//! retries; plus [`quote_ident`], the one way a name is written into SQL.
//!
//! A leaf of `postgres`: besides the crate's errors it imports only `tls`, itself a leaf, so every other
//! file here (options, catalog, filters, scan, sink) can build on it without an import circle. Nothing here puts a
//! password into a log line, an error message or a serialized plan: [`CredentialSource`] holds none, and a
//! [`Secret`] never prints.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};
use url::Url;

use super::tls::{self, TlsMode};
use crate::error::{ConnectorError, Result, describe_postgres as describe};

/// Environment variables, in order of preference.
const USER_VARS: [&str; 2] = ["STRATA_PG_USER", "PGUSER"];
const PASSWORD_VARS: [&str; 2] = ["STRATA_PG_PASSWORD", "PGPASSWORD"];
const PASSWORD_FILE_VAR: &str = "STRATA_PG_PASSWORD_FILE";
/// `host:port` for locations written `postgres:///db`.
pub const DEFAULT_SERVER_VAR: &str = "STRATA_POSTGRES";

/// A server and database, without credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgAddress {
    /// The server's host name or address.
    pub host: String,
    /// The server's port (5432 unless given).
    pub port: u16,
    /// The database.
    pub dbname: String,
    /// A user written in the location (`postgres://user@host/db`); never a password.
    pub user: Option<String>,
}

impl PgAddress {
    /// Parse `postgres://[user@]host[:port]/db`; `postgres:///db` takes `host:port` from `default_server`.
    pub fn parse(location: &str, default_server: Option<&str>) -> Result<Self> {
        let invalid = |message: &str| ConnectorError::InvalidLocation {
            location: redact(location),
            message: message.to_string(),
        };
        let url = Url::parse(location).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid("a PostgreSQL location is postgres://host:port/database"));
        }
        if url.password().is_some() {
            return Err(invalid(
                "passwords do not belong in job files: set STRATA_PG_PASSWORD or the password_file option",
            ));
        }
        let dbname = url.path().trim_start_matches('/').to_string();
        if dbname.is_empty() || dbname.contains('/') {
            return Err(invalid("name one database: postgres://host:port/database"));
        }
        let (host, port) = match url.host_str().filter(|h| !h.is_empty()) {
            Some(host) => (host.to_string(), url.port().unwrap_or(5432)),
            None => {
                let server = default_server.filter(|s| !s.is_empty()).ok_or_else(|| {
                    invalid(&format!(
                        "no server: write postgres://host:port/{dbname} or set {DEFAULT_SERVER_VAR}=host:port"
                    ))
                })?;
                let (host, port) = server.rsplit_once(':').unwrap_or((server, "5432"));
                let port = port
                    .parse()
                    .map_err(|_| invalid(&format!("{DEFAULT_SERVER_VAR} is not host:port")))?;
                (host.to_string(), port)
            }
        };
        let user = Some(url.username()).filter(|u| !u.is_empty()).map(str::to_string);
        Ok(Self {
            host,
            port,
            dbname,
            user,
        })
    }

    /// For messages and reports: no credentials.
    pub fn display(&self) -> String {
        format!("postgres://{}:{}/{}", self.host, self.port, self.dbname)
    }
}

/// A location as it may be shown: any user info removed.
fn redact(location: &str) -> String {
    match Url::parse(location) {
        Ok(url) => crate::urls::redacted(&url),
        Err(_) => "<unparsable location>".into(),
    }
}

/// A password that cannot be printed.
#[derive(Clone, Default)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where the credentials come from. Serialized into plans for executors, so it holds no secret: each process reads
/// the password itself, from the file or its own environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialSource {
    /// The `user` option: it wins over the location's user and the environment.
    pub user: Option<String>,
    /// The `password_file` option: a file holding the password (one trailing newline is dropped).
    pub password_file: Option<PathBuf>,
}

/// Resolved credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user to log in as.
    pub user: String,
    /// The password, when one was found; it never prints.
    pub password: Option<Secret>,
}

impl CredentialSource {
    /// The credentials for `address`. The user: the `user` option, else the location's, else `STRATA_PG_USER`,
    /// `PGUSER`, else `postgres`. The password: the password file (the option, else `STRATA_PG_PASSWORD_FILE`), else
    /// `STRATA_PG_PASSWORD`, else `PGPASSWORD`; an unreadable file is an error that names it.
    pub fn resolve(&self, address: &PgAddress) -> Result<Credentials> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let user = self
            .user
            .clone()
            .or_else(|| address.user.clone())
            .or_else(|| USER_VARS.iter().find_map(|v| env(v)))
            .unwrap_or_else(|| "postgres".into());
        let file = self
            .password_file
            .clone()
            .or_else(|| env(PASSWORD_FILE_VAR).map(PathBuf::from));
        let password = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConnectorError::PostgresPasswordFile {
                    server: address.display(),
                    path: path.clone(),
                    source,
                })?;
                Some(Secret(text.trim_end_matches(['\n', '\r']).to_string()))
            }
            None => PASSWORD_VARS.iter().find_map(|v| env(v)).map(Secret),
        };
        Ok(Credentials { user, password })
    }
}

/// Connection settings shared by reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectOptions {
    /// Where the user and password come from.
    pub credentials: CredentialSource,
    /// How long the socket connect may take; a whole attempt (TLS and authentication too) may take twice that.
    pub connect_timeout: Duration,
    /// How often a lost connection is retried (connects, and a sink's whole transaction).
    pub retries: u32,
    /// Whether and how connections use TLS.
    pub tls: TlsMode,
    /// PEM file of the certificate authorities that sign the server's certificate.
    pub root_cert: Option<PathBuf>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            credentials: CredentialSource::default(),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            tls: TlsMode::Prefer,
            root_cert: None,
        }
    }
}

/// Connect with `tls` and drive the connection on a task.
async fn open<T>(config: &Config, tls: T, server: String) -> std::result::Result<Client, tokio_postgres::Error>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(server, error = %describe(&e), "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// The delay before retry `attempt` (1-based): 200 ms doubling, capped at 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((200u64 << attempt.saturating_sub(1).min(5)).min(5_000))
}

/// Whether an error means the connection (not the statement) failed, so that redoing the work may succeed.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                ]
                .contains(code)
        }
        // No server answer: an I/O error or a timeout.
        None => e.as_db_error().is_none(),
    }
}

/// Open a connection (retrying refused or dropped connects with backoff) and drive it on a task.
/// `application_name` shows in `pg_stat_activity`.
pub async fn connect(address: &PgAddress, options: &ConnectOptions, application_name: &str) -> Result<Client> {
    let credentials = options.credentials.resolve(address)?;
    let mut config = Config::new();
    config
        .host(&address.host)
        .port(address.port)
        .dbname(&address.dbname)
        .user(&credentials.user)
        .application_name(application_name)
        .connect_timeout(options.connect_timeout);
    if let Some(password) = &credentials.password {
        config.password(password.0.as_bytes());
    }
    let tls_config = || tls::config(&address.display(), options.tls, options.root_cert.as_deref());
    let tls = match options.tls {
        TlsMode::Disable => None,
        TlsMode::Prefer => {
            config.ssl_mode(tokio_postgres::config::SslMode::Prefer);
            Some(tls_config()?)
        }
        TlsMode::Require | TlsMode::VerifyFull => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            Some(tls_config()?)
        }
    };
    let mut attempt = 0;
    loop {
        // connect_timeout bounds the socket connect only; this bounds the startup and authentication too.
        let server = address.display();
        let opening = async {
            match &tls {
                Some(tls) => open(&config, tls.clone(), server).await,
                None => open(&config, NoTls, server).await,
            }
        };
        let limit = options.connect_timeout * 2;
        let error = match tokio::time::timeout(limit, opening).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(source)) => match source.code() {
                Some(&SqlState::INVALID_PASSWORD) | Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION) => {
                    return Err(ConnectorError::PostgresAuth {
                        server: address.display(),
                        user: credentials.user,
                        source,
                    });
                }
                _ if !is_transient(&source) => {
                    return Err(ConnectorError::PostgresConnect {
                        server: address.display(),
                        attempts: None,
                        source,
                    });
                }
                _ => ConnectError::Failed(source),
            },
            Err(elapsed) => ConnectError::Timeout(elapsed),
        };
        if attempt >= options.retries {
            let (server, attempts) = (address.display(), attempt + 1);
            return Err(match error {
                ConnectError::Failed(source) => ConnectorError::PostgresConnect {
                    server,
                    attempts: Some(attempts),
                    source,
                },
                ConnectError::Timeout(source) => ConnectorError::PostgresConnectTimeout {
                    server,
                    attempts,
                    seconds: limit.as_secs(),
                    source,
                },
            });
        }
        attempt += 1;
        let error = match &error {
            ConnectError::Failed(e) => describe(e),
            ConnectError::Timeout(_) => format!("no answer within {} s", limit.as_secs()),
        };
        tracing::warn!(server = %address.display(), attempt, error = %error, "PostgreSQL connect failed; retrying");
        tokio::time::sleep(backoff(attempt)).await;
    }
}

/// A failed connection attempt that a retry may fix.
enum ConnectError {
    /// Refused, dropped or otherwise lost before the session started.
    Failed(tokio_postgres::Error),
    /// No session within the attempt's time limit.
    Timeout(tokio::time::error::Elapsed),
}

/// Quote an identifier (`"a""b"`), so names from the catalog or the job are never read as SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let a = PgAddress::parse("postgres://db.local:5433/market", None).unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.dbname.as_str()),
            ("db.local", 5433, "market")
        );
        let a = PgAddress::parse("postgresql:///market", Some("127.0.0.1:6000")).unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 6000));
        assert!(PgAddress::parse("postgres:///market", None).is_err());
        let e = PgAddress::parse("postgres://bob:hunter2@h/db", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("passwords do not belong"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(
            PgAddress::parse("postgres://bob@h/db", None).unwrap().user.as_deref(),
            Some("bob")
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Credentials {
            user: "u".into(),
            password: Some(Secret("hunter2".into())),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
