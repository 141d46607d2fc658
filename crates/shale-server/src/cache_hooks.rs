//! The response cache on the request path (`litellm_settings.cache: true`): one layer on the
//! model routes, inside `observe` (so the caller is authenticated and the request observed) and
//! before the handler, i.e. before routing. It is not installed when the cache is off.
//!
//! For a POST to a cached route (chat, completions, embeddings, messages, responses) it reads the
//! body once, asks `shale-cache` for the key (model group, route, canonical parameters incl.
//! `stream`) and the controls (body `cache`, `Cache-Control`, the key's
//! `allowed_cache_controls`), then:
//! - **hit**: admits the caller's key (its rpm, budget and model scope apply; no tokens are
//!   reserved), and answers with the stored bytes — JSON, or the stream's events replayed in the
//!   client's shape — with `x-litellm-cache-key`; no deployment, router limit or Bedrock quota is
//!   touched, the cost is 0 and the spend log says `cache_hit`;
//! - **miss**: hands the body to the handler unchanged and, when the answer is a 200, watches its
//!   body go out; only when it ends normally is it stored, in the background, if it is complete
//!   and has output (a client that goes away, an error or an empty answer stores nothing);
//! - embeddings are looked up per input item; only the missed items go to Bedrock.
//!
//! Order with other request hooks: the lookup runs before the handler. A request a guardrail may
//! check (`guardrail_hooks::may_apply`: a `default_on` guardrail, the key's or team's, or one the
//! body names) is neither looked up nor stored — a stored answer must not skip a guardrail — and
//! is recorded as a bypass; see `docs/caching.md`.
//!
//! Must not: compute keys or decide what is storable (that is `shale-cache`), wait on a store,
//! or answer differently from the handler except with the stored answer.

use crate::anthropic_error::anthropic_error_response;
use crate::body::read_limited;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};
use shale_cache::embeddings as emb;
use shale_cache::entry::now_ms;
use shale_cache::{
    CacheScope, CallType, Controls, Entry, KeyContext, Kind, Lookup, Plan, RequestView,
    ResponseCache, StoredUsage,
};
use shale_keys::Principal;
use shale_telemetry::record::{self, CacheOutcome, RequestCell};
use shale_telemetry::TokenUsage;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// `x-litellm-cache-key`: the key of the answer (on hits, and on misses that will be stored).
const CACHE_KEY: HeaderName = HeaderName::from_static("x-litellm-cache-key");
/// `x-shale-cache`: `hit` or `miss` (a shale extension, like a CDN's `X-Cache`).
const CACHE_STATUS: HeaderName = HeaderName::from_static("x-shale-cache");
const MODEL_GROUP: HeaderName = HeaderName::from_static("x-litellm-model-group");

/// Adds the cache layer to the model routes when the cache is on (called before `observe` is
/// layered, so the cache runs inside it).
pub fn layer_onto(routes: Router<Arc<AppState>>, state: &Arc<AppState>) -> Router<Arc<AppState>> {
    if state.cache.is_none() {
        return routes;
    }
    routes.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(state),
        layer,
    ))
}

/// The layer: passes everything but POSTs to cached routes straight through.
pub async fn layer(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(cache) = state.cache.clone() else {
        return next.run(request).await;
    };
    let call = match shale_cache::call_type(request.uri().path()) {
        Some(call) if request.method() == Method::POST && cache.caches(call) => call,
        _ => return next.run(request).await,
    };
    Box::pin(cached(&state, cache, call, request, next)).await
}

/// A refusal in the route's error shape (Anthropic's on `/v1/messages`).
fn refuse(call: CallType, err: ApiError) -> Response {
    if call == CallType::Messages {
        anthropic_error_response(err)
    } else {
        err.into_response()
    }
}

fn note(outcome: CacheOutcome) {
    record::with_current(|r| r.cache = Some(outcome));
}

/// The tenant of a scoped cache (`None`: shared).
fn scope_of(scope: CacheScope, principal: Option<&Principal>) -> Option<String> {
    let key = || {
        format!(
            "key:{}",
            principal.map_or("master", |p| p.key_hash.as_str())
        )
    };
    match scope {
        CacheScope::Shared => None,
        CacheScope::Key => Some(key()),
        CacheScope::Team => Some(
            principal
                .and_then(|p| p.team_id.as_deref())
                .map_or_else(key, |t| format!("team:{t}")),
        ),
    }
}

fn usage_of(u: StoredUsage) -> TokenUsage {
    TokenUsage {
        input: u.input,
        output: u.output,
        cache_read: u.cache_read,
        cache_write: u.cache_write,
    }
}

