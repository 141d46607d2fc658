//! The pages: compile-time templates (`templates/`, askama, HTML-escaped) filled with the page's
//! name, the session's CSRF token and what the gateway has (database, metrics). A page is served
//! only to a live session; otherwise it sends the browser to sign in. The data comes later, from
//! the admin API, through `assets/app.js`.
//!
//! Must not: read gateway data or put a secret other than the session's own CSRF token in a page.

use crate::headers::session_id;
use crate::login::redirect;
use crate::Ui;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The signed-in pages: path segment, title.
pub(crate) const PAGES: [(&str, &str); 5] = [
    ("keys", "Keys"),
    ("teams", "Teams"),
    ("models", "Models"),
    ("usage", "Usage"),
    ("logs", "Logs"),
];

/// One signed-in page (`templates/page.html` with the page's own template included).
#[derive(Template)]
#[template(path = "page.html")]
pub(crate) struct Page<'a> {
    pub page: &'a str,
    pub title: &'a str,
    pub csrf: &'a str,
    pub database: bool,
    pub metrics: bool,
    pub model_store: bool,
    pub version: &'a str,
    pub pages: &'a [(&'a str, &'a str)],
}

/// The sign-in form.
#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub error: Option<&'static str>,
    pub password_login: bool,
    pub version: &'static str,
}

/// A short message (not found, refused, the UI is off).
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub title: &'a str,
    pub text: &'a str,
}

/// A template as an HTML answer with `status`.
pub(crate) fn render<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin UI: a template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

pub(crate) fn message(status: StatusCode, text: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    render(status, &MessagePage { title, text })
}

/// `/ui` when the UI is off.
pub(crate) fn disabled(reason: &str) -> Response {
    render(
        StatusCode::NOT_FOUND,
        &MessagePage {
            title: "The admin UI is off",
            text: reason,
        },
    )
}

/// `GET /ui`: Keys when signed in, else the sign-in form.
pub(crate) async fn root(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    match session_id(&headers).and_then(|id| ui.sessions.csrf_of(id)) {
        Some(_) => redirect("/ui/keys"),
        None => redirect("/ui/login"),
    }
}

/// `GET /ui/{page}`.
pub(crate) async fn page(
    State(ui): State<Arc<Ui>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(&(page, title)) = PAGES.iter().find(|(p, _)| *p == name) else {
        return not_found().await;
    };
    let Some(csrf) = session_id(&headers).and_then(|id| ui.sessions.csrf_of(id)) else {
        return redirect("/ui/login");
    };
    render(
        StatusCode::OK,
        &Page {
            page,
            title,
            csrf: &csrf,
            database: ui.settings.database,
            metrics: ui.settings.metrics,
            model_store: ui.settings.model_store,
            version: ui.settings.version,
            pages: &PAGES,
        },
    )
}

pub(crate) async fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "There is no such page.")
}
