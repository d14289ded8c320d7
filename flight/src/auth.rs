//! Who may talk to the Flight SQL endpoint.
//!
//! The warehouse holds every table a job ever produced, so the endpoint must not be open to whoever can reach
//! the port. Clients authenticate the way ADBC, JDBC and pyarrow's `authenticate_basic_token` do: a Flight
//! `Handshake` carrying an HTTP `authorization: Basic base64(user:password)` header. The server answers with a
//! random bearer token in the `authorization: Bearer <token>` response header, and every other call must carry
//! that header (a `Basic` header on a call is accepted too, for clients that never hand-shake).
//!
//! Users come from a file of `user:sha256hex` (or salted `user:salt:sha256hex`, the hash of `salt || password`)
//! lines, so the file holds no password in clear. Digests are compared in constant time, and an unknown user
//! costs the same hash as a known one. Tokens live in memory only (a restart logs everyone out) and expire; the
//! map is keyed by the token's SHA-256, so even a lookup never compares secrets byte by byte. Nothing here logs
//! a password, a token or an `authorization` header.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::metadata::{Ascii, MetadataMap, MetadataValue};

use crate::error::FlightError;

/// The gRPC header carrying credentials, in both directions.
pub const AUTHORIZATION: &str = "authorization";
/// The user of calls without credentials on an `insecure` server.
pub const ANONYMOUS: &str = "anonymous";
/// How long a bearer token stays valid after the handshake that issued it.
pub const TOKEN_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many live tokens; beyond it a handshake is refused instead of growing the map without bound.
const MAX_SESSIONS: usize = 100_000;

/// Standard base64, with or without padding: Go's Flight client (ADBC) sends it unpadded.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type Sha = [u8; 32];

/// SHA-256 of `salt || password`.
pub fn password_digest(salt: &str, password: &str) -> Sha {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(password.as_bytes());
    let digest = hasher.finalize();
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest);
    out
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Sha> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// A users-file line for `user` and `password`, with a fresh random salt (`strata passwd`, tests, setup scripts).
pub fn password_line(user: &str, password: &str) -> String {
    let salt = uuid::Uuid::new_v4().simple().to_string();
    format!("{user}:{salt}:{}", to_hex(&password_digest(&salt, password)))
}

#[derive(Debug, Clone)]
struct Credential {
    salt: String,
    digest: Sha,
}

/// The users allowed to connect, from a users file. Its `Debug` shows how many, never their digests.
#[derive(Clone, Default)]
pub struct Users {
    users: HashMap<String, Credential>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("count", &self.len())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Read a users file; unreadable or malformed files are errors that name the file (never its content).
    pub fn load(path: &Path) -> Result<Self, FlightError> {
        let text = std::fs::read_to_string(path).map_err(|e| FlightError::Users {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let users = Self::parse(&text).map_err(|message| FlightError::Users {
            path: path.to_path_buf(),
            message,
        })?;
        if users.is_empty() {
            return Err(FlightError::Users {
                path: path.to_path_buf(),
                message: "no users in it (expected `user:sha256hex` lines)".into(),
            });
        }
        Ok(users)
    }

    /// Parse `user:sha256hex` / `user:salt:sha256hex` lines; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            let parts: Vec<&str> = line.split(':').collect();
            let (user, salt, hex) = match parts.as_slice() {
                [user, hex] => (*user, "", *hex),
                [user, salt, hex] => (*user, *salt, *hex),
                _ => {
                    return Err(format!(
                        "line {number}: expected `user:sha256hex` or `user:salt:sha256hex`"
                    ));
                }
            };
            if user.is_empty() || user.chars().any(char::is_whitespace) {
                return Err(format!("line {number}: invalid user name"));
            }
            let digest = from_hex(hex)
                .ok_or_else(|| format!("line {number}: the password hash must be 64 hexadecimal digits (SHA-256)"))?;
            let credential = Credential {
                salt: salt.to_string(),
                digest,
            };
            if users.insert(user.to_string(), credential).is_some() {
                return Err(format!("line {number}: user '{user}' is listed twice"));
            }
        }
        Ok(Self { users })
    }

