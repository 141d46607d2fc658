//! The live model table: the current [`AppState`] snapshot and the routes built on it, replaced
//! atomically when the models change — the model API (`/model/*`), models stored by another
//! replica (`shale-models`: Redis notice or periodic reconcile), or a config reload (`SIGHUP`,
//! or the file changed on disk when `config_reload_interval_seconds` is set).
//!
//! - Hot path: each request costs one atomic load ([`LiveApp`] loads the current snapshot's
//!   routes, `arc-swap`, no lock) and then sees that one snapshot from start to end: a request
//!   (or a stream) that started before a swap finishes on the deployment, router and telemetry it
//!   started with; the old snapshot is freed when its last request ends.
//! - Changes: validate first, build the whole next snapshot, swap; on any failure the running
//!   snapshot stays and the error is returned and logged (agentgateway's refreshable model table).
//!   Changes are serialised (one rebuild at a time), so a slow reload cannot be overtaken.
//! - The table is composed from two sources, remembered here: the config file's configuration
//!   (as last applied) and the models stored in Postgres (as last read), appended after the
//!   file's `model_list` with `model_info.db_model: true`.
//! - Reading the file: a changed file is found by a periodic `stat` (size, modification time,
//!   inode — following symlinks) and a digest of its bytes, not by inotify: a Kubernetes ConfigMap
//!   update swaps a `..data` symlink to a new directory, which an inotify watch on the file never
//!   sees, and the kubelet delivers updates only every sync period (about a minute) anyway.
//!
//! Background tasks must not keep a snapshot: they call [`Live::state`] (or
//! [`AppState::current`]) each round. Must not: parse request bodies, talk to Postgres (that is
//! `shale-models`), or decide what a reload may change (that is `shale_config::reload`).

use crate::state::{AppState, LiveLink, LiveTable};
use axum::extract::Request;
use axum::response::Response;
use sha2::{Digest, Sha256};
use shale_config::{Config, ModelEntry};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// One snapshot and the routes that serve it.
struct Snapshot {
    state: Arc<AppState>,
    routes: axum::Router,
}

/// A model stored outside the config file (Postgres), as JSON: `model_name`, `litellm_params`
/// (secrets in clear, in memory only), `model_info` (with its `id`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub model_id: String,
    pub value: serde_json::Value,
}

/// Where the live configuration comes from, as last applied.
struct Sources {
    /// The config file's configuration (restart-only settings as at start-up).
    file: Config,
    /// The config file, when there is one to reload.
    path: Option<PathBuf>,
    /// Digest of the file's bytes as last applied: an unchanged file is not reloaded.
    file_digest: Option<[u8; 32]>,
    /// `stat` of the file as last looked at.
    file_stamp: Option<FileStamp>,
    /// Models stored in Postgres, in their stored order.
    stored: Vec<StoredModel>,
}

/// Why a change was not applied (the running snapshot stays).
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Config(#[from] shale_config::ConfigError),
    #[error("{0}")]
    Build(#[from] crate::state::StartupError),
}

/// What a config reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The file's bytes are those last applied: nothing to do.
    Unchanged,
    /// Swapped in; the restart-only settings the file changed are listed (kept as they run).
    Applied { needs_restart: Vec<&'static str> },
}

/// Builds the routes that serve one snapshot (`app::routes`, passed in by whoever makes the table
/// live, so this module does not import the routes that import it).
pub type RoutesFor = fn(Arc<AppState>) -> axum::Router;

/// The live model table (see the module doc). Shared as `Arc<Live>`.
pub struct Live {
    current: arc_swap::ArcSwap<Snapshot>,
    routes_for: RoutesFor,
    sources: tokio::sync::Mutex<Sources>,
    swaps: AtomicU64,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("swaps", &self.swaps.load(Ordering::Relaxed))
            .finish()
    }
}

