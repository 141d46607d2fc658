//! The words every crate uses for Bedrock's HTTP *surfaces* beside Converse / InvokeModel:
//! bedrock-mantle (`https://bedrock-mantle.{region}.api.aws`, OpenAI chat and Responses under
//! `/v1` or `/openai/v1`, Anthropic Messages under `/anthropic/v1`) and bedrock-runtime's
//! OpenAI-compatible `/openai/v1` paths (see `docs/mantle.md`).
//!
//! Owns only names and facts of the service (hosts, APIs, SigV4 signing names, the Regions that
//! have a Mantle endpoint); which model uses which surface is `shale-config`'s model table, URLs
//! and signing are `shale-bedrock`'s, bodies are `shale-translate`'s.
//!
//! Must not: grow rules beyond these facts.

use std::fmt;

/// Which Bedrock host serves a surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    /// `bedrock-runtime.{region}.amazonaws.com`, its `/openai/v1` paths; SigV4 service `bedrock`.
    Runtime,
    /// `bedrock-mantle.{region}.api.aws`; SigV4 service `bedrock-mantle`.
    Mantle,
}

impl Host {
    /// The SigV4 signing name of the host.
    pub fn signing_name(self) -> &'static str {
        match self {
            Host::Runtime => "bedrock",
            Host::Mantle => "bedrock-mantle",
        }
    }

    /// The name used in `shale check`, logs and spans.
    pub fn name(self) -> &'static str {
        match self {
            Host::Runtime => "bedrock-runtime",
            Host::Mantle => "bedrock-mantle",
        }
    }

    /// The `rpc.service` of trace spans.
    pub fn rpc_service(self) -> &'static str {
        match self {
            Host::Runtime => "BedrockRuntime",
            Host::Mantle => "BedrockMantle",
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The API a surface speaks (and a client may speak).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireApi {
    /// OpenAI Chat Completions (`…/chat/completions`).
    Chat,
    /// OpenAI Responses (`…/responses`).
    Responses,
    /// Anthropic Messages (`/anthropic/v1/messages`).
    Messages,
}

impl WireApi {
    /// Every API, in the order `shale check` lists them.
    pub const ALL: [WireApi; 3] = [WireApi::Chat, WireApi::Responses, WireApi::Messages];

    /// The name used in config (`litellm_params.api`), `shale check` and docs.
    pub fn name(self) -> &'static str {
        match self {
            WireApi::Chat => "openai",
            WireApi::Responses => "responses",
            WireApi::Messages => "messages",
        }
    }

    fn bit(self) -> u8 {
        match self {
            WireApi::Chat => 1,
            WireApi::Responses => 2,
            WireApi::Messages => 4,
        }
    }
}

impl fmt::Display for WireApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`WireApi`]s (what one model answers on one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ApiSet(u8);

impl ApiSet {
    /// The empty set.
    pub const EMPTY: ApiSet = ApiSet(0);

    /// A set of the given APIs.
    pub fn of(apis: &[WireApi]) -> ApiSet {
        ApiSet(apis.iter().fold(0, |acc, a| acc | a.bit()))
    }

    /// Whether `api` is in the set.
    pub fn contains(self, api: WireApi) -> bool {
        self.0 & api.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in [`WireApi::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = WireApi> {
        WireApi::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

/// The OpenAI path prefix a model uses on Mantle: `/v1` for most models, `/openai/v1` for the
/// GPT-5 family, Gemma 4 and Grok (bedrock-runtime only has `/openai/v1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenAiBase {
    /// `/v1/...`
    V1,
    /// `/openai/v1/...`
    OpenAiV1,
}

impl OpenAiBase {
    /// The prefix, without a trailing slash.
    pub fn prefix(self) -> &'static str {
        match self {
            OpenAiBase::V1 => "/v1",
            OpenAiBase::OpenAiV1 => "/openai/v1",
        }
    }
}

/// The Anthropic API version Mantle's `/anthropic` surface is called with (an HTTP header).
pub const ANTHROPIC_VERSION_HEADER: &str = "2023-06-01";

/// Regions with a bedrock-mantle endpoint (AWS user guide, "Regional availability by
/// endpoints", and LiteLLM's `bedrock_mantle` docs, 2026). A deployment in another Region needs
/// an explicit `api_base`.
pub const MANTLE_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "eu-west-1",
    "eu-west-2",
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-2",
    "sa-east-1",
];

/// Whether `region` has a bedrock-mantle endpoint.
pub fn is_mantle_region(region: &str) -> bool {
    MANTLE_REGIONS.contains(&region)
}

/// `https://bedrock-mantle.{region}.api.aws`.
pub fn mantle_host_url(region: &str) -> String {
    format!("https://bedrock-mantle.{region}.api.aws")
}

/// The region of a Mantle host name (`bedrock-mantle.eu-west-1.api.aws` → `eu-west-1`).
pub fn region_of_mantle_host(host: &str) -> Option<&str> {
    let rest = host.strip_prefix("bedrock-mantle.")?;
    let (region, tail) = rest.split_once('.')?;
    (tail.starts_with("api.aws") && !region.is_empty()).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_names() {
        let s = ApiSet::of(&[WireApi::Responses, WireApi::Chat]);
        assert!(s.contains(WireApi::Chat) && s.contains(WireApi::Responses));
        assert!(!s.contains(WireApi::Messages));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [WireApi::Chat, WireApi::Responses]
        );
        assert!(ApiSet::EMPTY.is_empty());
        assert_eq!(Host::Mantle.signing_name(), "bedrock-mantle");
        assert_eq!(Host::Runtime.signing_name(), "bedrock");
    }

    #[test]
    fn mantle_hosts() {
        assert_eq!(
            mantle_host_url("us-east-1"),
            "https://bedrock-mantle.us-east-1.api.aws"
        );
        assert_eq!(
            region_of_mantle_host("bedrock-mantle.eu-west-1.api.aws"),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_mantle_host("bedrock-runtime.x.amazonaws.com"),
            None
        );
        assert!(is_mantle_region("us-west-2") && !is_mantle_region("us-west-1"));
    }
}
