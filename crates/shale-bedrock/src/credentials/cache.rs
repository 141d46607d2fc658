//! A single-flight credential cache per deployment: one fetch at a time, refreshed in the
//! background before expiry, and the shared default chains keyed by profile and region.
//!
//! Must not: choose or build providers (see `mod.rs` and `providers.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::{build_provider, BuildContext, SigV4Choice};
use crate::error::BedrockError;

#[derive(Clone)]
struct Cached {
    creds: Credentials,
    /// From this time on, a refresh is started (credentials still usable).
    refresh_at: Option<SystemTime>,
    /// From this time on, the credentials are not used any more.
    unusable_at: Option<SystemTime>,
}

/// Single-flight cache over a credentials provider.
///
/// Fresh credentials are returned from a read lock. When they are due for refresh but still
/// valid, one background task refreshes them and callers keep using the current ones. When they
/// have expired (or were never fetched), callers queue on one mutex and a single fetch serves all.
pub struct CredentialCache {
    provider: SharedCredentialsProvider,
    state: RwLock<Option<Cached>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
    timeout: Duration,
    source: String,
    /// `SigV4Choice::kind` of the source.
    kind: &'static str,
    /// The last fetch failed (the failure is logged once, the recovery once).
    failing: AtomicBool,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Longest margin before expiry at which a refresh starts.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Longest margin before expiry at which credentials stop being used.
const MAX_EXPIRY_SKEW: Duration = Duration::from_secs(10);

impl CredentialCache {
    /// A cache over `choice`'s `provider`; the choice's description names it in errors and logs.
    pub fn new(
        provider: SharedCredentialsProvider,
        timeout: Duration,
        choice: &SigV4Choice,
    ) -> Self {
        Self::named(provider, timeout, choice.describe(), choice.kind())
    }

    /// A cache over `provider`, described as `source` of kind `kind`.
    pub fn named(
        provider: SharedCredentialsProvider,
        timeout: Duration,
        source: String,
        kind: &'static str,
    ) -> Self {
        Self {
            provider,
            state: RwLock::new(None),
            refresh: Arc::new(tokio::sync::Mutex::new(())),
            timeout,
            source,
            kind,
            failing: AtomicBool::new(false),
        }
    }

    /// Description of the source (no secrets).
    pub fn source(&self) -> &str {
        &self.source
    }

    fn current(&self) -> Option<Cached> {
        self.state.read().ok().and_then(|s| s.clone())
    }

    /// Credentials for one request of `deployment`.
    pub async fn get(self: &Arc<Self>, deployment: &str) -> Result<Credentials, BedrockError> {
        let now = SystemTime::now();
        if let Some(cached) = self.current() {
            let usable = cached.unusable_at.is_none_or(|t| now < t);
            let due = cached.refresh_at.is_some_and(|t| now >= t);
            if usable && !due {
                return Ok(cached.creds);
            }
            if usable {
                if let Ok(guard) = self.refresh.clone().try_lock_owned() {
                    let this = Arc::clone(self);
                    let deployment = deployment.to_owned();
                    tokio::spawn(async move {
                        let _guard = guard;
                        if let Err(e) = this.fetch(&deployment).await {
                            tracing::warn!(deployment = %deployment, error = %e, "background credential refresh failed; using the current credentials until they expire");
                        }
                    });
                }
                return Ok(cached.creds);
            }
        }
        let _guard = self.refresh.lock().await;
        if let Some(cached) = self.current() {
            if cached.unusable_at.is_none_or(|t| SystemTime::now() < t) {
                return Ok(cached.creds);
            }
        }
        self.fetch(deployment).await
    }

    async fn fetch(&self, deployment: &str) -> Result<Credentials, BedrockError> {
        let started = SystemTime::now();
        let result = tokio::time::timeout(self.timeout, self.provider.provide_credentials()).await;
        let creds = match result {
            Ok(Ok(creds)) => creds,
            Ok(Err(e)) => {
                return Err(self.failed(deployment, DisplayErrorContext(&e).to_string()));
            }
            Err(_) => {
                return Err(self.failed(deployment, format!("no answer within {:?}", self.timeout)));
            }
        };
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(deployment = %deployment, source = %self.source, "AWS credentials load again");
        }
        let (refresh_at, unusable_at) = match creds.expiry() {
            None => (None, None),
            Some(expiry) => {
                let lifetime = expiry.duration_since(started).unwrap_or_default();
                let margin = (lifetime / 2).min(MAX_REFRESH_MARGIN);
                let skew = (lifetime / 10).min(MAX_EXPIRY_SKEW);
                (Some(expiry - margin), Some(expiry - skew))
            }
        };
        tracing::debug!(deployment = %deployment, source = %self.source, expires = ?creds.expiry(), "fetched AWS credentials");
        if let Ok(mut state) = self.state.write() {
            *state = Some(Cached {
                creds: creds.clone(),
                refresh_at,
                unusable_at,
            });
        }
        Ok(creds)
    }
}

