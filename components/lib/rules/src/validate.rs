//! Parameter validation with dragon's form-library messages.
//!
//! serde stops at the first problem; dragon reports every parameter at once
//! (`{"url": ["this field is required"], "width": ["not a valid integer"]}`).
//! So parameters are first checked against the JSON Schema that schemars
//! derives from the task's `Params` type — the same schema `/v1/tasks`
//! publishes — and only a clean object reaches serde. Only the schema
//! subset schemars emits for flat parameter structs is interpreted:
//! `type`, `enum`/`const`, `minimum`/`maximum`, `items`, `$ref`, `anyOf`/
//! `oneOf`, `required`, `properties`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Check a parameters object; returns parameter name → messages (empty when
/// valid).
pub fn check_params(params: &Value, schema: &Value) -> BTreeMap<String, Vec<String>> {
    let mut problems = BTreeMap::<String, Vec<String>>::new();
    let Some(obj) = params.as_object() else {
        problems.insert(
            "parameters".to_owned(),
            vec!["parameters must be a JSON object".to_owned()],
        );
        return problems;
    };
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);

    for name in required.iter().filter_map(Value::as_str) {
        if obj.get(name).is_none_or(Value::is_null) && !props_allow_null(props.get(name), schema) {
            push(&mut problems, name, "this field is required".to_owned());
        }
    }
    for (name, value) in obj {
        match props.get(name) {
            None => push(&mut problems, name, "unknown parameter".to_owned()),
            Some(prop) => {
                if value.is_null() {
                    // `null` means "not given" for an optional parameter.
                    continue;
                }
                if let Err(msg) = check(value, prop, schema) {
                    push(&mut problems, name, msg);
                }
            }
        }
    }
    problems
}

fn props_allow_null(prop: Option<&Value>, root: &Value) -> bool {
    prop.is_some_and(|p| check(&Value::Null, p, root).is_ok())
}

fn push(problems: &mut BTreeMap<String, Vec<String>>, name: &str, msg: String) {
    problems.entry(name.to_owned()).or_default().push(msg);
}

/// Resolve a local `$ref` (`#/$defs/Name`).
fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|ptr| root.pointer(ptr))
            .unwrap_or(schema),
        None => schema,
    }
}

/// Check one value; the error is the message dragon would give.
fn check(value: &Value, schema: &Value, root: &Value) -> Result<(), String> {
    let schema = resolve(schema, root);
    if schema.as_bool() == Some(true) {
        return Ok(());
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            if alts.iter().any(|alt| check(value, alt, root).is_ok()) {
                return Ok(());
            }
            // An enum with documented variants is a `oneOf` of `const`s:
            // list every choice, not just the first alternative's.
            if let Some(choices) = choices_of(alts, root) {
                return Err(not_a_choice(value, &choices));
            }
            // Report against the first non-null alternative (`Option<T>`).
            let main = alts
                .iter()
                .find(|alt| resolve(alt, root).get("type") != Some(&Value::from("null")))
                .or(alts.first());
            return match main {
                Some(alt) => check(value, alt, root),
                None => Err("not a valid value".to_owned()),
            };
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        if choices.contains(value) {
            return Ok(());
        }
        return Err(not_a_choice(value, choices));
    }
    if let Some(c) = schema.get("const") {
        if c == value {
            return Ok(());
        }
        return Err(not_a_choice(value, std::slice::from_ref(c)));
    }
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(value, t)) {
            let main = types.iter().find(|t| **t != "null").unwrap_or(&"null");
            return Err(type_message(main));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("must be at least {}", fmt_num(min)));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("must be at most {}", fmt_num(max)));
        }
        if let Some(min) = schema.get("exclusiveMinimum").and_then(Value::as_f64)
            && n <= min
        {
            return Err(format!("must be greater than {}", fmt_num(min)));
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            return Err(format!("needs at least {min} item(s)"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && (items.len() as u64) > max
        {
            return Err(format!("has more than {max} items"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item, item_schema, root).map_err(|e| format!("item {i}: {e}"))?;
            }
        }
    }
    if let Some(s) = value.as_str()
        && let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && s.chars().count() as u64 > max
    {
        return Err(format!("is longer than {max} characters"));
    }
    Ok(())
}

/// The choices of alternatives that are all `const`/`enum` (or `null`);
/// `None` when any alternative is something else.
fn choices_of(alts: &[Value], root: &Value) -> Option<Vec<Value>> {
    let mut choices = Vec::new();
    for alt in alts {
        let alt = resolve(alt, root);
        if let Some(c) = alt.get("const") {
            choices.push(c.clone());
        } else if let Some(list) = alt.get("enum").and_then(Value::as_array) {
            choices.extend(list.iter().cloned());
        } else if alt.get("type") != Some(&Value::from("null")) {
            return None;
        }
    }
    (!choices.is_empty()).then_some(choices)
}

fn type_matches(value: &Value, ty: &str) -> bool {
    match ty {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64()
                || value.is_u64()
                || value
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
        }
        _ => true,
    }
}

