//! The security headers on every `/ui` answer: a strict `Content-Security-Policy` (scripts, styles
//! and images only from this origin, no inline script or style, no `eval`, no framing, forms post
//! only here), `X-Frame-Options: DENY`, `Referrer-Policy: same-origin` (no referrer to other sites; `no-referrer` would make Chromium send `Origin: null` on the sign-in form), `nosniff`, and
//! `Cache-Control: no-store` on pages (assets set their own caching). Also the session cookie's
//! text and the one place that reads it back from a request.
//!
//! Must not: loosen the policy for one page; pages and assets must live with it.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;

/// The policy. `default-src 'none'` forbids everything not listed; the UI needs only its own
/// script, stylesheet and icon, and `fetch` to this origin (the admin API).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";

/// The session cookie's name.
pub const COOKIE: &str = "shale_ui_session";

/// The header the UI's script sends the CSRF token in (every admin API call).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Adds the security headers (keeps a `Cache-Control` the handler set).
pub fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        h,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// The `Set-Cookie` value that starts a session: HttpOnly (no script reads it), SameSite=Strict
/// (no other site's page sends it), Path=/ (the admin API lives outside `/ui`), Secure when the
/// request came over TLS.
pub fn session_cookie(id: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// The session id from the request's `Cookie` headers, if any.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then_some(value)
        })
}

/// True when the request reached the gateway over TLS: the scheme a TLS-terminating proxy
/// reports in `X-Forwarded-Proto` (a wrong claim only keeps that browser's cookie from being
/// sent back over plain HTTP).
pub fn came_over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("https")
        })
}

/// False when the request names another site as its origin (`Origin` present and its host:port
/// differs from `Host`). Browsers send `Origin` on every form POST.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_policy_allows_no_inline_code_and_no_framing() {
        assert!(CSP.contains("script-src 'self';"));
        assert!(!CSP.contains("unsafe-inline") && !CSP.contains("unsafe-eval"));
        assert!(CSP.contains("frame-ancestors 'none'"));
        let r = secure(Response::new(axum::body::Body::empty()));
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(r.headers()[header::REFERRER_POLICY], "same-origin");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let c = session_cookie("abc", 3600, false);
        assert_eq!(
            c,
            "shale_ui_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600"
        );
        assert!(session_cookie("abc", 1, true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn the_session_id_is_read_from_any_cookie_header() {
        let h = headers(&[("cookie", "a=1; shale_ui_session=xyz; b=2")]);
        assert_eq!(session_id(&h), Some("xyz"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "shale_ui_session=q")]);
        assert_eq!(session_id(&h), Some("q"));
        assert_eq!(
            session_id(&headers(&[("cookie", "shale_ui_session=")])),
            None
        );
        assert_eq!(
            session_id(&headers(&[("cookie", "xshale_ui_session=1")])),
            None
        );
        assert_eq!(session_id(&HeaderMap::new()), None);
    }

    #[test]
    fn tls_and_origin_checks() {
        assert!(came_over_tls(&headers(&[("x-forwarded-proto", "https")])));
        assert!(came_over_tls(&headers(&[(
            "x-forwarded-proto",
            "HTTPS, http"
        )])));
        assert!(!came_over_tls(&headers(&[("x-forwarded-proto", "http")])));
        assert!(!came_over_tls(&HeaderMap::new()));
        let host = ("host", "127.0.0.1:4000");
        assert!(same_origin(&headers(&[host])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:4000")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:4000"
        )])));
    }
}
