//! `shale-ui`: the admin web UI served at `/ui` by the gateway itself — sign-in with the master key
//! (or `UI_USERNAME`/`UI_PASSWORD`), in-memory sessions in an HttpOnly SameSite=Strict cookie, a
//! per-session CSRF token, strict security headers, and the pages **Keys**, **Teams**, **Models**,
//! **Usage** and **Logs** (templates in `templates/`, script and style in `assets/`, all embedded
//! at build time: no CDN, no Node toolchain).
//!
//! The pages hold no data: their script reads and changes everything through the gateway's own
//! admin API (`/key/*`, `/team/*`, `/spend/*`, `/global/spend/report`, `/health`, `/model/*`,
//! `/metrics`), authorised by the session. The server's admin-API check asks [`Ui::authorize`]
//! when a request carries no key: a live session cookie AND its CSRF token in `x-csrf-token` — the
//! cookie alone never authorises an API call. So the UI adds no privileged path of its own.
//!
//! Must not: know the gateway's state or the key service (it is told only whether a database and
//! metrics exist, and whether models are stored), put the master key in a cookie or a page, or answer without [`headers::secure`].

#![forbid(unsafe_code)]

mod assets;
pub mod headers;
mod login;
mod pages;
pub mod session;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use session::SessionStore;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Most sessions held at once (the oldest is signed out to make room).
pub const MAX_SESSIONS: usize = 1024;

/// What the UI is told about the gateway it is part of, and its own settings.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Virtual keys (PostgreSQL) are on: Keys, Teams, Usage and Logs have data.
    pub database: bool,
    /// `/metrics` is served (Prometheus on): Usage shows the spend counters without a database.
    pub metrics: bool,
    /// The model API can change models (`store_model_in_db`): Models offers add, edit, delete.
    pub model_store: bool,
    /// Shown in the footer.
    pub version: &'static str,
    /// `UI_USERNAME` and `UI_PASSWORD`: a second way to sign in (LiteLLM's UI login).
    pub login: Option<(String, String)>,
    pub session_lifetime: Duration,
    pub max_sessions: usize,
}

impl UiSettings {
    /// Settings from the environment (`UI_USERNAME`, `UI_PASSWORD`; both or neither count).
    pub fn from_env(database: bool, metrics: bool, version: &'static str) -> UiSettings {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        UiSettings {
            database,
            metrics,
            model_store: false,
            version,
            login: var("UI_USERNAME").zip(var("UI_PASSWORD")),
            session_lifetime: SESSION_LIFETIME,
            max_sessions: MAX_SESSIONS,
        }
    }
}

/// `DISABLE_ADMIN_UI` set to `true`/`1` (LiteLLM's switch): the gateway serves no `/ui`.
pub fn disabled_by_env() -> bool {
    std::env::var("DISABLE_ADMIN_UI")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

/// Checks a presented master key (the server's constant-time check).
pub type KeyCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Why [`Ui::authorize`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No session cookie, or not a live session: answer 401.
    NoSession,
    /// A live session without its CSRF token in `x-csrf-token`: answer 403.
    Csrf,
}

/// The UI: its sessions, how to check sign-in credentials, and what it shows.
pub struct Ui {
    pub(crate) sessions: SessionStore,
    pub(crate) master_key: KeyCheck,
    /// SHA-256 of `UI_USERNAME` and `UI_PASSWORD`.
    pub(crate) login: Option<([u8; 32], [u8; 32])>,
    pub(crate) throttle: login::Throttle,
    pub(crate) settings: UiSettings,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui")
            .field("sessions", &self.sessions.len())
            .field("password_login", &self.login.is_some())
            .finish()
    }
}

impl Ui {
    pub fn new(settings: UiSettings, master_key: KeyCheck) -> Ui {
        let digest = |s: &str| -> [u8; 32] { Sha256::digest(s.as_bytes()).into() };
        Ui {
            sessions: SessionStore::new(settings.session_lifetime, settings.max_sessions),
            master_key,
            login: settings
                .login
                .as_ref()
                .map(|(user, password)| (digest(user), digest(password))),
            throttle: login::Throttle::default(),
            settings,
        }
    }

    /// The admin-API check for a request that carries no key: a live session (cookie) and its
    /// CSRF token in `x-csrf-token`, compared in constant time.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let id = headers::session_id(headers).ok_or(Denied::NoSession)?;
        let expected = self.sessions.csrf_of(id).ok_or(Denied::NoSession)?;
        let presented = headers
            .get(headers::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(Denied::Csrf)
        }
    }
}

/// Every `/ui` answer gets the security headers.
async fn secured(response: axum::response::Response) -> axum::response::Response {
    headers::secure(response)
}

/// The `/ui` routes for a router of any state (merged into the gateway's router).
pub fn routes<S: Clone + Send + Sync + 'static>(ui: Arc<Ui>) -> Router<S> {
    Router::new()
        .route("/ui", get(pages::root))
        .route("/ui/", get(pages::root))
        .route("/ui/login", get(login::form).post(login::sign_in))
        .route("/ui/logout", post(login::sign_out))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/{page}", get(pages::page))
        .layer(axum::middleware::map_response(secured))
        .with_state(ui)
}

/// `/ui` when the UI is off: a page saying why (404).
pub fn disabled_routes<S: Clone + Send + Sync + 'static>(reason: &'static str) -> Router<S> {
    let answer = move || async move { pages::disabled(reason) };
    Router::new()
        .route("/ui", get(answer))
        .route("/ui/{*rest}", get(answer))
        .layer(axum::middleware::map_response(secured))
}

/// Why `/ui` is off, for the page that says so.
pub fn off_reason() -> &'static str {
    if disabled_by_env() {
        "DISABLE_ADMIN_UI is set on this gateway."
    } else {
        "It needs a master key: set general_settings.master_key (or SHALE_MASTER_KEY / LITELLM_MASTER_KEY) and restart."
    }
}

/// `shale check`'s line about the UI (the environment decides the rest at start-up).
pub fn describe(has_master_key: bool) -> String {
    if disabled_by_env() {
        return "off (DISABLE_ADMIN_UI is set)".into();
    }
    if !has_master_key {
        return "off (it needs a master key)".into();
    }
    let password = if std::env::var("UI_USERNAME").is_ok_and(|v| !v.is_empty())
        && std::env::var("UI_PASSWORD").is_ok_and(|v| !v.is_empty())
    {
        ", or UI_USERNAME / UI_PASSWORD"
    } else {
        ""
    };
    format!(
        "on at /ui (sign in with the master key{password}; sessions in memory, {} h)",
        SESSION_LIFETIME.as_secs() / 3600
    )
}

#[cfg(test)]
mod tests;
