//! Accepting and draining connections: the serving workers, their accept loops, per-connection
//! HTTP/1.1 settings and the graceful shutdown.
//!
//! - The gateway serves on `workers` threads (one per core by default), each with its own
//!   single-threaded Tokio runtime and its own listening socket on the same port
//!   (`SO_REUSEPORT`: the kernel spreads new connections evenly; with one shared socket the
//!   thread that happens to be awake takes them all). A
//!   connection, its requests and the Bedrock connections they use (a pool per worker, see
//!   `shale_core::worker`) all stay on one thread: no work stealing, no cross-thread wake-ups
//!   on the hot path. Background tasks (spend writer, Redis links) run on the caller's runtime.
//! - Every accepted socket gets `TCP_NODELAY` (small SSE writes leave at once; Nagle plus delayed
//!   ACK would add ~40 ms per chunk).
//! - A client has `general_settings.header_read_timeout_seconds` (default 10 s) to send its
//!   request headers; a slow or stalled client (slowloris) is disconnected instead of holding a
//!   connection forever. Each connection is its own task, so slow clients never delay others.
//! - Each worker runs a timer tick at half that timeout (at most every 5 s). hyper registers a
//!   header-read deadline for every request it waits for; a deadline earlier than the timer
//!   driver's next wake-up makes Tokio wake the driver through its eventfd (one `write` syscall and
//!   one more `epoll_wait` event per request). With the tick, the next wake-up is always nearer.
//! - Each worker finishes its requests (metrics, access log, spend) after their answers were
//!   written (`observe::finish_after_answers`) and batches its access-log lines
//!   (`shale_telemetry::access_log::batch_this_thread`): the log writer thread is woken once per
//!   batch, not once per request.
//! - On shutdown the listeners are closed first (new connections are refused), readiness turns
//!   503, idle keep-alive connections are closed, and requests in flight — streams included — run
//!   to their end, for at most the shutdown grace; then virtual keys' pending spend and the
//!   Responses store's queued writes are flushed, and only then do the workers' runtimes stop
//!   (tasks they started stay alive for the flush). Background health checks start with serving.
//! - A worker that stops on its own (a bug) shuts the whole gateway down with an error, so a
//!   supervisor restarts it rather than it serving on fewer threads.
//!
//! What it must not do: look at requests (that is the router's job) or exit the process.

use crate::app::App;
use crate::live::Live;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};