impl Live {
    /// Makes `state` live, served by the routes `routes_for` builds for each snapshot. `file` is
    /// the config file's configuration it was built from (before stored models), `path` the file
    /// to reload from (None: reloads are refused).
    pub fn new(
        state: AppState,
        file: Config,
        path: Option<PathBuf>,
        routes_for: RoutesFor,
    ) -> Arc<Live> {
        let file_digest = path
            .as_deref()
            .and_then(|p| std::fs::read(p).ok())
            .map(digest);
        let file_stamp = path.as_deref().and_then(FileStamp::of);
        Arc::new_cyclic(|weak: &std::sync::Weak<Live>| {
            let mut state = state;
            let table: std::sync::Weak<dyn LiveTable> = weak.clone();
            state.live = LiveLink(Some(table));
            let state = Arc::new(state);
            Live {
                current: arc_swap::ArcSwap::from_pointee(Snapshot {
                    routes: routes_for(Arc::clone(&state)),
                    state,
                }),
                routes_for,
                sources: tokio::sync::Mutex::new(Sources {
                    file,
                    path,
                    file_digest,
                    file_stamp,
                    stored: Vec::new(),
                }),
                swaps: AtomicU64::new(0),
            }
        })
    }

    /// The current snapshot.
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.current.load().state)
    }

    /// How many times the model table was replaced since start-up.
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }

    /// The models stored in Postgres, as last applied.
    pub async fn stored(&self) -> Vec<StoredModel> {
        self.sources.lock().await.stored.clone()
    }

    /// Serves `stored` (the whole list of stored models, in order) from now on. Unchanged →
    /// nothing happens. A stored model that does not validate here (e.g. an `os.environ/`
    /// variable this replica lacks) is left out and logged; the others are served.
    pub async fn set_stored(&self, stored: Vec<StoredModel>) -> Result<bool, ChangeError> {
        let mut sources = self.sources.lock().await;
        if sources.stored == stored {
            return Ok(false);
        }
        let config = compose(&sources.file, &stored);
        self.swap_to(config).await?;
        sources.stored = stored;
        Ok(true)
    }

    /// Re-reads the config file: a file that does not load is refused with the start-up errors
    /// (logged, the running configuration stays); an unchanged one does nothing; a valid one is
    /// swapped in (reloadable settings only: see `shale_config::reload`).
    pub async fn reload_file(&self) -> Result<Reloaded, ChangeError> {
        let mut sources = self.sources.lock().await;
        let Some(path) = sources.path.clone() else {
            return Err(ChangeError::Config(shale_config::ConfigError::Invalid {
                path: "<config>".into(),
                message: "the gateway was started without a config file: nothing to reload".into(),
            }));
        };
        sources.file_stamp = FileStamp::of(&path);
        let bytes = std::fs::read(&path).map_err(|source| shale_config::ConfigError::Read {
            path: path.display().to_string(),
            source,
        });
        let outcome = match bytes {
            Err(e) => Err(ChangeError::Config(e)),
            Ok(bytes) if sources.file_digest == Some(digest(&bytes)) => Ok(Reloaded::Unchanged),
            Ok(bytes) => {
                let applied = self.apply_file(&mut sources, &bytes).await;
                if applied.is_ok() {
                    // Only an applied file counts as "unchanged" next time: a refused one is
                    // refused again (with its errors) on the next SIGHUP.
                    sources.file_digest = Some(digest(&bytes));
                }
                applied
            }
        };
        match &outcome {
            Ok(Reloaded::Applied { needs_restart }) => {
                tracing::info!(path = %path.display(), models = self.state().deployments.len(), "config reloaded");
                for what in needs_restart {
                    tracing::warn!(setting = what, "config reload: this setting changed but needs a restart; the running value is kept");
                }
            }
            Ok(Reloaded::Unchanged) => {
                tracing::info!(path = %path.display(), "config reload: the file is unchanged")
            }
            Err(err) => {
                tracing::error!(path = %path.display(), error = %err, "config reload refused: the running configuration is kept")
            }
        }
        outcome
    }

    async fn apply_file(
        &self,
        sources: &mut Sources,
        bytes: &[u8],
    ) -> Result<Reloaded, ChangeError> {
        let text = String::from_utf8_lossy(bytes);
        let next = Config::from_yaml_str(&text, &|name| std::env::var(name).ok())?;
        for finding in &next.findings {
            tracing::info!(path = %finding.path, "{}", finding.message);
        }
        let (file, needs_restart) = shale_config::reload::apply_reload(&sources.file, next);
        let config = compose(&file, &sources.stored);
        self.swap_to(config).await?;
        sources.file = file;
        Ok(Reloaded::Applied { needs_restart })
    }

    /// Checks the config file every `every` and reloads it when its bytes changed (a Kubernetes
    /// ConfigMap update, an edit). Runs until the live table is dropped.
    pub fn watch_file(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(live) = weak.upgrade() else { return };
                if live.file_changed().await {
                    let _ = live.reload_file().await;
                }
            }
        });
    }

    /// Whether the file's `stat` differs from the last one looked at.
    async fn file_changed(&self) -> bool {
        let sources = self.sources.lock().await;
        let Some(path) = &sources.path else {
            return false;
        };
        FileStamp::of(path) != sources.file_stamp
    }

    /// Builds the snapshot for `config` from the current one and swaps it in.
    async fn swap_to(&self, config: Config) -> Result<(), ChangeError> {
        let current = self.state();
        let next = Arc::new(current.rebuild(config).await?);
        let routes = (self.routes_for)(Arc::clone(&next));
        self.current.store(Arc::new(Snapshot {
            state: next,
            routes,
        }));
        self.swaps.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The stored models as this module keeps them.
pub fn stored_models(rows: &[shale_models::StoredRow]) -> Vec<StoredModel> {
    rows.iter()
        .map(|r| StoredModel {
            model_id: r.model_id.clone(),
            value: r.entry_json(),
        })
        .collect()
}

/// The config file's `model_list` followed by the stored models (each read like a `model_list`
/// entry at its position, `model_info.id` and `db_model: true` set). A stored model that does not
/// validate, or whose id another deployment already has, is left out and logged.
pub fn compose(file: &Config, stored: &[StoredModel]) -> Config {
    let mut config = file.clone();
    let env = |name: &str| std::env::var(name).ok();
    for model in stored {
        let taken = config.model_list.iter().any(|e| {
            e.model_info.get("id").and_then(serde_json::Value::as_str) == Some(&*model.model_id)
        });
        if taken {
            tracing::error!(model_id = %model.model_id, "a stored model has the id of another deployment (a config file model?): it is not served");
            continue;
        }
        let index = config.model_list.len();
        let mut value = model.value.clone();
        if let Some(info) = value
            .as_object_mut()
            .map(|m| {
                m.entry("model_info")
                    .or_insert_with(|| serde_json::json!({}))
            })
            .and_then(serde_json::Value::as_object_mut)
        {
            info.insert("id".into(), model.model_id.clone().into());
            info.insert("db_model".into(), true.into());
        }
        match ModelEntry::from_json(index, value, &env) {
            Ok((entry, _)) => config.model_list.push(entry),
            Err(err) => {
                tracing::error!(model_id = %model.model_id, error = %err, "a stored model does not validate on this replica: it is not served")
            }
        }
    }
    config
}

fn digest(bytes: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(bytes.as_ref()).into()
}

/// What `stat` says about the config file (following symlinks, as a ConfigMap mount needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: {
                use std::os::unix::fs::MetadataExt;
                (meta.dev(), meta.ino())
            },
        })
    }
}