async fn forward(next: Next, parts: axum::http::request::Parts, body: Bytes) -> Response {
    next.run(Request::from_parts(parts, Body::from(body))).await
}

async fn cached(
    state: &AppState,
    cache: Arc<ResponseCache>,
    call: CallType,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let bytes = match read_limited(&parts.headers, body, state.max_body_bytes).await {
        Ok(b) => b,
        Err(err) => return refuse(call, err),
    };
    // Anything the cache cannot read is the handler's to refuse, in its own words.
    let Ok(view) = RequestView::parse(&bytes, call) else {
        return forward(next, parts, bytes).await;
    };
    let Some(model) = view.model.as_deref().map(str::to_owned) else {
        return forward(next, parts, bytes).await;
    };
    let Some(group) = state.router.resolve(&model).cloned() else {
        return forward(next, parts, bytes).await;
    };
    let principal = crate::keygate::principal();
    let allowed = principal
        .as_deref()
        .map_or(&[][..], |p| p.allowed_cache_controls.as_slice());
    let header = parts
        .headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok());
    let controls = match Controls::read(view.cache, view.caching, header, allowed) {
        Ok(c) => c,
        Err(err) => return refuse(call, err.into()),
    };
    let Some(plan) = cache.plan(&controls) else {
        note(CacheOutcome::default());
        return forward(next, parts, bytes).await;
    };
    if crate::guardrail_hooks::may_apply(state, &bytes) {
        note(CacheOutcome::default());
        return forward(next, parts, bytes).await;
    }
    let scope = scope_of(cache.settings().scope, principal.as_deref());
    let beta = parts
        .headers
        .get("anthropic-beta")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ctx = KeyContext {
        call,
        group: &group,
        scope: scope.as_deref(),
        anthropic_beta: beta.as_deref(),
    };
    let namespace = cache.namespace(&controls);
    if call == CallType::Embeddings {
        let Some(items) = view.input.and_then(emb::items) else {
            return forward(next, parts, bytes).await;
        };
        let Ok(digests) = emb::item_digests(&ctx, &view, &items) else {
            return forward(next, parts, bytes).await;
        };
        let keys: Vec<String> = digests.iter().map(|d| d.key(namespace)).collect();
        let items: Vec<Box<serde_json::value::RawValue>> =
            items.iter().map(|r| (*r).to_owned()).collect();
        drop(view);
        let job = ItemsJob {
            state,
            cache,
            plan,
            model,
            keys,
            items,
        };
        return job.run(parts, bytes, next).await;
    }
    let key = shale_cache::key::digest(&ctx, &view).key(namespace);
    let wanted = if view.stream {
        Kind::EventStream
    } else {
        Kind::Json
    };
    drop(view);
    if plan.read {
        if let Lookup::Hit(entry) = cache.get(&key).await {
            if entry.kind == wanted && entry.fresh(plan.max_age, now_ms()) {
                return hit(state, call, &model, &group, key, entry, started).await;
            }
        }
    }
    note(CacheOutcome {
        misses: u32::from(plan.read),
        ..CacheOutcome::default()
    });
    let mut response = forward(next, parts, bytes).await;
    if response.status() != axum::http::StatusCode::OK {
        return response;
    }
    response
        .headers_mut()
        .insert(CACHE_STATUS, HeaderValue::from_static("miss"));
    if !plan.write {
        return response;
    }
    if let Ok(v) = HeaderValue::from_str(&key) {
        response.headers_mut().insert(CACHE_KEY, v);
    }
    let cell = record::current();
    // A complete answer's usage is in the record now (observe finishes it before the body goes
    // out); a stream's arrives with its end.
    let usage = cell.as_ref().and_then(|c| c.lock().usage);
    let job = StoreJob {
        cache,
        call,
        key,
        plan,
        kind: wanted,
        usage,
        cell,
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::new(StoreOnEnd::new(body, job)))
}

/// Answers from a stored entry (after admitting the caller's key).
async fn hit(
    state: &AppState,
    call: CallType,
    model: &str,
    group: &str,
    key: String,
    entry: Entry,
    started: Instant,
) -> Response {
    // A hit is a request: the key's rpm, budget and model scope apply (no tokens are reserved).
    if let Err(err) = crate::keygate::admit_cached(state, model).await {
        return refuse(call, err);
    }
    let header_key = HeaderValue::from_str(&key).ok();
    record::with_current(|r| {
        r.requested_model = Some(model.to_owned());
        r.cost = Some(0.0);
        r.cache = Some(CacheOutcome {
            hits: 1,
            hit: true,
            key: Some(key),
            cached_usage: usage_of(entry.usage),
            ..CacheOutcome::default()
        });
    });
    let mut response = match entry.kind {
        Kind::EventStream => crate::sse::event_stream_response(Body::from(entry.body)),
        Kind::Json | Kind::Embedding => json(entry.body),
    };
    mark_hit(&mut response, header_key, group, started);
    response
}

