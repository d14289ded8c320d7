//! Statement handles: DoGet tickets and prepared statements, kept on the server.
//!
//! A Flight SQL ticket is a bearer capability: whoever presents it to `DoGet` gets the rows. Putting the query
//! in the ticket (as simple servers do) would let a client forge tickets for any SQL, past the read-only check
//! done at `GetFlightInfo`. Here a ticket carries only a random handle (122 random bits); the server keeps
//! `handle → (user, planned query)`, so an unknown handle is `NOT_FOUND` and one issued to another user is
//! `PERMISSION_DENIED` — no signing key to manage. Tickets are single-use and short-lived, and hold the plan made
//! at `GetFlightInfo`, so the result reads the table versions current when the query was submitted and matches
//! the schema announced in the `FlightInfo`. Prepared statements are handles too, bound to their creator, and
//! hold the parameter values bound by `DoPut`; they are planned again at each execution (new table versions).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use datafusion::common::ScalarValue;
use datafusion::prelude::DataFrame;
use tonic::Status;

use crate::readonly::ReadOnlyQuery;

/// A ticket not redeemed within this time is dropped.
pub const TICKET_TTL: Duration = Duration::from_secs(10 * 60);
/// A prepared statement not used for this long is closed.
pub const PREPARED_IDLE_TTL: Duration = Duration::from_secs(60 * 60);
/// Upper bounds, so a client cannot grow the server's memory without limit.
const MAX_TICKETS: usize = 10_000;
const MAX_PREPARED: usize = 10_000;

/// A prepared statement: its checked SQL, owner and bound parameter values.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub user: String,
    pub query: ReadOnlyQuery,
    /// Values bound by the last `DoPut`, if any.
    pub values: Option<Vec<ScalarValue>>,
    last_used: Instant,
}

struct Pending {
    user: String,
    frame: DataFrame,
    created: Instant,
}

#[derive(Default)]
struct Registry {
    tickets: HashMap<String, Pending>,
    prepared: HashMap<String, Prepared>,
}

impl Registry {
    fn purge(&mut self, now: Instant) {
        self.tickets
            .retain(|_, t| now.saturating_duration_since(t.created) < TICKET_TTL);
        self.prepared
            .retain(|_, p| now.saturating_duration_since(p.last_used) < PREPARED_IDLE_TTL);
    }
}

/// The server's open tickets and prepared statements.
#[derive(Default)]
pub struct Statements {
    registry: Mutex<Registry>,
}

fn new_handle() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A handle as the client sent it; handles are ASCII, anything else cannot be one of ours.
fn handle_text<'a>(handle: &'a [u8], what: &str) -> Result<&'a str, Status> {
    std::str::from_utf8(handle).map_err(|_| Status::not_found(format!("unknown {what}")))
}

fn not_found(what: &str) -> Status {
    Status::not_found(format!(
        "unknown or expired {what}: it was never issued by this server, was already used, or has expired (tickets \
         last {} s and are single-use; prepared statements close after {} s unused)",
        TICKET_TTL.as_secs(),
        PREPARED_IDLE_TTL.as_secs()
    ))
}

fn not_yours(what: &str) -> Status {
    Status::permission_denied(format!("this {what} belongs to another user"))
}

impl Statements {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Registry>, Status> {
        self.registry
            .lock()
            .map_err(|_| Status::internal("statement registry poisoned; restart the server"))
    }

    /// Keep a planned query for `user`; the returned handle goes into the ticket.
    pub fn add_ticket(&self, user: &str, frame: DataFrame) -> Result<String, Status> {
        let now = Instant::now();
        let mut registry = self.lock()?;
        registry.purge(now);
        if registry.tickets.len() >= MAX_TICKETS {
            return Err(Status::resource_exhausted(
                "too many unredeemed tickets; fetch results (DoGet) before submitting more queries",
            ));
        }
        let handle = new_handle();
        registry.tickets.insert(
            handle.clone(),
            Pending {
                user: user.to_string(),
                frame,
                created: now,
            },
        );
        Ok(handle)
    }

    /// Redeem a ticket: only its owner can, and only once.
    pub fn take_ticket(&self, handle: &[u8], user: &str) -> Result<DataFrame, Status> {
        const WHAT: &str = "ticket";
        let handle = handle_text(handle, WHAT)?;
        let now = Instant::now();
        let mut registry = self.lock()?;
        registry.purge(now);
        let owner = registry.tickets.get(handle).map(|t| t.user.clone());
        match owner {
            None => Err(not_found(WHAT)),
            Some(owner) if owner != user => {
                tracing::warn!(user, %owner, "Flight SQL: ticket presented by another user");
                Err(not_yours(WHAT))
            }
            Some(_) => registry
                .tickets
                .remove(handle)
                .map(|t| t.frame)
                .ok_or_else(|| not_found(WHAT)),
        }
    }

