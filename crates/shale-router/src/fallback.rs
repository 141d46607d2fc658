//! Fallback resolution: after a model group failed, which groups to try next, in order, by the
//! kind of failure (`context_window_fallbacks`, `content_policy_fallbacks`, `fallbacks`,
//! `default_fallbacks`, or the request's own `fallbacks`). Pure lookups.

use crate::policy::FailureClass;
use shale_config::RoutingSettings;
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct Fallbacks {
    generic: HashMap<String, Vec<String>>,
    context_window: HashMap<String, Vec<String>>,
    content_policy: HashMap<String, Vec<String>>,
    /// `default_fallbacks`, or the `"*"` entry of `fallbacks`.
    default: Vec<String>,
}

fn to_map(pairs: &[(String, Vec<String>)]) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in pairs {
        map.entry(k.clone()).or_default().extend(v.iter().cloned());
    }
    map
}

impl Fallbacks {
    pub fn from_settings(s: &RoutingSettings) -> Fallbacks {
        let mut generic = to_map(&s.fallbacks);
        let mut default = s.default_fallbacks.clone();
        if let Some(star) = generic.remove("*") {
            default.extend(star);
        }
        Fallbacks {
            generic,
            context_window: to_map(&s.context_window_fallbacks),
            content_policy: to_map(&s.content_policy_fallbacks),
            default,
        }
    }

    /// Every group named anywhere (for checking they exist).
    pub fn named_groups(&self) -> impl Iterator<Item = (&str, &str)> {
        [&self.generic, &self.context_window, &self.content_policy]
            .into_iter()
            .flat_map(|m| m.iter())
            .flat_map(|(k, v)| v.iter().map(move |g| (k.as_str(), g.as_str())))
            .chain(self.default.iter().map(|g| ("*", g.as_str())))
    }

    /// The groups to try after `group` failed with `class`. `per_request` replaces the configured
    /// generic fallbacks.
    pub fn for_failure(
        &self,
        group: &str,
        class: FailureClass,
        per_request: Option<&[String]>,
    ) -> Vec<String> {
        let specific = match class {
            FailureClass::BadRequest => return Vec::new(),
            FailureClass::ContextWindow => self.context_window.get(group),
            FailureClass::ContentPolicy => self.content_policy.get(group),
            _ => None,
        };
        let list: &[String] = match (specific, per_request) {
            (Some(list), _) => list,
            (None, Some(list)) => list,
            (None, None) => match self.generic.get(group) {
                Some(list) => list,
                None => &self.default,
            },
        };
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for g in list {
            if g != group && !out.contains(g) {
                out.push(g.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RoutingSettings {
        RoutingSettings {
            fallbacks: vec![("a".into(), vec!["b".into(), "c".into()])],
            context_window_fallbacks: vec![("a".into(), vec!["a-long".into()])],
            content_policy_fallbacks: vec![("a".into(), vec!["a-lenient".into()])],
            default_fallbacks: vec!["z".into()],
            ..Default::default()
        }
    }

    #[test]
    fn each_kind_has_its_list() {
        let f = Fallbacks::from_settings(&settings());
        assert_eq!(
            f.for_failure("a", FailureClass::RateLimit, None),
            ["b", "c"]
        );
        assert_eq!(
            f.for_failure("a", FailureClass::ContextWindow, None),
            ["a-long"]
        );
        assert_eq!(
            f.for_failure("a", FailureClass::ContentPolicy, None),
            ["a-lenient"]
        );
        assert_eq!(
            f.for_failure("q", FailureClass::InternalServer, None),
            ["z"]
        );
        assert_eq!(f.for_failure("q", FailureClass::ContextWindow, None), ["z"]);
        assert!(f
            .for_failure("a", FailureClass::BadRequest, None)
            .is_empty());
    }

    #[test]
    fn per_request_list_replaces_generic_and_skips_self() {
        let f = Fallbacks::from_settings(&settings());
        let own = vec!["a".to_string(), "x".to_string()];
        assert_eq!(f.for_failure("a", FailureClass::Timeout, Some(&own)), ["x"]);
        assert_eq!(
            f.for_failure("a", FailureClass::ContextWindow, Some(&own)),
            ["a-long"]
        );
    }

    #[test]
    fn star_entry_is_a_default() {
        let s = RoutingSettings {
            fallbacks: vec![("*".into(), vec!["any".into()])],
            ..Default::default()
        };
        let f = Fallbacks::from_settings(&s);
        assert_eq!(f.for_failure("m", FailureClass::RateLimit, None), ["any"]);
    }
}