fn json(body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn mark_hit(response: &mut Response, key: Option<HeaderValue>, group: &str, started: Instant) {
    crate::response::set_overhead(response, started.elapsed());
    let headers = response.headers_mut();
    headers.insert(CACHE_STATUS, HeaderValue::from_static("hit"));
    if let Some(k) = key {
        headers.insert(CACHE_KEY, k);
    }
    if let Ok(g) = HeaderValue::from_str(group) {
        headers.insert(MODEL_GROUP, g);
    }
}

/// What to store once an answer's body has gone out whole.
struct StoreJob {
    cache: Arc<ResponseCache>,
    call: CallType,
    key: String,
    plan: Plan,
    kind: Kind,
    /// The answer's usage, when known before its body went out.
    usage: Option<TokenUsage>,
    /// The request's record (a stream's usage is there once the body ended).
    cell: Option<Arc<RequestCell>>,
}

impl StoreJob {
    /// Checks and stores in the background: never on the client's time.
    fn finish(self, parts: Vec<Bytes>) {
        let usage = self
            .usage
            .or_else(|| self.cell.as_ref().and_then(|c| c.lock().usage))
            .unwrap_or_default();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn(async move {
            let body = concat(parts);
            let storable = match self.kind {
                Kind::EventStream => shale_cache::answer::stream_is_storable(self.call, &body),
                _ => shale_cache::answer::json_has_output(self.call, &body),
            };
            if !storable {
                tracing::debug!(key = %self.key, "answer not stored: incomplete or without output");
                return;
            }
            let entry = Entry {
                kind: self.kind,
                stored_ms: now_ms(),
                usage: StoredUsage {
                    input: usage.input,
                    output: usage.output,
                    cache_read: usage.cache_read,
                    cache_write: usage.cache_write,
                },
                body,
            };
            self.cache.put(vec![(self.key, entry)], self.plan.ttl);
        });
    }
}

fn concat(parts: Vec<Bytes>) -> Bytes {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    let mut out = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
    for p in parts {
        out.extend_from_slice(&p);
    }
    out.freeze()
}

/// A response body that keeps (shared, not copied) what it sends, up to the entry limit, and
/// hands it to the store only when it reached its end. Dropped early (client gone), failed, or
/// larger than the limit: nothing is stored.
struct StoreOnEnd {
    inner: Body,
    kept: Vec<Bytes>,
    size: usize,
    limit: usize,
    job: Option<StoreJob>,
}

impl StoreOnEnd {
    fn new(inner: Body, job: StoreJob) -> StoreOnEnd {
        StoreOnEnd {
            inner,
            kept: Vec::new(),
            size: 0,
            limit: job.cache.max_entry_bytes(),
            job: Some(job),
        }
    }
}

impl HttpBody for StoreOnEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(_)) = (frame.data_ref(), &this.job) {
                    this.size += data.len();
                    if this.size > this.limit {
                        this.job = None;
                        this.kept = Vec::new();
                    } else {
                        this.kept.push(data.clone());
                    }
                }
                // A body of known length may not be polled again once it is all sent.
                if this.inner.is_end_stream() {
                    if let Some(job) = this.job.take() {
                        job.finish(std::mem::take(&mut this.kept));
                    }
                }
            }
            Poll::Ready(None) => {
                if let Some(job) = this.job.take() {
                    job.finish(std::mem::take(&mut this.kept));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                this.job = None;
                this.kept = Vec::new();
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // Never report the end before `poll_frame` has seen it (the store happens there).
        self.inner.is_end_stream() && self.job.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An embeddings request, looked up item by item.
struct ItemsJob<'a> {
    state: &'a AppState,
    cache: Arc<ResponseCache>,
    plan: Plan,
    model: String,
    keys: Vec<String>,
    items: Vec<Box<serde_json::value::RawValue>>,
}

impl ItemsJob<'_> {
    async fn run(self, mut parts: axum::http::request::Parts, body: Bytes, next: Next) -> Response {
        let started = Instant::now();
        let n = self.keys.len();
        let now = now_ms();
        let found: Vec<Option<Entry>> = if self.plan.read {
            self.cache
                .get_many(&self.keys)
                .await
                .unwrap_or_else(|| vec![None; n])
                .into_iter()
                .map(|e| e.filter(|e| e.kind == Kind::Embedding && e.fresh(self.plan.max_age, now)))
                .collect()
        } else {
            vec![None; n]
        };
        let hits = found.iter().filter(|e| e.is_some()).count();
        let cached_usage = found
            .iter()
            .flatten()
            .fold(TokenUsage::default(), |mut u, e| {
                u.input += e.usage.input;
                u
            });
        let outcome = CacheOutcome {
            hits: hits as u32,
            misses: if self.plan.read { (n - hits) as u32 } else { 0 },
            hit: hits == n,
            key: (n == 1).then(|| self.keys[0].clone()),
            cached_usage,
        };
        if hits == n {
            if let Err(err) = crate::keygate::admit_cached(self.state, &self.model).await {
                return refuse(CallType::Embeddings, err);
            }
            let vectors: Vec<&[u8]> = found.iter().flatten().map(|e| &e.body[..]).collect();
            let answer = emb::assemble(&self.model, &vectors, cached_usage.input);
            let key = outcome
                .key
                .as_deref()
                .and_then(|k| HeaderValue::from_str(k).ok());
            let group = self.state.router.resolve(&self.model).cloned();
            record::with_current(|r| {
                r.requested_model = Some(self.model.clone());
                r.cost = Some(0.0);
                r.cache = Some(outcome);
            });
            let mut response = json(Bytes::from(answer));
            mark_hit(&mut response, key, group.as_deref().unwrap_or(""), started);
            return response;
        }
        note(outcome);
        let missing: Vec<usize> = (0..n).filter(|&i| found[i].is_none()).collect();
        let upstream_body = if hits == 0 {
            body
        } else {
            let raws: Vec<&serde_json::value::RawValue> =
                missing.iter().map(|&i| &*self.items[i]).collect();
            match emb::rewrite_input(&body, &raws) {
                Ok(b) => Bytes::from(b),
                Err(_) => body,
            }
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        let mut response = forward(next, parts, upstream_body).await;
        if response.status() != axum::http::StatusCode::OK {
            return response;
        }
        if hits == 0 {
            response
                .headers_mut()
                .insert(CACHE_STATUS, HeaderValue::from_static("miss"));
            if !self.plan.write {
                return response;
            }
        }
        let (mut parts, body) = response.into_parts();
        let Ok(answer) = axum::body::to_bytes(body, usize::MAX).await else {
            return ApiError::Internal("the embeddings answer could not be read".into())
                .into_response();
        };
        let Some(up) = emb::parse_answer(&answer, missing.len()) else {
            // Not the answer we expected: pass it on untouched (and store nothing).
            return Response::from_parts(parts, Body::from(answer));
        };
        if self.plan.write {
            let stored = now_ms();
            let items = missing
                .iter()
                .zip(&up.vectors)
                .enumerate()
                .map(|(j, (&i, v))| {
                    let entry = Entry {
                        kind: Kind::Embedding,
                        stored_ms: stored,
                        usage: StoredUsage {
                            input: emb::share(up.prompt_tokens, missing.len(), j),
                            ..StoredUsage::default()
                        },
                        body: Bytes::copy_from_slice(v.get().as_bytes()),
                    };
                    (self.keys[i].clone(), entry)
                })
                .collect();
            self.cache.put(items, self.plan.ttl);
        }
        if hits == 0 {
            return Response::from_parts(parts, Body::from(answer));
        }
        // Part hit: the stored vectors and the upstream's, in the request's order.
        let mut upstream = up.vectors.iter();
        let vectors: Vec<&[u8]> = found
            .iter()
            .map(|e| match e {
                Some(e) => &e.body[..],
                None => upstream.next().map_or(&b"null"[..], |v| v.get().as_bytes()),
            })
            .collect();
        let merged = emb::assemble(&self.model, &vectors, cached_usage.input + up.prompt_tokens);
        parts.headers.remove(header::CONTENT_LENGTH);
        parts
            .headers
            .insert(CACHE_STATUS, HeaderValue::from_static("partial"));
        Response::from_parts(parts, Body::from(merged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_never_collide_between_keys_and_teams() {
        assert_eq!(scope_of(CacheScope::Shared, None), None);
        assert_eq!(
            scope_of(CacheScope::Key, None).as_deref(),
            Some("key:master")
        );
        assert_eq!(
            scope_of(CacheScope::Team, None).as_deref(),
            Some("key:master")
        );
    }

    #[test]
    fn concat_joins_in_order() {
        let parts = vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")];
        assert_eq!(concat(parts), Bytes::from_static(b"abc"));
        assert_eq!(concat(vec![]), Bytes::new());
    }
}
