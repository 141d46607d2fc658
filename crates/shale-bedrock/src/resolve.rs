//! Pure resolution rules: region, bedrock-runtime / agent-runtime / bedrock-mantle endpoints,
//! the percent-encoded model path and the base of a surface's paths, decided once per
//! deployment at config load.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use shale_core::surface::{mantle_host_url, region_of_mantle_host, Host, OpenAiBase};

use crate::error::BedrockError;
use crate::spec::{EnvSource, SurfaceSpec, TargetSpec};

/// Region used when nothing else names one (as LiteLLM does).
pub const FALLBACK_REGION: &str = "us-west-2";

/// Every byte outside `A-Za-z0-9-._~` is escaped (`:` → `%3A`, `/` → `%2F`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a model id / ARN for use as one path segment.
pub fn encode_model_id(model_id: &str) -> String {
    utf8_percent_encode(model_id, PATH_SEGMENT).to_string()
}

/// The region of a Bedrock ARN (`arn:aws:bedrock:<region>:...`), if the id is one.
pub fn region_from_arn(model_id: &str) -> Option<&str> {
    let mut parts = model_id.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?;
    (!region.is_empty()).then_some(region)
}

/// Region from the explicit setting, the model ARN, then `AWS_REGION_NAME`, `AWS_REGION`,
/// `AWS_DEFAULT_REGION`. `None` means: ask the profile, then use [`FALLBACK_REGION`].
pub fn region_before_profile(spec: &TargetSpec, env: &EnvSource) -> Option<String> {
    non_empty(spec.region.as_deref())
        .map(str::to_owned)
        .or_else(|| region_from_arn(&spec.model_id).map(str::to_owned))
        .or_else(|| env.get("AWS_REGION_NAME"))
        .or_else(|| env.get("AWS_REGION"))
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .map(|r| r.trim().to_owned())
}

/// Region used for a bedrock-mantle deployment when nothing names one (LiteLLM's Mantle default).
pub const MANTLE_FALLBACK_REGION: &str = "us-east-1";

/// Region of a bedrock-mantle deployment: the explicit setting, the model ARN, the host of
/// `api_base` (`bedrock-mantle.<region>.api.aws`), then `BEDROCK_MANTLE_REGION`,
/// `AWS_REGION_NAME`, `AWS_REGION`, `AWS_DEFAULT_REGION`. `None`: ask the profile, then use
/// [`MANTLE_FALLBACK_REGION`].
pub fn mantle_region_before_profile(spec: &TargetSpec, env: &EnvSource) -> Option<String> {
    let from_host = || {
        let base = non_empty(spec.api_base.as_deref())?;
        let url = url::Url::parse(&normalize_endpoint(base).ok()?).ok()?;
        region_of_mantle_host(url.host_str()?).map(str::to_owned)
    };
    non_empty(spec.region.as_deref())
        .map(str::to_owned)
        .or_else(|| region_from_arn(&spec.model_id).map(str::to_owned))
        .or_else(from_host)
        .or_else(|| env.get("BEDROCK_MANTLE_REGION"))
        .or_else(|| env.get("AWS_REGION_NAME"))
        .or_else(|| env.get("AWS_REGION"))
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .map(|r| r.trim().to_owned())
}

/// Where a surface deployment's paths start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SurfaceBase {
    /// Scheme, host, port and any path prefix, without a trailing slash.
    pub root: String,
    /// The OpenAI path prefix an `api_base` ending in `/v1` or `/openai/v1` names (LiteLLM's
    /// form); `None`: the model table's.
    pub openai: Option<OpenAiBase>,
    /// Whether the endpoint was configured (rather than the regional default host).
    pub explicit: bool,
}

impl SurfaceBase {
    /// The URL of `path_after_root` for an OpenAI API (`/chat/completions`, `/responses`).
    pub fn openai_url(&self, table: OpenAiBase, tail: &str) -> String {
        format!(
            "{}{}{tail}",
            self.root,
            self.openai.unwrap_or(table).prefix()
        )
    }
}

