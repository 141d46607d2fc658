//! Sign-in and sign-out: `GET /ui/login` (the form: **Master key**, and **Username**/**Password**
//! when `UI_USERNAME`/`UI_PASSWORD` are set), `POST /ui/login` (checks the credential in constant
//! time, starts a session, sets the cookie, goes to Keys; a wrong one shows a message), `POST
//! /ui/logout` (needs the session's CSRF token; ends the session and clears the cookie). Failed
//! sign-ins are throttled: at most [`MAX_FAILURES_PER_MINUTE`] a minute per process.
//!
//! Must not: echo a presented key or password, log one, or put the master key in the cookie.

use crate::headers::{came_over_tls, clear_cookie, same_origin, session_cookie, session_id};
use crate::pages::{self, LoginPage};
use crate::Ui;
use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Largest sign-in or sign-out form read.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// Failed sign-ins allowed per minute (all clients together) before sign-in pauses.
pub const MAX_FAILURES_PER_MINUTE: u32 = 10;

/// Counts failed sign-ins in one-minute windows.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    window: Mutex<Option<(Instant, u32)>>,
}

impl Throttle {
    /// True when sign-in is paused (too many failures this minute).
    fn paused(&self) -> bool {
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        matches!(*w, Some((start, n)) if start.elapsed() < Duration::from_secs(60) && n >= MAX_FAILURES_PER_MINUTE)
    }

    fn failed(&self) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        *w = match *w {
            Some((start, n)) if start.elapsed() < Duration::from_secs(60) => {
                Some((start, n.saturating_add(1)))
            }
            _ => Some((Instant::now(), 1)),
        };
    }
}

/// The fields of the sign-in form.
#[derive(Default)]
struct Credentials {
    master_key: String,
    username: String,
    password: String,
    csrf_token: String,
}

fn read_form(bytes: &[u8]) -> Credentials {
    let mut c = Credentials::default();
    for (name, value) in url::form_urlencoded::parse(bytes) {
        let slot = match &*name {
            "master_key" => &mut c.master_key,
            "username" => &mut c.username,
            "password" => &mut c.password,
            "csrf_token" => &mut c.csrf_token,
            _ => continue,
        };
        *slot = value.into_owned();
    }
    c
}

fn digest_eq(expected: &[u8; 32], presented: &str) -> bool {
    let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    bool::from(expected.ct_eq(&d))
}

impl Ui {
    /// True when the form carries the master key, or `UI_USERNAME` and `UI_PASSWORD`.
    fn credentials_ok(&self, c: &Credentials) -> bool {
        let by_key = !c.master_key.is_empty() && (self.master_key)(&c.master_key);
        let by_password = self.login.as_ref().is_some_and(|(user, password)| {
            // Both compared, always: no early exit that tells which one was wrong.
            digest_eq(user, &c.username) & digest_eq(password, &c.password)
        });
        by_key || by_password
    }

    fn login_page(&self, status: StatusCode, error: Option<&'static str>) -> Response {
        pages::render(
            status,
            &LoginPage {
                error,
                password_login: self.login.is_some(),
                version: self.settings.version,
            },
        )
    }
}

/// Where to go after sign-in or when already signed in.
const HOME: &str = "/ui/keys";

pub(crate) fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// `GET /ui/login`.
pub(crate) async fn form(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    if session_id(&headers).is_some_and(|id| ui.sessions.csrf_of(id).is_some()) {
        return redirect(HOME);
    }
    ui.login_page(StatusCode::OK, None)
}

/// `POST /ui/login`.
pub(crate) async fn sign_in(State(ui): State<Arc<Ui>>, headers: HeaderMap, body: Body) -> Response {
    if !same_origin(&headers) {
        return ui.login_page(
            StatusCode::FORBIDDEN,
            Some("Sign-in refused: the form was sent from another site."),
        );
    }
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return ui.login_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("The form is too large."),
        );
    };
    if ui.throttle.paused() {
        return ui.login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins: wait a minute and try again."),
        );
    }
    let credentials = read_form(&bytes);
    if !ui.credentials_ok(&credentials) {
        ui.throttle.failed();
        tracing::warn!("admin UI: failed sign-in");
        let message = if ui.login.is_some() {
            "Sign-in failed: wrong master key, or wrong username or password."
        } else {
            "Sign-in failed: wrong master key."
        };
        // 200: the form again, with the message (a browser shows it like any page).
        return ui.login_page(StatusCode::OK, Some(message));
    }
    let session = ui.sessions.create();
    let cookie = session_cookie(
        &session.id,
        ui.sessions.lifetime().as_secs(),
        came_over_tls(&headers),
    );
    tracing::info!("admin UI: signed in");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, HOME.to_string()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

/// `POST /ui/logout`: the form carries the session's CSRF token.
pub(crate) async fn sign_out(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = to_bytes(body, MAX_FORM_BYTES).await.unwrap_or_default();
    let form = read_form(&bytes);
    if let Some(id) = session_id(&headers) {
        if !ui.sessions.check_csrf(id, &form.csrf_token) {
            if ui.sessions.csrf_of(id).is_some() {
                return pages::message(
                    StatusCode::FORBIDDEN,
                    "Sign-out refused: the form's CSRF token is missing or wrong.",
                );
            }
        } else {
            ui.sessions.remove(id);
        }
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/ui/login".to_string()),
            (header::SET_COOKIE, clear_cookie(came_over_tls(&headers))),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_read_by_name() {
        let c = read_form(b"master_key=sk-a%2Bb&username=admin&password=p%26w&other=x");
        assert_eq!(c.master_key, "sk-a+b");
        assert_eq!(c.username, "admin");
        assert_eq!(c.password, "p&w");
    }

    #[test]
    fn the_throttle_pauses_after_too_many_failures() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES_PER_MINUTE - 1 {
            t.failed();
        }
        assert!(!t.paused());
        t.failed();
        assert!(t.paused());
    }
}
