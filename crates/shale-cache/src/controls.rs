//! Per-request cache controls: LiteLLM's body `cache` object (`no-cache`, `no-store`, `ttl`,
//! `s-maxage` / `s-max-age`, `namespace`, `use-cache`), its `caching: false`, and — a shale
//! extension LiteLLM does not have — the standard `Cache-Control` request header
//! (`no-cache`, `no-store`, `max-age=N` / `s-maxage=N`) mapped onto the same controls. A key's
//! `allowed_cache_controls` (LiteLLM's list; empty = every control) refuses body controls it does
//! not list with LiteLLM's 403 message; header directives it does not list are ignored (HTTP
//! clients and proxies add them on their own).
//!
//! Pure: no I/O, nothing about where entries are stored.

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use shale_config::{valid_namespace, CacheMode};
use std::time::Duration;

/// Longest TTL a request may ask for (ten years; Redis and the local store take it).
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

/// What one request asks of the cache.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Controls {
    /// Do not read: answer from Bedrock (the answer is still stored).
    pub no_cache: bool,
    /// Do not store the answer.
    pub no_store: bool,
    /// How long the stored answer lives (instead of `cache_params.ttl`).
    pub ttl: Option<Duration>,
    /// Accept only an entry at most this old.
    pub max_age: Option<Duration>,
    /// Key prefix instead of `cache_params.namespace`.
    pub namespace: Option<String>,
    /// Opt in when `mode: default_off`.
    pub use_cache: bool,
    /// `caching: false`: neither read nor store.
    pub off: bool,
}

/// A control the caller may not use, or one that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    /// LiteLLM's 403 (`allowed_cache_controls`).
    #[error("Not allowed to set {0} as a cache control. Contact admin to change permissions.")]
    NotAllowed(String),
    /// A 400 naming the field.
    #[error("{message}")]
    Invalid { param: String, message: String },
}

fn invalid(param: &str, message: impl Into<String>) -> ControlError {
    ControlError::Invalid {
        param: format!("cache.{param}"),
        message: message.into(),
    }
}

fn seconds(param: &str, v: &Value, zero_ok: bool) -> Result<Duration, ControlError> {
    let secs = v
        .as_f64()
        .filter(|s| s.is_finite() && (*s > 0.0 || zero_ok && *s == 0.0))
        .ok_or_else(|| {
            invalid(
                param,
                format!("cache.{param} must be a positive number of seconds"),
            )
        })?;
    Ok(Duration::try_from_secs_f64(secs)
        .unwrap_or(MAX_TTL)
        .min(MAX_TTL))
}

fn flag(param: &str, v: &Value) -> Result<bool, ControlError> {
    v.as_bool()
        .ok_or_else(|| invalid(param, format!("cache.{param} must be true or false")))
}

impl Controls {
    /// Reads the controls of one request: the `Cache-Control` header first, then the body's
    /// `cache` object (which wins for the controls it sets) and `caching`. `allowed` is the
    /// calling key's `allowed_cache_controls` (empty: all).
    pub fn read(
        body_cache: Option<&RawValue>,
        caching: Option<&RawValue>,
        header: Option<&str>,
        allowed: &[String],
    ) -> Result<Controls, ControlError> {
        let may = |name: &str| allowed.is_empty() || allowed.iter().any(|a| a == name);
        let mut c = Controls::default();
        if let Some(header) = header {
            c.apply_header(header, &may);
        }
        if let Some(raw) = body_cache {
            let map: Map<String, Value> = match serde_json::from_str(raw.get()) {
                Ok(Value::Object(m)) => m,
                Ok(Value::Null) => Map::new(),
                _ => {
                    return Err(ControlError::Invalid {
                        param: "cache".into(),
                        message: "cache must be an object such as {\"no-cache\": true}".into(),
                    })
                }
            };
            for (name, value) in &map {
                if !may(name) {
                    return Err(ControlError::NotAllowed(name.clone()));
                }
                match name.as_str() {
                    "no-cache" => c.no_cache = flag(name, value)?,
                    "no-store" => c.no_store = flag(name, value)?,
                    "use-cache" => c.use_cache = flag(name, value)?,
                    "ttl" => c.ttl = Some(seconds(name, value, false)?),
                    "s-maxage" | "s-max-age" => c.max_age = Some(seconds(name, value, true)?),
                    "namespace" => {
                        let ns = value.as_str().filter(|ns| valid_namespace(ns)).ok_or_else(|| {
                            invalid(name, "cache.namespace must be 1–128 characters of letters, digits and `_-.:/`")
                        })?;
                        c.namespace = Some(ns.to_owned());
                    }
                    // LiteLLM ignores controls it does not know.
                    _ => {}
                }
            }
        }
        if let Some(raw) = caching {
            if raw.get() == "false" {
                c.off = true;
            }
        }
        Ok(c)
    }

    /// `Cache-Control: no-cache, no-store, max-age=N, s-maxage=N` (case-insensitive; unknown or
    /// malformed directives and ones the key may not use are ignored).
    fn apply_header(&mut self, header: &str, may: &dyn Fn(&str) -> bool) {
        for directive in header.split(',') {
            let directive = directive.trim();
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-cache") && may("no-cache") {
                self.no_cache = true;
            } else if name.eq_ignore_ascii_case("no-store") && may("no-store") {
                self.no_store = true;
            } else if (name.eq_ignore_ascii_case("max-age")
                || name.eq_ignore_ascii_case("s-maxage"))
                && may("s-maxage")
            {
                if let Some(secs) = value.and_then(|v| v.parse::<u64>().ok()) {
                    self.max_age = Some(Duration::from_secs(secs).min(MAX_TTL));
                }
            }
        }
    }
}

