//! `shale demo`: starts the Bedrock emulator in-process, then the gateway on it with the built-in
//! demo config (`config/demo.yaml`, compiled in), and prints a ready-to-paste curl line with a freshly
//! generated key. This is an explicit mode: the normal command never falls back to the emulator.

use crate::cli::DemoArgs;
use crate::run::{announce, bind_addr, serve};
use anyhow::{bail, Context};
use shale_config::Config;
use std::net::SocketAddr;

/// The built-in demo config.
const DEMO_CONFIG: &str = include_str!("../../../config/demo.yaml");

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // Before anything is started or printed: a taken port is the usual first-run failure.
    let addr = bind_addr(&args.host, args.port)?;
    ensure_port_free(addr)?;
    let emulator = shale_emulator::spawn(
        shale_emulator::EmulatorConfig::default(),
        "127.0.0.1:0".parse().expect("loopback address"),
    )
    .await
    .context("cannot start the Bedrock emulator")?;
    let emulator_url = emulator.url();
    let key = format!("sk-demo-{}", uuid::Uuid::new_v4().simple());

    let text = match &args.config {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => DEMO_CONFIG.to_string(),
    };
    let lookup = |name: &str| match name {
        "SHALE_DEMO_BEDROCK_URL" => Some(emulator_url.clone()),
        "SHALE_DEMO_KEY" => Some(key.clone()),
        other => std::env::var(other).ok(),
    };
    let config = Config::from_yaml_str(&text, &lookup).context("demo config")?;
    let first_model = config
        .model_names()
        .first()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "claude-sonnet".into());

    announce(&format!(
        "shale demo: Bedrock emulator on {emulator_url} (no AWS account is used)"
    ));
    announce(&format!("key: {key}"));
    let shown_host = if args.host == "0.0.0.0" {
        "127.0.0.1"
    } else {
        args.host.as_str()
    };
    let port = if args.port == 0 {
        "<port>".to_string()
    } else {
        args.port.to_string()
    };
    announce(&format!(
        "try: curl http://{shown_host}:{port}/v1/chat/completions -H \"Authorization: Bearer {key}\" -H \"Content-Type: application/json\" -d '{{\"model\":\"{first_model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}'"
    ));
    let result = serve(config, addr, &args.common).await;
    emulator.shutdown().await;
    result
}

/// Fails, naming `--port`, when nothing may listen on `addr`. The probe is a plain bind: unlike
/// the gateway's own sockets (SO_REUSEPORT, one per worker) it is refused by a port another
/// process holds, even another shale, which would otherwise silently share it.
fn ensure_port_free(addr: SocketAddr) -> anyhow::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let Err(err) = std::net::TcpListener::bind(addr) else {
        return Ok(());
    };
    if err.kind() == std::io::ErrorKind::AddrInUse {
        bail!(
            "port {} is already in use on {}: stop what listens there, or run the demo on another port, e.g. `shale demo --port {}` (`--port 0` picks a free one)",
            addr.port(),
            addr.ip(),
            addr.port().wrapping_add(1).max(1024)
        );
    }
    bail!("cannot listen on {addr}: {err}; pick another port with `shale demo --port PORT`")
}
