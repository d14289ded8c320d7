//! A Flight SQL client for `strata query --server`: connect (plain or TLS, with tokio-rustls like the server, so
//! tonic's TLS features stay off), log in with the basic handshake, run a statement (prepared when it has
//! parameters) and fetch every endpoint's rows.

use std::path::Path;
use std::sync::Arc;

use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::FlightError;

/// How to reach a Flight SQL server. Its `Debug` never shows the password.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// `host:port`.
    pub server: String,
    /// PEM file of the certificate authorities that sign the server's certificate: connect with TLS.
    pub tls_ca: Option<std::path::PathBuf>,
    /// User and password for the basic handshake; none for an insecure server.
    pub credentials: Option<(String, String)>,
    /// PEM certificate chain and private key this client presents, for servers that require mutual TLS.
    pub identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("server", &self.server)
            .field("tls_ca", &self.tls_ca)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("identity", &self.identity)
            .finish()
    }
}

fn client_err(server: &str, e: impl std::fmt::Display) -> FlightError {
    FlightError::Client(format!("{server}: {e}"))
}

/// A channel to the server, plain or TLS.
pub async fn channel(options: &ClientOptions) -> Result<Channel, FlightError> {
    let server = options.server.as_str();
    match &options.tls_ca {
        None => Endpoint::from_shared(format!("http://{server}"))
            .map_err(|e| client_err(server, e))?
            .connect()
            .await
            .map_err(|e| client_err(server, e)),
        Some(ca) => tls_channel(server, ca, options.identity.as_ref()).await,
    }
}

/// Connect and log in.
pub async fn connect(options: &ClientOptions) -> Result<FlightSqlServiceClient<Channel>, FlightError> {
    login(channel(options).await?, options).await
}

/// A Flight SQL client on `channel`, logged in with the options' credentials (if any).
pub async fn login(channel: Channel, options: &ClientOptions) -> Result<FlightSqlServiceClient<Channel>, FlightError> {
    let server = options.server.as_str();
    let mut client = FlightSqlServiceClient::new(channel);
    if let Some((user, password)) = &options.credentials {
        client
            .handshake(user, password)
            .await
            .map_err(|e| client_err(server, e))?;
    }
    Ok(client)
}

async fn tls_channel(
    server: &str,
    ca: &Path,
    identity: Option<&(std::path::PathBuf, std::path::PathBuf)>,
) -> Result<Channel, FlightError> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let roots = crate::tls::authorities(ca, "certificate authorities file")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FlightError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| FlightError::Tls(format!("client certificate {}: {e}", cert.display())))?;
            let private_key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| FlightError::Tls(format!("client key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, private_key)
                .map_err(|e| FlightError::Tls(format!("client certificate {}: {e}", cert.display())))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let host = server.rsplit_once(':').map(|(h, _)| h).unwrap_or(server).to_string();
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| FlightError::Tls(format!("{server}: {e}")))?;
    let address = server.to_string();
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        let name = name.clone();
        let address = address.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(&address).await?;
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    // The URI only names the channel: the connector above decides where and how to connect.
    Endpoint::from_shared(format!("http://{server}"))
        .map_err(|e| client_err(server, e))?
        .connect_with_connector(connect)
        .await
        .map_err(|e| client_err(server, e))
}

/// Run `sql` (with `?` placeholders bound to `params`, as strings the server casts) and fetch its rows.
pub async fn query(
    client: &mut FlightSqlServiceClient<Channel>,
    server: &str,
    sql: &str,
    params: &[String],
) -> Result<(SchemaRef, Vec<RecordBatch>), FlightError> {
    let info = if params.is_empty() {
        client
            .execute(sql.to_string(), None)
            .await
            .map_err(|e| client_err(server, e))?
    } else {
        let mut prepared = client
            .prepare(sql.to_string(), None)
            .await
            .map_err(|e| client_err(server, e))?;
        let fields: Vec<Field> = (1..=params.len())
            .map(|i| Field::new(format!("${i}"), DataType::Utf8, true))
            .collect();
        let columns: Vec<ArrayRef> = params
            .iter()
            .map(|p| Arc::new(StringArray::from(vec![p.clone()])) as ArrayRef)
            .collect();
        let row = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| client_err(server, e))?;
        prepared.set_parameters(row).map_err(|e| client_err(server, e))?;
        prepared.execute().await.map_err(|e| client_err(server, e))?
    };
    let schema: SchemaRef = Arc::new(info.clone().try_decode_schema().map_err(|e| client_err(server, e))?);
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let Some(ticket) = endpoint.ticket else { continue };
        let stream = client.do_get(ticket).await.map_err(|e| client_err(server, e))?;
        batches.extend(
            stream
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| client_err(server, e))?,
        );
    }
    Ok((schema, batches))
}
