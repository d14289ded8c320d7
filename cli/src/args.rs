//! The arguments several commands share, declared once: where jobs read and write and runs are recorded
//! ([`PlaceArgs`]: the warehouse, the Kafka brokers, the ledger — the same flags, environment variables and
//! defaults in every command), how a run chooses what to recompute ([`ModeArgs`]), and the log format.

use clap::{Args, ValueEnum};
use strata_planner::{RunMode, StrataOptions};

use crate::error::CliError;

/// Log format: `human` for terminals, `json` for log collectors (one JSON object per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text for people: readable logs and summaries, progress bars on a terminal.
    Human,
    /// JSON lines for machines: logs and progress events on stderr, results on stdout.
    Json,
}

/// The place arguments as clap declares them; [`PlaceArgs`] adds where each value came from.
#[derive(Debug, Args, Clone)]
struct PlaceFlags {
    /// The warehouse: `CREATE TABLE a.b` writes the Delta table `<warehouse>/a/b`; relative LOCATIONs start here.
    #[arg(long, env = "STRATA_WAREHOUSE", default_value = DEFAULT_WAREHOUSE)]
    warehouse: String,
    /// Kafka bootstrap servers (host:port,…) for Kafka tables whose LOCATION names none (`kafka:///topic`).
    #[arg(long, env = "STRATA_KAFKA_BROKERS", default_value = "")]
    kafka_brokers: String,
    /// Where runs are recorded: the warehouse's own ledger (`_strata/runs`) by default, or a PostgreSQL schema
    /// (`postgres://host:port/db?schema=…`; credentials from the environment).
    #[arg(long, env = "STRATA_LEDGER", default_value = "")]
    ledger: String,
}

/// The warehouse every command uses when neither `--warehouse` nor `STRATA_WAREHOUSE` names one.
pub const DEFAULT_WAREHOUSE: &str = "./warehouse";

/// One of the place arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `--warehouse` / `STRATA_WAREHOUSE`: where tables are read and written.
    Warehouse,
    /// `--kafka-brokers` / `STRATA_KAFKA_BROKERS`: the Kafka bootstrap servers of `kafka:///topic` tables.
    KafkaBrokers,
    /// `--ledger` / `STRATA_LEDGER`: where runs are recorded.
    Ledger,
}

impl Place {
    const ALL: [Place; 3] = [Place::Warehouse, Place::KafkaBrokers, Place::Ledger];

    fn index(self) -> usize {
        match self {
            Place::Warehouse => 0,
            Place::KafkaBrokers => 1,
            Place::Ledger => 2,
        }
    }

    /// The clap id of the argument.
    fn id(self) -> &'static str {
        match self {
            Place::Warehouse => "warehouse",
            Place::KafkaBrokers => "kafka_brokers",
            Place::Ledger => "ledger",
        }
    }

    /// The flag as a user writes it.
    pub fn flag(self) -> &'static str {
        match self {
            Place::Warehouse => "--warehouse",
            Place::KafkaBrokers => "--kafka-brokers",
            Place::Ledger => "--ledger",
        }
    }
}

/// Where a place argument's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Given {
    /// Its default: nothing named it.
    #[default]
    Default,
    /// Its environment variable (`STRATA_WAREHOUSE`, `STRATA_KAFKA_BROKERS`, `STRATA_LEDGER`).
    Env,
    /// Its flag.
    CommandLine,
}

impl Given {
    fn of(matches: &clap::ArgMatches, place: Place) -> Given {
        match matches.value_source(place.id()) {
            Some(clap::parser::ValueSource::CommandLine) => Given::CommandLine,
            Some(clap::parser::ValueSource::EnvVariable) => Given::Env,
            _ => Given::Default,
        }
    }
}

/// Crash tests only: abort runs at this point of their commit (`before-commit`, `between-commits`). Read by the
/// processes that commit: `run`, `schedule` and the scheduler (for submitted runs).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FailpointArgs {
    #[arg(long = "failpoint", env = "STRATA_FAILPOINT", hide = true)]
    failpoint: Option<String>,
}

impl FailpointArgs {
    /// The failpoint's name (empty: none).
    pub fn name(&self) -> String {
        self.failpoint.clone().unwrap_or_default()
    }
}

/// Where jobs read and write and runs are recorded — the warehouse, the Kafka brokers and the ledger — declared
/// once for every command, with the same flags, environment variables and defaults everywhere. It remembers where
/// each value came from: a command may prefer a flag over another command's default (`strata runs --warehouse`
/// over `STRATA_SCHEDULER`), and refuses a flag it has no use for instead of ignoring it.
#[derive(Debug, Clone)]
pub struct PlaceArgs {
    /// The warehouse, a local directory or a URL (`./warehouse` by default): `CREATE TABLE a.b` writes
    /// `<warehouse>/a/b`.
    pub warehouse: String,
    /// Kafka bootstrap servers (`host:port,…`) for Kafka tables whose LOCATION names none; empty: none.
    pub kafka_brokers: String,
    /// Where runs are recorded: empty for the warehouse's own ledger (`_strata/runs`), or a PostgreSQL schema
    /// (`postgres://host:port/db?schema=…`).
    pub ledger: String,
    given: [Given; 3],
}

impl PlaceArgs {
    /// The engine options these name.
    pub fn options(&self) -> StrataOptions {
        StrataOptions::default()
            .with_warehouse(self.warehouse.clone())
            .with_kafka_brokers(self.kafka_brokers.clone())
            .with_ledger(self.ledger.clone())
    }

    /// Where the value of `place` came from.
    pub fn given(&self, place: Place) -> Given {
        self.given[place.index()]
    }

