//! Gateway state: deployments by `model_name` with their Bedrock targets (route, region, endpoint,
//! credential cache) and model capabilities, the router that chooses among them (in-process or
//! Redis state), the master key, limits, the shared HTTP clients and precomputed responses.
//! Nothing here is re-parsed per request.
//!
//! An [`AppState`] is one immutable snapshot of the model table: built at start-up, and again by
//! [`AppState::rebuild`] when the models change (the model API, a config reload). A request sees
//! one snapshot from start to end (`live.rs` swaps whole snapshots, one atomic load per request).
//! What outlives a swap (the Bedrock client, virtual keys, the Responses store, the router's state
//! store, the metrics registry, the draining flag) is shared by every snapshot; a deployment whose
//! entry did not change keeps its resolved target (and credential cache).

use crate::error::ApiError;
use crate::master_key::MasterKey;
use crate::media::MediaFetcher;
use crate::responses_store::ResponseStore;
use axum::http::HeaderMap;
use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Map, Value};
use shale_bedrock::{BedrockClient, ClientOptions, Target, TargetSpec};
use shale_config::{Api, Config, InvokeSpec, ModelEntry, RedisSettings, Secret};
use shale_router::{LocalState, RedisState, Router, SharedState, SystemClock};
use shale_translate::invoke::InvokeFamily;
use shale_translate::{ChatApi, ChatContext, ChatMessage, FetchedMedia, ModelCaps};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};

/// One configured deployment with everything resolved for serving. Handlers read it through the
/// accessors below rather than reaching into the config entry.
#[derive(Debug)]
pub struct Deployment {
    pub entry: ModelEntry,
    /// Load-balancing weight (> 0).
    pub weight: f64,
    /// Where and how to call Bedrock for this deployment.
    pub target: Target,
    /// What the model supports (by its base model id).
    pub caps: ModelCaps,
    /// `litellm_params.user_continue_message`, parsed once.
    pub user_continue_message: Option<ChatMessage>,
    /// `modify_params` of the deployment, else `litellm_settings.modify_params`.
    pub modify_params: bool,
    /// The API chat requests use (None: not a chat model, e.g. an embedding model on invoke).
    pub chat_api: Option<ChatApi>,
}

impl Deployment {
    /// Default request parameters from the deployment's `litellm_params`.
    pub fn default_params(&self) -> &Map<String, Value> {
        &self.entry.params.default_request_params
    }

    pub fn api(&self) -> Api {
        self.entry.route.api
    }

    /// The `model_name` clients call it by.
    pub fn name(&self) -> &str {
        &self.entry.model_name
    }

    /// The Bedrock model id (or ARN) it calls.
    pub fn model_id(&self) -> &str {
        self.target.model_id()
    }

    /// The model id with route prefixes and cross-region prefixes removed (capability look-ups).
    pub fn base_model(&self) -> &str {
        &self.entry.route.base_model
    }

    /// `model_list[i] (name)`, for messages.
    pub fn label(&self) -> String {
        self.entry.label()
    }

    /// The API chat requests to this deployment use, or 400 for a model that does not chat.
    pub fn chat_api(&self) -> Result<ChatApi, ApiError> {
        self.chat_api.ok_or_else(|| {
            ApiError::invalid(
                Some("model"),
                format!(
                    "The model `{}` ({}) is not a chat model: use the endpoint for its kind (e.g. /v1/embeddings).",
                    self.name(),
                    self.model_id()
                ),
            )
        })
    }

    /// 400 for a `converse_like` deployment (a chat proxy, not Bedrock) or one on
    /// bedrock-mantle / bedrock-runtime's `/openai/v1` (chat, Responses and Messages only) asked
    /// to serve `what` (e.g. "rerank", "an embedding model").
    pub fn require_bedrock(&self, what: &str) -> Result<(), ApiError> {
        let kind = match self.api() {
            Api::ConverseLike => "uses converse_like",
            Api::Surface => "is on an OpenAI-compatible surface (bedrock-mantle or /openai/v1)",
            Api::Converse | Api::Invoke => return Ok(()),
        };
        Err(ApiError::invalid(
            Some("model"),
            format!(
                "Deployment {} {kind}, which serves chat only, not {what}.",
                self.label()
            ),
        ))
    }