/// The base of a surface deployment: `api_base` → `aws_bedrock_runtime_endpoint` → env
/// (`BEDROCK_MANTLE_API_BASE` for bedrock-mantle; `AWS_BEDROCK_RUNTIME_ENDPOINT`,
/// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` for bedrock-runtime) → the regional host. A trailing
/// `/openai/v1`, `/v1` or `/anthropic/v1` is taken off (and the first two choose the OpenAI
/// prefix); anything before it stays a prefix of every path.
pub fn surface_base(
    spec: &TargetSpec,
    surface: &SurfaceSpec,
    env: &EnvSource,
    region: &str,
) -> Result<SurfaceBase, BedrockError> {
    let explicit = non_empty(spec.api_base.as_deref())
        .or(non_empty(spec.runtime_endpoint.as_deref()))
        .map(str::to_owned)
        .or_else(|| match surface.host {
            Host::Mantle => env.get("BEDROCK_MANTLE_API_BASE"),
            Host::Runtime => env
                .get("AWS_BEDROCK_RUNTIME_ENDPOINT")
                .or_else(|| env.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")),
        });
    let given = explicit.is_some();
    let url = match explicit {
        Some(url) => normalize_endpoint(&url)?,
        None => match surface.host {
            Host::Mantle => mantle_host_url(region),
            Host::Runtime => default_endpoint("bedrock-runtime", region, use_fips(env)),
        },
    };
    let (root, openai) = if let Some(root) = url.strip_suffix("/openai/v1") {
        (root, Some(OpenAiBase::OpenAiV1))
    } else if let Some(root) = url.strip_suffix("/anthropic/v1") {
        (root, None)
    } else if let Some(root) = url.strip_suffix("/v1") {
        (root, Some(OpenAiBase::V1))
    } else {
        (url.as_str(), None)
    };
    Ok(SurfaceBase {
        root: root.to_owned(),
        openai,
        explicit: given,
    })
}

/// DNS suffix of the AWS partition a region belongs to.
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-isof-") {
        "csp.hci.ic.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if region.starts_with("eu-isoe-") {
        "cloud.adc-e.uk"
    } else {
        "amazonaws.com"
    }
}

/// `https://<prefix>[-fips].<region>.<partition suffix>`.
pub fn default_endpoint(prefix: &str, region: &str, fips: bool) -> String {
    let fips = if fips { "-fips" } else { "" };
    format!("https://{prefix}{fips}.{region}.{}", dns_suffix(region))
}

