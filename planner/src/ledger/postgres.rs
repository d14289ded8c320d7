//! The ledger as a PostgreSQL table, `<schema>.runs`, for teams whose operations dashboards live there. Configured
//! as `strata.ledger = 'postgres://host:port/db?schema=ops'` (`postgres:///db` takes the server from
//! `STRATA_POSTGRES`; `sslmode`, `sslrootcert`, `user` and `password_file` as for PostgreSQL tables; credentials from
//! the environment). The schema and table are created on first use; every value is a bound parameter.

use datafusion::error::DataFusionError;
use strata_connectors::ConnectorError;
use strata_connectors::postgres::{ConnectOptions, DEFAULT_SERVER_VAR, PgAddress, PgOptions, connect, quote_ident};
use tokio_postgres::error::SqlState;

use super::state::RunEvent;
use super::stored::StoredEvent;
use crate::error::Result;

/// A ledger in a PostgreSQL schema.
#[derive(Debug, Clone)]
pub struct PgLedger {
    address: PgAddress,
    connect: ConnectOptions,
    schema: String,
}

fn pg_err(ledger: String) -> impl FnOnce(tokio_postgres::Error) -> DataFusionError {
    move |source| DataFusionError::from(ConnectorError::PostgresLedger { ledger, source })
}

impl PgLedger {
    pub fn parse(location: &str) -> Result<PgLedger> {
        let url = url::Url::parse(location)
            .map_err(|source| DataFusionError::from(ConnectorError::PostgresLedgerUrl { source }))?;
        let mut schema = "strata".to_string();
        let mut options = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "schema" => schema = value.to_string(),
                "table" => return Err(DataFusionError::from(ConnectorError::PostgresLedgerTable).into()),
                _ => options.push((key.to_string(), value.to_string())),
            }
        }
        options.push(("table".into(), format!("{schema}.runs")));
        let mut bare = url.clone();
        bare.set_query(None);
        let server = std::env::var(DEFAULT_SERVER_VAR).ok();
        let address = PgAddress::parse(bare.as_str(), server.as_deref()).map_err(DataFusionError::from)?;
        let parsed = PgOptions::parse(&options).map_err(DataFusionError::from)?;
        Ok(PgLedger {
            address,
            connect: parsed.connect,
            schema,
        })
    }

    pub fn describe(&self) -> String {
        format!("{} (schema {})", self.address.display(), self.schema)
    }

    fn table(&self) -> String {
        format!("{}.runs", quote_ident(&self.schema))
    }

    async fn client(&self) -> Result<tokio_postgres::Client> {
        Ok(connect(&self.address, &self.connect, "strata-ledger")
            .await
            .map_err(DataFusionError::from)?)
    }

    pub(super) async fn append(&self, e: &StoredEvent) -> Result<()> {
        let client = self.client().await?;
        let create = format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {table} (
               run_id text NOT NULL, job text NOT NULL, event text NOT NULL, at timestamptz NOT NULL,
               engine text NOT NULL, params text NOT NULL, host text NOT NULL, pid bigint NOT NULL,
               error text, failed_stage text, summary jsonb, mode text);
             CREATE INDEX IF NOT EXISTS runs_run_id ON {table} (run_id);",
            schema = quote_ident(&self.schema),
            table = self.table()
        );
        // Two first runs may race to create the table: the loser's retry finds it there.
        if let Err(first) = client.batch_execute(&create).await {
            tracing::debug!(error = %first, "creating the ledger table raced; retrying");
            client.batch_execute(&create).await.map_err(pg_err(self.describe()))?;
        }
        let insert = format!(
            "INSERT INTO {} (run_id, job, event, at, engine, params, host, pid, error, failed_stage, summary, mode)
             VALUES ($1, $2, $3, 'epoch'::timestamptz + $4::bigint * interval '1 microsecond', $5, $6, $7, $8, $9,
                     $10, $11::text::jsonb, $12)",
            self.table()
        );
        client
            .execute(
                &insert,
                &[
                    &e.run_id,
                    &e.job,
                    &e.event,
                    &e.at,
                    &e.engine,
                    &e.params,
                    &e.host,
                    &e.pid,
                    &e.error,
                    &e.failed_stage,
                    &e.summary,
                    &e.mode,
                ],
            )
            .await
            .map_err(pg_err(self.describe()))?;
        Ok(())
    }

    pub(super) async fn events(&self) -> Result<Vec<StoredEvent>> {
        let client = self.client().await?;
        let query = format!(
            "SELECT run_id, job, event, (extract(epoch FROM at) * 1000000)::bigint, engine, params, host, pid, error,
                    failed_stage, summary::text, mode
             FROM {} ORDER BY at, event <> '{}'",
            self.table(),
            RunEvent::Started.as_str()
        );
        let rows = match client.query(&query, &[]).await {
            Ok(rows) => rows,
            Err(e) if matches!(e.code(), Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(pg_err(self.describe())(e).into()),
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let read = |e: tokio_postgres::Error| pg_err(self.describe())(e);
            out.push(StoredEvent {
                run_id: row.try_get(0).map_err(read)?,
                job: row.try_get(1).map_err(read)?,
                event: row.try_get(2).map_err(read)?,
                at: row.try_get(3).map_err(read)?,
                engine: row.try_get(4).map_err(read)?,
                params: row.try_get(5).map_err(read)?,
                host: row.try_get(6).map_err(read)?,
                pid: row.try_get(7).map_err(read)?,
                error: row.try_get(8).map_err(read)?,
                failed_stage: row.try_get(9).map_err(read)?,
                summary: row.try_get(10).map_err(read)?,
                mode: row.try_get(11).map_err(read)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_a_schema() {
        let l = PgLedger::parse("postgres://db.internal:6432/ops?schema=strata_runs&sslmode=require").unwrap();
        assert_eq!(l.describe(), "postgres://db.internal:6432/ops (schema strata_runs)");
        assert_eq!(l.table(), "\"strata_runs\".runs");
        let e = PgLedger::parse("postgres://u:secret@h/db").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
        assert!(PgLedger::parse("postgres://h/db?table=x").is_err());
    }
}
