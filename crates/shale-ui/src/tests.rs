//! The UI's routes end to end in process (tower `oneshot`): sign-in and sign-out, the session
//! cookie's flags, pages only for a live session, the CSRF check the admin API relies on, the
//! security headers on every answer, and pages and script that need no inline code.

use crate::headers::{CSP, CSRF_HEADER};
use crate::*;
use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const MASTER: &str = "sk-master-test";

fn settings(login: Option<(&str, &str)>) -> UiSettings {
    UiSettings {
        database: true,
        metrics: false,
        model_store: false,
        version: "test",
        login: login.map(|(u, p)| (u.to_string(), p.to_string())),
        session_lifetime: SESSION_LIFETIME,
        max_sessions: 16,
    }
}

fn ui_with(login: Option<(&str, &str)>) -> Arc<Ui> {
    Arc::new(Ui::new(settings(login), Arc::new(|k: &str| k == MASTER)))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn call(ui: &Arc<Ui>, request: Request<Body>) -> Answer {
    let router: Router = routes(Arc::clone(ui));
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path).header(header::HOST, "gw.test");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, format!("shale_ui_session={c}"));
    }
    r.body(Body::empty()).unwrap()
}

fn post_form(path: &str, form: &str, extra: &[(&str, &str)]) -> Request<Body> {
    let mut r = Request::post(path)
        .header(header::HOST, "gw.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.body(Body::from(form.to_string())).unwrap()
}

/// Signs in; returns the session id from the cookie.
async fn sign_in(ui: &Arc<Ui>) -> String {
    let a = call(
        ui,
        post_form(
            "/ui/login",
            &format!("master_key={MASTER}"),
            &[("origin", "http://gw.test")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    cookie
        .strip_prefix("shale_ui_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_string()
}

fn csrf_in(page: &str) -> String {
    let start = page.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    page[start..start + 64].to_string()
}

fn assert_secured(a: &Answer) {
    assert_eq!(a.headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(a.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(a.headers[header::REFERRER_POLICY], "same-origin");
    assert_eq!(a.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn pages_need_a_session_and_say_where_to_sign_in() {
    let ui = ui_with(None);
    for path in ["/ui", "/ui/", "/ui/keys", "/ui/logs"] {
        let a = call(&ui, get(path, None)).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(a.headers[header::LOCATION], "/ui/login");
        assert_secured(&a);
    }
    let a = call(&ui, get("/ui/keys", Some(&"0".repeat(64)))).await;
    assert_eq!(
        a.status,
        StatusCode::SEE_OTHER,
        "an unknown session is none"
    );
    let login = call(&ui, get("/ui/login", None)).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_secured(&login);
    assert!(login
        .body
        .contains("<label for=\"master-key\">Master key</label>"));
    assert!(login.body.contains(">Sign in</button>"));
    assert!(
        !login.body.contains("Username"),
        "no password login configured"
    );
}

#[tokio::test]
async fn a_wrong_key_shows_a_message_and_starts_no_session() {
    let ui = ui_with(None);
    let a = call(&ui, post_form("/ui/login", "master_key=sk-wrong", &[])).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a
        .body
        .contains("role=\"alert\">Sign-in failed: wrong master key."));
    assert!(
        !a.body.contains("sk-wrong"),
        "the presented key is not echoed"
    );
    assert!(a.headers.get(header::SET_COOKIE).is_none());
    assert!(ui.sessions.is_empty());
    let empty = call(&ui, post_form("/ui/login", "master_key=", &[])).await;
    assert!(empty.body.contains("Sign-in failed"));
}

#[tokio::test]
async fn the_right_key_sets_a_strict_http_only_cookie_without_the_key() {
    let ui = ui_with(None);
    let a = call(
        &ui,
        post_form("/ui/login", &format!("master_key={MASTER}"), &[]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/ui/keys");
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("shale_ui_session="));
    for flag in [
        "; HttpOnly",
        "; SameSite=Strict",
        "; Path=/",
        "; Max-Age=43200",
    ] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: a Secure cookie would not come back"
    );
    assert!(!cookie.contains(MASTER));
    let over_tls = call(
        &ui,
        post_form(
            "/ui/login",
            &format!("master_key={MASTER}"),
            &[("x-forwarded-proto", "https")],
        ),
    )
    .await;
    assert!(over_tls.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .ends_with("; Secure"));
}

#[tokio::test]
async fn a_form_from_another_site_cannot_sign_in() {
    let ui = ui_with(None);
    let a = call(
        &ui,
        post_form(
            "/ui/login",
            &format!("master_key={MASTER}"),
            &[("origin", "https://evil.example")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn pages_carry_the_navigation_and_the_sessions_csrf_token() {
    let ui = ui_with(None);
    let id = sign_in(&ui).await;
    for (path, title) in crate::pages::PAGES {
        let a = call(&ui, get(&format!("/ui/{path}"), Some(&id))).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_secured(&a);
        assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
        assert!(a.body.contains(&format!("<h1>{title}</h1>")));
        for (p, name) in crate::pages::PAGES {
            assert!(
                a.body.contains(&format!("href=\"/ui/{p}\""))
                    && a.body.contains(&format!(">{name}</a>"))
            );
        }
        assert!(a
            .body
            .contains(&format!("href=\"/ui/{path}\" aria-current=\"page\"")));
        assert!(a.body.contains(">Sign out</button>"));
        let csrf = csrf_in(&a.body);
        assert_eq!(ui.sessions.csrf_of(&id).as_deref(), Some(csrf.as_str()));
        assert!(
            !a.body.contains(MASTER) && !a.body.contains(&id),
            "no secret but the CSRF token"
        );
    }
    assert_eq!(
        call(&ui, get("/ui/login", Some(&id))).await.headers[header::LOCATION],
        "/ui/keys",
        "signed in: the form sends on"
    );
    let missing = call(&ui, get("/ui/nope", Some(&id))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_secured(&missing);
}

#[tokio::test]
async fn the_admin_api_needs_the_cookie_and_its_csrf_token() {
    let ui = ui_with(None);
    let id = sign_in(&ui).await;
    let csrf = ui.sessions.csrf_of(&id).unwrap();
    let headers = |cookie: Option<&str>, token: Option<&str>| {
        let mut h = HeaderMap::new();
        if let Some(c) = cookie {
            h.insert(
                header::COOKIE,
                format!("x=1; shale_ui_session={c}").parse().unwrap(),
            );
        }
        if let Some(t) = token {
            h.insert(CSRF_HEADER, t.parse().unwrap());
        }
        h
    };
    assert_eq!(ui.authorize(&headers(None, None)), Err(Denied::NoSession));
    assert_eq!(
        ui.authorize(&headers(None, Some(&csrf))),
        Err(Denied::NoSession)
    );
    assert_eq!(
        ui.authorize(&headers(Some("bogus"), Some(&csrf))),
        Err(Denied::NoSession)
    );
    assert_eq!(ui.authorize(&headers(Some(&id), None)), Err(Denied::Csrf));
    assert_eq!(
        ui.authorize(&headers(Some(&id), Some("wrong"))),
        Err(Denied::Csrf)
    );
    assert_eq!(ui.authorize(&headers(Some(&id), Some(&csrf))), Ok(()));
}

#[tokio::test]
async fn sign_out_needs_the_token_and_ends_the_session() {
    let ui = ui_with(None);
    let id = sign_in(&ui).await;
    let csrf = ui.sessions.csrf_of(&id).unwrap();
    let cookie = format!("shale_ui_session={id}");
    let refused = call(
        &ui,
        post_form("/ui/logout", "csrf_token=nope", &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(ui.sessions.csrf_of(&id).is_some(), "still signed in");
    let out = call(
        &ui,
        post_form(
            "/ui/logout",
            &format!("csrf_token={csrf}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.headers[header::LOCATION], "/ui/login");
    assert!(out.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(ui.sessions.csrf_of(&id), None);
    assert_eq!(
        call(&ui, get("/ui/keys", Some(&id))).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn username_and_password_sign_in_when_configured() {
    let ui = ui_with(Some(("admin", "s3cret pw")));
    let form = call(&ui, get("/ui/login", None)).await;
    assert!(form.body.contains(">Username</label>") && form.body.contains(">Password</label>"));
    assert!(
        form.body.contains(">Master key</label>"),
        "the master key works too"
    );
    let wrong = call(
        &ui,
        post_form("/ui/login", "username=admin&password=nope", &[]),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.body.contains("Sign-in failed"));
    let right = call(
        &ui,
        post_form("/ui/login", "username=admin&password=s3cret+pw", &[]),
    )
    .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert!(right.headers.contains_key(header::SET_COOKIE));
}

#[tokio::test]
async fn failed_sign_ins_are_throttled() {
    let ui = ui_with(None);
    for _ in 0..crate::login::MAX_FAILURES_PER_MINUTE {
        call(&ui, post_form("/ui/login", "master_key=guess", &[])).await;
    }
    let a = call(
        &ui,
        post_form("/ui/login", &format!("master_key={MASTER}"), &[]),
    )
    .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn assets_are_embedded_revalidated_and_small() {
    let ui = ui_with(None);
    let js = call(&ui, get("/ui/assets/app.js", None)).await;
    assert_eq!(js.status, StatusCode::OK);
    assert_secured(&js);
    assert!(js.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(js.headers[header::CACHE_CONTROL], "no-cache");
    let etag = js.headers[header::ETAG].to_str().unwrap().to_string();
    let again = Request::get("/ui/assets/app.js")
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&ui, again).await.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        call(&ui, get("/ui/assets/../Cargo.toml", None))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&ui, get("/ui/assets/other.js", None)).await.status,
        StatusCode::NOT_FOUND
    );
    let total: usize = crate::assets::FILES.iter().map(|(_, _, b)| b.len()).sum();
    assert!(total < 100 * 1024, "assets are {total} bytes");
}

/// The CSP forbids inline script and style: every page must work without them.
#[tokio::test]
async fn no_page_has_inline_script_or_style() {
    let ui = ui_with(Some(("a", "b")));
    let id = sign_in(&ui).await;
    let mut html = vec![call(&ui, get("/ui/login", None)).await.body];
    for (path, _) in crate::pages::PAGES {
        html.push(call(&ui, get(&format!("/ui/{path}"), Some(&id))).await.body);
    }
    for page in &html {
        for (i, _) in page.match_indices("<script") {
            let tag = &page[i..i + page[i..].find('>').unwrap()];
            assert!(tag.contains(" src=\"/ui/assets/"), "inline script: {tag}");
        }
        assert!(!page.contains("<style"), "inline style element");
        assert!(!page.contains(" style="), "style attribute");
        for attr in [
            " onclick=",
            " onload=",
            " onsubmit=",
            " onchange=",
            "javascript:",
        ] {
            assert!(!page.contains(attr), "inline handler {attr}");
        }
    }
    let js = std::str::from_utf8(crate::assets::FILES[0].2).unwrap();
    for banned in [
        "innerHTML",
        "outerHTML",
        "eval(",
        "new Function",
        "document.write",
        ".style.",
    ] {
        assert!(!js.contains(banned), "app.js uses {banned}");
    }
}

#[tokio::test]
async fn an_off_ui_says_why() {
    let router: Router = disabled_routes("DISABLE_ADMIN_UI is set on this gateway.");
    let response = router.oneshot(get("/ui/keys", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("DISABLE_ADMIN_UI is set"));
}
