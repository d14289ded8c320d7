//! librdkafka reports why it cannot reach the brokers (a refused SASL login, a certificate that does not verify, a
//! TLS handshake the broker closes) only through its log and error events; the request that then fails says "broker
//! transport failure" or "timed out". [`ConnectionErrors`] keeps the last connection failure so the error a request
//! returns can say why. librdkafka's events never hold credentials.

use std::sync::Mutex;

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// A client context that sends librdkafka's log and error events to `tracing` and keeps the last connection
/// failure: an error-level one if any arrived (it says why), else the last disconnection (a broker that closed the
/// TLS handshake), else the last error event ("1/1 brokers are down", which says least).
#[derive(Debug, Default)]
pub struct ConnectionErrors {
    failed: Mutex<Option<String>>,
    disconnected: Mutex<Option<String>>,
    error: Mutex<Option<String>>,
}

impl ConnectionErrors {
    /// Why the last connection failed, if one did.
    pub fn last(&self) -> Option<String> {
        let read = |m: &Mutex<Option<String>>| m.lock().ok().and_then(|last| last.clone());
        read(&self.failed)
            .or_else(|| read(&self.disconnected))
            .or_else(|| read(&self.error))
    }

    fn keep(slot: &Mutex<Option<String>>, message: &str) {
        if let Ok(mut last) = slot.lock() {
            *last = Some(message.to_string());
        }
    }
}

impl ClientContext for ConnectionErrors {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let failure = facility == "FAIL";
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(facility, "librdkafka: {message}");
                if failure {
                    Self::keep(&self.failed, message);
                }
            }
            RDKafkaLogLevel::Warning => tracing::warn!(facility, "librdkafka: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::debug!(facility, "librdkafka: {message}");
                if failure {
                    Self::keep(&self.disconnected, message);
                }
            }
            RDKafkaLogLevel::Debug => tracing::trace!(facility, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // A failed request reports these with their cause; logged here for clients that keep retrying.
        tracing::debug!(%error, reason, "librdkafka");
        Self::keep(&self.error, reason);
    }
}

impl ConsumerContext for ConnectionErrors {}
