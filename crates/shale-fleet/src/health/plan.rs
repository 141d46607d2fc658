//! Which probe proves a deployment healthy, and its Bedrock request: the cheapest call that
//! proves the endpoint is reachable, the credentials sign and the model can be called.
//!
//! | kind | when | call |
//! |---|---|---|
//! | `count_tokens` | Claude on Bedrock | CountTokens of one word: free, the model does not run. If Bedrock answers that the model does not count tokens, the probe falls back to `chat` (and the checker remembers). |
//! | `chat` | other chat models, and every `converse_like` deployment (a chat proxy) | the deployment's own chat API (Converse or its invoke family) with `max_tokens: 1` |
//! | `embedding` | embedding models (`model_info.mode: embedding` or a known embedding id) | one one-word embedding |
//! | `rerank` | rerank models | a one-document rerank (agent-runtime, or InvokeModel for `bedrock/invoke/`) |
//! | `access` | image models, and anything whose body cannot be built | InvokeModel with an empty body: Bedrock checks the signature and model access before the body, so its `ValidationException` proves both without generating (an answer other than 2xx or that exception is a failure). It cannot see the model's own capacity. |
//!
//! Pure: no I/O; the bodies come from the same translators as client requests.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Map, Value};
use shale_bedrock::Operation;
use shale_config::{Api, ModelEntry};
use shale_translate::caps::base_model_id;
use shale_translate::embeddings::{plan_embeddings, EmbeddingFamily, EmbeddingsRequest};
use shale_translate::images::ImageFamily;
use shale_translate::messages::count_tokens_converse_input;
use shale_translate::rerank::{
    foundation_model_arn, rerank_to_agent_runtime, rerank_to_invoke, RerankRequest,
};
use shale_translate::{translate_chat, ChatApi, ChatContext, ChatRequest, FetchedMedia};
use shale_translate::{ModelCaps, ModelFamily};

/// The text every probe sends.
const PROBE_TEXT: &str = "ping";

/// What kind of call probes a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    CountTokens,
    Chat,
    Embedding,
    Rerank,
    Access,
}

impl ProbeKind {
    /// The name in `/health`, metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::CountTokens => "count_tokens",
            ProbeKind::Chat => "chat",
            ProbeKind::Embedding => "embedding",
            ProbeKind::Rerank => "rerank",
            ProbeKind::Access => "access",
        }
    }

    /// What the probe sends, for `shale check`.
    pub fn describe(self) -> &'static str {
        match self {
            ProbeKind::CountTokens => "CountTokens of one word (free: the model does not run; falls back to a 1-token chat request if Bedrock says the model cannot count tokens)",
            ProbeKind::Chat => "a 1-token chat request (max_tokens: 1)",
            ProbeKind::Embedding => "a one-word embedding",
            ProbeKind::Rerank => "a one-document rerank",
            ProbeKind::Access => "InvokeModel with an empty body (its ValidationException proves endpoint, credentials and model access without generating)",
        }
    }
}

/// The ids a deployment's model can be recognised by: the route's model, `litellm_params.model_id`
/// (may be an ARN that says nothing) and `model_info.base_model`.
fn model_ids(entry: &ModelEntry) -> impl Iterator<Item = &str> {
    [
        Some(entry.route.base_model.as_str()),
        entry.params.model_id.as_deref(),
        entry.model_info.get("base_model").and_then(Value::as_str),
    ]
    .into_iter()
    .flatten()
}

fn is_rerank_id(id: &str) -> bool {
    let tail = id.rsplit('/').next().unwrap_or(id);
    base_model_id(tail).to_ascii_lowercase().contains(".rerank")
}

/// The probe kind for a deployment (from `model_info.mode`, else its model id).
pub fn probe_kind(entry: &ModelEntry) -> ProbeKind {
    let embedding = || model_ids(entry).any(|id| EmbeddingFamily::from_model_id(id).is_some());
    let image = || model_ids(entry).any(|id| ImageFamily::from_model_id(id).is_some());
    let rerank = || model_ids(entry).any(is_rerank_id);
    if entry.route.api == Api::ConverseLike {
        // A chat proxy: chat is all it serves.
        return ProbeKind::Chat;
    }
    match entry.mode() {
        Some("embedding") => ProbeKind::Embedding,
        Some("image_generation") => ProbeKind::Access,
        Some("rerank") => ProbeKind::Rerank,
        Some("chat" | "completion" | "responses") => chat_kind(entry),
        _ if embedding() => ProbeKind::Embedding,
        _ if image() => ProbeKind::Access,
        _ if rerank() => ProbeKind::Rerank,
        _ => chat_kind(entry),
    }
}

fn chat_kind(entry: &ModelEntry) -> ProbeKind {
    if model_ids(entry).any(|id| ModelCaps::for_model_id(id).family == ModelFamily::Anthropic) {
        ProbeKind::CountTokens
    } else {
        ProbeKind::Chat
    }
}

/// One Bedrock call of a probe.
#[derive(Debug, Clone)]
pub enum ProbeCall {
    /// A bedrock-runtime operation.
    Runtime {
        op: Operation,
        body: Bytes,
        headers: HeaderMap,
    },
    /// bedrock-agent-runtime `Rerank`.
    AgentRerank { body: Bytes },
}

