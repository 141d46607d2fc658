//! The model table: which Bedrock surface — bedrock-mantle's OpenAI chat / Responses / Anthropic
//! Messages paths, or bedrock-runtime's `/openai/v1` — serves a model, and with which APIs
//! (`docs/mantle.md` prints it). One table decides it for every route (`bedrock_mantle/…`,
//! `bedrock/mantle/…`, and `bedrock/<id>` for models bedrock-runtime serves only through
//! `/openai/v1`); `litellm_params.api` overrides it per deployment. Also the load-time checks of
//! such deployments (Region without Mantle, ids Mantle refuses, unknown models).
//!
//! Facts behind the rows: `../shared/reference/bedrock-openai-endpoints.md` §3 (Mantle answers a
//! model on exactly one path prefix and 400s on the other; gpt-oss-safeguard has no Responses;
//! GPT-5.x, Gemma 4 and Grok are Responses-only under `/openai/v1`; Claude is on `/anthropic`).
//!
//! Must not: build URLs or sign (that is `shale-bedrock`), or translate bodies.

use crate::findings::Finding;
use crate::route::{Api, ModelRoute};
use shale_core::surface::{is_mantle_region, MANTLE_REGIONS};
pub use shale_core::surface::{ApiSet, Host, OpenAiBase, WireApi};

/// How a deployment on a surface is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurfacePlan {
    pub host: Host,
    /// The APIs the deployment is called with on that host (a client speaking one of them is
    /// relayed; any other client API is translated to [`SurfacePlan::preferred`]).
    pub apis: ApiSet,
    /// The API other client APIs are translated to.
    pub preferred: WireApi,
    /// `/v1` or `/openai/v1` for the OpenAI APIs (bedrock-runtime: always `/openai/v1`).
    pub openai_base: OpenAiBase,
    /// Where the plan came from.
    pub source: PlanSource,
}

/// Why a deployment has its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSource {
    /// A row of the model table (its family name).
    Table(&'static str),
    /// Not in the table: the documented default (chat on `/v1`).
    Default,
    /// `litellm_params.api`.
    Override,
}

impl SurfacePlan {
    /// The path of `api` on the host (before any `api_base` prefix).
    pub fn path(&self, api: WireApi) -> String {
        match api {
            WireApi::Chat => format!("{}/chat/completions", self.openai_base.prefix()),
            WireApi::Responses => format!("{}/responses", self.openai_base.prefix()),
            WireApi::Messages => "/anthropic/v1/messages".to_owned(),
        }
    }

    /// One line for `shale check`: host, each API with its path, and where the plan came from.
    pub fn describe(&self) -> String {
        let apis: Vec<String> = self
            .apis
            .iter()
            .map(|a| format!("{} {}", a.name(), self.path(a)))
            .collect();
        let source = match self.source {
            PlanSource::Table(family) => format!("model table: {family}"),
            PlanSource::Default => "not in the model table: default".to_owned(),
            PlanSource::Override => "litellm_params.api".to_owned(),
        };
        format!(
            "{} {} (other client APIs translated to {}; {source})",
            self.host,
            apis.join(", "),
            self.preferred
        )
    }
}

/// `litellm_params.api`: the API a deployment is called with, overriding the route and the
/// model table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiChoice {
    /// Converse (bedrock-runtime).
    Converse,
    /// InvokeModel with the model's native body (bedrock-runtime).
    Invoke,
    /// One API of the surface: `openai` (chat completions), `responses` or `messages`.
    Surface(WireApi),
}

impl ApiChoice {
    /// The accepted spellings: `converse`, `invoke`, `openai` (also `chat`, `chat_completions`),
    /// `responses`, `messages` (also `anthropic`).
    pub fn parse(text: &str) -> Option<ApiChoice> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "converse" => ApiChoice::Converse,
            "invoke" => ApiChoice::Invoke,
            "openai" | "chat" | "chat_completions" => ApiChoice::Surface(WireApi::Chat),
            "responses" => ApiChoice::Surface(WireApi::Responses),
            "messages" | "anthropic" => ApiChoice::Surface(WireApi::Messages),
            _ => return None,
        })
    }
}