    /// Whether no user is listed.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// How many users are listed.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether `password` is `user`'s, in time independent of where a wrong password differs.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let known = self.users.get(user);
        // Hash even for unknown users so that timing does not tell which user names exist.
        let (salt, expected) = match known {
            Some(c) => (c.salt.as_str(), c.digest),
            None => ("", [0u8; 32]),
        };
        let actual = password_digest(salt, password);
        let equal: bool = actual[..].ct_eq(&expected[..]).into();
        equal && known.is_some()
    }
}

struct Session {
    user: String,
    expires: Instant,
}

/// Bearer tokens issued by handshakes, in memory, keyed by the token's SHA-256.
pub struct Sessions {
    ttl: Duration,
    tokens: Mutex<HashMap<Sha, Session>>,
}

impl Sessions {
    /// Sessions whose tokens expire `ttl` after they are issued.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<Sha, Session>>, Status> {
        self.tokens
            .lock()
            .map_err(|_| Status::internal("authentication state is poisoned; restart the server"))
    }

    /// A new random token for `user` (244 random bits from two v4 UUIDs, i.e. the OS's CSPRNG).
    pub fn issue(&self, user: &str) -> Result<String, Status> {
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        let mut tokens = self.lock()?;
        tokens.retain(|_, s| s.expires > now);
        if tokens.len() >= MAX_SESSIONS {
            return Err(Status::resource_exhausted(
                "too many open Flight SQL sessions; try again later",
            ));
        }
        tokens.insert(
            password_digest("", &token),
            Session {
                user: user.to_string(),
                expires: now + self.ttl,
            },
        );
        Ok(token)
    }

    /// Forget `token` (a console logout): it is refused from now on.
    pub fn revoke(&self, token: &str) {
        if let Ok(mut tokens) = self.lock() {
            tokens.remove(&password_digest("", token));
        }
    }

    /// The user a live token was issued to.
    pub fn user(&self, token: &str) -> Result<Option<String>, Status> {
        let key = password_digest("", token);
        let mut tokens = self.lock()?;
        match tokens.get(&key) {
            Some(s) if s.expires > Instant::now() => Ok(Some(s.user.clone())),
            Some(_) => {
                tokens.remove(&key);
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

/// The rest of `header` after an HTTP auth `scheme` (case-insensitive) and a space.
fn credentials<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let prefix = header.get(..scheme.len())?;
    let rest = header.get(scheme.len()..)?;
    if prefix.eq_ignore_ascii_case(scheme) && rest.starts_with(' ') {
        Some(rest.trim())
    } else {
        None
    }
}

/// User name and password from the payload of a `Basic` header.
fn decode_basic(encoded: &str) -> Result<(String, String), Status> {
    let bytes = BASE64
        .decode(encoded)
        .map_err(|_| Status::unauthenticated("malformed Basic credentials: not base64"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| Status::unauthenticated("malformed Basic credentials: not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| Status::unauthenticated("malformed Basic credentials: expected user:password"))?;
    Ok((user.to_string(), password.to_string()))
}

/// Checks credentials and tokens for every call.
pub struct Authenticator {
    users: Option<Users>,
    sessions: Sessions,
    insecure: bool,
}

impl Authenticator {
    /// `users: None` is only allowed `insecure` (checked by the caller that reads the options).
    pub fn new(users: Option<Users>, insecure: bool) -> Self {
        Self::with_ttl(users, insecure, TOKEN_TTL)
    }

    /// [`Authenticator::new`], with tokens that expire after `ttl`.
    pub fn with_ttl(users: Option<Users>, insecure: bool, ttl: Duration) -> Self {
        Self {
            users,
            sessions: Sessions::new(ttl),
            insecure,
        }
    }

    fn check_password(&self, user: &str, password: &str) -> Result<(), Status> {
        let ok = match &self.users {
            Some(users) => users.verify(user, password),
            // Insecure without a users file: any name is taken at its word.
            None => self.insecure,
        };
        if ok {
            Ok(())
        } else {
            tracing::warn!(user, "Flight SQL: authentication failed");
            Err(Status::unauthenticated("invalid user name or password"))
        }
    }

    /// The `Handshake`: Basic credentials in, `(user, bearer token)` out. A refusal is counted.
    pub fn handshake(&self, metadata: &MetadataMap) -> Result<(String, String), Status> {
        self.handshake_uncounted(metadata).inspect_err(count_refusal)
    }

    fn handshake_uncounted(&self, metadata: &MetadataMap) -> Result<(String, String), Status> {
        let user = match header(metadata)? {
            None if self.insecure => ANONYMOUS.to_string(),
            None => {
                return Err(Status::unauthenticated(
                    "the handshake needs an `authorization: Basic <base64(user:password)>` header",
                ));
            }
            Some(value) => {
                let encoded = credentials(value, "Basic").ok_or_else(|| {
                    Status::unauthenticated("the handshake needs HTTP Basic credentials (user name and password)")
                })?;
                let (user, password) = decode_basic(encoded)?;
                self.check_password(&user, &password)?;
                user
            }
        };
        let token = self.sessions.issue(&user)?;
        tracing::info!(user, "Flight SQL: client authenticated");
        Ok((user, token))
    }

    /// The user making a call: from its bearer token (or Basic credentials); anonymous only when insecure. A
    /// refusal is counted.
    pub fn authorize(&self, metadata: &MetadataMap) -> Result<String, Status> {
        self.authorize_uncounted(metadata).inspect_err(count_refusal)
    }

    fn authorize_uncounted(&self, metadata: &MetadataMap) -> Result<String, Status> {
        let Some(value) = header(metadata)? else {
            return if self.insecure {
                Ok(ANONYMOUS.to_string())
            } else {
                Err(Status::unauthenticated(
                    "missing `authorization: Bearer <token>` header: authenticate first (Flight Handshake with \
                     HTTP Basic user name and password)",
                ))
            };
        };
        if let Some(token) = credentials(value, "Bearer") {
            return self
                .sessions
                .user(token)?
                .ok_or_else(|| Status::unauthenticated("invalid or expired bearer token: authenticate again"));
        }
        if let Some(encoded) = credentials(value, "Basic") {
            let (user, password) = decode_basic(encoded)?;
            self.check_password(&user, &password)?;
            return Ok(user);
        }
        Err(Status::unauthenticated(
            "unsupported authorization scheme: use `Bearer <token>` from the handshake, or `Basic`",
        ))
    }
}

fn header(metadata: &MetadataMap) -> Result<Option<&str>, Status> {
    match metadata.get(AUTHORIZATION) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| Status::unauthenticated("the authorization header is not ASCII")),
    }
}

/// The `authorization: Bearer <token>` value a handshake answers with.
pub fn bearer_header(token: &str) -> Result<MetadataValue<Ascii>, Status> {
    MetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|_| Status::internal("cannot encode the bearer token as a header"))
}

/// A refused login or token, in `strata_flight_auth_failures_total`.
fn count_refusal(status: &Status) {
    if status.code() == tonic::Code::Unauthenticated {
        metrics::counter!(strata_connectors::metrics::FLIGHT_AUTH_FAILURES).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T>(result: Result<T, Status>) -> tonic::Code {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(status) => status.code(),
        }
    }

    fn basic(user: &str, password: &str, padded: bool) -> MetadataMap {
        let plain = format!("{user}:{password}");
        let encoded = if padded {
            base64::engine::general_purpose::STANDARD.encode(plain)
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(plain)
        };
        with_header(&format!("Basic {encoded}"))
    }

    fn with_header(value: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert(AUTHORIZATION, MetadataValue::try_from(value).unwrap());
        map
    }

    fn users() -> Users {
        let salted = format!("bob:pepper:{}", to_hex(&password_digest("pepper", "hunter2")));
        let text = format!(
            "# analysts\n\n{}\n{salted}\n",
            password_line("alice", "s3cret:with colon")
        );
        Users::parse(&text).unwrap()
    }

    #[test]
    fn users_file_lines() {
        let users = users();
        assert_eq!(users.len(), 2);
        assert!(users.verify("alice", "s3cret:with colon"));
        assert!(!users.verify("alice", "s3cret"));
        assert!(users.verify("bob", "hunter2"));
        assert!(!users.verify("bob", "pepperhunter2"));
        assert!(!users.verify("carol", ""));
        // The well-known SHA-256 of "password".
        let known = Users::parse("eve:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8").unwrap();
        assert!(known.verify("eve", "password"));
    }

    #[test]
    fn malformed_users_files_are_refused() {
        assert!(Users::parse("alice").unwrap_err().contains("line 1"));
        assert!(Users::parse("alice:abc").unwrap_err().contains("64 hexadecimal"));
        let twice = format!("{}\n{}", password_line("a", "x"), password_line("a", "y"));
        assert!(Users::parse(&twice).unwrap_err().contains("twice"));
        assert!(Users::parse(&format!(" :{}", "0".repeat(64))).is_err());
    }

    #[test]
    fn handshake_issues_a_token_every_call_accepts() {
        let auth = Authenticator::new(Some(users()), false);
        for padded in [true, false] {
            let (user, token) = auth.handshake(&basic("alice", "s3cret:with colon", padded)).unwrap();
            assert_eq!(user, "alice");
            assert_eq!(token.len(), 64);
            assert_eq!(
                auth.authorize(&with_header(&format!("Bearer {token}"))).unwrap(),
                "alice"
            );
            assert_eq!(
                auth.authorize(&with_header(&format!("bearer {token}"))).unwrap(),
                "alice"
            );
        }
        let header = bearer_header("abc").unwrap();
        assert_eq!(header.to_str().unwrap(), "Bearer abc");
    }

    #[test]
    fn wrong_or_missing_credentials_are_unauthenticated() {
        let auth = Authenticator::new(Some(users()), false);
        assert_eq!(
            code(auth.handshake(&basic("alice", "wrong", true))),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            code(auth.handshake(&basic("mallory", "x", true))),
            tonic::Code::Unauthenticated
        );
        assert_eq!(code(auth.handshake(&MetadataMap::new())), tonic::Code::Unauthenticated);
        assert_eq!(
            code(auth.handshake(&with_header("Basic %%%"))),
            tonic::Code::Unauthenticated
        );
        assert_eq!(code(auth.authorize(&MetadataMap::new())), tonic::Code::Unauthenticated);
        assert_eq!(
            code(auth.authorize(&with_header("Bearer forged"))),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            code(auth.authorize(&with_header("Digest x"))),
            tonic::Code::Unauthenticated
        );
        // Basic credentials on a call are checked like a handshake.
        assert_eq!(auth.authorize(&basic("bob", "hunter2", true)).unwrap(), "bob");
        assert_eq!(
            code(auth.authorize(&basic("bob", "nope", true))),
            tonic::Code::Unauthenticated
        );
    }

    #[test]
    fn tokens_expire() {
        let auth = Authenticator::with_ttl(Some(users()), false, Duration::ZERO);
        let (_, token) = auth.handshake(&basic("bob", "hunter2", true)).unwrap();
        let err = auth.authorize(&with_header(&format!("Bearer {token}"))).unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        assert!(err.message().contains("expired"));
    }

    #[test]
    fn insecure_servers_accept_anonymous_calls() {
        let auth = Authenticator::new(None, true);
        assert_eq!(auth.authorize(&MetadataMap::new()).unwrap(), ANONYMOUS);
        let (user, token) = auth.handshake(&basic("dave", "anything", true)).unwrap();
        assert_eq!(user, "dave");
        assert_eq!(
            auth.authorize(&with_header(&format!("Bearer {token}"))).unwrap(),
            "dave"
        );
        // A presented token must still be valid.
        assert!(auth.authorize(&with_header("Bearer forged")).is_err());
        // With a users file, offered credentials are still checked.
        let checked = Authenticator::new(Some(users()), true);
        assert!(checked.handshake(&basic("alice", "wrong", true)).is_err());
        assert_eq!(checked.authorize(&MetadataMap::new()).unwrap(), ANONYMOUS);
    }
}