/// What a probe sends: its kind, its call and, for CountTokens, the chat call it falls back to.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    pub kind: ProbeKind,
    pub call: ProbeCall,
    pub fallback: Option<ProbeCall>,
}

/// What [`plan`] needs to know about a resolved deployment.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub entry: &'a ModelEntry,
    pub caps: &'a ModelCaps,
    /// The deployment's chat API (`None`: not a chat model).
    pub chat_api: Option<ChatApi>,
    /// Rerank over InvokeModel (`bedrock/invoke/…`) rather than agent-runtime.
    pub rerank_invoke: bool,
    /// The Bedrock region and model id of the target (the rerank model ARN is made from them).
    pub region: &'a str,
    pub model_id: &'a str,
}

/// The probe of one deployment. A kind whose body cannot be built (e.g. an embedding model of an
/// unknown family) becomes the `access` probe.
pub fn plan(input: &PlanInput<'_>) -> ProbePlan {
    let access = || ProbePlan {
        kind: ProbeKind::Access,
        call: runtime(Operation::Invoke, b"{}".to_vec(), HeaderMap::new()),
        fallback: None,
    };
    let kind = probe_kind(input.entry);
    let built = match kind {
        ProbeKind::CountTokens => {
            let input_body = count_tokens_converse_input(&json!({
                "messages": [{"role": "user", "content": [{"text": PROBE_TEXT}]}]
            }));
            Some(ProbePlan {
                kind,
                call: runtime(
                    Operation::CountTokens,
                    serde_json::to_vec(&input_body).unwrap_or_default(),
                    HeaderMap::new(),
                ),
                fallback: chat_call(input),
            })
        }
        ProbeKind::Chat => chat_call(input).map(|call| ProbePlan {
            kind,
            call,
            fallback: None,
        }),
        ProbeKind::Embedding => embedding_call(input.entry).map(|call| ProbePlan {
            kind,
            call,
            fallback: None,
        }),
        ProbeKind::Rerank => rerank_call(input).map(|call| ProbePlan {
            kind,
            call,
            fallback: None,
        }),
        ProbeKind::Access => None,
    };
    built.unwrap_or_else(access)
}

fn runtime(op: Operation, body: Vec<u8>, headers: HeaderMap) -> ProbeCall {
    ProbeCall::Runtime {
        op,
        body: Bytes::from(body),
        headers,
    }
}

/// `max_tokens: 1` through the deployment's own chat translation (Converse or invoke family).
fn chat_call(input: &PlanInput<'_>) -> Option<ProbeCall> {
    let api = input.chat_api?;
    let request: ChatRequest = serde_json::from_value(json!({
        "model": input.entry.model_name,
        "messages": [{"role": "user", "content": PROBE_TEXT}],
        "max_tokens": 1,
    }))
    .ok()?;
    let defaults = Map::new();
    let media = FetchedMedia::default();
    let ctx = ChatContext {
        caps: input.caps,
        default_params: &defaults,
        modify_params: false,
        user_continue_message: None,
        anthropic_beta: None,
        fetched_media: &media,
    };
    let call = translate_chat(request, api, &ctx).ok()?;
    let mut headers = HeaderMap::new();
    for (name, value) in &call.headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value).ok()?,
        );
    }
    let op = match api {
        ChatApi::Converse => Operation::Converse,
        ChatApi::Invoke(_) => Operation::Invoke,
    };
    Some(runtime(op, call.body.to_vec(), headers))
}

fn embedding_call(entry: &ModelEntry) -> Option<ProbeCall> {
    let family = model_ids(entry).find_map(EmbeddingFamily::from_model_id)?;
    let request: EmbeddingsRequest = serde_json::from_value(json!({
        "model": entry.model_name,
        "input": PROBE_TEXT,
    }))
    .ok()?;
    let plan = plan_embeddings(request, family, &Map::new()).ok()?;
    let body = plan.calls.first()?;
    Some(runtime(
        Operation::Invoke,
        serde_json::to_vec(body).ok()?,
        HeaderMap::new(),
    ))
}