    /// The host, APIs and paths of a deployment on bedrock-mantle or bedrock-runtime's
    /// `/openai/v1` (`routes::openai_surface` serves it).
    pub fn surface(&self) -> Option<shale_config::SurfacePlan> {
        self.entry.route.surface
    }

    /// What the chat translators need from this deployment for one request.
    pub fn chat_context<'a>(
        &'a self,
        headers: &'a HeaderMap,
        fetched_media: &'a FetchedMedia,
    ) -> ChatContext<'a> {
        ChatContext {
            caps: &self.caps,
            default_params: self.default_params(),
            modify_params: self.modify_params,
            user_continue_message: self.user_continue_message.as_ref(),
            anthropic_beta: headers.get("anthropic-beta").and_then(|v| v.to_str().ok()),
            fetched_media,
        }
    }
}

/// The deployments that answer to one `model_name`.
#[derive(Debug, Default)]
pub struct ModelGroup {
    pub deployments: Vec<Arc<Deployment>>,
    total_weight: f64,
}

impl ModelGroup {
    /// Weighted random choice (LiteLLM's `simple-shuffle`).
    pub fn pick(&self) -> &Arc<Deployment> {
        if self.deployments.len() == 1 {
            return &self.deployments[0];
        }
        let mut point = rand::thread_rng().gen_range(0.0..self.total_weight);
        for d in &self.deployments {
            if point < d.weight {
                return d;
            }
            point -= d.weight;
        }
        self.deployments.last().expect("a group is never empty")
    }
}