fn type_message(ty: &str) -> String {
    match ty {
        "boolean" => "not a valid boolean",
        "string" => "not a valid string",
        "array" => "not a valid list",
        "object" => "not a valid object",
        "number" => "not a valid number",
        "integer" => "not a valid integer",
        "null" => "must be null",
        _ => "not a valid value",
    }
    .to_owned()
}

fn not_a_choice(value: &Value, choices: &[Value]) -> String {
    let shown = match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    let list: Vec<String> = choices
        .iter()
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    format!(
        "{shown} is not a valid choice, choose one of: {}",
        list.join(", ")
    )
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct P {
        url: String,
        width: Option<u32>,
        #[serde(default)]
        crop: bool,
        #[serde(default)]
        format: Format,
        #[serde(default)]
        images: Vec<String>,
        #[serde(default)]
        ratio: Option<f64>,
        #[serde(default)]
        kind: Option<Format>,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema, Default)]
    #[serde(rename_all = "lowercase")]
    enum Format {
        #[default]
        Jpeg,
        Png,
    }

    /// Variants with doc comments make schemars emit `oneOf` + `const`.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Documented {
        /// The first.
        First,
        /// The second.
        Second,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct D {
        which: Documented,
        #[serde(default)]
        maybe: Option<Documented>,
    }

    #[test]
    fn documented_enum_lists_every_choice() {
        let schema = schemars::schema_for!(D);
        let check = |v: Value| {
            serde_json::to_value(check_params(&v, schema.as_value())).unwrap_or_default()
        };
        assert_eq!(check(json!({"which": "second", "maybe": null})), json!({}));
        assert_eq!(
            check(json!({"which": "third", "maybe": "zero"})),
            json!({
                "which": ["\"third\" is not a valid choice, choose one of: first, second"],
                "maybe": ["\"zero\" is not a valid choice, choose one of: first, second"],
            })
        );
    }

    fn problems(v: Value) -> Value {
        let schema = schemars::schema_for!(P);
        serde_json::to_value(check_params(&v, schema.as_value())).unwrap_or_default()
    }

    #[test]
    fn valid_params_pass() {
        assert_eq!(
            problems(
                json!({"url": "http://x", "width": 3, "crop": true, "format": "png",
                            "images": ["a"], "ratio": 1.5, "kind": "jpeg"})
            ),
            json!({})
        );
        assert_eq!(problems(json!({"url": "u", "width": null})), json!({}));
        assert_eq!(problems(json!({"url": "u", "width": 4.0})), json!({}));
    }

    #[test]
    fn every_problem_is_reported() {
        assert_eq!(
            problems(
                json!({"width": "big", "crop": 1, "format": "bmp", "images": "a",
                            "ratio": "x", "kind": "gif", "zoom": 2})
            ),
            json!({
                "url": ["this field is required"],
                "width": ["not a valid integer"],
                "crop": ["not a valid boolean"],
                "format": ["\"bmp\" is not a valid choice, choose one of: jpeg, png"],
                "images": ["not a valid list"],
                "ratio": ["not a valid number"],
                "kind": ["\"gif\" is not a valid choice, choose one of: jpeg, png"],
                "zoom": ["unknown parameter"],
            })
        );
    }

    #[test]
    fn ranges_and_items() {
        assert_eq!(
            problems(json!({"url": "u", "width": -1})),
            json!({"width": ["must be at least 0"]})
        );
        assert_eq!(
            problems(json!({"url": "u", "images": ["a", 3]})),
            json!({"images": ["item 1: not a valid string"]})
        );
        assert_eq!(
            problems(json!([1])),
            json!({"parameters": ["parameters must be a JSON object"]})
        );
    }
}
