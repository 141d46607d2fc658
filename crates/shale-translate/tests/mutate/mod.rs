//! Input generators shared by the property tests: arbitrary JSON biased towards the field names
//! and values the translators look at, and mutations of real fixture documents (replace, remove,
//! insert or retype any node), so generated inputs reach deep code paths instead of failing at
//! the first field.

#![allow(dead_code)] // each test binary uses a different subset

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Number, Value};
use shale_translate::chat::EventTranslator;
use shale_translate::embeddings::EmbeddingFamily;
use shale_translate::images::ImageFamily;
use shale_translate::messages::native_stream::EVENT_NAMES;
use shale_translate::{
    ChatContext, ChatMessage, FetchedMedia, JsonMode, ModelCaps, ResponseContext, ToolNameMap,
    TranslateError,
};
use std::path::{Path, PathBuf};

/// The property tests' runner settings: failures are reported with the minimal input; no
/// regression files in the tree. Case count: `PROPTEST_CASES` (default 256).
pub fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Converse model ids covering the capability switches (thinking, reasoning config, tools, media).
/// `converse_body_bytes.rs`'s corpus records one outcome per id, in this order.
pub const CONVERSE_MODELS: &[&str] = &[
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.amazon.nova-lite-v1:0",
    "amazon.nova-premier-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "us.deepseek.r1-v1:0",
    "cohere.command-r-plus-v1:0",
    "openai.gpt-oss-120b-1:0",
    "amazon.titan-text-premier-v1:0",
];

/// A fixture stream (`[{"type", "payload"}]`) as the (event type, payload bytes) pairs a
/// translator is fed; a missing type is "" and a missing payload `null`.
pub fn stream_events(doc: &Value) -> Vec<(String, Vec<u8>)> {
    doc.as_array()
        .into_iter()
        .flatten()
        .map(|ev| {
            let ty = ev
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let payload = ev.get("payload").cloned().unwrap_or(Value::Null);
            (ty, serde_json::to_vec(&payload).unwrap())
        })
        .collect()
}

/// The tool names the answer translators map back (one needing sanitising, one not).
pub fn tool_names() -> ToolNameMap {
    let mut names = ToolNameMap::new();
    names.sanitize("clock.now/v1");
    names.sanitize("get_weather");
    names
}

/// The response context the answer and stream translators run under: model `m`, JSON mode as
/// a tool call when `json_mode`.
pub fn response_ctx(names: &ToolNameMap, json_mode: bool) -> ResponseContext<'_> {
    ResponseContext {
        model_name: "m",
        tool_names: names,
        json_mode: if json_mode {
            JsonMode::ToolCall
        } else {
            JsonMode::None
        },
        created: 1_700_000_000,
        id: "chatcmpl-test".into(),
    }
}

/// A refused answer or stream from upstream must be upstream's fault (`InvalidUpstream`, a 502),
/// never the client's.
pub fn assert_upstream_error(e: &TranslateError, what: &str) {
    assert!(
        matches!(e, TranslateError::InvalidUpstream(_)),
        "{what}: a bad upstream answer was reported as the client's fault: {e:?}"
    );
}

/// Every embedding family (each has its own request and answer shapes).
pub const EMBEDDING_FAMILIES: [EmbeddingFamily; 6] = [
    EmbeddingFamily::TitanTextV1,
    EmbeddingFamily::TitanTextV2,
    EmbeddingFamily::TitanImage,
    EmbeddingFamily::CohereV3,
    EmbeddingFamily::CohereV4,
    EmbeddingFamily::NovaMultimodal,
];

/// Every image family (each has its own request and answer shapes).
pub const IMAGE_FAMILIES: [ImageFamily; 5] = [
    ImageFamily::TitanV1,
    ImageFamily::TitanV2,
    ImageFamily::NovaCanvas,
    ImageFamily::StabilitySd3,
    ImageFamily::Sdxl,
];

/// Feeds (type, payload) events to a stream translator the way the server does: stop at the
/// first error (which must be upstream's fault), else finish; every chunk must serialise.
pub fn drive(t: &mut dyn EventTranslator, events: &[(String, Vec<u8>)]) {
    for (ty, payload) in events {
        match t.on_event(ty, payload) {
            Ok(chunks) => {
                for c in chunks {
                    serde_json::to_vec(&c).expect("chunk serialises");
                }
            }
            Err(e) => return assert_upstream_error(&e, ty),
        }
    }
    for c in t.finish() {
        serde_json::to_vec(&c).expect("chunk serialises");
    }
}

