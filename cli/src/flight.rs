//! `strata serve` (Arrow Flight SQL over a warehouse, embedded), `strata query` (run a read-only statement on a
//! Flight SQL server, or embedded on a warehouse) and `strata passwd` (a line of the users file).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use strata_connectors::location::Warehouse;
use strata_flight::{self as flight, Backend, FlightOptions, client::ClientOptions};

use crate::commands::CliError;

/// Who may connect to a Flight SQL endpoint, and how.
#[derive(Debug, Args, Clone)]
pub struct FlightAuthArgs {
    /// Users file: one `user:salt:sha256` line per user (`strata passwd USER` prints one).
    #[arg(long, env = "STRATA_FLIGHT_USERS")]
    pub users: Option<PathBuf>,
    /// PEM certificate chain: serve TLS (with --tls-key).
    #[arg(long, env = "STRATA_FLIGHT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "STRATA_FLIGHT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept calls without credentials, for local development only (a warning is printed).
    #[arg(long, conflicts_with = "users")]
    pub insecure: bool,
}

impl FlightAuthArgs {
    /// The options of an endpoint serving `warehouse` on `bind` from `backend`, with these users, TLS and insecure
    /// settings; they are checked when the server is built.
    pub fn options(&self, bind: SocketAddr, warehouse: Warehouse, backend: Backend) -> FlightOptions {
        let mut options = FlightOptions::new(bind, warehouse)
            .with_insecure(self.insecure)
            .with_backend(backend);
        if let Some(users) = &self.users {
            options = options.with_users_file(users.clone());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options = options.with_tls(cert.clone(), key.clone());
        }
        options
    }

    /// The users file's users, loaded (`None` without a file: only allowed --insecure, which the server checks).
    pub fn users(&self) -> Result<Option<flight::Users>, CliError> {
        self.users
            .as_deref()
            .map(flight::Users::load)
            .transpose()
            .map_err(flight_err)
    }
}

/// `strata serve`: the warehouse to serve, where to listen, and who may connect.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The warehouse whose tables (and run ledger, `_strata.runs`) are served.
    #[command(flatten)]
    pub places: crate::args::PlaceArgs,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "STRATA_FLIGHT_BIND", default_value = "127.0.0.1:32010")]
    pub bind: SocketAddr,
    /// Who may connect: the users file, TLS, or --insecure.
    #[command(flatten)]
    pub auth: FlightAuthArgs,
    /// `/livez` and `/readyz` (ready once serving and the warehouse answers).
    #[command(flatten)]
    pub probes: crate::args::ProbeArgs,
}

/// Serve until the process is stopped. The first stdout line says where.
pub async fn serve(args: ServeArgs) -> Result<(), CliError> {
    use crate::args::Place;
    args.places.refuse(
        "serve",
        &[Place::KafkaBrokers, Place::Ledger],
        "it serves the warehouse's tables and its own ledger",
    )?;
    let warehouse = Warehouse::parse(&args.places.warehouse)?;
    let options = args.auth.options(args.bind, warehouse.clone(), Backend::Embedded);
    let (addr, server) = flight::bind(options).await.map_err(flight_err)?;
    println!("Flight SQL listening on {addr}");
    if let Some(bind) = args.probes.http_bind {
        let store = strata_planner::probes::StoreProbe::start(warehouse.clone(), std::time::Duration::from_secs(10));
        let console = flight::console::router(flight::console::ConsoleOptions {
            warehouse: warehouse.clone(),
            ledger: strata_planner::ledger::Ledger::open(&warehouse, "")?,
            users: args.auth.users()?,
            insecure: args.auth.insecure,
            executors: None,
            backend: Backend::Embedded,
        });
        let http = strata_planner::probes::serve_with(bind, std::sync::Arc::new(move || store.state()), console)
            .await
            .map_err(|e| CliError::Usage(format!("--http-bind {bind}: {e}")))?;
        println!("HTTP probes listening on {http}");
    }
    let _ = std::io::stdout().flush();
    server.await.map_err(flight_err)
}

fn flight_err(e: flight::FlightError) -> CliError {
    CliError::Flight(Box::new(e))
}

/// How `strata query` prints its result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// A text table, for reading.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row, one per line.
    Json,
    /// Arrow IPC stream (binary).
    Arrow,
}

/// `strata query`: the statement and its parameters, where it runs, the server login, and how the result is
/// printed.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// A read-only statement; `?` marks a parameter, bound in order to the --param values.
    pub sql: String,
    /// A Flight SQL server (`strata serve`, or a scheduler started with --flight-bind).
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// Without --server, the statement runs here, on the warehouse named by --warehouse or STRATA_WAREHOUSE.
    #[command(flatten)]
    pub places: crate::args::PlaceArgs,
    /// A parameter value, bound to the next `?`; repeatable.
    #[arg(long = "param", short = 'p', value_name = "VALUE")]
    pub params: Vec<String>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
    /// The server login: user, password, TLS.
    #[command(flatten)]
    pub login: LoginArgs,
}