    /// An error when `command` was given a flag among `unused`: it has no use for them. Their environment
    /// variables are settings for every command and stay quietly unused.
    pub fn refuse(&self, command: &str, unused: &[Place], why: &str) -> Result<(), CliError> {
        match unused.iter().find(|&&p| self.given(p) == Given::CommandLine) {
            Some(place) => Err(CliError::Usage(format!(
                "`strata {command}` takes no {}: {why}",
                place.flag()
            ))),
            None => Ok(()),
        }
    }
}

impl clap::FromArgMatches for PlaceArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let flags = <PlaceFlags as clap::FromArgMatches>::from_arg_matches(matches)?;
        Ok(PlaceArgs {
            warehouse: flags.warehouse,
            kafka_brokers: flags.kafka_brokers,
            ledger: flags.ledger,
            given: Place::ALL.map(|p| Given::of(matches, p)),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for PlaceArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        <PlaceFlags as clap::Args>::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        <PlaceFlags as clap::Args>::augment_args_for_update(cmd)
    }
}

/// How a run chooses what to recompute; incremental unless one of these is given.
#[derive(Debug, Args, Clone, Default)]
pub struct ModeArgs {
    /// Recompute every table from all of its inputs, ignoring the last run's watermarks.
    #[arg(long, conflicts_with = "backfill")]
    pub full_refresh: bool,
    /// Recompute the source rows with event times from FROM to TO (YYYY-MM-DD or RFC 3339, both inclusive) and
    /// every range of every table they reach.
    #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
    pub backfill: Vec<String>,
}

impl ModeArgs {
    /// The mode as the job service receives it: name, backfill start, backfill end.
    pub fn wire(&self) -> (String, String, String) {
        match (self.full_refresh, self.backfill.as_slice()) {
            (true, _) => ("full-refresh".into(), String::new(), String::new()),
            (false, [from, to]) => ("backfill".into(), from.clone(), to.clone()),
            _ => ("incremental".into(), String::new(), String::new()),
        }
    }

    /// The mode these flags select; a usage error when a backfill end is neither a date nor an RFC 3339 time, or
    /// the backfill ends before it starts.
    pub fn mode(&self) -> Result<RunMode, CliError> {
        let (mode, from, to) = self.wire();
        RunMode::parse(&mode, &from, &to).map_err(CliError::Usage)
    }
}

/// Where a long-running process serves its HTTP probes.
#[derive(Debug, Args, Clone, Default)]
pub struct ProbeArgs {
    /// Serve `GET /livez` (alive) and `GET /readyz` (ready for work; 503 with the reason otherwise) on this
    /// address, for Kubernetes probes and load balancers.
    #[arg(long, env = "STRATA_HTTP_BIND", value_name = "ADDR")]
    pub http_bind: Option<std::net::SocketAddr>,
}

/// Where a client of the job service (`submit`, an executor) finds the scheduler.
#[derive(Debug, Args)]
pub struct SchedulerAddr {
    /// The Strata scheduler, `HOST:PORT`.
    #[arg(long, env = "STRATA_SCHEDULER", default_value = "127.0.0.1:50050")]
    pub scheduler: String,
}

/// A local path made absolute against this process's directory, for processes that run elsewhere (a scheduler
/// started by `cluster up`, a job submitted to a cluster); URLs unchanged.
pub fn absolute(warehouse: &str) -> String {
    if warehouse.contains("://") {
        return warehouse.to_string();
    }
    std::path::absolute(warehouse)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| warehouse.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        places: PlaceArgs,
        #[command(flatten)]
        mode: ModeArgs,
    }

    #[test]
    fn place_arguments_know_where_their_values_came_from() {
        let c = Cmd::try_parse_from(["strata", "--warehouse", "/wh", "--ledger", "postgres:///db"]).unwrap();
        assert_eq!(c.places.warehouse, "/wh");
        assert_eq!(c.places.given(Place::Warehouse), Given::CommandLine);
        assert_eq!(c.places.given(Place::Ledger), Given::CommandLine);
        let options = c.places.options();
        assert_eq!(
            (options.warehouse.as_str(), options.ledger.as_str()),
            ("/wh", "postgres:///db")
        );
        let err = c.places.refuse("runs", &[Place::Ledger], "why").unwrap_err();
        assert_eq!(err.to_string(), "`strata runs` takes no --ledger: why");
        assert!(c.places.refuse("runs", &[Place::KafkaBrokers], "why").is_ok());
    }

    #[test]
    fn modes_parse_and_go_over_the_wire_as_words() {
        let c = Cmd::try_parse_from(["strata", "--backfill", "2024-01-01", "2024-01-31"]).unwrap();
        assert_eq!(c.mode.wire().0, "backfill");
        assert!(matches!(c.mode.mode().unwrap(), RunMode::Backfill { .. }));
        let c = Cmd::try_parse_from(["strata", "--full-refresh"]).unwrap();
        assert_eq!(c.mode.mode().unwrap(), RunMode::FullRefresh);
        assert!(Cmd::try_parse_from(["strata", "--full-refresh", "--backfill", "a", "b"]).is_err());
        let c = Cmd::try_parse_from(["strata", "--backfill", "2024-02-01", "2024-01-01"]).unwrap();
        assert!(c.mode.mode().unwrap_err().to_string().contains("ends before it starts"));
    }

    #[test]
    fn warehouses_are_made_absolute_and_urls_kept() {
        assert!(absolute("wh").starts_with('/'));
        assert_eq!(absolute("s3://bucket/wh"), "s3://bucket/wh");
    }
}
