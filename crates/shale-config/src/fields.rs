//! Typed extraction of fields from a JSON mapping, with errors that name the field path.

use crate::{json_kind, ConfigError, Secret};
use serde_json::{Map, Value};
use std::time::Duration;

/// A mapping being consumed field by field; what is left is returned by [`Fields::into_rest`].
pub(crate) struct Fields<'p> {
    map: Map<String, Value>,
    path: &'p str,
}

impl<'p> Fields<'p> {
    pub(crate) fn new(map: Map<String, Value>, path: &'p str) -> Self {
        Fields { map, path }
    }

    /// The error of `key` (its path in the file) with `message`.
    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: format!("{}.{key}", self.path),
            message,
        }
    }

    fn err(&self, key: &str, expected: &str, found: &Value) -> ConfigError {
        self.invalid(
            key,
            format!("expected {expected}, found {}", json_kind(found)),
        )
    }

    /// Removes and returns the raw value (null counts as absent).
    pub(crate) fn raw(&mut self, key: &str) -> Option<Value> {
        match self.map.remove(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A string; numbers and booleans are accepted and written as text (YAML users often leave
    /// account ids or versions unquoted). An empty or blank string counts as absent — the one
    /// place that rule lives, so nothing downstream filters empty strings again.
    pub(crate) fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.err(key, "a string", &other)),
        }
    }

    pub(crate) fn secret(&mut self, key: &str) -> Result<Option<Secret>, ConfigError> {
        Ok(self.string(key)?.map(Secret::new))
    }

    pub(crate) fn bool(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(self.err(key, "true or false", &other)),
        }
    }

    /// A switch that is off unless the file turns it on.
    pub(crate) fn flag(&mut self, key: &str) -> Result<bool, ConfigError> {
        Ok(self.bool(key)?.unwrap_or(false))
    }

    pub(crate) fn f64(&mut self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            // `inf`, `NaN` and `1e999` parse as floats but are never a usable setting.
            Some(Value::String(s)) => match s.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                Ok(_) => Err(self.err(key, "a finite number", &Value::String(s))),
                Err(_) => Err(self.err(key, "a number", &Value::String(s))),
            },
            Some(other) => Err(self.err(key, "a number", &other)),
        }
    }

    pub(crate) fn u64(&mut self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.f64(key)? {
            None => Ok(None),
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64 => Ok(Some(v as u64)),
            Some(v) => Err(self.invalid(
                key,
                format!("expected a non-negative whole number, found {v}"),
            )),
        }
    }

    pub(crate) fn u32(&mut self, key: &str) -> Result<Option<u32>, ConfigError> {
        let v = self.u64(key)?;
        self.fits(key, v)
    }

    /// A size or count in memory.
    pub(crate) fn usize(&mut self, key: &str) -> Result<Option<usize>, ConfigError> {
        let v = self.u64(key)?;
        self.fits(key, v)
    }

    /// A count or limit that must allow something: a whole number of at least 1.
    pub(crate) fn at_least_one<T: TryFrom<u64>>(
        &mut self,
        key: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.u64(key)? {
            Some(0) => Err(self.invalid(key, "must be at least 1".into())),
            v => self.fits(key, v),
        }
    }

    /// `v` as a `T`, or the error that it is too large.
    fn fits<T: TryFrom<u64>>(&self, key: &str, v: Option<u64>) -> Result<Option<T>, ConfigError> {
        v.map(|v| T::try_from(v).map_err(|_| self.invalid(key, format!("{v} is too large"))))
            .transpose()
    }

    /// Seconds (integer or fractional) as a duration; must be positive.
    pub(crate) fn seconds(&mut self, key: &str) -> Result<Option<Duration>, ConfigError> {
        match self.f64(key)? {
            None => Ok(None),
            Some(v) if v > 0.0 => match Duration::try_from_secs_f64(v) {
                Ok(d) => Ok(Some(d)),
                Err(_) => Err(self.invalid(key, format!("{v} seconds is too large"))),
            },
            Some(v) => Err(self.invalid(
                key,
                format!("expected a positive number of seconds, found {v}"),
            )),
        }
    }

    /// A mapping of strings (`{Key: Value}`) or a list of `{Key, Value}` objects.
    pub(crate) fn string_pairs(&mut self, key: &str) -> Result<Vec<(String, String)>, ConfigError> {
        let scalar = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match self.raw(key) {
            None => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    scalar(v)
                        .map(|s| (k.clone(), s))
                        .ok_or_else(|| self.err(key, "string values", v))
                })
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let k = item.get("Key").or_else(|| item.get("key")).and_then(scalar);
                    let v = item
                        .get("Value")
                        .or_else(|| item.get("value"))
                        .and_then(scalar);
                    match (k, v) {
                        (Some(k), Some(v)) => Ok((k, v)),
                        _ => Err(self.err(key, "a list of {Key, Value}", item)),
                    }
                })
                .collect(),
            Some(other) => Err(self.err(key, "a mapping", &other)),
        }
    }

    pub(crate) fn into_rest(self) -> Map<String, Value> {
        self.map
    }
}
