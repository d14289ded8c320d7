//! The web console: a read-only view of a warehouse's runs for people, served at `/` of the HTTP address
//! (`--http-bind`) by the scheduler and by `strata serve`, beside the probes and `/metrics`.
//!
//! Guarantees:
//! - Offline: the page, its script and styles are embedded in the binary ([`assets`]); nothing is fetched from
//!   elsewhere.
//! - The same users as Flight SQL: `POST /api/login` checks the users file and sets an HttpOnly, SameSite=Strict
//!   session cookie (random, 244 bits, expiring with the Flight SQL token lifetime). Every `/api/` call but login
//!   answers 401 without it, so no run, error or table value reaches anyone not logged in. `--insecure` (local
//!   development) opens the console without a login, as it opens Flight SQL.
//! - Read-only: the API only reads the run ledger, the warehouse's tables (with the symbol bound as a parameter,
//!   never spliced into SQL) and, on the scheduler, its executors.

mod api;
mod assets;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::BoxFuture;
use strata_connectors::location::Warehouse;
use strata_planner::ledger::Ledger;

use crate::auth::{ANONYMOUS, Sessions, TOKEN_TTL, Users};
use crate::backend::{Backend, QueryEngine};

/// The session cookie's name.
const COOKIE: &str = "strata_session";

/// One executor as the scheduler sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExecutorInfo {
    /// Ballista's executor id.
    pub id: String,
    /// Host it advertises.
    pub host: String,
    /// Its Flight port.
    pub port: u16,
    /// Task slots.
    pub slots: u32,
    /// Seconds since its last heartbeat (`None`: never).
    pub heartbeat_seconds_ago: Option<u64>,
    /// Whether its last heartbeat is recent.
    pub alive: bool,
}

/// Lists the executors (the scheduler's; `strata serve` has none).
pub type Executors = Arc<dyn Fn() -> BoxFuture<'static, Vec<ExecutorInfo>> + Send + Sync>;

/// What the console serves.
pub struct ConsoleOptions {
    /// The warehouse whose tables it charts.
    pub warehouse: Warehouse,
    /// The run ledger it shows.
    pub ledger: Ledger,
    /// Who may log in; `None` only with `insecure`.
    pub users: Option<Users>,
    /// No login (local development).
    pub insecure: bool,
    /// The scheduler's executors, if this process has any.
    pub executors: Option<Executors>,
    /// How tables are queried for charts: here, or on the scheduler's executors.
    pub backend: Backend,
}

struct Console {
    options: ConsoleOptions,
    sessions: Sessions,
    engine: QueryEngine,
}

type Shared = Arc<Console>;

/// The console's routes, to merge into the HTTP server of the probes.
pub fn router(options: ConsoleOptions) -> Router {
    let engine = QueryEngine::new(options.backend.clone(), options.warehouse.clone());
    let console: Shared = Arc::new(Console {
        options,
        sessions: Sessions::new(TOKEN_TTL),
        engine,
    });
    let api = Router::new()
        .route("/api/session", get(session))
        .route("/api/logout", post(logout))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/jobs/history", get(api::history))
        .route("/api/executors", get(api::executors))
        .route("/api/tables", get(api::tables))
        .route("/api/chart", get(api::chart))
        .route_layer(middleware::from_fn_with_state(console.clone(), require_login));
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::file))
        .route("/api/login", post(login))
        .merge(api)
        .with_state(console)
}

/// The session token a request's cookies carry.
fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The logged-in user of a request, if any.
fn user(console: &Console, headers: &HeaderMap) -> Option<String> {
    let logged_in = token(headers).and_then(|t| console.sessions.user(t).ok().flatten());
    logged_in.or_else(|| console.options.insecure.then(|| ANONYMOUS.to_string()))
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
}

async fn require_login(State(console): State<Shared>, request: Request, next: Next) -> Response {
    if user(&console, request.headers()).is_none() {
        return json_error(StatusCode::UNAUTHORIZED, "log in first");
    }
    next.run(request).await
}

async fn session(State(console): State<Shared>, headers: HeaderMap) -> Response {
    match user(&console, &headers) {
        Some(user) => {
            axum::Json(serde_json::json!({ "user": user, "insecure": console.options.insecure })).into_response()
        }
        None => json_error(StatusCode::UNAUTHORIZED, "log in first"),
    }
}

#[derive(serde::Deserialize)]
struct Login {
    user: String,
    password: String,
}

async fn login(State(console): State<Shared>, axum::Json(login): axum::Json<Login>) -> Response {
    let ok = match &console.options.users {
        Some(users) => users.verify(&login.user, &login.password),
        None => console.options.insecure,
    };
    if !ok {
        tracing::warn!(user = %login.user, "console: login refused");
        return json_error(StatusCode::UNAUTHORIZED, "invalid user name or password");
    }
    let token = match console.sessions.issue(&login.user) {
        Ok(token) => token,
        Err(status) => return json_error(StatusCode::SERVICE_UNAVAILABLE, status.message()),
    };
    tracing::info!(user = %login.user, "console: logged in");
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        TOKEN_TTL.as_secs()
    );
    (
        [(header::SET_COOKIE, cookie)],
        axum::Json(serde_json::json!({ "user": login.user })),
    )
        .into_response()
}

async fn logout(State(console): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(token) = token(&headers) {
        console.sessions.revoke(token);
    }
    let expired = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response()
}
