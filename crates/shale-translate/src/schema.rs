//! JSON-schema helpers: inline local `$ref`s (`#/$defs/..`, `#/definitions/..`) so Bedrock tool
//! schemas are self-contained, and the object schema every tool input gets.

use serde_json::{json, Map, Value};

/// An object schema for tool input: `$ref`s inlined, `type: object` when missing, an empty object
/// schema when there is none.
pub fn object_schema(schema: Option<Value>) -> Value {
    match schema {
        Some(Value::Object(mut o)) => {
            if !o.contains_key("type") {
                o.insert("type".into(), "object".into());
            }
            inline_refs(Value::Object(o))
        }
        _ => json!({"type": "object", "properties": {}}),
    }
}

/// Inline every local `$ref` and drop the root `$defs` / `definitions`. A recursive reference is
/// replaced by `{}` (any value) once it would re-enter itself.
pub fn inline_refs(mut schema: Value) -> Value {
    let Some(obj) = schema.as_object_mut() else {
        return schema;
    };
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = obj.remove(key) {
            for (k, v) in d {
                defs.insert(format!("#/{key}/{k}"), v);
            }
        }
    }
    if defs.is_empty() {
        return schema;
    }
    let mut stack = Vec::new();
    resolve(&mut schema, &defs, &mut stack);
    schema
}

fn resolve(v: &mut Value, defs: &Map<String, Value>, stack: &mut Vec<String>) {
    match v {
        Value::Object(obj) => {
            if let Some(Value::String(r)) = obj.get("$ref") {
                let r = r.clone();
                if let Some(target) = defs.get(&r) {
                    if stack.contains(&r) {
                        obj.remove("$ref");
                        return;
                    }
                    let mut inlined = target.clone();
                    stack.push(r);
                    resolve(&mut inlined, defs, stack);
                    stack.pop();
                    obj.remove("$ref");
                    // sibling keywords (e.g. description) win over the referenced ones
                    if let Value::Object(t) = inlined {
                        for (k, val) in t {
                            obj.entry(k).or_insert(val);
                        }
                    }
                    return;
                }
            }
            for (_, child) in obj.iter_mut() {
                resolve(child, defs, stack);
            }
        }
        Value::Array(a) => {
            for child in a {
                resolve(child, defs, stack);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inlines_defs() {
        let s = json!({
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/A", "description": "d"}, "b": {"type": "array", "items": {"$ref": "#/definitions/B"}}},
            "$defs": {"A": {"type": "string", "description": "x"}},
            "definitions": {"B": {"type": "object", "properties": {"c": {"$ref": "#/$defs/A"}}}}
        });
        assert_eq!(
            inline_refs(s),
            json!({
                "type": "object",
                "properties": {
                    "a": {"description": "d", "type": "string"},
                    "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "string", "description": "x"}}}}
                }
            })
        );
    }

    #[test]
    fn recursion_terminates() {
        let s = json!({"$ref": "#/$defs/N", "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}});
        assert_eq!(
            inline_refs(s),
            json!({"type": "object", "properties": {"next": {}}})
        );
    }
}
