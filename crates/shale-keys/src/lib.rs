//! `shale-keys`: virtual keys, teams, budgets, rate limits and spend logs in Postgres — the logic
//! and storage behind LiteLLM's `/key/*`, `/team/*` and `/spend/logs` (issue #15).
//!
//! [`KeyService`] is shared by the server as `Arc<KeyService>`:
//! - hot path: [`KeyService::authenticate`] (cached, no Postgres wait on a hit),
//!   [`KeyService::admit`] (model scope, budgets — the key's, its team's, the key's per-model
//!   budget — and rpm/tpm/parallel limits of the key and its team, the request's estimated tokens
//!   reserved; at most one Redis round trip), [`KeyService::settle`] (spend counted in memory at
//!   once, added to Redis by a background sharer exactly once even across a Redis outage, written
//!   to Postgres in batches by a background writer — never awaited);
//! - admin: generate/update/info/list/delete/regenerate/block keys, teams, spend logs, with
//!   LiteLLM's JSON field names ([`api`]).
//!
//! Keys are stored only as SHA-256 hex; the clear key is returned once and never stored or logged.
//! This crate knows nothing about HTTP: the server maps [`KeyError`] to statuses in one place.

#![forbid(unsafe_code)]

pub mod api;
mod cache;
mod duration;
mod error;
mod limits;
mod model_budget;
mod principal;
mod redis_link;
mod report;
mod service;
mod share;
mod spend;
mod store;
mod token;

pub use api::*;
pub use duration::parse_duration;
pub use error::{describe_db_error, refused_value, KeyError, LimitKind, Scope};
pub use principal::{Admission, Principal, SpendEvent, ALL_PROXY_MODELS, ALL_TEAM_MODELS};
pub use report::*;
pub use service::KeyService;
pub use token::hash_key;
