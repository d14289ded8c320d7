//! Serving the Flight service over TCP, with or without TLS.
//!
//! tonic can terminate TLS itself, but only with its `tls-*` features, and turning those on changes tonic's
//! feature set for every crate that uses it (Ballista, arrow-flight, …), which rebuilds most of the dependency
//! tree. rustls and tokio-rustls are already built (with the `ring` provider) for the object store and
//! PostgreSQL clients, so TLS is terminated here instead: an accept loop completes each TLS handshake (with a
//! timeout, off the accept path) and hands the encrypted stream to `Server::serve_with_incoming`. gRPC needs
//! HTTP/2, so ALPN offers only `h2`. The stream type reports the TCP peer as tonic's `TcpConnectInfo`, so
//! `Request::remote_addr` works as with plain TCP.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

use crate::error::FlightError;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections whose handshake completed but that tonic has not picked up yet.
const ACCEPTED_BACKLOG: usize = 64;

/// A TLS acceptor for the PEM certificate chain at `cert` and private key (PKCS#8, PKCS#1 or SEC1) at `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, FlightError> {
    acceptor_verifying(cert, key, None)
}

/// [`acceptor`], also requiring every client to present a certificate signed by an authority of the PEM file
/// `client_ca` (mutual TLS) when one is given.
pub fn acceptor_verifying(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<TlsAcceptor, FlightError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| FlightError::Tls(format!("certificate file {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(FlightError::Tls(format!(
            "certificate file {}: no PEM certificate in it",
            cert.display()
        )));
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| FlightError::Tls(format!("private key file {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| FlightError::Tls(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = authorities(ca, "client CA file")?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| FlightError::Tls(format!("client CA file {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, private_key).map_err(|e| {
        FlightError::Tls(format!(
            "{} and {} do not form a usable certificate and key: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The certificate authorities of the PEM file at `path` (`what` names the file in errors): an error when the file
/// cannot be read, holds a malformed certificate, or holds none.
pub fn authorities(path: &Path, what: &str) -> Result<rustls::RootCertStore, FlightError> {
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| FlightError::Tls(format!("{what} {}: {e}", path.display())))?;
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| FlightError::Tls(format!("{what} {}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(FlightError::Tls(format!(
            "{what} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(roots)
}

/// An accepted, hand-shaken TLS connection, as tonic wants its IO.
pub struct TlsConnection(tokio_rustls::server::TlsStream<TcpStream>);

impl Connected for TlsConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Accept TCP connections and complete TLS handshakes concurrently, passing finished ones to `accepted`.
async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, accepted: mpsc::Sender<io::Result<TlsConnection>>) {
    loop {
        let (tcp, peer) = tokio::select! {
            result = listener.accept() => match result {
                Ok(connection) => connection,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "Flight SQL: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = accepted.closed() => return,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "Flight SQL: cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    // Fails only when the server is shutting down.
                    let _ = accepted.send(Ok(TlsConnection(stream))).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "Flight SQL: TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "Flight SQL: TLS handshake timed out"),
            }
        });
    }
}

/// Serve the gRPC `routes` over TLS until `shutdown` completes.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), FlightError> {
    let (sender, mut receiver) = mpsc::channel(ACCEPTED_BACKLOG);
    let accepting = tokio::spawn(accept_loop(listener, acceptor, sender));
    let incoming = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let result = Server::builder()
        .layer(crate::metered::MeteredLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    accepting.abort();
    result.map_err(FlightError::from)
}

/// Serve the gRPC `routes` over plain TCP until `shutdown` completes.
pub async fn serve_plain(
    listener: TcpListener,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), FlightError> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .layer(crate::metered::MeteredLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(FlightError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<TlsAcceptor, FlightError>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unusable_certificate_files_are_reported_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = message(acceptor(&missing, &missing));
        assert!(err.contains("missing.pem"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = message(acceptor(&empty, &empty));
        assert!(err.contains("no PEM certificate"), "{err}");

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = message(acceptor(&garbage, &empty));
        assert!(err.contains("empty.pem"), "{err}");
    }
}
