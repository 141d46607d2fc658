//! Accepting and draining connections: the accept loop, per-connection HTTP/1.1 settings and the
//! graceful shutdown.
//!
//! - Every accepted socket gets `TCP_NODELAY` (small SSE writes leave at once; Nagle plus delayed
//!   ACK would add ~40 ms per chunk).
//! - A client has `general_settings.header_read_timeout_seconds` (default 10 s) to send its
//!   request headers; a slow or stalled client (slowloris) is disconnected instead of holding a
//!   connection forever. Each connection is its own task, so slow clients never delay others.
//! - On shutdown the listener is closed first (new connections are refused), readiness turns
//!   503, idle keep-alive connections are closed, and requests in flight — streams included — run
//!   to their end, for at most the shutdown grace; then virtual keys' pending spend is flushed.
//!
//! What it must not do: look at requests (that is the router's job) or exit the process.

use crate::app::build_app;
use crate::state::AppState;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves until `shutdown` resolves, then stops accepting connections, lets in-flight requests
/// finish for at most `grace`, and returns. Readiness turns 503 as soon as shutdown begins.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let service = TowerToHyperService::new(build_app(Arc::clone(&state)));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.config.general_settings.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
        let connection = graceful.watch(http.serve_connection(TokioIo::new(tcp), service.clone()));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    state.draining.store(true, Ordering::Relaxed);
    tracing::info!("shutdown requested: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "in-flight requests did not finish in time; exiting");
        }
    }
    if let Some(keys) = &state.keys {
        // Spend of the requests that just finished, before the process exits.
        keys.flush().await;
    }
    Ok(())
}