/// Why the gateway cannot start with this config.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{deployment}: {source}")]
    Deployment {
        deployment: String,
        #[source]
        source: shale_bedrock::BedrockError,
    },
    #[error("{deployment}: litellm_params.user_continue_message is not a chat message: {message}")]
    ContinueMessage { deployment: String, message: String },
    #[error("cannot create the Bedrock HTTP client: {0}")]
    Client(#[source] shale_bedrock::BedrockError),
    #[error("cannot create the media HTTP client: {0}")]
    Media(String),
    #[error("{0}")]
    Redis(String),
    #[error("virtual keys: {0}")]
    Keys(#[source] shale_keys::KeyError),
    #[error("stored models: {0}")]
    Models(String),
    #[error("{0}")]
    Fleet(String),
    #[error("guardrails: {0}")]
    Guardrails(#[source] shale_guardrails::BuildError),
}

/// Shared, read-only gateway state: one snapshot of the model table (see the module doc). Cheap
/// to clone (every field is shared); a field added here must be too, and is carried to the next
/// snapshot by [`AppState::rebuild`] unless it depends on the model table.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration this snapshot serves: the config file's (after reloads), with the
    /// models stored in Postgres appended to `model_list`.
    pub config: Arc<Config>,
    pub models: Arc<HashMap<String, ModelGroup>>,
    /// Every deployment, at its `model_list` index (the router's picks index this).
    pub deployments: Arc<Vec<Arc<Deployment>>>,
    /// Chooses deployments, retries, cools down, falls back, enforces rpm/tpm.
    pub router: Arc<Router>,
    pub master_key: Option<Arc<MasterKey>>,
    pub max_body_bytes: usize,
    /// The Bedrock client (one connection pool per serving worker).
    pub bedrock: BedrockClient,
    /// SSRF-safe fetcher for http(s) media URLs in chat messages.
    pub media: MediaFetcher,
    /// `GET /v1/models`, serialised once.
    pub models_json: Bytes,
    /// Set when shutdown begins: readiness answers 503 so load balancers stop sending traffic.
    pub draining: Arc<AtomicBool>,
    /// Unix time the config was loaded (the `created` of `/v1/models` entries).
    pub created: u64,
    /// Stored Responses API answers (`store: true`).
    pub responses: Arc<dyn ResponseStore>,
    /// Metrics, cost, access log (resolved per deployment at load).
    pub telemetry: Arc<shale_telemetry::Telemetry>,
    /// Virtual keys, teams, budgets and spend (when `database_url` / `DATABASE_URL` is set).
    pub keys: Option<Arc<shale_keys::KeyService>>,
    /// Background health checks (`general_settings.background_health_checks`).
    pub health: Option<Arc<shale_fleet::health::HealthChecker>>,
    /// The health checks' and the shared Responses store's metrics.
    pub fleet_metrics: Arc<shale_fleet::metrics::FleetMetrics>,
    /// The admin UI at `/ui` (with a master key, unless `DISABLE_ADMIN_UI`).
    pub ui: Option<Arc<shale_ui::Ui>>,
    /// The live model table this snapshot belongs to (`live.rs`); dangling for a state that was
    /// never made live (tests, tools).
    pub live: LiveLink,
    /// Deployments kept in Postgres (`store_model_in_db`), behind `/model/new|update|delete`.
    pub models_store: Option<Arc<shale_models::ModelStore>>,
    /// The configured `guardrails:` (Bedrock ApplyGuardrail), when there are any.
    pub guardrails: Option<Arc<shale_guardrails::Engine>>,
    /// The response cache (`litellm_settings.cache: true`); `None` when off.
    pub cache: Option<Arc<shale_cache::ResponseCache>>,
}

/// What holds the newest snapshot (`live.rs`'s `Live`), seen from a snapshot: a trait, so this
/// module does not import the live table that imports it.
pub trait LiveTable: Send + Sync + 'static {
    /// The current snapshot.
    fn state(&self) -> Arc<AppState>;
    /// The table itself, for the code that changes it (the model API downcasts to `Live`).
    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync>;
}

/// A weak link from a snapshot to the live table that holds it (the live table owns the
/// snapshots, so the link back must not).
#[derive(Clone, Default)]
pub struct LiveLink(pub(crate) Option<Weak<dyn LiveTable>>);

impl LiveLink {
    /// The live table, while it exists.
    pub fn upgrade(&self) -> Option<Arc<dyn LiveTable>> {
        self.0.as_ref()?.upgrade()
    }
}

impl std::fmt::Debug for LiveLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveLink")
    }
}

/// A resolved model table: groups by `model_name` and deployments by `model_list` index.
struct Table {
    models: HashMap<String, ModelGroup>,
    deployments: Vec<Arc<Deployment>>,
}

impl Table {
    /// Resolves every deployment of `config`; one whose entry is unchanged from a deployment of
    /// `previous` keeps that deployment's Bedrock target (and its credential cache). A deployment
    /// of the config file that does not resolve is an error (as at start-up); a stored one
    /// (`model_info.db_model`) is left out of `config` and logged, so one bad row cannot hold the
    /// rest of the table back.
    async fn resolve(
        bedrock: &BedrockClient,
        config: &mut Config,
        previous: &[Arc<Deployment>],
    ) -> Result<Table, StartupError> {
        let mut models: HashMap<String, ModelGroup> = HashMap::new();
        let mut deployments = Vec::with_capacity(config.model_list.len());
        let mut reused = vec![false; previous.len()];
        let mut kept = Vec::with_capacity(config.model_list.len());
        for mut entry in std::mem::take(&mut config.model_list) {
            entry.index = kept.len();
            let same = previous
                .iter()
                .enumerate()
                .find(|(i, d)| !reused[*i] && d.entry.same_deployment(&entry));
            let target = same.map(|(i, d)| {
                reused[i] = true;
                d.target.clone()
            });
            let deployment = match resolve_deployment(bedrock, config, &entry, target).await {
                Ok(d) => Arc::new(d),
                Err(err) if entry.model_info.get("db_model") == Some(&Value::Bool(true)) => {
                    tracing::error!(error = %err, "a stored model cannot be served on this replica: left out");
                    continue;
                }
                Err(err) => return Err(err),
            };
            let group = models.entry(entry.model_name.clone()).or_default();
            group.total_weight += deployment.weight;
            group.deployments.push(Arc::clone(&deployment));
            deployments.push(deployment);
            kept.push(entry);
        }
        config.model_list = kept;
        Ok(Table {
            models,
            deployments,
        })
    }

