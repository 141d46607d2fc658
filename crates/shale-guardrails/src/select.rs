//! Which guardrails run for one request, and at which hook: the configured `default_on` ones,
//! plus those the request asks for (`"guardrails": ["name"]` or LiteLLM's
//! `[{"name": {"extra_body": {…}}}]`, at the top level of the body, in `metadata` or in
//! `litellm_metadata`), its virtual key's and its team's. A request can add guardrails, never
//! remove one. An unknown name is an error, never ignored: a guardrail someone asked for that does
//! not run is a silent hole.
//!
//! Must not: do I/O or read anything but what it is given.

use crate::error::GuardrailError;
use crate::model::{Guardrail, Hook};
use serde_json::{Map, Value};
use std::sync::Arc;

/// One guardrail a request asked for, with its dynamic ApplyGuardrail params (`extra_body`).
#[derive(Debug, Clone, PartialEq)]
pub struct Requested {
    pub name: String,
    pub extra_body: Option<Map<String, Value>>,
}

/// Takes the request's guardrail list out of a request body: top-level `guardrails` (always
/// removed, so Bedrock never sees it), then `metadata.guardrails` and
/// `litellm_metadata.guardrails` (removed from there too; an emptied `litellm_metadata` goes).
/// Costs three lookups when the body has none.
pub fn take_requested(body: &mut Map<String, Value>) -> Result<Vec<Requested>, GuardrailError> {
    let mut out = Vec::new();
    if let Some(v) = body.remove("guardrails") {
        parse_list(v, "guardrails", &mut out)?;
    }
    for holder in ["metadata", "litellm_metadata"] {
        let Some(Value::Object(m)) = body.get_mut(holder) else {
            continue;
        };
        if let Some(v) = m.remove("guardrails") {
            parse_list(v, &format!("{holder}.guardrails"), &mut out)?;
        }
        if holder == "litellm_metadata" && m.is_empty() {
            body.remove(holder);
        }
    }
    Ok(out)
}

fn parse_list(v: Value, field: &str, out: &mut Vec<Requested>) -> Result<(), GuardrailError> {
    let bad = || {
        GuardrailError::InvalidRequest(format!(
            "`{field}` must be a list of guardrail names or {{\"name\": {{\"extra_body\": {{…}}}}}} objects"
        ))
    };
    let Value::Array(items) = v else {
        return match v {
            Value::Null => Ok(()),
            _ => Err(bad()),
        };
    };
    for item in items {
        match item {
            Value::String(name) => out.push(Requested {
                name,
                extra_body: None,
            }),
            Value::Object(m) if m.len() == 1 => {
                let (name, params) = m.into_iter().next().ok_or_else(bad)?;
                let extra_body = match params {
                    Value::Object(mut p) => match p.remove("extra_body") {
                        Some(Value::Object(e)) => Some(e),
                        None | Some(Value::Null) => None,
                        Some(_) => return Err(bad()),
                    },
                    Value::Null => None,
                    _ => return Err(bad()),
                };
                out.push(Requested { name, extra_body });
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// A request's dynamic ApplyGuardrail params for one guardrail.
type ExtraBody = Option<Arc<Map<String, Value>>>;

/// One guardrail to run, with the request's dynamic params for it.
#[derive(Debug, Clone)]
pub struct Step {
    pub guardrail: Arc<Guardrail>,
    pub extra_body: ExtraBody,
}

/// The guardrails of one request, by hook, in config order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub pre: Vec<Step>,
    pub during: Vec<Step>,
    pub post: Vec<Step>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty() && self.during.is_empty() && self.post.is_empty()
    }

    /// The steps of a hook.
    pub fn at(&self, hook: Hook) -> &[Step] {
        match hook {
            Hook::PreCall => &self.pre,
            Hook::DuringCall => &self.during,
            Hook::PostCall => &self.post,
            Hook::Apply => &[],
        }
    }
}

/// The error for a name that is not configured, asked for by `origin` (`request`, `key`, `team`).
pub fn unknown(all: &[Arc<Guardrail>], name: &str, origin: &'static str) -> GuardrailError {
    GuardrailError::Unknown {
        name: name.to_owned(),
        origin,
        configured: if all.is_empty() {
            "none".to_owned()
        } else {
            all.iter()
                .map(|g| format!("`{}`", g.name))
                .collect::<Vec<_>>()
                .join(", ")
        },
    }
}

/// Builds the plan: `default_on` guardrails, then the request's, the key's and the team's
/// names (each once). `all` is the configured list, in config order.
pub fn plan(
    all: &[Arc<Guardrail>],
    requested: &[Requested],
    key: &[String],
    team: &[String],
) -> Result<Plan, GuardrailError> {
    // Per configured guardrail: not chosen, or chosen with the request's `extra_body` (if any).
    let mut chosen: Vec<Option<ExtraBody>> = all
        .iter()
        .map(|g| g.config.default_on.then_some(None))
        .collect();
    let position = |name: &str, origin: &'static str| {
        all.iter()
            .position(|g| &*g.name == name)
            .ok_or_else(|| unknown(all, name, origin))
    };
    for r in requested {
        let i = position(&r.name, "request")?;
        let extra = r.extra_body.clone().map(Arc::new);
        match &mut chosen[i] {
            Some(slot @ None) => *slot = extra,
            Some(Some(_)) => {}
            slot @ None => *slot = Some(extra),
        }
    }
    for (names, origin) in [(key, "key"), (team, "team")] {
        for name in names {
            let i = position(name, origin)?;
            chosen[i].get_or_insert(None);
        }
    }
    let mut plan = Plan::default();
    for (g, extra) in all.iter().zip(chosen) {
        let Some(extra_body) = extra else { continue };
        for hook in [Hook::PreCall, Hook::DuringCall, Hook::PostCall] {
            if g.runs_at(hook) {
                let step = Step {
                    guardrail: Arc::clone(g),
                    extra_body: extra_body.clone(),
                };
                match hook {
                    Hook::PreCall => plan.pre.push(step),
                    Hook::DuringCall => plan.during.push(step),
                    _ => plan.post.push(step),
                }
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn requested_names_come_from_every_litellm_spelling_and_leave_the_body() {
        let mut b = body(json!({
            "model": "m",
            "guardrails": ["a", {"b": {"extra_body": {"outputScope": "FULL"}}}],
            "metadata": {"guardrails": ["c"], "user": "u"},
            "litellm_metadata": {"guardrails": ["d"]}
        }));
        let r = take_requested(&mut b).unwrap();
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "c", "d"]);
        assert_eq!(r[1].extra_body.as_ref().unwrap()["outputScope"], "FULL");
        assert!(!b.contains_key("guardrails"));
        assert!(
            !b.contains_key("litellm_metadata"),
            "emptied litellm_metadata goes"
        );
        assert_eq!(b["metadata"], json!({"user": "u"}));
        assert!(take_requested(&mut body(json!({"guardrails": "a"}))).is_err());
        assert!(take_requested(&mut body(json!({"guardrails": [1]}))).is_err());
        assert!(take_requested(&mut body(json!({"guardrails": null})))
            .unwrap()
            .is_empty());
    }
}
