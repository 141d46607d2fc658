//! Background health checks (`general_settings.background_health_checks`): which probe proves a
//! deployment healthy ([`plan`]), sending it ([`probe`]), one probe per deployment per interval
//! across the fleet ([`coord`]), the loop ([`checker`]) and LiteLLM's `/health` lists ([`view`]).
//! The server supplies the current deployments through [`Deployments`] and shows the results.

pub mod checker;
pub mod coord;
pub mod plan;
pub mod probe;
pub mod view;

pub use checker::{Deployments, HealthChecker};
pub use coord::Coordination;
pub use plan::{plan, probe_kind, PlanInput, ProbeKind, ProbePlan};
pub use probe::{ProbeResult, Subject};
pub use view::{endpoints, EndpointRow};
