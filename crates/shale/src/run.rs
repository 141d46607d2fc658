//! What each command does: load and check the config, choose the master key, bind, serve, shut down.

use crate::cli::{Cli, Command, CommonArgs};
use crate::{demo, logging};
use anyhow::{bail, Context};
use shale_config::Config;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Check { path }) => Ok(check(&path)),
        Some(Command::Healthcheck { url }) => runtime()?.block_on(healthcheck(&url)),
        Some(Command::Demo(args)) => {
            let _logs = logging::init(args.common.log_format, None);
            runtime()?.block_on(demo::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let args = cli.serve;
            let path = args.config.context(
                "no config file given: pass --config PATH or set SHALE_CONFIG (try `shale demo` to see shale work without AWS)",
            )?;
            let config = Config::load(&path)
                .with_context(|| format!("cannot load config {}", path.display()));
            let config = match config {
                Ok(config) => config,
                Err(err) => {
                    let _logs = logging::init(args.common.log_format, None);
                    return Err(err);
                }
            };
            let addr = bind_addr(&args.host, args.port)?;
            let rt = runtime()?;
            let otel = rt.block_on(async { start_otel(&config) });
            let (otel, otel_error) = match otel {
                Ok(otel) => (otel, None),
                Err(err) => (None, Some(err)),
            };
            let _logs = logging::init(args.common.log_format, otel.as_ref());
            if let Some(err) = otel_error {
                tracing::warn!(%err, "OpenTelemetry traces are off");
            } else if otel.is_some() {
                tracing::info!("exporting traces over OTLP");
            }
            let result = rt.block_on(serve(config, Some(path), addr, &args.common));
            if let Some(otel) = otel {
                otel.shutdown();
            }
            result?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The OTLP trace exporter, when `callbacks: [otel]` or an `OTEL_EXPORTER_OTLP_*ENDPOINT` asks
/// for it (must run inside the runtime: the grpc transport needs it).
fn start_otel(
    config: &Config,
) -> Result<Option<shale_telemetry::otel::Otel>, shale_telemetry::otel::OtelError> {
    if !shale_telemetry::otel::wanted(config.telemetry.otel, &|name| std::env::var(name).ok()) {
        return Ok(None);
    }
    shale_telemetry::otel::Otel::start().map(Some)
}

/// The main runtime: start-up, signals and background tasks (spend writer, Redis links, the
/// demo's emulator). Requests are served on the workers' own runtimes (`shale_server::serve`).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("shale-main")
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn bind_addr(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let ip: std::net::IpAddr = if host == "localhost" {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse()
            .with_context(|| format!("--host `{host}` is not an IP address"))?
    };
    Ok(SocketAddr::new(ip, port))
}

/// `shale check PATH`: prints findings; exit 0 when the config loads.
fn check(path: &Path) -> ExitCode {
    match Config::load_for_check(path) {
        Ok(config) => {
            println!(
                "{}: OK — {} deployment(s), {} model name(s)",
                path.display(),
                config.model_list.len(),
                config.model_names().len()
            );
            for m in &config.model_list {
                let id = m.params.model_id.as_deref().unwrap_or(&m.route.model_id);
                match &m.route.surface {
                    Some(plan) => println!("  {} → {id} on {}", m.model_name, plan.describe()),
                    None => println!(
                        "  {} → {:?} {id}{}",
                        m.model_name,
                        m.route.api,
                        m.route
                            .spec
                            .map(|s| format!(" ({s:?} body)"))
                            .unwrap_or_default()
                    ),
                }
            }
            println!(
                "  anthropic-beta (/v1/messages → Bedrock): {}",
                config.general_settings.anthropic_beta.describe()
            );
            for m in config
                .model_list
                .iter()
                .filter(|m| m.params.rpm.is_some() || m.params.tpm.is_some())
            {
                println!(
                    "understood: {} limits: rpm {}, tpm {}",
                    m.label(),
                    m.params.rpm.map_or("-".into(), |v| v.to_string()),
                    m.params.tpm.map_or("-".into(), |v| v.to_string())
                );
            }
            for key in &config.routing.understood {
                println!("understood: {key}");
            }
            for finding in &config.findings {
                println!("{finding}");
            }
            for line in shale_server::fleet::describe(&config) {
                println!("{line}");
            }
            println!("  virtual keys: {}", describe_keys(&config));
            println!("  stored models: {}", describe_stored_models(&config));
            let fleet = &config.general_settings.fleet;
            println!(
                "  config reload: on SIGHUP{}",
                fleet
                    .config_reload_interval
                    .map_or(String::new(), |d| format!(
                        ", and when the file changes (checked every {} s)",
                        d.as_secs_f64()
                    ))
            );
            println!(
                "    applied by a reload: {}",
                shale_config::reload::RELOADABLE.join("; ")
            );
            println!(
                "    need a restart: {}",
                shale_config::reload::RESTART_ONLY.join("; ")
            );
            println!(
                "  admin UI: {}",
                shale_ui::describe(effective_master_key(&config).is_some())
            );
            println!(
                "  built-in tools OpenAI hosts (web_search, file_search, code_interpreter, …): {}",
                if config.general_settings.drop_hosted_tools {
                    "dropped, named in the x-shale-dropped-tools answer header (general_settings.drop_hosted_tools: false refuses them with 400)"
                } else {
                    "refused with 400 unsupported_tool (general_settings.drop_hosted_tools: false)"
                }
            );
            println!("  guardrails: {}", config.guardrails.len());
            for g in &config.guardrails {
                println!("  guardrail {}", g.describe());
            }
            println!(
                "  response cache: {}",
                match &config.litellm_settings.cache {
                    Some(cache) => shale_cache::describe(cache, &|name| std::env::var(name).ok()),
                    None => "off (set litellm_settings.cache: true)".into(),
                }
            );
            if config.general_settings.master_key.is_none()
                && !config.general_settings.allow_unauthenticated
            {
                println!("note: general_settings.master_key is not set: `shale` will need SHALE_MASTER_KEY, LITELLM_MASTER_KEY or --allow-unauthenticated");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}: {err}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// `shale check`'s line about virtual keys (never the database URL: it may hold a password).
fn describe_keys(config: &Config) -> String {
    let keys = &config.general_settings.keys;
    let source = if keys.database_url.is_some() {
        "general_settings.database_url"
    } else if std::env::var("DATABASE_URL").is_ok_and(|u| !u.trim().is_empty()) {
        "DATABASE_URL"
    } else {
        return "off (set general_settings.database_url or DATABASE_URL to turn on /key/*, /team/*, budgets and spend logs)".into();
    };
    format!(
        "active (PostgreSQL from {source}; spend written every {} s, key lookups cached {} s{}{})",
        keys.proxy_batch_write_at.as_secs_f64(),
        keys.user_api_key_cache_ttl.as_secs_f64(),
        if keys.disable_spend_logs {
            ", spend logs off"
        } else {
            ""
        },
        if keys.allow_requests_on_db_unavailable {
            ", starts without the database"
        } else {
            ""
        },
    )
}

/// `shale check`'s line about models kept in Postgres (`store_model_in_db`).
fn describe_stored_models(config: &Config) -> String {
    if !shale_server::models_sync::enabled(config) {
        return "off (set general_settings.store_model_in_db: true to manage models with /model/new, /model/update, /model/delete)".into();
    }
    if config.general_settings.keys.database_url_or_env().is_none() {
        return "on, but no database: set general_settings.database_url or DATABASE_URL (the gateway will refuse to start)".into();
    }
    let salt = ["SHALE_SALT_KEY", "LITELLM_SALT_KEY"]
        .iter()
        .any(|n| std::env::var(n).is_ok_and(|v| !v.trim().is_empty()));
    format!(
        "on (PostgreSQL of the virtual keys; every replica reconciles every {} s, at once on a Redis notice when Redis is configured; {})",
        config.general_settings.fleet.model_reconcile_interval.as_secs_f64(),
        if salt {
            "secrets sealed with SHALE_SALT_KEY / LITELLM_SALT_KEY"
        } else {
            "SHALE_SALT_KEY is not set: models with secrets in litellm_params will be refused"
        }
    )
}

/// The effective master key: config, then `SHALE_MASTER_KEY`, then `LITELLM_MASTER_KEY`.
pub fn effective_master_key(config: &Config) -> Option<String> {
    config
        .general_settings
        .master_key
        .as_ref()
        .map(|s| s.expose().to_string())
        .or_else(|| std::env::var("SHALE_MASTER_KEY").ok())
        .or_else(|| std::env::var("LITELLM_MASTER_KEY").ok())
        .filter(|k| !k.is_empty())
}

/// Builds the state, binds, prints the ready line, and serves until SIGINT/SIGTERM. `path` is
/// the config file `SIGHUP` (and `config_reload_interval_seconds`) reload from.
pub async fn serve(
    config: Config,
    path: Option<std::path::PathBuf>,
    addr: SocketAddr,
    common: &CommonArgs,
) -> anyhow::Result<()> {
    for finding in &config.findings {
        tracing::info!(path = %finding.path, "{}", finding.message);
    }
    let master_key = effective_master_key(&config);
    let allow_open = common.allow_unauthenticated || config.general_settings.allow_unauthenticated;
    if master_key.is_none() {
        if !allow_open {
            bail!("no master key configured: set general_settings.master_key (e.g. `os.environ/SHALE_MASTER_KEY`) or the SHALE_MASTER_KEY environment variable, or pass --allow-unauthenticated to accept every caller");
        }
        tracing::warn!("serving WITHOUT authentication (--allow-unauthenticated): anyone who can reach this port can use your Bedrock credentials");
    }
    let grace = config.general_settings.shutdown_grace;
    let workers = common.worker_count();
    let reload_every = config.general_settings.fleet.config_reload_interval;
    let live = shale_server::start(config, path, master_key.as_deref(), workers).await?;
    if let Some(every) = reload_every {
        live.watch_file(every);
    }
    reload_on_hangup(Arc::clone(&live));
    let listeners =
        shale_server::bind(addr, workers).with_context(|| format!("cannot listen on {addr}"))?;
    let local = listeners[0].local_addr()?;
    announce(&format!("shale listening on http://{local}"));
    tracing::info!(%local, models = live.state().models.len(), workers, "ready");
    shale_server::serve(listeners, live, shutdown_signal(), grace).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The one stdout line tools wait for.
pub fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reloads the config file on each `SIGHUP` (a file that does not load is refused and logged;
/// the running configuration stays).
fn reload_on_hangup(live: Arc<shale_server::Live>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP: config reloads need a restart");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config file");
            let _ = live.reload_file().await;
        }
    });
    #[cfg(not(unix))]
    drop(live);
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// `shale healthcheck`: a plain HTTP/1.1 GET (no TLS; the probe runs inside the container).
async fn healthcheck(url: &str) -> anyhow::Result<ExitCode> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .context("healthcheck URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let connect = tokio::net::TcpStream::connect(authority);
    let mut stream = tokio::time::timeout(std::time::Duration::from_secs(3), connect)
        .await
        .context("timed out connecting")?
        .with_context(|| format!("cannot connect to {authority}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = vec![0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(3), stream.read(&mut head))
        .await
        .context("timed out waiting for an answer")??;
    let status_line = String::from_utf8_lossy(&head[..n]);
    let ok = status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.0 200");
    if ok {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "unhealthy: {}",
            status_line.lines().next().unwrap_or("no answer")
        );
        Ok(ExitCode::FAILURE)
    }
}
