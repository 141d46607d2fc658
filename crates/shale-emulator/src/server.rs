//! The listener: an HTTP/1.1 accept loop (hyper) that serves the router, gives every connection
//! a [`ConnectionControl`] so scripts can drop it without a response, and stops on shutdown.

use crate::config::EmulatorConfig;
use crate::script::ScriptItem;
use crate::state::AppState;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::Service as _;

/// Lets a handler close its own connection without answering.
#[derive(Clone, Default)]
pub struct ConnectionControl(Arc<Notify>);

impl ConnectionControl {
    /// Closes the connection (the serving task drops it).
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

/// A running emulator; dropping it stops the server.
pub struct RunningEmulator {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The recorded requests (same JSON as `GET /_emulator/requests`), oldest first.
    pub fn recorded_requests(&self) -> Vec<serde_json::Value> {
        self.state.recorded_json()
    }

    /// Clears the recorded requests and the script queue.
    pub fn reset(&self) {
        self.state.clear_requests();
        self.state.clear_script();
    }

    /// Queues script items (same JSON as the `responses` of `POST /_emulator/script`).
    pub fn script(&self, responses: &[serde_json::Value]) -> Result<(), String> {
        let items: Vec<ScriptItem> =
            crate::script::parse_script(&serde_json::json!({ "responses": responses }))?;
        self.state.push_script(items);
        Ok(())
    }

    /// Stops accepting, closes connections and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `addr` and serves the emulator in the background.
pub async fn spawn(config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<RunningEmulator> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let state = Arc::new(AppState::new(config));
    let app = crate::app::build(state.clone());
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, app, rx));
    Ok(RunningEmulator {
        addr: local,
        state,
        shutdown: tx,
        task: Some(task),
    })
}

async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let control = ConnectionControl::default();
            let notify = control.0.clone();
            let service =
                hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(control.clone());
                    app.clone().call(req)
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = conn => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = notify.notified() => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}