/// One row: models whose bare id starts with `prefix`.
struct Row {
    prefix: &'static str,
    family: &'static str,
    /// On bedrock-mantle: the APIs (first = preferred) and the OpenAI path prefix.
    mantle: (&'static [WireApi], OpenAiBase),
    /// On bedrock-runtime: the APIs of `/openai/v1` when the model has no Converse / InvokeModel
    /// (so `bedrock/<id>` goes there); `None`: Converse / InvokeModel as usual.
    runtime_openai: Option<&'static [WireApi]>,
}

use OpenAiBase::{OpenAiV1, V1};
use WireApi::{Chat, Messages, Responses};

const CHAT: &[WireApi] = &[Chat];
const RESPONSES: &[WireApi] = &[Responses];

/// The model table. First matching prefix wins (the more specific rows come first).
const TABLE: &[Row] = &[
    Row {
        prefix: "anthropic.",
        family: "Claude",
        mantle: (&[Messages], V1),
        runtime_openai: None,
    },
    Row {
        prefix: "openai.gpt-oss-safeguard",
        family: "gpt-oss-safeguard",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "openai.gpt-oss",
        family: "gpt-oss",
        mantle: (&[Chat, Responses], V1),
        runtime_openai: None,
    },
    Row {
        prefix: "openai.gpt-5",
        family: "GPT-5",
        mantle: (RESPONSES, OpenAiV1),
        runtime_openai: Some(&[Chat, Responses]),
    },
    Row {
        prefix: "openai.gpt-6",
        family: "GPT-6",
        mantle: (RESPONSES, OpenAiV1),
        runtime_openai: Some(&[Chat, Responses]),
    },
    Row {
        prefix: "google.gemma-4",
        family: "Gemma 4",
        mantle: (RESPONSES, OpenAiV1),
        runtime_openai: None,
    },
    Row {
        prefix: "xai.",
        family: "Grok",
        mantle: (RESPONSES, OpenAiV1),
        runtime_openai: None,
    },
    Row {
        prefix: "mistral.",
        family: "Mistral",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "nvidia.",
        family: "NVIDIA Nemotron",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "qwen.",
        family: "Qwen",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "deepseek.",
        family: "DeepSeek",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "google.",
        family: "Gemma (before 4)",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "minimax.",
        family: "MiniMax",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "moonshot",
        family: "Moonshot Kimi",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "zai.",
        family: "Z.ai GLM",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
    Row {
        prefix: "writer.",
        family: "Writer Palmyra",
        mantle: (CHAT, V1),
        runtime_openai: None,
    },
];

/// Every row as (prefix, family, Mantle APIs with paths, runtime `/openai/v1` APIs): what
/// `docs/mantle.md` documents (a test keeps the two equal).
pub fn model_table() -> Vec<(&'static str, &'static str, String, String)> {
    fn paths(plan: &SurfacePlan) -> String {
        let all: Vec<String> = plan.apis.iter().map(|a| plan.path(a)).collect();
        all.join(", ")
    }
    TABLE
        .iter()
        .map(|row| {
            let mantle = plan_of(
                Host::Mantle,
                row.mantle.0,
                row.mantle.1,
                PlanSource::Default,
            );
            let runtime = row.runtime_openai.map_or_else(
                || "Converse / InvokeModel".to_owned(),
                |apis| paths(&plan_of(Host::Runtime, apis, OpenAiV1, PlanSource::Default)),
            );
            (row.prefix, row.family, paths(&mantle), runtime)
        })
        .collect()
}

fn plan_of(host: Host, apis: &[WireApi], base: OpenAiBase, source: PlanSource) -> SurfacePlan {
    SurfacePlan {
        host,
        apis: ApiSet::of(apis),
        preferred: apis[0],
        openai_base: if host == Host::Runtime {
            OpenAiV1
        } else {
            base
        },
        source,
    }
}

fn row_of(base_model: &str) -> Option<&'static Row> {
    let id = base_model.to_ascii_lowercase();
    TABLE.iter().find(|r| id.starts_with(r.prefix))
}

/// The Mantle plan of a model (the default — chat on `/v1` — for a model not in the table).
pub fn mantle_plan(base_model: &str) -> SurfacePlan {
    match row_of(base_model) {
        Some(row) => plan_of(
            Host::Mantle,
            row.mantle.0,
            row.mantle.1,
            PlanSource::Table(row.family),
        ),
        None => plan_of(Host::Mantle, CHAT, V1, PlanSource::Default),
    }
}

/// The bedrock-runtime `/openai/v1` plan of a model Bedrock serves only there (no Converse /
/// InvokeModel), e.g. `openai.gpt-5.5`; `None` for every other model.
pub fn runtime_openai_plan(base_model: &str) -> Option<SurfacePlan> {
    let row = row_of(base_model)?;
    row.runtime_openai
        .map(|apis| plan_of(Host::Runtime, apis, OpenAiV1, PlanSource::Table(row.family)))
}

/// What [`settle`] reads from a deployment's `litellm_params`.
pub(crate) struct SurfaceParams<'a> {
    pub api: Option<ApiChoice>,
    pub region: Option<&'a str>,
    /// `api_base` or `aws_bedrock_runtime_endpoint` is set.
    pub endpoint_given: bool,
    pub project_id: Option<&'a str>,
    /// `model_id` (the id actually sent), when it overrides the route's.
    pub model_id: Option<&'a str>,
}