    /// Each deployment's config entry and Bedrock target, for its telemetry labels and prices.
    fn telemetry_inputs(&self) -> Vec<(&ModelEntry, &Target)> {
        self.deployments
            .iter()
            .map(|d| (&d.entry, &d.target))
            .collect()
    }

    /// `GET /v1/models`, serialised once.
    fn models_json(config: &Config, created: u64) -> Bytes {
        let data: Vec<_> = config
            .model_names()
            .into_iter()
            .map(|name| model_object(name, created))
            .collect();
        Bytes::from(
            serde_json::to_vec(&json!({"object": "list", "data": data})).expect("models JSON"),
        )
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl AppState {
    /// Resolves every deployment (route, region, endpoint, credential provider) and builds the
    /// state. `master_key` is the effective key (config or environment), chosen by the caller;
    /// `workers` is how many serving workers will share it (each gets its own Bedrock pool).
    pub async fn build(
        config: Config,
        master_key: Option<&str>,
        workers: usize,
    ) -> Result<AppState, StartupError> {
        let created = unix_now();
        let bedrock =
            BedrockClient::new(client_options(&config, workers)).map_err(StartupError::Client)?;
        let media = MediaFetcher::new(config.general_settings.media_fetch.clone())
            .map_err(StartupError::Media)?;
        let mut config = config;
        let table = Table::resolve(&bedrock, &mut config, &[]).await?;
        let resolved = table.telemetry_inputs();
        let telemetry = Arc::new(crate::telemetry_setup::build_telemetry(
            &config, &resolved, master_key,
        ));
        let redis = crate::cache_setup::router_redis(&config, redis_url_of(&config)?);
        let router = Router::new(
            &config,
            router_state(redis.as_deref())?,
            Arc::new(SystemClock),
        )
        .with_observer(Arc::new(crate::router_metrics::RouterMetrics::new(
            Arc::clone(&telemetry),
        )));
        let keys = start_keys(&config, redis.as_deref()).await?;
        let fleet = crate::fleet_setup::build(&config, &bedrock, redis.as_deref())
            .map_err(StartupError::Fleet)?;
        let ui = admin_ui(
            master_key,
            keys.is_some(),
            telemetry.metrics().is_some(),
            crate::fleet_setup::store_models_enabled(&config),
        );
        let guardrails = start_guardrails(&config, workers).await?;
        let cache = crate::cache_setup::start(&config, redis.as_deref(), &router)
            .await
            .map_err(StartupError::Redis)?;
        Ok(AppState {
            max_body_bytes: config.general_settings.max_request_body_bytes,
            master_key: master_key.map(|k| Arc::new(MasterKey::new(k))),
            models: Arc::new(table.models),
            deployments: Arc::new(table.deployments),
            router: Arc::new(router),
            bedrock,
            media,
            models_json: Table::models_json(&config, created),
            draining: Arc::new(AtomicBool::new(false)),
            created,
            responses: fleet.responses,
            telemetry,
            keys,
            live: LiveLink::default(),
            models_store: None,
            health: fleet.health,
            fleet_metrics: Arc::new(fleet.metrics),
            guardrails,
            cache,
            config: Arc::new(config),
            ui,
        })
    }

    /// The snapshot that serves `config` instead (a changed `model_list` or reloadable settings),
    /// built completely — every deployment resolved — before anything is swapped, so a failure
    /// leaves this snapshot serving. Unchanged deployments keep their target and router state;
    /// everything that outlives a swap is shared.
    pub async fn rebuild(&self, mut config: Config) -> Result<AppState, StartupError> {
        let created = unix_now();
        let table = Table::resolve(&self.bedrock, &mut config, &self.deployments).await?;
        let resolved = table.telemetry_inputs();
        let telemetry = Arc::new(self.telemetry.rebuild(
            crate::telemetry_setup::deployment_telemetry(&config, &resolved),
        ));
        let router = self
            .router
            .rebuild(&self.config, &config)
            .with_observer(Arc::new(crate::router_metrics::RouterMetrics::new(
                Arc::clone(&telemetry),
            )));
        Ok(AppState {
            max_body_bytes: config.general_settings.max_request_body_bytes,
            models: Arc::new(table.models),
            deployments: Arc::new(table.deployments),
            router: Arc::new(router),
            models_json: Table::models_json(&config, created),
            created,
            telemetry,
            config: Arc::new(config),
            ..self.clone()
        })
    }

    /// The newest snapshot of the live model table this one belongs to (itself when it is not
    /// live). Background tasks that outlive requests (health probes, reconciles) call this each
    /// round instead of keeping a snapshot: `state.current().deployments` is the deployment list
    /// of the moment.
    pub fn current(self: &Arc<Self>) -> Arc<AppState> {
        match self.live.upgrade() {
            Some(live) => live.state(),
            None => Arc::clone(self),
        }
    }

    /// A deployment of `model_name` (or of the group it aliases) by weight, for the routes that
    /// do not go through the router; or the OpenAI-style "unknown model" error.
    pub fn deployment(&self, model_name: &str) -> Result<Arc<Deployment>, ApiError> {
        let group = self.router.resolve(model_name).map_or(model_name, |g| &**g);
        let Some(models) = self.models.get(group) else {
            crate::report::unknown_model(model_name);
            return Err(ApiError::UnknownModel(model_name.to_string()));
        };
        let chosen = Arc::clone(models.pick());
        crate::report::deployment_chosen(model_name, chosen.entry.index, chosen.target.model_id());
        Ok(chosen)
    }
}

/// The Redis URL of the shared state, when configured (`router_settings.redis_*`, `redis_url`,
/// `cache_params` of type redis, or env `REDIS_URL` / `REDIS_HOST` + `REDIS_PORT` +
/// `REDIS_PASSWORD`).
pub(crate) fn redis_url_of(config: &Config) -> Result<Option<String>, StartupError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Ok(match &config.routing.redis {
        Some(RedisSettings::Url(url)) => Some(url.expose().to_string()),
        Some(RedisSettings::Host {
            host,
            port,
            password,
        }) => Some(redis_url(
            host,
            *port,
            password.as_ref().map(Secret::expose),
        )?),
        None => match (env("REDIS_URL"), env("REDIS_HOST")) {
            (Some(url), _) => Some(url),
            (None, Some(host)) => {
                let port = match env("REDIS_PORT") {
                    None => 6379,
                    Some(p) => p.parse::<u16>().map_err(|_| {
                        StartupError::Redis(format!("REDIS_PORT `{p}` is not a port"))
                    })?,
                };
                Some(redis_url(&host, port, env("REDIS_PASSWORD").as_deref())?)
            }
            (None, None) => None,
        },
    })
}

/// The router's state: Redis when configured, else this process's memory.
fn router_state(url: Option<&str>) -> Result<SharedState, StartupError> {
    let Some(url) = url else {
        return Ok(SharedState::Local(LocalState::new()));
    };
    let state = RedisState::new(url, "shale").map_err(|e| StartupError::Redis(e.to_string()))?;
    tracing::info!("router state is shared through Redis");
    Ok(SharedState::Redis(Box::new(state)))
}

/// The admin UI: on with a master key (its sign-in checks it like the API does), unless
/// `DISABLE_ADMIN_UI` is set.
fn admin_ui(
    master_key: Option<&str>,
    database: bool,
    metrics: bool,
    model_store: bool,
) -> Option<Arc<shale_ui::Ui>> {
    if shale_ui::disabled_by_env() {
        return None;
    }
    let key = MasterKey::new(master_key?);
    let mut settings = shale_ui::UiSettings::from_env(database, metrics, env!("CARGO_PKG_VERSION"));
    settings.model_store = model_store;
    Some(Arc::new(shale_ui::Ui::new(
        settings,
        Arc::new(move |presented: &str| key.matches(presented)),
    )))
}

/// The configured `guardrails:`, resolved (`None` when the config has none).
async fn start_guardrails(
    config: &Config,
    workers: usize,
) -> Result<Option<Arc<shale_guardrails::Engine>>, StartupError> {
    if config.guardrails.is_empty() {
        return Ok(None);
    }
    let engine = shale_guardrails::Engine::build(&config.guardrails, workers)
        .await
        .map_err(StartupError::Guardrails)?;
    tracing::info!(
        guardrails = engine.all().len(),
        "guardrails are on (Bedrock ApplyGuardrail)"
    );
    Ok(Some(Arc::new(engine)))
}

/// Virtual keys, when a database is configured (`database_url`, else env `DATABASE_URL`); Redis,
/// when configured, shares counters and cache invalidations between replicas.
async fn start_keys(
    config: &Config,
    redis: Option<&str>,
) -> Result<Option<Arc<shale_keys::KeyService>>, StartupError> {
    match shale_keys::KeyService::start(&config.general_settings.keys, redis).await {
        Ok(service) => {
            tracing::info!("virtual keys are on (PostgreSQL)");
            Ok(Some(service))
        }
        // Neither `database_url` nor `DATABASE_URL`: master key only, as before.
        Err(shale_keys::KeyError::NoDatabase) => Ok(None),
        Err(err) => Err(StartupError::Keys(err)),
    }
}

fn redis_url(host: &str, port: u16, password: Option<&str>) -> Result<String, StartupError> {
    let mut url = url::Url::parse(&format!("redis://{host}:{port}/"))
        .map_err(|_| StartupError::Redis(format!("invalid Redis host `{host}`")))?;
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        url.set_password(Some(p))
            .map_err(|_| StartupError::Redis("invalid Redis password".into()))?;
    }
    Ok(url.to_string())
}

