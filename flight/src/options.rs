//! How the Flight SQL endpoint runs: [`FlightOptions`] is plain data, checked only when a server is built from it
//! (`build_service`), so a bad configuration fails at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use strata_connectors::location::Warehouse;

use crate::backend::Backend;

/// How the Flight SQL endpoint runs.
#[derive(Debug, Clone)]
pub struct FlightOptions {
    /// Address to listen on; port 0 picks a free port (`bind` returns the actual address).
    pub bind: SocketAddr,
    /// The warehouse whose tables are served: a local directory or an object-store prefix.
    pub warehouse: Warehouse,
    /// Users allowed to connect: `user:sha256hex` or `user:salt:sha256hex` lines (see
    /// [`crate::auth::password_line`]).
    pub users_file: Option<PathBuf>,
    /// PEM files `(certificate chain, private key)`: serve TLS instead of plain TCP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Accept calls without credentials (as user `anonymous`); for local development only.
    pub insecure: bool,
    /// Where queries run.
    pub backend: Backend,
}

impl FlightOptions {
    /// Embedded, plain TCP, no users yet (set a users file or `insecure` before serving).
    pub fn new(bind: SocketAddr, warehouse: Warehouse) -> Self {
        Self {
            bind,
            warehouse,
            users_file: None,
            tls: None,
            insecure: false,
            backend: Backend::Embedded,
        }
    }

    /// Authenticate callers against this users file.
    pub fn with_users_file(mut self, path: PathBuf) -> Self {
        self.users_file = Some(path);
        self
    }

    /// Serve TLS with this PEM certificate chain and private key.
    pub fn with_tls(mut self, cert: PathBuf, key: PathBuf) -> Self {
        self.tls = Some((cert, key));
        self
    }

    /// Whether calls without credentials are accepted, as user `anonymous` (local development only).
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Where queries run: embedded (the default) or on the scheduler's executors.
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
}
