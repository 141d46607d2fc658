//! Validation of the loaded configuration's numbers, and locating a field path in the YAML text.
//!
//! Typing (in `fields`) already refuses wrong kinds and non-finite numbers; this module refuses
//! values of the right kind that cannot work (a negative load-balancing weight, a zero body limit)
//! and turns any error that names a field path into one that also names its line and column, so
//! `shale check` and start-up point at the exact spot in the file.
//!
//! What it must not do: change values (it only accepts or refuses), read anything but the text it
//! is given, or log.

use crate::{Config, ConfigError, ModelEntry};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;

/// Largest load-balancing weight: any number of them still adds up to a finite total.
const MAX_WEIGHT: f64 = 1e15;

/// Refuses numbers that are well-typed but impossible. Runs after typing, before serving.
pub(crate) fn check_numbers(config: &Config) -> Result<(), ConfigError> {
    for entry in &config.model_list {
        check_entry(entry)?;
    }
    let general = &config.general_settings;
    if general.max_request_body_bytes == 0 {
        return Err(ConfigError::Invalid {
            path: "general_settings.max_request_body_bytes".into(),
            message: "the request body limit must be at least 1 byte (every request with a body would be refused)".into(),
        });
    }
    if general.media_fetch.max_bytes == 0 {
        return Err(ConfigError::Invalid {
            path: "general_settings.media_fetch.max_bytes".into(),
            message: "must be greater than zero (set enabled: false to refuse media URLs)".into(),
        });
    }
    Ok(())
}

/// The checks of one `model_list` entry (also run for a deployment added through the model API).
pub(crate) fn check_entry(entry: &ModelEntry) -> Result<(), ConfigError> {
    if let Some(w) = entry.params.weight {
        if !(0.0..=MAX_WEIGHT).contains(&w) {
            return Err(ConfigError::Invalid {
                path: format!("model_list[{}].litellm_params.weight", entry.index),
                message: format!("must be a finite number from 0 to {MAX_WEIGHT:e}, found {w}"),
            });
        }
    }
    Ok(())
}

/// Adds the line and column of the field an error names (when it names one that is in `text`).
pub(crate) fn with_location(err: ConfigError, text: &str) -> ConfigError {
    let path = match &err {
        ConfigError::Invalid { path, .. } => path.clone(),
        ConfigError::MissingEnv { path, .. } => path.clone(),
        ConfigError::Model { index, .. } => format!("model_list[{index}]"),
        _ => return err,
    };
    match locate(text, &path) {
        Some((line, column)) => ConfigError::Located {
            line,
            column,
            source: Box::new(err),
        },
        None => err,
    }
}

/// One step of a field path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `model_list[3].litellm_params.weight` → [Key, Index, Key, Key]. `None` for `<root>` or junk.
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() || key.starts_with('<') {
            return None;
        }
        steps.push(Step::Key(key.to_owned()));
        while let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']')?;
            steps.push(Step::Index(inner[..close].parse().ok()?));
            rest = &inner[close + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(steps)
}

/// The 1-based (line, column) of the value at `path` in the YAML `text`, if it is there.
pub(crate) fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let steps = parse_path(path)?;
    let found = Cell::new(false);
    let seed = Locate {
        steps: &steps,
        found: &found,
    };
    let err = seed
        .deserialize(serde_yaml::Deserializer::from_str(text))
        .err()?;
    if !found.get() {
        return None;
    }
    err.location().map(|l| (l.line(), l.column()))
}

/// Walks the document along `steps`; at the end, fails on purpose so the YAML deserializer stamps
/// the error with the position of the node it is reading.
struct Locate<'a> {
    steps: &'a [Step],
    found: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Locate<'_> {
    fn here<E: de::Error>(&self) -> Result<(), E> {
        if self.steps.is_empty() {
            self.found.set(true);
            Err(E::custom("found"))
        } else {
            Err(E::custom("path not in the document"))
        }
    }
}

/// A mapping key compared as text (YAML allows numbers and booleans as keys).
struct KeyText(Option<String>);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(deserializer)?;
        Ok(KeyText(match value {
            serde_yaml::Value::String(s) => Some(s),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            serde_yaml::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }))
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.here()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.here()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.here()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.here()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.here()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(want), rest)) = self.steps.split_first() else {
            return self.here();
        };
        while let Some(KeyText(key)) = map.next_key::<KeyText>()? {
            if key.as_deref() == Some(want.as_str()) {
                return map.next_value_seed(Locate {
                    steps: rest,
                    found: self.found,
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom("path not in the document"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(want), rest)) = self.steps.split_first() else {
            return self.here();
        };
        for _ in 0..*want {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom("path not in the document"));
            }
        }
        seq.next_element_seed(Locate {
            steps: rest,
            found: self.found,
        })?;
        Err(de::Error::custom("path not in the document"))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged node (`!Tag value`): look inside the value.
        let (_, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "general_settings:\n  master_key: sk-1\nmodel_list:\n  - model_name: a\n    litellm_params:\n      model: bedrock/x.y\n  - model_name: b\n    litellm_params: {model: bedrock/x.y, weight: -2}\n";

    #[test]
    fn locates_nested_keys_and_list_items() {
        assert_eq!(locate(TEXT, "general_settings.master_key"), Some((2, 15)));
        assert_eq!(
            locate(TEXT, "model_list[0].litellm_params.model"),
            Some((6, 14))
        );
        assert_eq!(
            locate(TEXT, "model_list[1].litellm_params.weight"),
            Some((8, 50))
        );
        assert_eq!(locate(TEXT, "model_list[1]"), Some((7, 5)));
    }

    #[test]
    fn absent_paths_have_no_location() {
        assert_eq!(locate(TEXT, "model_list[2].litellm_params"), None);
        assert_eq!(locate(TEXT, "router_settings.timeout"), None);
        assert_eq!(locate(TEXT, "<root>"), None);
        assert_eq!(locate(TEXT, "model_list[x]"), None);
        assert_eq!(locate("[unclosed", "a"), None);
    }

    #[test]
    fn path_parsing() {
        assert_eq!(
            parse_path("a[1][2].b"),
            Some(vec![
                Step::Key("a".into()),
                Step::Index(1),
                Step::Index(2),
                Step::Key("b".into())
            ])
        );
        assert_eq!(parse_path("a[1"), None);
    }
}
