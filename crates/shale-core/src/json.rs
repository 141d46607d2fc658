//! How settings are listed as JSON (the model API's `litellm_params`, `/guardrails/list`): an
//! object of the members that are set, in the order given — a setting that is not set (null) is
//! left out rather than written as `null`.

use serde_json::{Map, Value};

/// An object of `members` in order, without the null ones.
pub fn set_members<'a>(members: impl IntoIterator<Item = (&'a str, Value)>) -> Map<String, Value> {
    members
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_are_left_out_and_the_order_kept() {
        let m = set_members([("b", json!(1)), ("a", Value::Null), ("c", json!("x"))]);
        assert_eq!(Value::Object(m).to_string(), r#"{"b":1,"c":"x"}"#);
    }
}
