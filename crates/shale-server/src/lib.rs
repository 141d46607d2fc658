//! `shale-server`: the HTTP face of the gateway — routes, authentication, errors, request ids,
//! tracing and graceful shutdown. It owns no translation rules (see `shale-translate`) and no
//! Bedrock protocol (see `shale-bedrock`); handlers glue the two together.

#![forbid(unsafe_code)]

pub mod anthropic_error;
pub mod app;
pub mod auth;
pub mod body;
pub mod error;
pub mod media;
pub mod panic;
pub mod response;
pub mod responses_store;
pub mod routes;
pub mod routing;
pub mod sse;
pub mod state;

pub use app::build_app;
pub use error::ApiError;
pub use state::AppState;

use axum::serve::ListenerExt;
use std::future::{Future, IntoFuture};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves until `shutdown` resolves, then stops accepting connections, lets in-flight requests finish
/// for at most `grace`, and returns. Readiness turns 503 as soon as shutdown begins.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let app = build_app(Arc::clone(&state));
    let (begin_tx, begin_rx) = tokio::sync::oneshot::channel::<()>();
    let draining_state = Arc::clone(&state);
    let signal = async move {
        shutdown.await;
        draining_state.draining.store(true, Ordering::Relaxed);
        tracing::info!("shutdown requested: finishing in-flight requests");
        let _ = begin_tx.send(());
    };
    // Small SSE writes must leave at once: Nagle + delayed ACK would add ~40 ms per chunk.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result,
        _ = async {
            let _ = begin_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "in-flight requests did not finish in time; exiting");
            Ok(())
        }
    }
}