/// How a client logs in to a Strata server (Flight SQL, or a scheduler's job service): the same users file
/// serves both, so the same settings do.
#[derive(Debug, Args, Clone, Default)]
pub struct LoginArgs {
    /// User for the server's login; the password comes from STRATA_FLIGHT_PASSWORD or --password-file.
    #[arg(long, env = "STRATA_FLIGHT_USER")]
    pub user: Option<String>,
    /// File holding the password (first line).
    #[arg(long, env = "STRATA_FLIGHT_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// PEM file of the authorities that sign the server's certificate: connect with TLS.
    #[arg(long, env = "STRATA_FLIGHT_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM certificate this client presents to servers that require mutual TLS (with --tls-client-key).
    #[arg(long, env = "STRATA_TLS_CLIENT_CERT", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// PEM private key of --tls-client-cert.
    #[arg(long, env = "STRATA_TLS_CLIENT_KEY", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
}

impl LoginArgs {
    /// The client options for `server`: the password read from --password-file or STRATA_FLIGHT_PASSWORD.
    pub fn client(&self, server: &str) -> Result<ClientOptions, CliError> {
        let password = match &self.password_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("cannot read the password file {}: {e}", path.display())))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            None => std::env::var("STRATA_FLIGHT_PASSWORD").unwrap_or_default(),
        };
        Ok(ClientOptions {
            server: server.to_string(),
            tls_ca: self.tls_ca.clone(),
            credentials: self.user.clone().map(|u| (u, password)),
            identity: self.tls_client_cert.clone().zip(self.tls_client_key.clone()),
        })
    }
}

/// The warehouse `query` runs on here: one named by flag or environment, never the default (a statement with
/// neither a server nor a warehouse is more likely a forgotten --server than a query of `./warehouse`).
fn local_warehouse(args: &QueryArgs) -> Result<Option<Warehouse>, CliError> {
    use crate::args::{Given, Place};
    args.places.refuse(
        "query",
        &[Place::KafkaBrokers, Place::Ledger],
        "it reads the tables of a server or a warehouse",
    )?;
    let named = args.places.given(Place::Warehouse);
    if args.server.is_some() && named == Given::CommandLine {
        return Err(CliError::Usage(
            "the argument '--server <HOST:PORT>' cannot be used with '--warehouse <WAREHOUSE>'".into(),
        ));
    }
    if named == Given::Default {
        return Ok(None);
    }
    Ok(Some(Warehouse::parse(&args.places.warehouse)?))
}

/// Run the statement on the server (logging in as --user, over TLS with --tls-ca) or here on the named warehouse,
/// and print its result in --format.
pub async fn query(args: QueryArgs) -> Result<(), CliError> {
    let warehouse = local_warehouse(&args)?;
    let (schema, batches) = match (&args.server, &warehouse) {
        (Some(server), _) => {
            let options = args.login.client(server)?;
            let mut client = flight::client::connect(&options).await.map_err(flight_err)?;
            flight::client::query(&mut client, server, &args.sql, &args.params)
                .await
                .map_err(flight_err)?
        }
        (None, Some(warehouse)) => flight::query_local(warehouse, &args.sql, &args.params)
            .await
            .map_err(flight_err)?,
        (None, None) => {
            return Err(CliError::Usage(
                "name a Flight SQL server (--server HOST:PORT) or a warehouse to query here (--warehouse DIR)".into(),
            ));
        }
    };
    print(&schema, &batches, args.format)
}

fn print(schema: &SchemaRef, batches: &[RecordBatch], format: QueryFormat) -> Result<(), CliError> {
    let out = std::io::stdout();
    let mut out = out.lock();
    let failed = |e: datafusion::arrow::error::ArrowError| CliError::Usage(format!("cannot print the result: {e}"));
    match format {
        QueryFormat::Table => {
            let text = datafusion::arrow::util::pretty::pretty_format_batches(batches).map_err(failed)?;
            let _ = writeln!(out, "{text}");
        }
        QueryFormat::Csv => {
            let mut writer = datafusion::arrow::csv::Writer::new(&mut out);
            for batch in batches {
                writer.write(batch).map_err(failed)?;
            }
        }
        QueryFormat::Json => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut out);
            for batch in batches {
                writer.write(batch).map_err(failed)?;
            }
            writer.finish().map_err(failed)?;
        }
        QueryFormat::Arrow => {
            let mut writer = datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, schema).map_err(failed)?;
            for batch in batches {
                writer.write(batch).map_err(failed)?;
            }
            writer.finish().map_err(failed)?;
        }
    }
    let _ = out.flush();
    Ok(())
}

/// `strata passwd`: the user whose users-file line is printed.
#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// The user name.
    pub user: String,
}

/// Read a password from stdin and print the users-file line for it (salted SHA-256; the password is not printed).
pub fn passwd(args: PasswdArgs) -> Result<(), CliError> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| CliError::Usage(format!("cannot read the password from stdin: {e}")))?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() || args.user.is_empty() || args.user.contains(':') {
        return Err(CliError::Usage(
            "give a user name without ':' and a non-empty password on stdin".into(),
        ));
    }
    println!("{}", flight::password_line(&args.user, password));
    Ok(())
}