/// Client options. Retries across deployments belong to the router, so a single Bedrock call is
/// not retried by the client (no multiplied retries).
fn client_options(config: &Config, workers: usize) -> ClientOptions {
    let mut options = ClientOptions {
        num_retries: 0,
        workers,
        on_attempt: Some(shale_telemetry::attempts::count_attempt),
        attempt_spans: Some(shale_bedrock::AttemptSpanHooks {
            operation: shale_telemetry::attempts::request_operation,
            answered: shale_telemetry::attempts::keep_answered_span,
        }),
        ..ClientOptions::default()
    };
    if let Some(t) = config
        .litellm_settings
        .request_timeout
        .or(config.router_settings.timeout)
    {
        options.timeout = t;
    }
    options
}

pub(crate) async fn resolve_deployment(
    bedrock: &BedrockClient,
    config: &Config,
    entry: &ModelEntry,
    target: Option<Target>,
) -> Result<Deployment, StartupError> {
    let label = entry.label();
    let user_continue_message = match &entry.params.user_continue_message {
        None => None,
        Some(v) => Some(
            serde_json::from_value::<ChatMessage>(v.clone()).map_err(|e| {
                StartupError::ContinueMessage {
                    deployment: label.clone(),
                    message: e.to_string(),
                }
            })?,
        ),
    };
    let target =
        match target {
            Some(target) => target,
            None => bedrock.target(target_spec(entry)).await.map_err(|source| {
                StartupError::Deployment {
                    deployment: label.clone(),
                    source,
                }
            })?,
        };
    Ok(Deployment {
        weight: entry.params.weight.filter(|w| *w > 0.0).unwrap_or(1.0),
        target,
        caps: ModelCaps::for_model_id(&entry.route.base_model),
        user_continue_message,
        modify_params: entry
            .params
            .modify_params
            .unwrap_or(config.litellm_settings.modify_params),
        chat_api: chat_api(entry),
        entry: entry.clone(),
    })
}