/// Calls `each(model, ctx)` for every model id under the context the randomized chat tests
/// translate with: no default params, `modify_params` and `anthropic-beta` as given, and a
/// `user_continue_message` on every other model.
pub fn for_each_chat_context<T>(
    models: &[&str],
    modify_params: bool,
    beta: Option<&str>,
    mut each: impl FnMut(&str, &ChatContext<'_>) -> T,
) -> Vec<T> {
    let defaults = Map::new();
    let fetched = FetchedMedia::new();
    let continue_msg: ChatMessage =
        serde_json::from_value(serde_json::json!({"role": "user", "content": "go on"}))
            .expect("continue message");
    models
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let caps = ModelCaps::for_model_id(model);
            let ctx = ChatContext {
                caps: &caps,
                default_params: &defaults,
                modify_params,
                user_continue_message: (i % 2 == 0).then_some(&continue_msg),
                anthropic_beta: beta,
                fetched_media: &fetched,
            };
            each(model, &ctx)
        })
        .collect()
}

/// Keys the OpenAI, Anthropic, Converse and native model formats use (with the Anthropic stream's
/// event names, [`EVENT_NAMES`], in [`key`]).
pub const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "image_url",
    "url",
    "detail",
    "input_audio",
    "file",
    "file_data",
    "file_id",
    "filename",
    "format",
    "video_url",
    "tools",
    "function",
    "name",
    "description",
    "parameters",
    "strict",
    "tool_choice",
    "tool_calls",
    "id",
    "arguments",
    "tool_call_id",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "stream",
    "stream_options",
    "include_usage",
    "n",
    "seed",
    "user",
    "response_format",
    "json_schema",
    "schema",
    "thinking",
    "budget_tokens",
    "reasoning_effort",
    "reasoning_content",
    "thinking_blocks",
    "signature",
    "cache_control",
    "guardrailConfig",
    "guardrailIdentifier",
    "guardrailVersion",
    "performanceConfig",
    "serviceTier",
    "requestMetadata",
    "mediaSource",
    "base64String",
    "s3Location",
    "uri",
    "prompt",
    "input",
    "encoding_format",
    "dimensions",
    "documents",
    "query",
    "top_n",
    "size",
    "quality",
    "index",
    "delta",
    "contentBlockIndex",
    "start",
    "toolUse",
    "toolUseId",
    "reasoningContent",
    "redactedContent",
    "stopReason",
    "usage",
    "inputTokens",
    "outputTokens",
    "metrics",
    "latencyMs",
    "message",
    "content_block",
    "stop_reason",
    "partial_json",
    "outputs",
    "generation",
    "completion",
    "choices",
    "finish_reason",
    "bytes",
    "p",
    "input_tokens",
    "output_tokens",
    "amazon-bedrock-invocationMetrics",
    "inputTokenCount",
    "outputTokenCount",
    "cacheReadInputTokens",
    "cacheWriteInputTokens",
    "trace",
    "additionalModelRequestFields",
];

/// String values with a history of breaking parsers: non-ASCII next to ASCII prefixes, data
/// URLs, tags, control characters, numbers as text.
pub const STRINGS: &[&str] = &[
    "",
    " ",
    "abcdé",
    "é",
    "🦀",
    "data:",
    "data:é",
    "data:image/png;base64,",
    "data:image/png;base64,iVBORw0KGgo=",
    "data:image/png;base64,é",
    "data:,%",
    "data:,%e",
    "data:text/plain,%C3%A9",
    "data:;base64,====",
    "s3://",
    "s3://b/k.png",
    "s3:/é",
    "https://example.com/a.png",
    "http://[::1]/x",
    "user",
    "assistant",
    "system",
    "tool",
    "developer",
    "function",
    "text",
    "image_url",
    "input_audio",
    "file",
    "json_schema",
    "json_object",
    "auto",
    "none",
    "required",
    "any",
    "enabled",
    "disabled",
    "adaptive",
    "high",
    "low",
    "minimal",
    "medium",
    "<think>",
    "</think>",
    "<think>a</think>b",
    "</thi",
    "\u{0}",
    "\r\n",
    "1e400",
    "-1",
    "NaN",
    "ephemeral",
    "tool_use",
    "tool_result",
    "image",
    "document",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "signature_delta",
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "{",
    "{\"a\":",
    "[]",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS.iter().chain(EVENT_NAMES).copied().collect::<Vec<_>>())
            .prop_map(str::to_owned),
        1 => "[a-z_]{0,6}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    let ints = prop_oneof![
        Just(0i64),
        Just(-1),
        Just(1),
        Just(i64::MAX),
        Just(i64::MIN),
        any::<i64>()
    ];
    let uints = prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()];
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => ints.prop_map(Value::from),
        1 => uints.prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        4 => prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_owned())),
        2 => any::<String>().prop_map(Value::String),
    ]
}