/// Applies `litellm_params.api` to a parsed route and checks a surface deployment: a Region
/// without Mantle (and no endpoint override) is an error; an id Mantle refuses, a model not in
/// the table, a project on bedrock-runtime are findings. `path` is the deployment's
/// `litellm_params` path.
pub(crate) fn settle(
    route: &mut ModelRoute,
    p: &SurfaceParams<'_>,
    path: &str,
    findings: &mut Vec<Finding>,
) -> Result<(), String> {
    if let Some(choice) = p.api {
        apply_choice(route, choice)?;
    }
    let Some(plan) = route.surface else {
        if p.project_id.is_some() {
            findings.push(Finding::ignored(
                format!("{path}.aws_bedrock_project_id"),
                "only bedrock-mantle has projects; Converse and InvokeModel use the default project",
            ));
        }
        return Ok(());
    };
    let id = p.model_id.unwrap_or(&route.model_id);
    match plan.host {
        Host::Mantle => {
            if let Some(region) = p.region.filter(|r| !is_mantle_region(r)) {
                if !p.endpoint_given {
                    return Err(format!(
                        "Region {region} has no bedrock-mantle endpoint (it has: {}); choose one of them with aws_region_name, or set api_base to the endpoint to call",
                        MANTLE_REGIONS.join(", ")
                    ));
                }
            }
            if route.cross_region_prefix.is_some() || id.starts_with("arn:") {
                findings.push(Finding::warning(
                    format!("{path}.model"),
                    format!("bedrock-mantle takes bare model ids (no `us.`/`global.` prefix, no ARN): `{id}` will be refused (404); use `{}`", route.base_model),
                ));
            } else if has_version_suffix(id) {
                findings.push(Finding::warning(
                    format!("{path}.model"),
                    format!("bedrock-mantle takes model ids without a version suffix: `{id}` will be refused; e.g. `openai.gpt-oss-120b`, not `openai.gpt-oss-120b-1:0`"),
                ));
            }
        }
        Host::Runtime => {
            if p.project_id.is_some() {
                findings.push(Finding::ignored(
                    format!("{path}.aws_bedrock_project_id"),
                    "bedrock-runtime's /openai/v1 serves the default project only",
                ));
            }
            if route.base_model.starts_with("openai.gpt-")
                && !route.base_model.starts_with("openai.gpt-oss")
                && route.cross_region_prefix.is_none()
                && !id.starts_with("arn:")
            {
                findings.push(Finding::warning(
                    format!("{path}.model"),
                    format!("bedrock-runtime serves `{id}` only through a cross-Region inference profile (e.g. `us.{id}` or `global.{id}`): a bare id is refused"),
                ));
            }
        }
    }
    if plan.source == PlanSource::Default {
        findings.push(Finding::warning(
            format!("{path}.model"),
            format!(
                "`{}` is not in shale's model table: called on {} with {} at {} (the default); set litellm_params.api (openai | responses | messages) if the model answers elsewhere",
                route.base_model,
                plan.host,
                plan.preferred,
                plan.path(plan.preferred)
            ),
        ));
    }
    Ok(())
}