/// Binds `addr` once per worker (`SO_REUSEADDR` + `SO_REUSEPORT`, a backlog of 1024). With port
/// 0 the first socket picks the port and the others join it. Only sockets of the same user can
/// join a `SO_REUSEPORT` port, and a port held by anything that did not set it is refused as
/// usual (`EADDRINUSE`). Call inside a Tokio runtime.
pub fn bind(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = bind_one(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..workers.max(1) {
        listeners.push(bind_one(addr)?);
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?.into_std()?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves with one worker thread per listener (from [`bind`]) until `shutdown` resolves, then
/// stops accepting connections, lets in-flight requests finish for at most `grace`, flushes
/// pending spend and returns. Readiness turns 503 as soon as shutdown begins. Runs on the
/// caller's runtime, which keeps the background tasks.
pub async fn serve(
    listeners: Vec<std::net::TcpListener>,
    live: Arc<Live>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (release_tx, release_rx) = watch::channel(false);
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    // One live route table for all workers (the app is a cheap `Arc` clone; each request loads
    // the current snapshot's routes).
    let app = crate::app::live_app(&live);
    // Start-up settings (a reload does not change them): every snapshot shares these.
    let state = live.state();
    crate::fleet::start(&live);
    let header_read_timeout = state.config.general_settings.header_read_timeout;
    let mut threads = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let worker = Worker {
            listener,
            app: app.clone(),
            header_read_timeout,
            stop: stop_rx.clone(),
            release: release_rx.clone(),
            ended: EndNotice {
                index,
                tx: ended_tx.clone(),
            },
            grace,
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("shale-worker-{index}"))
                .spawn(move || worker.run())?,
        );
    }
    drop(ended_tx);

    let mut running = threads.len();
    let mut failed = None;
    tokio::select! {
        () = shutdown => {}
        ended = ended_rx.recv() => {
            running -= 1;
            failed = ended;
        }
    }
    state.draining.store(true, Ordering::Relaxed);
    match failed {
        Some(index) => tracing::error!(worker = index, "a serving worker stopped: shutting down"),
        None => tracing::info!("shutdown requested: finishing in-flight requests"),
    }
    let _ = stop_tx.send(true);
    // Each worker drains for at most `grace` on its own; the margin covers a stuck runtime.
    let all_drained = async {
        while running > 0 && ended_rx.recv().await.is_some() {
            running -= 1;
        }
    };
    if tokio::time::timeout(grace + Duration::from_secs(1), all_drained)
        .await
        .is_err()
    {
        tracing::warn!("a serving worker did not stop in time");
    }
    if let Some(keys) = &state.keys {
        // Spend of the requests that just finished, before the process exits: into Postgres,
        // and into the replicas' shared Redis counters (one attempt; what Redis does not take
        // is still in Postgres, where the next start reads it).
        keys.flush().await;
        keys.share_spend().await;
    }
    crate::fleet::flush(&state).await;
    let _ = release_tx.send(true);
    let _ = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await;
    match failed {
        Some(index) => Err(std::io::Error::other(format!(
            "serving worker {index} stopped unexpectedly"
        ))),
        None => Ok(()),
    }
}

/// Tells the main loop a worker's serving has ended — when it drained, or when it panicked
/// (sent from `Drop`, which also runs while unwinding).
struct EndNotice {
    index: usize,
    tx: mpsc::UnboundedSender<usize>,
}

impl Drop for EndNotice {
    fn drop(&mut self) {
        let _ = self.tx.send(self.index);
    }
}

/// One serving thread: its own runtime and accept loop.
struct Worker {
    listener: std::net::TcpListener,
    app: App,
    header_read_timeout: Duration,
    /// Turns true when shutdown begins.
    stop: watch::Receiver<bool>,
    /// Turns true when the runtime may stop (after the spend flush).
    release: watch::Receiver<bool>,
    /// Also carries the worker's index.
    ended: EndNotice,
    grace: Duration,
}

impl Worker {
    fn run(self) {
        let index = self.ended.index;
        shale_core::worker::enter(index);
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::error!(worker = index, %err, "cannot start a worker runtime");
                return;
            }
        };
        let Worker {
            listener,
            app,
            header_read_timeout,
            mut stop,
            mut release,
            ended,
            grace,
        } = self;
        runtime.block_on(async move {
            tokio::spawn(keep_next_wakeup_near(header_read_timeout));
            // This worker's access-log lines go to the writer in batches, and its requests are
            // finished (metrics, access log, spend) after their answers were written.
            tokio::spawn(shale_telemetry::access_log::batch_this_thread().run());
            tokio::spawn(crate::observe::finish_after_answers());
            match TcpListener::from_std(listener) {
                Ok(listener) => {
                    let stopped = async {
                        let _ = stop.wait_for(|stop| *stop).await;
                    };
                    accept_until(listener, app, header_read_timeout, stopped, grace).await;
                }
                Err(err) => tracing::error!(worker = index, %err, "cannot use the listener"),
            }
            // The drained requests finished (their spend reaches the final flush) and their
            // lines written, before the process may exit.
            crate::observe::finish_pending();
            shale_telemetry::access_log::flush_this_thread();
            drop(ended);
            // Tasks this runtime started (pooled connections, Redis links) must outlive the
            // final spend flush.
            let _ = release.wait_for(|release| *release).await;
        });
        // Requests dropped with the runtime (past the grace) are finished here.
        drop(runtime);
        crate::observe::stop_finishing_after_answers();
        shale_telemetry::access_log::flush_this_thread();
    }
}

/// Ticks forever at half the header-read timeout (between 10 ms and 5 s), so the timer driver's
/// next wake-up is always nearer than a header-read deadline hyper registers (see the module doc).
async fn keep_next_wakeup_near(header_read_timeout: Duration) {
    let tick = (header_read_timeout / 2).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
    }
}

/// Accepts connections until `stopped` resolves, then closes the listener and lets in-flight
/// requests finish for at most `grace`.
async fn accept_until(
    listener: TcpListener,
    app: App,
    header_read_timeout: Duration,
    stopped: impl Future<Output = ()>,
    grace: Duration,
) {
    let service = TowerToHyperService::new(app);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stopped);
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
            () = &mut stopped => break,
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
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "in-flight requests did not finish in time; exiting");
        }
    }
}
