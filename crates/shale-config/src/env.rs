//! Converting the YAML tree to JSON values and resolving `os.environ/VAR` references in place.
//!
//! LiteLLM lets any string value be `os.environ/NAME`; the value is then read from the environment.
//! An unset variable is an error naming both the variable and the field path that referenced it.

use crate::ConfigError;
use serde_json::{Map, Number, Value};

const ENV_PREFIX: &str = "os.environ/";

/// Converts a parsed YAML value to JSON. Mapping keys must be scalars; they become strings.
pub(crate) fn yaml_to_json(value: serde_yaml::Value, path: &str) -> Result<Value, ConfigError> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(Number::from_f64(f).ok_or_else(|| ConfigError::Invalid {
                    path: display_path(path),
                    message: "numbers must be finite".into(),
                })?)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| yaml_to_json(v, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut out = Map::with_capacity(mapping.len());
            for (k, v) in mapping {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    _ => {
                        return Err(ConfigError::Invalid {
                            path: display_path(path),
                            message: "mapping keys must be strings".into(),
                        })
                    }
                };
                let child = join(path, &key);
                out.insert(key, yaml_to_json(v, &child)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value, path)?,
    })
}

/// Replaces every string `os.environ/NAME` with the variable's value, recursively.
/// With `missing` given, unset variables are collected (variable, path) and replaced by an empty
/// string instead of failing (`shale check` reports them without the secrets being present).
pub(crate) fn resolve_env_refs(
    value: &mut Value,
    path: &mut String,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    mut missing: Option<&mut Vec<(String, String)>>,
) -> Result<(), ConfigError> {
    match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix(ENV_PREFIX) {
                let name = name.trim();
                match (lookup_env(name), missing) {
                    (Some(v), _) => *s = v,
                    (None, Some(list)) => {
                        list.push((name.to_string(), display_path(path)));
                        s.clear();
                    }
                    (None, None) => {
                        return Err(ConfigError::MissingEnv {
                            variable: name.to_string(),
                            path: display_path(path),
                        })
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                resolve_env_refs(item, path, lookup_env, missing.as_deref_mut())?;
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                resolve_env_refs(v, path, lookup_env, missing.as_deref_mut())?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "<root>".to_string()
    } else {
        path.to_string()
    }
}
