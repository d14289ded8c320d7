//! Serving Flight SQL: the options are checked (a users file unless insecure, TLS files loaded) before
//! anything listens, so a bad configuration fails at start-up, never on the first call.

use std::future::Future;
use std::net::SocketAddr;

use arrow_flight::flight_service_server::FlightServiceServer;
use futures::future::BoxFuture;

use crate::auth::{self, Users};
use crate::backend;
use crate::error::FlightError;
use crate::options::FlightOptions;
use crate::service::StrataFlightSqlService;
use crate::tls;

/// A bound server, running once awaited (or spawned).
pub type FlightServer = BoxFuture<'static, Result<(), FlightError>>;

/// Serve Flight SQL until the process ends.
pub async fn serve_flight(options: FlightOptions) -> Result<(), FlightError> {
    let (_, server) = bind(options).await?;
    server.await
}

/// Check the options, listen, and return the bound address with the server future.
pub async fn bind(options: FlightOptions) -> Result<(SocketAddr, FlightServer), FlightError> {
    bind_with_shutdown(options, std::future::pending::<()>()).await
}

/// [`bind`], with a server that stops accepting when `shutdown` completes and ends once its calls are done.
pub async fn bind_with_shutdown(
    options: FlightOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, FlightServer), FlightError> {
    let service = build_service(&options)?;
    let acceptor = match &options.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|source| FlightError::Bind {
            addr: options.bind,
            source,
        })?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        tls = acceptor.is_some(),
        backend = options.backend.name(),
        warehouse = %options.warehouse,
        "Strata Flight SQL server listening"
    );
    let service = tonic::service::Routes::new(FlightServiceServer::new(service));
    let server: FlightServer = match acceptor {
        Some(acceptor) => Box::pin(tls::serve_tls(listener, acceptor, service, shutdown)),
        None => Box::pin(tls::serve_plain(listener, service, shutdown)),
    };
    Ok((addr, server))
}

/// The service for `options`: users loaded, warehouse made absolute, insecure mode only when asked for.
pub fn build_service(options: &FlightOptions) -> Result<StrataFlightSqlService, FlightError> {
    let users = match &options.users_file {
        Some(path) => Some(Users::load(path)?),
        None if options.insecure => None,
        None => {
            return Err(FlightError::Config(
                "a users file is required (lines `user:sha256hex`, the SHA-256 of the password in hex); \
                 run insecure only for local development"
                    .into(),
            ));
        }
    };
    if options.insecure {
        tracing::warn!(
            "Flight SQL server runs INSECURE: calls without credentials are accepted as user 'anonymous'; \
             do not expose it beyond this machine"
        );
    }
    if options.tls.is_none() && !options.bind.ip().is_loopback() && !options.insecure {
        tracing::warn!(
            bind = %options.bind,
            "Flight SQL server without TLS on a non-loopback address: passwords and tokens cross the network \
             in clear"
        );
    }
    if let Some(users) = &users {
        tracing::info!(users = users.len(), "Flight SQL users loaded");
    }
    if options.warehouse.local_dir().is_some_and(|dir| !dir.is_dir()) {
        tracing::warn!(
            warehouse = %options.warehouse,
            "Flight SQL: the warehouse directory does not exist yet; it will be served once jobs create it"
        );
    }
    let engine = backend::QueryEngine::new(options.backend.clone(), options.warehouse.clone());
    let auth = auth::Authenticator::new(users, options.insecure);
    StrataFlightSqlService::new(engine, auth)
}

#[cfg(test)]
mod tests {
    use strata_connectors::location::Warehouse;

    use super::*;
    use crate::auth::password_line;

    #[test]
    fn a_users_file_is_required_unless_insecure() {
        let warehouse = Warehouse::parse("warehouse").unwrap();
        let options = FlightOptions::new("127.0.0.1:0".parse().unwrap(), warehouse);
        assert!(matches!(build_service(&options), Err(FlightError::Config(_))));
        assert!(build_service(&options.clone().with_insecure(true)).is_ok());

        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        std::fs::write(&users, format!("{}\n", password_line("alice", "secret"))).unwrap();
        assert!(build_service(&options.clone().with_users_file(users)).is_ok());
        let missing = dir.path().join("missing");
        let err = build_service(&options.with_users_file(missing))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("missing")));
    }

    #[tokio::test]
    async fn binds_port_zero_and_shuts_down() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::local(dir.path()).unwrap();
        let options = FlightOptions::new("127.0.0.1:0".parse().unwrap(), warehouse).with_insecure(true);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, server) = bind_with_shutdown(options, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        assert_ne!(addr.port(), 0);
        let running = tokio::spawn(server);
        tokio::net::TcpStream::connect(addr).await.unwrap();
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
    }
}