fn rerank_call(input: &PlanInput<'_>) -> Option<ProbeCall> {
    let request: RerankRequest = serde_json::from_value(json!({
        "model": input.entry.model_name,
        "query": PROBE_TEXT,
        "documents": ["pong"],
        "top_n": 1,
    }))
    .ok()?;
    if input.rerank_invoke {
        let body = rerank_to_invoke(&request).ok()?;
        Some(runtime(Operation::Invoke, body, HeaderMap::new()))
    } else {
        let arn = foundation_model_arn(input.region, input.model_id);
        let body = rerank_to_agent_runtime(&request, &arn).ok()?;
        Some(ProbeCall::AgentRerank {
            body: Bytes::from(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shale_config::Config;

    fn entries(yaml_models: &str) -> Vec<ModelEntry> {
        Config::from_yaml_str(&format!("model_list:\n{yaml_models}"), &|_| None)
            .unwrap()
            .model_list
    }

    fn model(name: &str, model: &str) -> String {
        format!("  - model_name: {name}\n    litellm_params: {{model: {model}}}\n")
    }

    #[test]
    fn kinds_follow_the_model() {
        let list = entries(
            &[
                model(
                    "claude",
                    "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
                ),
                model("nova", "bedrock/amazon.nova-lite-v1:0"),
                model("titan-embed", "bedrock/amazon.titan-embed-text-v2:0"),
                model("cohere-rerank", "bedrock/cohere.rerank-v3-5:0"),
                model("canvas", "bedrock/amazon.nova-canvas-v1:0"),
                model(
                    "proxy",
                    "bedrock/converse_like/anthropic.claude-3-haiku-20240307-v1:0",
                ),
                model("llama", "bedrock/invoke/meta.llama3-8b-instruct-v1:0"),
            ]
            .concat(),
        );
        let kinds: Vec<&str> = list.iter().map(|e| probe_kind(e).label()).collect();
        assert_eq!(
            kinds,
            [
                "count_tokens",
                "chat",
                "embedding",
                "rerank",
                "access",
                "chat",
                "chat"
            ]
        );
    }

    #[test]
    fn model_info_mode_and_base_model_decide_for_opaque_ids() {
        let list = entries(
            "  - model_name: profile\n    litellm_params: {model: 'bedrock/arn:aws:bedrock:us-east-1:1:application-inference-profile/p1'}\n    model_info: {base_model: anthropic.claude-3-5-haiku-20241022-v1:0}\n\
             \x20 - model_name: opaque-embed\n    litellm_params: {model: 'bedrock/arn:aws:bedrock:us-east-1:1:application-inference-profile/p2'}\n    model_info: {mode: embedding}\n",
        );
        assert_eq!(probe_kind(&list[0]), ProbeKind::CountTokens);
        assert_eq!(probe_kind(&list[1]), ProbeKind::Embedding);
        // An embedding model of no known family cannot get an embedding body: access probe.
        let caps = ModelCaps::for_model_id(&list[1].route.base_model);
        let p = plan(&PlanInput {
            entry: &list[1],
            caps: &caps,
            chat_api: None,
            rerank_invoke: false,
            region: "us-east-1",
            model_id: &list[1].route.model_id,
        });
        assert_eq!(p.kind, ProbeKind::Access);
    }

    fn body_of(call: &ProbeCall) -> (Option<Operation>, Value) {
        match call {
            ProbeCall::Runtime { op, body, .. } => {
                (Some(*op), serde_json::from_slice(body).unwrap())
            }
            ProbeCall::AgentRerank { body } => (None, serde_json::from_slice(body).unwrap()),
        }
    }

    #[test]
    fn bodies_are_the_translators_with_one_token() {
        let list = entries(
            &[
                model("claude", "bedrock/anthropic.claude-3-haiku-20240307-v1:0"),
                model("nova", "bedrock/amazon.nova-lite-v1:0"),
                model("titan-embed", "bedrock/amazon.titan-embed-text-v2:0"),
                model("rerank", "bedrock/amazon.rerank-v1:0"),
            ]
            .concat(),
        );
        let plan_of = |e: &ModelEntry, chat: Option<ChatApi>| {
            let caps = ModelCaps::for_model_id(&e.route.base_model);
            plan(&PlanInput {
                entry: e,
                caps: &caps,
                chat_api: chat,
                rerank_invoke: false,
                region: "us-west-2",
                model_id: &e.route.model_id,
            })
        };
        let claude = plan_of(&list[0], Some(ChatApi::Converse));
        let (op, body) = body_of(&claude.call);
        assert_eq!(op, Some(Operation::CountTokens));
        assert_eq!(
            body["input"]["converse"]["messages"][0]["content"][0]["text"],
            "ping"
        );
        let (op, body) = body_of(claude.fallback.as_ref().unwrap());
        assert_eq!(op, Some(Operation::Converse));
        assert_eq!(body["inferenceConfig"]["maxTokens"], 1);

        let nova = plan_of(&list[1], Some(ChatApi::Converse));
        assert_eq!(nova.kind, ProbeKind::Chat);
        assert_eq!(body_of(&nova.call).1["inferenceConfig"]["maxTokens"], 1);

        let embed = plan_of(&list[2], None);
        let (op, body) = body_of(&embed.call);
        assert_eq!(op, Some(Operation::Invoke));
        assert_eq!(body["inputText"], "ping");

        let rerank = plan_of(&list[3], None);
        let (op, body) = body_of(&rerank.call);
        assert_eq!(op, None, "agent-runtime");
        assert!(
            body["rerankingConfiguration"]["bedrockRerankingConfiguration"]["modelConfiguration"]
                ["modelArn"]
                .as_str()
                .unwrap()
                .contains("us-west-2")
        );

        // A chat model whose chat API is unknown gets the access probe.
        let unknown = plan_of(&list[1], None);
        assert_eq!(unknown.kind, ProbeKind::Access);
        assert_eq!(body_of(&unknown.call).1, json!({}));
    }
}