    /// Keep a checked statement for `user`; the returned handle is the prepared statement's.
    pub fn add_prepared(&self, user: &str, query: ReadOnlyQuery) -> Result<String, Status> {
        let now = Instant::now();
        let mut registry = self.lock()?;
        registry.purge(now);
        if registry.prepared.len() >= MAX_PREPARED {
            return Err(Status::resource_exhausted(
                "too many open prepared statements; close some before preparing more",
            ));
        }
        let handle = new_handle();
        registry.prepared.insert(
            handle.clone(),
            Prepared {
                user: user.to_string(),
                query,
                values: None,
                last_used: now,
            },
        );
        Ok(handle)
    }

    fn with_prepared<T>(&self, handle: &[u8], user: &str, f: impl FnOnce(&mut Prepared) -> T) -> Result<T, Status> {
        const WHAT: &str = "prepared statement";
        let handle = handle_text(handle, WHAT)?;
        let now = Instant::now();
        let mut registry = self.lock()?;
        registry.purge(now);
        match registry.prepared.get_mut(handle) {
            None => Err(not_found(WHAT)),
            Some(p) if p.user != user => Err(not_yours(WHAT)),
            Some(p) => {
                p.last_used = now;
                Ok(f(p))
            }
        }
    }

    /// A prepared statement of `user`, with its bound values.
    pub fn prepared(&self, handle: &[u8], user: &str) -> Result<Prepared, Status> {
        self.with_prepared(handle, user, |p| p.clone())
    }

    /// Bind parameter values (replacing earlier ones).
    pub fn bind(&self, handle: &[u8], user: &str, values: Vec<ScalarValue>) -> Result<(), Status> {
        self.with_prepared(handle, user, |p| p.values = Some(values))
    }

    /// Close a prepared statement; closing an unknown (e.g. expired) one is not an error.
    pub fn close(&self, handle: &[u8], user: &str) -> Result<(), Status> {
        let Ok(handle) = std::str::from_utf8(handle) else {
            return Ok(());
        };
        let mut registry = self.lock()?;
        let owner = registry.prepared.get(handle).map(|p| p.user.clone());
        match owner {
            Some(owner) if owner != user => Err(not_yours("prepared statement")),
            Some(_) => {
                registry.prepared.remove(handle);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readonly;

    async fn frame() -> DataFrame {
        datafusion::prelude::SessionContext::new()
            .sql("SELECT 1 AS x")
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn tickets_are_single_use_and_bound_to_their_user() {
        let statements = Statements::new();
        let handle = statements.add_ticket("alice", frame().await).unwrap();
        assert_eq!(handle.len(), 32);

        let forged = statements
            .take_ticket(b"00000000000000000000000000000000", "alice")
            .unwrap_err();
        assert_eq!(forged.code(), tonic::Code::NotFound);
        assert_eq!(
            statements.take_ticket(&[0xff, 0xfe], "alice").unwrap_err().code(),
            tonic::Code::NotFound
        );

        let stolen = statements.take_ticket(handle.as_bytes(), "mallory").unwrap_err();
        assert_eq!(stolen.code(), tonic::Code::PermissionDenied);

        let batches = statements
            .take_ticket(handle.as_bytes(), "alice")
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(batches[0].num_rows(), 1);
        let again = statements.take_ticket(handle.as_bytes(), "alice").unwrap_err();
        assert_eq!(again.code(), tonic::Code::NotFound);
    }

    #[test]
    fn prepared_statements_keep_bound_values_for_their_owner() {
        let statements = Statements::new();
        let query = readonly::check("SELECT * FROM gold.t WHERE symbol = ?").unwrap();
        let handle = statements.add_prepared("alice", query).unwrap();
        let h = handle.as_bytes();
        assert!(statements.prepared(h, "alice").unwrap().values.is_none());
        statements
            .bind(h, "alice", vec![ScalarValue::Utf8(Some("AAPL".into()))])
            .unwrap();
        assert_eq!(
            statements.prepared(h, "alice").unwrap().values,
            Some(vec![ScalarValue::Utf8(Some("AAPL".into()))])
        );
        assert_eq!(
            statements.bind(h, "bob", vec![]).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert_eq!(
            statements.close(h, "bob").unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        statements.close(h, "alice").unwrap();
        assert_eq!(
            statements.prepared(h, "alice").unwrap_err().code(),
            tonic::Code::NotFound
        );
        statements.close(h, "alice").unwrap();
    }
}
