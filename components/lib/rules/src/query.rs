//! GET query strings as task parameters: values coerced to the types the
//! parameter schema declares. drake's `create_file`, its CLI and the Spin
//! entry point (`GET /v1/run/<task>?…`) all read queries this way.

use serde_json::{Map, Value};

/// Parameters from query pairs: repeated keys grouped, each value coerced
/// to what `schema` declares for it (a `Null` schema declares nothing).
pub fn params<'a>(
    schema: &Value,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Map<String, Value> {
    group(pairs)
        .into_iter()
        .map(|(k, values)| {
            let declared = declared_type(schema, k).unwrap_or_default();
            (k.to_owned(), coerce(k, &values, &declared))
        })
        .collect()
}

/// `key=value` pairs with a repeated key gathered into one list, in
/// first-seen order (a list parameter given as `tags=a&tags=b`).
pub fn group<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in pairs {
        match grouped.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v),
            None => grouped.push((k, vec![v])),
        }
    }
    grouped
}

/// The JSON types a parameter's schema allows (`["integer", "null"]`),
/// through `$ref`s and `anyOf`/`oneOf` alternatives (an optional
/// parameter that is a string or an object: `captions`).
pub fn declared_type(schema: &Value, param: &str) -> Option<Vec<String>> {
    let prop = schema.get("properties")?.get(param)?;
    let mut types = Vec::new();
    collect_types(schema, prop, 0, &mut types);
    Some(types)
}

/// How deep [`collect_types`] follows references: schemars nests two
/// (an `Option` of an enum of a struct); more is a cycle.
const MAX_SCHEMA_DEPTH: usize = 4;

fn collect_types(root: &Value, node: &Value, depth: usize, types: &mut Vec<String>) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    let node = match node.get("$ref").and_then(Value::as_str) {
        Some(r) => match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => target,
            None => return,
        },
        None => node,
    };
    match node.get("type") {
        Some(Value::String(s)) => types.push(s.clone()),
        Some(Value::Array(a)) => {
            types.extend(a.iter().filter_map(Value::as_str).map(str::to_owned))
        }
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        for alt in node
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_types(root, alt, depth + 1, types);
        }
    }
    if let Some(choices) = node.get("enum").and_then(Value::as_array)
        && choices.iter().all(Value::is_number)
    {
        types.push("number".into());
    }
}

/// Coerce query strings to the declared type; values that do not coerce
/// stay strings so validation names the parameter.
pub fn coerce(name: &str, values: &[&str], declared: &[String]) -> Value {
    let has = |t: &str| declared.iter().any(|d| d == t);
    let object = name == "task_metas" || has("object");
    if object || has("array") {
        // A JSON value of a declared shape (`tags=["a","b"]`); anything
        // else is a list of the raw values (`tags=a&tags=b`).
        if values.len() == 1
            && let Ok(v) = serde_json::from_str::<Value>(values[0])
            && (v.is_array() && has("array") || v.is_object() && object)
        {
            return v;
        }
        if has("array") {
            return Value::Array(values.iter().map(|v| Value::from(*v)).collect());
        }
    }
    let one = values.last().copied().unwrap_or("");
    if has("boolean") {
        match one {
            "true" | "1" => return Value::Bool(true),
            "false" | "0" => return Value::Bool(false),
            _ => {}
        }
    }
    if has("integer")
        && let Ok(n) = one.parse::<i64>()
    {
        return Value::from(n);
    }
    if has("number")
        && let Ok(n) = one.parse::<f64>()
    {
        return serde_json::Number::from_f64(n).map_or(Value::from(one), Value::Number);
    }
    Value::from(one)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_behind_references_and_alternatives_are_json() {
        let schema = json!({
            "properties": {"captions": {"anyOf": [{"$ref": "#/$defs/C"}, {"type": "null"}]}},
            "$defs": {
                "C": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/O"}]},
                "O": {"type": "object"}
            }
        });
        let got = params(&schema, [("captions", r#"{"url":"u","burn":false}"#)]);
        assert_eq!(got["captions"], json!({"url": "u", "burn": false}));
        let got = params(&schema, [("captions", "http://x/c.srt")]);
        assert_eq!(got["captions"], "http://x/c.srt");
    }

    #[test]
    fn params_group_and_coerce() {
        let schema = json!({"properties": {"w": {"type": "integer"}, "tags": {"type": "array"}}});
        let got = params(
            &schema,
            [("w", "5"), ("tags", "a"), ("x", "1"), ("tags", "b")],
        );
        assert_eq!(
            Value::Object(got),
            json!({"w": 5, "tags": ["a", "b"], "x": "1"})
        );
    }

    #[test]
    fn query_values_follow_the_schema() {
        let s = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(coerce("w", &["200"], &s(&["integer", "null"])), json!(200));
        assert_eq!(coerce("w", &["2x"], &s(&["integer"])), json!("2x"));
        assert_eq!(coerce("c", &["true"], &s(&["boolean"])), json!(true));
        assert_eq!(coerce("r", &["1.5"], &s(&["number"])), json!(1.5));
        assert_eq!(coerce("i", &["a", "b"], &s(&["array"])), json!(["a", "b"]));
        assert_eq!(coerce("i", &["[\"a\"]"], &s(&["array"])), json!(["a"]));
        assert_eq!(coerce("task_metas", &["{\"a\":1}"], &[]), json!({"a": 1}));
        // JSON only of the declared shape (found by the query fuzz target:
        // an object came back for a list parameter).
        assert_eq!(coerce("i", &[" {} "], &s(&["array"])), json!([" {} "]));
        assert_eq!(
            coerce("o", &["{\"a\":1}"], &s(&["object"])),
            json!({"a": 1})
        );
        assert_eq!(coerce("o", &["[1]"], &s(&["object"])), json!("[1]"));
        assert_eq!(
            coerce("url", &["http://x/?a=1"], &s(&["string"])),
            json!("http://x/?a=1")
        );
    }
}
