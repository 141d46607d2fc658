//! The router's observer hook: what the router tells the rest of the gateway about deployments
//! (an attempt failed, a deployment cooled down, a fallback succeeded or failed) so metrics can
//! follow it. The router calls these synchronously on the request's task; implementations must
//! be cheap and must never block or wait on I/O.
//!
//! This crate stays free of any metrics library: the server implements [`Observer`] with
//! telemetry's `Metrics`. [`NoObserver`] is the default.

/// Router events, by deployment index (position in `model_list`).
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// An attempt on a deployment failed with a failure that counts against it (429, 401/403,
    /// 408, 5xx, connection errors); `status` is the HTTP status (0 when unknown).
    fn attempt_failed(&self, _deployment: usize, _status: u16) {}

    /// The deployment was taken out of rotation (cooling down) after a failure with `status`.
    fn cooled_down(&self, _deployment: usize, _status: u16) {}

    /// A fallback from `requested_model` to the group `fallback_model` ended: `ok` when the
    /// fallback group answered. `status` is that of the failure that caused the fallback (0 when
    /// the original group was only at its rpm/tpm limit); `deployment` is the fallback
    /// deployment tried last, if any.
    fn fallback(
        &self,
        _requested_model: &str,
        _fallback_model: &str,
        _deployment: Option<usize>,
        _status: u16,
        _ok: bool,
    ) {
    }
}

/// Observes nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {}
