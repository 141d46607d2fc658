//! `shale-server`: the HTTP face of the gateway — routes (one thin module per API under
//! `routes/`), authentication, the one error → HTTP mapping (`error.rs`, with the Anthropic shape
//! derived in `anthropic_error.rs`), request ids, SSE writers, the seam to the router
//! (`routing.rs`) and to telemetry (`observe.rs`, the middleware; `report.rs`, what the request
//! path records), the Responses store, connection handling and
//! graceful shutdown. It owns no translation rules (see `shale-translate`), no Bedrock protocol
//! (see `shale-bedrock`), no routing policy (see `shale-router`) and no metric definitions (see
//! `shale-telemetry`); handlers glue them together.

#![forbid(unsafe_code)]

pub mod anthropic_error;
pub mod app;
pub mod auth;
pub mod body;
pub mod boot;
pub mod cache_hooks;
pub mod cache_setup;
pub mod connections;
pub mod error;
pub mod fleet;
pub mod fleet_setup;
pub mod front_door;
pub mod guardrail_hooks;
pub mod headers;
pub mod keygate;
pub mod live;
pub mod master_key;
pub mod media;
pub mod models_sync;
pub mod observe;
pub mod panic;
pub mod report;
pub mod response;
pub mod responses_store;
pub mod router_metrics;
pub mod routes;
pub mod routing;
pub mod sse;
pub mod state;
pub mod telemetry_setup;
pub mod usage;

pub use app::{build_app, App};
pub use boot::start;
pub use error::ApiError;
pub use live::Live;
pub use state::AppState;

pub use connections::{bind, serve};