/// Arbitrary JSON: up to 4 levels, biased keys and strings.
pub fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One change to a document; `at` picks a node (pre-order, modulo the node count).
#[derive(Debug, Clone)]
pub enum Mutation {
    Replace {
        at: usize,
        with: Value,
    },
    Remove {
        at: usize,
    },
    Insert {
        at: usize,
        key: String,
        value: Value,
    },
    /// Wrap the node in a list (a scalar where a list is expected, and the reverse).
    Wrap {
        at: usize,
    },
    /// Replace the node with the first element / value it contains.
    Unwrap {
        at: usize,
    },
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), json_value()).prop_map(|(at, with)| Mutation::Replace { at, with }),
        2 => any::<usize>().prop_map(|at| Mutation::Remove { at }),
        2 => (any::<usize>(), key(), json_value())
            .prop_map(|(at, key, value)| Mutation::Insert { at, key, value }),
        1 => any::<usize>().prop_map(|at| Mutation::Wrap { at }),
        1 => any::<usize>().prop_map(|at| Mutation::Unwrap { at }),
    ]
}

/// JSON pointers of every node, pre-order (the root is "").
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{here}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{here}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// Applies `m` to `doc` (never fails: an impossible change is skipped).
pub fn apply(doc: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    let pick = |at: usize| all[at % all.len()].clone();
    match m {
        Mutation::Replace { at, with } => {
            if let Some(node) = doc.pointer_mut(&pick(*at)) {
                *node = with.clone();
            }
        }
        Mutation::Remove { at } => {
            let ptr = pick(*at);
            let Some((parent, last)) = ptr.rsplit_once('/') else {
                return;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            match doc.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&last);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>() {
                        if i < items.len() {
                            items.remove(i);
                        }
                    }
                }
                _ => {}
            }
        }
        Mutation::Insert { at, key, value } => match doc.pointer_mut(&pick(*at)) {
            Some(Value::Object(map)) => {
                map.insert(key.clone(), value.clone());
            }
            Some(Value::Array(items)) => items.push(value.clone()),
            _ => {}
        },
        Mutation::Wrap { at } => {
            if let Some(node) = doc.pointer_mut(&pick(*at)) {
                *node = Value::Array(vec![node.take()]);
            }
        }
        Mutation::Unwrap { at } => {
            if let Some(node) = doc.pointer_mut(&pick(*at)) {
                let inner = match node {
                    Value::Array(items) => items.first().cloned(),
                    Value::Object(map) => map.values().next().cloned(),
                    _ => None,
                };
                if let Some(inner) = inner {
                    *node = inner;
                }
            }
        }
    }
}

/// Every `name` file under `tests/fixtures/<group>/*/`, parsed.
pub fn corpus(groups: &[&str], name: &str) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for group in groups {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(group))
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        dirs.sort();
        for dir in dirs {
            if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                out.push(serde_json::from_str(&text).expect("fixture JSON"));
            }
        }
    }
    assert!(!out.is_empty(), "no {name} fixtures in {groups:?}");
    out
}

/// A fixture from `corpus` (by index) with up to `max` mutations applied.
pub fn mutated(corpus: Vec<Value>, max: usize) -> impl Strategy<Value = Value> {
    let n = corpus.len();
    (0..n, prop::collection::vec(mutation(), 0..=max)).prop_map(move |(i, ms)| {
        let mut doc = corpus[i].clone();
        for m in &ms {
            apply(&mut doc, m);
        }
        doc
    })
}

/// JSON pointers of every node of `doc`, pre-order (the root is ""): the places a systematic
/// (not random) mutation can target.
pub fn node_pointers(doc: &Value) -> Vec<String> {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    all
}
