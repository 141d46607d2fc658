//! Where entries live: [`local`] (this process, bounded) or [`remote`] (Redis, shared).

pub(crate) mod local;
pub(crate) mod remote;

/// Where the Redis of a `type: redis` cache is, resolved from `cache_params` and the
/// environment, for connecting and for `shale check` (the shown form has no password).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisEndpoint {
    /// The URL to connect to (may carry a password: never log it).
    pub url: String,
    /// The URL without its password, for messages.
    pub shown: String,
    /// Where it came from (`cache_params.host`, `REDIS_URL`, …).
    pub source: &'static str,
}

impl std::fmt::Debug for RedisEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEndpoint")
            .field("shown", &self.shown)
            .field("source", &self.source)
            .finish()
    }
}

/// Resolves the Redis of a cache: `cache_params.url`, else `cache_params.host` (+ port, username,
/// password, ssl, db — each falling back to `REDIS_PORT`, `REDIS_USERNAME`, `REDIS_PASSWORD`,
/// `REDIS_SSL`, `REDIS_DB`), else env `REDIS_URL`, else env `REDIS_HOST` (+ the same). `None`: no
/// Redis is configured anywhere.
pub fn resolve_redis(
    t: &shale_config::RedisTarget,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<RedisEndpoint>, String> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let with_fragment = |mut url: String| {
        if t.ssl_insecure && !url.contains('#') {
            url.push_str("#insecure");
        }
        url
    };
    if let Some(url) = &t.url {
        let url = with_fragment(url.expose().to_string());
        return Ok(Some(endpoint(url, "cache_params.url")?));
    }
    let (host, source) = match (&t.host, env("REDIS_URL"), env("REDIS_HOST")) {
        (Some(h), _, _) => (h.clone(), "cache_params.host"),
        (None, Some(url), _) => return Ok(Some(endpoint(with_fragment(url), "REDIS_URL")?)),
        (None, None, Some(h)) => (h, "REDIS_HOST"),
        (None, None, None) => return Ok(None),
    };
    let port = match t.port {
        Some(p) => p,
        None => match env("REDIS_PORT") {
            None => 6379,
            Some(p) => p
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("REDIS_PORT `{p}` is not a port"))?,
        },
    };
    let ssl = t.ssl.unwrap_or_else(|| {
        env("REDIS_SSL").is_some_and(|v| matches!(v.trim(), "true" | "True" | "TRUE" | "1"))
    });
    let db = match t.db {
        Some(d) => Some(d),
        None => env("REDIS_DB")
            .map(|d| {
                d.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("REDIS_DB `{d}` is not a database number"))
            })
            .transpose()?,
    };
    let scheme = if ssl { "rediss" } else { "redis" };
    let mut url = url::Url::parse(&format!("{scheme}://{host}:{port}/"))
        .map_err(|_| format!("`{host}` is not a Redis host"))?;
    if let Some(u) = t.username.clone().or_else(|| env("REDIS_USERNAME")) {
        url.set_username(&u)
            .map_err(|_| "the Redis username is not usable in a URL".to_string())?;
    }
    if let Some(p) = t
        .password
        .as_ref()
        .map(|p| p.expose().to_string())
        .or_else(|| env("REDIS_PASSWORD"))
    {
        url.set_password(Some(&p))
            .map_err(|_| "the Redis password is not usable in a URL".to_string())?;
    }
    if let Some(db) = db {
        url.set_path(&format!("/{db}"));
    }
    Ok(Some(endpoint(with_fragment(url.to_string()), source)?))
}

fn endpoint(url: String, source: &'static str) -> Result<RedisEndpoint, String> {
    let mut parsed = url::Url::parse(&url).map_err(|_| format!("{source}: not a URL"))?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(format!("{source}: expected a redis:// or rediss:// URL"));
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    Ok(RedisEndpoint {
        url,
        shown: parsed.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shale_config::{RedisTarget, Secret};

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn config_then_environment() {
        let t = RedisTarget {
            host: Some("cache.local".into()),
            port: Some(6380),
            password: Some(Secret::new("p@ss")),
            ..RedisTarget::default()
        };
        let e = resolve_redis(&t, &env(&[("REDIS_URL", "redis://other:1/")]))
            .unwrap()
            .unwrap();
        assert_eq!(e.url, "redis://:p%40ss@cache.local:6380/");
        assert_eq!(e.shown, "redis://:***@cache.local:6380/");
        assert_eq!(e.source, "cache_params.host");
        assert!(!format!("{e:?}").contains("p%40ss"));

        let none = RedisTarget::default();
        let e = resolve_redis(&none, &env(&[("REDIS_URL", "rediss://u:pw@r:7/2")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.url.as_str(), e.source),
            ("rediss://u:pw@r:7/2", "REDIS_URL")
        );
        let e = resolve_redis(
            &none,
            &env(&[
                ("REDIS_HOST", "h"),
                ("REDIS_PORT", "7000"),
                ("REDIS_SSL", "True"),
                ("REDIS_PASSWORD", "x"),
                ("REDIS_DB", "3"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.url, "rediss://:x@h:7000/3");
        assert_eq!(resolve_redis(&none, &env(&[])).unwrap(), None);
        assert!(resolve_redis(&none, &env(&[("REDIS_HOST", "h"), ("REDIS_PORT", "x")])).is_err());
        let insecure = RedisTarget {
            ssl: Some(true),
            ssl_insecure: true,
            ..t
        };
        let e = resolve_redis(&insecure, &env(&[])).unwrap().unwrap();
        assert!(
            e.url.starts_with("rediss://") && e.url.ends_with("#insecure"),
            "{}",
            e.url
        );
    }
}
