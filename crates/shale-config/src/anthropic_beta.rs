//! `general_settings.anthropic_beta`: which Anthropic beta flags (`anthropic-beta` header or
//! `anthropic_beta` body member of `/v1/messages`) shale forwards to Bedrock. By default only the
//! flags of shale's built-in table (flags Bedrock accepts, per model) go through; `allow` adds
//! flags, `deny` removes flags, `passthrough: true` forwards everything not denied.
//!
//! ```yaml
//! general_settings:
//!   anthropic_beta:
//!     allow: [some-new-flag-2026-01-01]
//!     deny: [context-1m-2025-08-07]
//!     passthrough: false
//! ```
//!
//! Must not: know the table itself (that lives with the translation, in shale-translate).

use crate::{json_kind, ConfigError};
use serde_json::Value;

/// The parsed setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnthropicBetaSettings {
    /// Forward every flag except `deny`.
    pub passthrough: bool,
    /// Flags forwarded in addition to the built-in table.
    pub allow: Vec<String>,
    /// Flags never forwarded.
    pub deny: Vec<String>,
}

const PATH: &str = "general_settings.anthropic_beta";

fn list(v: Option<&Value>, key: &str) -> Result<Vec<String>, ConfigError> {
    let bad = |found: &Value| ConfigError::Invalid {
        path: format!("{PATH}.{key}"),
        message: format!(
            "expected a list of flags (or a comma-separated string), found {}",
            json_kind(found)
        ),
    };
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(|s| s.trim().to_owned())
                    .ok_or_else(|| bad(i))
            })
            .collect(),
        Some(other) => Err(bad(other)),
    }
}

impl AnthropicBetaSettings {
    /// Parses the value of `general_settings.anthropic_beta` (absent → defaults).
    pub fn from_value(value: Option<Value>) -> Result<Self, ConfigError> {
        let map = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: PATH.into(),
                    message: format!(
                        "expected a mapping {{passthrough, allow, deny}}, found {}",
                        json_kind(&other)
                    ),
                })
            }
        };
        if let Some(key) = map
            .keys()
            .find(|k| !["passthrough", "allow", "deny"].contains(&k.as_str()))
        {
            return Err(ConfigError::Invalid {
                path: format!("{PATH}.{key}"),
                message: "unknown key (expected passthrough, allow, deny)".into(),
            });
        }
        let passthrough = match map.get("passthrough") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: format!("{PATH}.passthrough"),
                    message: format!("expected true or false, found {}", json_kind(other)),
                })
            }
        };
        Ok(AnthropicBetaSettings {
            passthrough,
            allow: list(map.get("allow"), "allow")?,
            deny: list(map.get("deny"), "deny")?,
        })
    }

    /// One line for `shale check`.
    pub fn describe(&self) -> String {
        let mut s = if self.passthrough {
            "every flag is forwarded (passthrough)".to_owned()
        } else {
            "flags of the built-in Bedrock table are forwarded".to_owned()
        };
        if !self.allow.is_empty() && !self.passthrough {
            s.push_str(&format!(", plus {}", self.allow.join(", ")));
        }
        if !self.deny.is_empty() {
            s.push_str(&format!(", never {}", self.deny.join(", ")));
        }
        if !self.passthrough {
            s.push_str("; other flags are dropped");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_refuses_bad_shapes() {
        let s = AnthropicBetaSettings::from_value(Some(
            json!({"allow": ["a", "b"], "deny": "c, d", "passthrough": false}),
        ))
        .unwrap();
        assert_eq!(s.allow, vec!["a", "b"]);
        assert_eq!(s.deny, vec!["c", "d"]);
        assert!(s.describe().contains("plus a, b"));
        assert_eq!(
            AnthropicBetaSettings::from_value(None).unwrap(),
            AnthropicBetaSettings::default()
        );
        let e = AnthropicBetaSettings::from_value(Some(json!({"alow": []}))).unwrap_err();
        assert!(e
            .to_string()
            .contains("general_settings.anthropic_beta.alow"));
        assert!(AnthropicBetaSettings::from_value(Some(json!({"allow": [1]}))).is_err());
        assert!(AnthropicBetaSettings::from_value(Some(json!(true))).is_err());
    }
}