/// What the cache does for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Look the answer up.
    pub read: bool,
    /// Store the answer.
    pub write: bool,
    /// Lifetime of the stored answer.
    pub ttl: Duration,
    /// Oldest entry accepted.
    pub max_age: Option<Duration>,
}

/// The plan for a request with `controls` under `mode`, with `ttl` the configured default.
/// `None`: the cache stays out of the request entirely.
pub fn plan(mode: CacheMode, ttl: Duration, controls: &Controls) -> Option<Plan> {
    if controls.off || mode == CacheMode::DefaultOff && !controls.use_cache {
        return None;
    }
    let p = Plan {
        read: !controls.no_cache,
        write: !controls.no_store,
        ttl: controls.ttl.unwrap_or(ttl),
        max_age: controls.max_age,
    };
    (p.read || p.write).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn read(
        body: Option<&str>,
        header: Option<&str>,
        allowed: &[&str],
    ) -> Result<Controls, ControlError> {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        let body = body.map(raw);
        Controls::read(body.as_deref(), None, header, &allowed)
    }

    #[test]
    fn litellm_body_controls() {
        let c = read(
            Some(r#"{"no-cache":true,"no-store":false,"ttl":30,"s-max-age":5,"namespace":"team-a","use-cache":true,"future":1}"#),
            None,
            &[],
        )
        .unwrap();
        assert_eq!(
            c,
            Controls {
                no_cache: true,
                no_store: false,
                ttl: Some(Duration::from_secs(30)),
                max_age: Some(Duration::from_secs(5)),
                namespace: Some("team-a".into()),
                use_cache: true,
                off: false,
            }
        );
        assert_eq!(
            read(Some(r#"{"s-maxage":0}"#), None, &[]).unwrap().max_age,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn bad_values_are_400s_naming_the_control() {
        for (body, param) in [
            (r#"{"ttl":0}"#, "cache.ttl"),
            (r#"{"ttl":"10"}"#, "cache.ttl"),
            (r#"{"s-maxage":-1}"#, "cache.s-maxage"),
            (r#"{"no-cache":"yes"}"#, "cache.no-cache"),
            (r#"{"namespace":"a b"}"#, "cache.namespace"),
            (r#"true"#, "cache"),
        ] {
            match read(Some(body), None, &[]) {
                Err(ControlError::Invalid { param: p, .. }) => assert_eq!(p, param, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn allowed_cache_controls_refuse_body_controls_and_drop_header_ones() {
        let err = read(Some(r#"{"no-store":true}"#), None, &["no-cache", "ttl"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Not allowed to set no-store as a cache control. Contact admin to change permissions."
        );
        assert!(read(
            Some(r#"{"no-cache":true,"ttl":3}"#),
            None,
            &["no-cache", "ttl"]
        )
        .is_ok());
        let c = read(None, Some("no-store, no-cache"), &["no-cache"]).unwrap();
        assert!(c.no_cache && !c.no_store);
    }

    #[test]
    fn cache_control_header_maps_onto_the_controls_and_the_body_wins() {
        let c = read(None, Some("No-Cache, max-age=\"60\", bogus, no-store"), &[]).unwrap();
        assert!(c.no_cache && c.no_store);
        assert_eq!(c.max_age, Some(Duration::from_secs(60)));
        assert_eq!(
            read(None, Some("s-maxage=7"), &[]).unwrap().max_age,
            Some(Duration::from_secs(7))
        );
        assert_eq!(read(None, Some("max-age=x"), &[]).unwrap().max_age, None);
        let c = read(
            Some(r#"{"no-cache":false,"s-maxage":1}"#),
            Some("no-cache, max-age=60"),
            &[],
        )
        .unwrap();
        assert!(!c.no_cache);
        assert_eq!(c.max_age, Some(Duration::from_secs(1)));
    }

    #[test]
    fn plans() {
        let ttl = Duration::from_secs(600);
        let on = CacheMode::DefaultOn;
        let p = plan(on, ttl, &Controls::default()).unwrap();
        assert!(p.read && p.write);
        assert_eq!(p.ttl, ttl);
        let no_cache = Controls {
            no_cache: true,
            ttl: Some(Duration::from_secs(5)),
            ..Controls::default()
        };
        let p = plan(on, ttl, &no_cache).unwrap();
        assert!(!p.read && p.write);
        assert_eq!(p.ttl, Duration::from_secs(5));
        let neither = Controls {
            no_cache: true,
            no_store: true,
            ..Controls::default()
        };
        assert_eq!(plan(on, ttl, &neither), None);
        assert_eq!(
            plan(
                on,
                ttl,
                &Controls {
                    off: true,
                    ..Controls::default()
                }
            ),
            None
        );
        let off = CacheMode::DefaultOff;
        assert_eq!(plan(off, ttl, &Controls::default()), None);
        assert!(plan(
            off,
            ttl,
            &Controls {
                use_cache: true,
                ..Controls::default()
            }
        )
        .is_some());
        let caching_false = raw("false");
        let c = Controls::read(None, Some(&caching_false), None, &[]).unwrap();
        assert!(c.off);
    }
}