impl CredentialCache {
    /// The error of a failed fetch, logged (warn) when the source starts failing: the deployment,
    /// the source (profile name, role ARN — never a secret) and what went wrong.
    fn failed(&self, deployment: &str, why: String) -> BedrockError {
        let message = format!("{}: {why}", self.source);
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                deployment = %deployment,
                source = %self.source,
                source_kind = self.kind,
                error = %why,
                "could not get AWS credentials: requests to this deployment answer 503 aws_credentials_error until they load"
            );
        } else {
            tracing::debug!(deployment = %deployment, error = %message, "AWS credentials still failing");
        }
        BedrockError::Credentials {
            deployment: deployment.to_owned(),
            source_kind: self.kind,
            message,
        }
    }
}

/// Region and STS endpoint override: what distinguishes two default chains.
type ChainKey = (String, Option<String>);

/// Default-chain caches shared by all deployments of a region (and STS endpoint override).
#[derive(Default)]
pub(crate) struct DefaultChains {
    by_region: tokio::sync::Mutex<HashMap<ChainKey, Arc<CredentialCache>>>,
}

impl DefaultChains {
    pub(crate) async fn get(&self, ctx: &BuildContext<'_>) -> Arc<CredentialCache> {
        let key = (ctx.region.to_owned(), ctx.sts_endpoint.map(str::to_owned));
        let mut map = self.by_region.lock().await;
        if let Some(cache) = map.get(&key) {
            return Arc::clone(cache);
        }
        let provider = build_provider(&SigV4Choice::DefaultChain, ctx).await;
        let cache = Arc::new(CredentialCache::new(
            provider,
            ctx.options.credentials_timeout,
            &SigV4Choice::DefaultChain,
        ));
        map.insert(key, Arc::clone(&cache));
        cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::error::CredentialsError;
    use aws_credential_types::provider::future;
    use aws_credential_types::Credentials;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;

    /// Counts fetches; each answer expires `lifetime` after it was made.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Option<Duration>,
        delay: Duration,
        fail: bool,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::new(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(self.delay).await;
                if self.fail {
                    return Err(CredentialsError::not_loaded("nothing here"));
                }
                Ok(Credentials::new(
                    format!("AKID{n}"),
                    "secret",
                    None,
                    self.lifetime.map(|l| SystemTime::now() + l),
                    "test",
                ))
            })
        }
    }

    fn cache(
        lifetime: Option<Duration>,
        delay: Duration,
        fail: bool,
    ) -> (Arc<CredentialCache>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = SharedCredentialsProvider::new(Counting {
            calls: calls.clone(),
            lifetime,
            delay,
            fail,
        });
        (
            Arc::new(CredentialCache::named(
                provider,
                Duration::from_secs(5),
                "test source".into(),
                "static",
            )),
            calls,
        )
    }

    #[tokio::test]
    async fn many_waiters_share_one_fetch() {
        let (cache, calls) = cache(
            Some(Duration::from_secs(3600)),
            Duration::from_millis(50),
            false,
        );
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get("d").await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().access_key_id(), "AKID1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn static_credentials_are_fetched_once() {
        let (cache, calls) = cache(None, Duration::ZERO, false);
        for _ in 0..5 {
            cache.get("d").await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_credentials_are_refreshed() {
        let (cache, calls) = cache(Some(Duration::from_millis(400)), Duration::ZERO, false);
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID1");
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn refresh_starts_before_expiry_in_the_background() {
        let (cache, calls) = cache(
            Some(Duration::from_secs(2)),
            Duration::from_millis(20),
            false,
        );
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID1");
        // Past the refresh point (half the lifetime), before expiry: still served, refresh starts.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID1");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.get("d").await.unwrap().access_key_id(), "AKID2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_name_the_deployment() {
        let (cache, _) = cache(None, Duration::ZERO, true);
        let err = cache.get("model_list[3] (titan)").await.unwrap_err();
        assert_eq!(err.http_status(), 503);
        let BedrockError::Credentials {
            deployment,
            source_kind,
            message,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(
            (deployment.as_str(), *source_kind),
            ("model_list[3] (titan)", "static")
        );
        assert!(
            message.contains("test source") && message.contains("nothing here"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn fetch_timeout_is_an_error() {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = SharedCredentialsProvider::new(Counting {
            calls,
            lifetime: None,
            delay: Duration::from_secs(10),
            fail: false,
        });
        let cache = Arc::new(CredentialCache::named(
            provider,
            Duration::from_millis(50),
            "slow".into(),
            "static",
        ));
        let err = cache.get("d").await.unwrap_err();
        assert!(err.to_string().contains("no answer within"), "{err}");
    }
}