impl LiveTable for Live {
    fn state(&self) -> Arc<AppState> {
        Live::state(self)
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

/// The routes of the current snapshot, loaded once per request (see the module doc).
#[derive(Clone)]
pub struct LiveApp(pub Arc<Live>);

impl std::fmt::Debug for LiveApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveApp")
    }
}

impl<B> tower::Service<axum::http::Request<B>> for LiveApp
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = <axum::Router as tower::Service<Request>>::Future;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let mut routes = self.0.current.load().routes.clone();
        tower::Service::call(&mut routes, request.map(axum::body::Body::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_models_follow_the_file_and_invalid_ones_are_left_out() {
        let file = Config::from_yaml_str(
            "model_list:\n  - model_name: a\n    litellm_params: {model: bedrock/x.y}\n",
            &|_| None,
        )
        .unwrap();
        let stored = |id: &str, value: serde_json::Value| StoredModel {
            model_id: id.into(),
            value,
        };
        let config = compose(
            &file,
            &[
                stored(
                    "s1",
                    serde_json::json!({"model_name": "b", "litellm_params": {"model": "bedrock/x.z"}}),
                ),
                stored(
                    "bad",
                    serde_json::json!({"model_name": "c", "litellm_params": {"model": "azure/gpt-4"}}),
                ),
                stored(
                    "b-again",
                    serde_json::json!({"model_name": "e", "litellm_params": {"model": "bedrock/x.v"}, "model_info": {"id": "s1"}}),
                ),
                stored(
                    "s1",
                    serde_json::json!({"model_name": "dup", "litellm_params": {"model": "bedrock/x.v"}}),
                ),
                stored(
                    "s2",
                    serde_json::json!({"model_name": "d", "litellm_params": {"model": "bedrock/x.w"}, "model_info": {"team": "t"}}),
                ),
            ],
        );
        let names: Vec<&str> = config
            .model_list
            .iter()
            .map(|m| m.model_name.as_str())
            .collect();
        // `e`: its stored row's id wins over a `model_info.id` in the row; the second `s1` is left out.
        assert_eq!(names, ["a", "b", "e", "d"]);
        assert_eq!(config.model_list[2].model_info["id"], "b-again");
        let d = &config.model_list[3];
        assert_eq!(d.index, 3);
        assert_eq!(d.model_info["id"], "s2");
        assert_eq!(d.model_info["db_model"], true);
        assert_eq!(d.model_info["team"], "t");
        assert!(!config.model_list[0].model_info.contains_key("db_model"));
    }

    #[tokio::test]
    async fn a_stored_model_that_does_not_resolve_is_left_out_a_file_model_refuses_the_change() {
        let yaml = |extra: &str| {
            format!("model_list:\n  - model_name: a\n    litellm_params: {{model: bedrock/x.y, aws_region_name: us-east-1}}\n{extra}")
        };
        let file = Config::from_yaml_str(&yaml(""), &|_| None).unwrap();
        let state = AppState::build(file.clone(), Some("sk-test"), 1)
            .await
            .unwrap();
        let bad_region = serde_json::json!({"model_name": "b",
            "litellm_params": {"model": "bedrock/x.z", "aws_region_name": "Not A Region"}});
        let good =
            serde_json::json!({"model_name": "c", "litellm_params": {"model": "bedrock/x.w"}});
        let config = compose(
            &file,
            &[
                StoredModel {
                    model_id: "bad".into(),
                    value: bad_region,
                },
                StoredModel {
                    model_id: "good".into(),
                    value: good,
                },
            ],
        );
        let next = state
            .rebuild(config)
            .await
            .expect("one bad stored row does not block the rest");
        let names: Vec<&str> = next
            .config
            .model_list
            .iter()
            .map(|m| m.model_name.as_str())
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(next.config.model_list[1].index, 1);
        assert_eq!(next.deployments.len(), 2);
        assert_eq!(&*next.router.deployment(1).id, "good");

        let broken = Config::from_yaml_str(
            &yaml("  - model_name: d\n    litellm_params: {model: bedrock/x.v, aws_region_name: Not A Region}\n"),
            &|_| None,
        )
        .unwrap();
        let err = state.rebuild(broken).await.unwrap_err();
        assert!(err.to_string().contains("invalid AWS region"), "{err}");
    }
}