fn apply_choice(route: &mut ModelRoute, choice: ApiChoice) -> Result<(), String> {
    match (choice, route.surface) {
        (ApiChoice::Converse | ApiChoice::Invoke, Some(plan)) if plan.host == Host::Mantle => {
            Err(format!(
                "api: {} is a bedrock-runtime API; bedrock_mantle/ deployments use openai, responses or messages",
                if choice == ApiChoice::Converse { "converse" } else { "invoke" }
            ))
        }
        (ApiChoice::Converse | ApiChoice::Invoke, _) => {
            let api = if choice == ApiChoice::Converse {
                Api::Converse
            } else {
                Api::Invoke
            };
            if route.explicit && route.api != api && route.api != Api::Surface {
                return Err(format!(
                    "api: {} contradicts the route prefix of `model`",
                    if api == Api::Converse { "converse" } else { "invoke" }
                ));
            }
            route.api = api;
            route.surface = None;
            route.explicit = true;
            Ok(())
        }
        (ApiChoice::Surface(api), plan) => {
            let host = plan.map_or(Host::Runtime, |p| p.host);
            if host == Host::Runtime && api == WireApi::Messages {
                return Err("api: messages is served by bedrock-mantle only (use bedrock_mantle/<id>); on bedrock-runtime Claude speaks Messages through InvokeModel (api: invoke)".into());
            }
            if route.api == Api::ConverseLike {
                return Err("api cannot change a converse_like route".into());
            }
            let base = match host {
                Host::Mantle => mantle_plan(&route.base_model).openai_base,
                Host::Runtime => OpenAiV1,
            };
            route.api = Api::Surface;
            route.explicit = true;
            route.surface = Some(SurfacePlan {
                host,
                apis: ApiSet::of(&[api]),
                preferred: api,
                openai_base: base,
                source: PlanSource::Override,
            });
            Ok(())
        }
    }
}

/// `…-1:0`, `…-v1:0`: a Bedrock version suffix.
fn has_version_suffix(id: &str) -> bool {
    id.rsplit_once(':')
        .is_some_and(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows() {
        let p = mantle_plan("openai.gpt-oss-120b");
        assert_eq!(p.preferred, Chat);
        assert!(p.apis.contains(Responses));
        assert_eq!(p.path(Chat), "/v1/chat/completions");
        assert_eq!(p.path(Responses), "/v1/responses");
        let p = mantle_plan("openai.gpt-oss-safeguard-120b");
        assert!(!p.apis.contains(Responses));
        let p = mantle_plan("openai.gpt-5.5");
        assert_eq!(p.apis, ApiSet::of(&[Responses]));
        assert_eq!(p.path(Responses), "/openai/v1/responses");
        assert_eq!(mantle_plan("google.gemma-4-27b").preferred, Responses);
        assert_eq!(mantle_plan("google.gemma-3-27b-it").preferred, Chat);
        assert_eq!(mantle_plan("xai.grok-4").openai_base, OpenAiV1);
        let p = mantle_plan("anthropic.claude-opus-4-8");
        assert_eq!(p.apis, ApiSet::of(&[Messages]));
        assert_eq!(p.path(Messages), "/anthropic/v1/messages");
        let p = mantle_plan("acme.new-model");
        assert_eq!(p.source, PlanSource::Default);
        assert_eq!(p.path(p.preferred), "/v1/chat/completions");
        let r = runtime_openai_plan("openai.gpt-5.5").unwrap();
        assert_eq!(r.host, Host::Runtime);
        assert_eq!(r.path(Chat), "/openai/v1/chat/completions");
        assert_eq!(r.path(Responses), "/openai/v1/responses");
        assert!(runtime_openai_plan("openai.gpt-oss-120b-1:0").is_none());
        assert!(runtime_openai_plan("anthropic.claude-sonnet-4-5-20250929-v1:0").is_none());
        assert_eq!(model_table().len(), TABLE.len());
    }

    #[test]
    fn api_spellings() {
        assert_eq!(ApiChoice::parse("Converse"), Some(ApiChoice::Converse));
        assert_eq!(
            ApiChoice::parse("chat_completions"),
            Some(ApiChoice::Surface(Chat))
        );
        assert_eq!(
            ApiChoice::parse("anthropic"),
            Some(ApiChoice::Surface(Messages))
        );
        assert_eq!(ApiChoice::parse("grpc"), None);
        assert!(has_version_suffix("openai.gpt-oss-120b-1:0"));
        assert!(!has_version_suffix("openai.gpt-oss-120b"));
    }
}