fn use_fips(env: &EnvSource) -> bool {
    env.get("AWS_USE_FIPS_ENDPOINT")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// bedrock-runtime base URL: `api_base` → `aws_bedrock_runtime_endpoint` →
/// `AWS_BEDROCK_RUNTIME_ENDPOINT` → `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` → the regional host.
pub fn runtime_endpoint(
    spec: &TargetSpec,
    env: &EnvSource,
    region: &str,
) -> Result<String, BedrockError> {
    let explicit = non_empty(spec.api_base.as_deref())
        .or(non_empty(spec.runtime_endpoint.as_deref()))
        .map(str::to_owned)
        .or_else(|| env.get("AWS_BEDROCK_RUNTIME_ENDPOINT"))
        .or_else(|| env.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"));
    match explicit {
        Some(url) => normalize_endpoint(&url),
        None => Ok(default_endpoint("bedrock-runtime", region, use_fips(env))),
    }
}

/// bedrock-agent-runtime base URL (rerank): `aws_bedrock_agent_runtime_endpoint` → the
/// deployment's `api_base` / `aws_bedrock_runtime_endpoint` (as LiteLLM sends rerank there) →
/// `AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME` → the regional host.
pub fn agent_runtime_endpoint(
    spec: &TargetSpec,
    env: &EnvSource,
    region: &str,
) -> Result<String, BedrockError> {
    let explicit = non_empty(spec.agent_runtime_endpoint.as_deref())
        .or(non_empty(spec.api_base.as_deref()))
        .or(non_empty(spec.runtime_endpoint.as_deref()))
        .map(str::to_owned)
        .or_else(|| env.get("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME"));
    match explicit {
        Some(url) => normalize_endpoint(&url),
        None => Ok(default_endpoint(
            "bedrock-agent-runtime",
            region,
            use_fips(env),
        )),
    }
}

/// Checks an endpoint URL and strips trailing slashes; a bare host gets `https://`.
pub fn normalize_endpoint(url: &str) -> Result<String, BedrockError> {
    let url = url.trim();
    let with_scheme = if url.contains("://") {
        url.to_owned()
    } else {
        format!("https://{url}")
    };
    let parsed = url::Url::parse(&with_scheme)
        .map_err(|e| BedrockError::Config(format!("invalid endpoint URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(BedrockError::Config(format!(
            "invalid endpoint URL {url:?}: expected http(s)://host[:port][/path]"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(BedrockError::Config(format!(
            "invalid endpoint URL {url:?}: no query or fragment allowed"
        )));
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(model_id: &str) -> TargetSpec {
        TargetSpec {
            deployment: "t".into(),
            model_id: model_id.into(),
            ..TargetSpec::default()
        }
    }

    #[test]
    fn model_ids_are_encoded_as_one_segment() {
        assert_eq!(
            encode_model_id("anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1%3A0"
        );
        assert_eq!(
            encode_model_id(
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
            ),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc"
        );
        assert_eq!(
            encode_model_id("us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
            "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"
        );
        assert_eq!(encode_model_id("a b+c~d_e"), "a%20b%2Bc~d_e");
    }

    #[test]
    fn arn_region() {
        assert_eq!(
            region_from_arn(
                "arn:aws:bedrock:eu-central-1:000000000000:application-inference-profile/a0"
            ),
            Some("eu-central-1")
        );
        assert_eq!(
            region_from_arn("arn:aws-us-gov:bedrock:us-gov-west-1:1:provisioned-model/x"),
            Some("us-gov-west-1")
        );
        assert_eq!(region_from_arn("anthropic.claude-v2:1"), None);
        assert_eq!(region_from_arn("arn:aws:bedrock::1:x"), None);
    }

    #[test]
    fn region_precedence() {
        let env = EnvSource::from_pairs([
            ("AWS_REGION_NAME", "eu-west-1"),
            ("AWS_REGION", "eu-west-2"),
            ("AWS_DEFAULT_REGION", "eu-west-3"),
        ]);
        let mut s = spec("arn:aws:bedrock:ap-south-1:1:inference-profile/x");
        s.region = Some("us-east-2".into());
        assert_eq!(
            region_before_profile(&s, &env).as_deref(),
            Some("us-east-2")
        );
        s.region = None;
        assert_eq!(
            region_before_profile(&s, &env).as_deref(),
            Some("ap-south-1")
        );
        let s = spec("anthropic.claude-v2");
        assert_eq!(
            region_before_profile(&s, &env).as_deref(),
            Some("eu-west-1")
        );
        let env = EnvSource::from_pairs([("AWS_REGION", "eu-west-2"), ("AWS_DEFAULT_REGION", "x")]);
        assert_eq!(
            region_before_profile(&s, &env).as_deref(),
            Some("eu-west-2")
        );
        let env = EnvSource::from_pairs([("AWS_DEFAULT_REGION", "eu-west-3")]);
        assert_eq!(
            region_before_profile(&s, &env).as_deref(),
            Some("eu-west-3")
        );
        let env = EnvSource::from_pairs([("AWS_REGION_NAME", "  ")]);
        assert_eq!(region_before_profile(&s, &env), None);
    }

    #[test]
    fn default_hosts_per_partition() {
        let env = EnvSource::from_pairs::<&str, &str>([]);
        let s = spec("m");
        assert_eq!(
            runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "https://bedrock-runtime.us-east-1.amazonaws.com"
        );
        assert_eq!(
            runtime_endpoint(&s, &env, "cn-north-1").unwrap(),
            "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            runtime_endpoint(&s, &env, "us-gov-west-1").unwrap(),
            "https://bedrock-runtime.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            agent_runtime_endpoint(&s, &env, "eu-west-1").unwrap(),
            "https://bedrock-agent-runtime.eu-west-1.amazonaws.com"
        );
        let fips = EnvSource::from_pairs([("AWS_USE_FIPS_ENDPOINT", "true")]);
        assert_eq!(
            runtime_endpoint(&s, &fips, "us-east-1").unwrap(),
            "https://bedrock-runtime-fips.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn runtime_endpoint_precedence() {
        let env = EnvSource::from_pairs([
            ("AWS_BEDROCK_RUNTIME_ENDPOINT", "https://env.example/"),
            (
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                "https://sdk-env.example",
            ),
        ]);
        let mut s = spec("m");
        s.api_base = Some("https://proxy.example/bedrock/".into());
        s.runtime_endpoint = Some("https://vpce.example".into());
        assert_eq!(
            runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "https://proxy.example/bedrock"
        );
        s.api_base = None;
        assert_eq!(
            runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "https://vpce.example"
        );
        s.runtime_endpoint = None;
        assert_eq!(
            runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "https://env.example"
        );
        let env =
            EnvSource::from_pairs([("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")]);
        assert_eq!(
            runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn agent_endpoint_precedence_includes_the_runtime_override() {
        let env = EnvSource::from_pairs([(
            "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME",
            "https://agent-env.example",
        )]);
        let mut s = spec("m");
        s.api_base = Some("https://proxy.example".into());
        s.agent_runtime_endpoint = Some("https://agent.example".into());
        assert_eq!(
            agent_runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "https://agent.example"
        );
        s.agent_runtime_endpoint = None;
        assert_eq!(
            agent_runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "https://proxy.example"
        );
        s.api_base = None;
        s.runtime_endpoint = Some("https://vpce.example".into());
        assert_eq!(
            agent_runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "https://vpce.example"
        );
        s.runtime_endpoint = None;
        assert_eq!(
            agent_runtime_endpoint(&s, &env, "us-east-1").unwrap(),
            "https://agent-env.example"
        );
    }

    #[test]
    fn mantle_region_and_base() {
        use shale_core::surface::ApiSet;
        let env = EnvSource::from_pairs([
            ("BEDROCK_MANTLE_REGION", "eu-west-1"),
            ("AWS_REGION", "us-east-2"),
        ]);
        let mut s = spec("openai.gpt-oss-120b");
        assert_eq!(
            mantle_region_before_profile(&s, &env).as_deref(),
            Some("eu-west-1")
        );
        s.api_base = Some("https://bedrock-mantle.ap-south-1.api.aws/v1".into());
        assert_eq!(
            mantle_region_before_profile(&s, &env).as_deref(),
            Some("ap-south-1")
        );
        s.region = Some("us-west-2".into());
        assert_eq!(
            mantle_region_before_profile(&s, &env).as_deref(),
            Some("us-west-2")
        );

        let surface = SurfaceSpec {
            host: Host::Mantle,
            apis: ApiSet::EMPTY,
            openai_base: OpenAiBase::OpenAiV1,
            project_id: None,
        };
        let none = EnvSource::from_pairs::<&str, &str>([]);
        let b = surface_base(&s, &surface, &none, "us-west-2").unwrap();
        assert_eq!(b.root, "https://bedrock-mantle.ap-south-1.api.aws");
        assert_eq!(b.openai, Some(OpenAiBase::V1));
        assert_eq!(
            b.openai_url(OpenAiBase::OpenAiV1, "/responses"),
            "https://bedrock-mantle.ap-south-1.api.aws/v1/responses"
        );
        s.api_base = None;
        let b = surface_base(&s, &surface, &none, "us-west-2").unwrap();
        assert_eq!(b.root, "https://bedrock-mantle.us-west-2.api.aws");
        assert!(!b.explicit);
        assert_eq!(
            b.openai_url(OpenAiBase::OpenAiV1, "/responses"),
            "https://bedrock-mantle.us-west-2.api.aws/openai/v1/responses"
        );
        s.runtime_endpoint = Some("http://127.0.0.1:9/prefix/openai/v1/".into());
        let b = surface_base(&s, &surface, &none, "us-west-2").unwrap();
        assert_eq!(b.root, "http://127.0.0.1:9/prefix");
        assert_eq!(b.openai, Some(OpenAiBase::OpenAiV1));
        let runtime = SurfaceSpec {
            host: Host::Runtime,
            ..surface
        };
        s.runtime_endpoint = None;
        let b = surface_base(&s, &runtime, &none, "us-east-1").unwrap();
        assert_eq!(b.root, "https://bedrock-runtime.us-east-1.amazonaws.com");
    }

    #[test]
    fn endpoints_are_validated() {
        assert_eq!(
            normalize_endpoint("bedrock-runtime.us-east-1.amazonaws.com").unwrap(),
            "https://bedrock-runtime.us-east-1.amazonaws.com"
        );
        assert!(matches!(
            normalize_endpoint("ftp://x"),
            Err(BedrockError::Config(_))
        ));
        assert!(normalize_endpoint("https://x/?a=b").is_err());
        assert!(normalize_endpoint("http://").is_err());
    }
}