/// The API a deployment's chat requests use: Converse for `converse` / `converse_like` routes,
/// the family's native body on `invoke` (an explicit spec such as `llama/` wins over the model id).
fn chat_api(entry: &ModelEntry) -> Option<ChatApi> {
    match entry.route.api {
        Api::Converse | Api::ConverseLike => Some(ChatApi::Converse),
        // Served by `routes::openai_surface`, not by the Converse / invoke translators.
        Api::Surface => None,
        Api::Invoke => {
            let family = match entry.route.spec {
                Some(InvokeSpec::Llama) => Some(InvokeFamily::Llama3),
                Some(InvokeSpec::DeepSeekR1) => Some(InvokeFamily::DeepSeekR1),
                Some(InvokeSpec::Qwen2 | InvokeSpec::Qwen3) => Some(InvokeFamily::Qwen),
                Some(InvokeSpec::OpenAi | InvokeSpec::Moonshot) => Some(InvokeFamily::OpenAiFormat),
                None => InvokeFamily::detect(&entry.route.base_model),
            };
            family.map(ChatApi::Invoke)
        }
    }
}

/// Maps LiteLLM `litellm_params` onto the Bedrock client's plain inputs.
pub fn target_spec(entry: &ModelEntry) -> TargetSpec {
    let p = &entry.params;
    TargetSpec {
        deployment: entry.label(),
        model_id: p
            .model_id
            .clone()
            .unwrap_or_else(|| entry.route.model_id.clone()),
        region: p
            .aws_region_name
            .clone()
            .or_else(|| entry.route.region.clone()),
        api_base: p.api_base.clone(),
        runtime_endpoint: p.aws_bedrock_runtime_endpoint.clone(),
        agent_runtime_endpoint: p.aws_bedrock_agent_runtime_endpoint.clone(),
        api_key: p.api_key.clone(),
        access_key_id: p.aws_access_key_id.clone(),
        secret_access_key: p.aws_secret_access_key.clone(),
        session_token: p.aws_session_token.clone(),
        profile_name: p.aws_profile_name.clone(),
        role_name: p.aws_role_name.clone(),
        session_name: p.aws_session_name.clone(),
        external_id: p.aws_external_id.clone(),
        web_identity_token: p.aws_web_identity_token.clone(),
        sts_endpoint: p.aws_sts_endpoint.clone(),
        session_tags: p.aws_session_tags.clone(),
        role_session_duration: None,
        timeout: p.timeout,
        stream_timeout: p.stream_timeout,
        // The router retries (with this deployment's `num_retries` as its budget).
        num_retries: Some(0),
        converse_like: entry.route.api == Api::ConverseLike,
        surface: entry.route.surface.map(|plan| shale_bedrock::SurfaceSpec {
            host: plan.host,
            apis: plan.apis,
            openai_base: plan.openai_base,
            project_id: p.aws_bedrock_project_id.clone(),
        }),
    }
}

/// One entry of `/v1/models`.
pub fn model_object(name: &str, created: u64) -> serde_json::Value {
    json!({"id": name, "object": "model", "created": created, "owned_by": "shale"})
}
