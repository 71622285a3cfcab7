//! Templates: a stored task definition with blanks (`${field}`) and a
//! schema of its fields, rendered into a task definition when a task is
//! created from it (`{"template": NAME, "fields": {…}}`).
//!
//! # Placeholders
//!
//! `${name}` anywhere in a string of the definition (names: a letter or
//! `_`, then letters, digits, `_`; at most 64). SXML's own `{{var}}`
//! (sxml.md §12) and every other `$` stay as written; `$${` is a literal
//! `${`. What a field's value becomes depends on where it lands:
//!
//! - a placeholder that is a whole JSON string (`"width": "${w}"`) takes the
//!   field's type: a `number` field gives a JSON number;
//! - inside an XML document (a string whose first non-blank character is
//!   `<`: SXML), the text is escaped for XML (`&`, `<`, `>`, quotes) — right
//!   in attribute values and text alike — and inside a CDATA section `]]>`
//!   is split so the section cannot be closed early;
//! - inside any other string, the text as it is (the JSON encoding escapes
//!   it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Messages by field name (a failed task's `parameters`).
pub type Problems = BTreeMap<String, Vec<String>>;

/// Longest field name (bounds what a message repeats).
const MAX_NAME: usize = 64;

/// Most fields one template declares: a form a person fills in.
pub const MAX_FIELDS: usize = 100;

/// Longest template name.
pub const MAX_TEMPLATE_NAME: usize = 100;

/// Largest rendered definition: twice the default request body cap (a
/// task larger than any client could send). Fields are the caller's (an
/// `api_key` holder's too), and one placeholder repeated in every slide
/// would otherwise multiply a 1 MiB field into gigabytes.
pub const MAX_RENDERED_BYTES: usize = 2 << 20;

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Any text (numbers and booleans given for it are taken as text).
    Text,
    /// `http(s)://…` or a `drake:` reference.
    Url,
    /// A finite number (a numeric string is taken as its number).
    Number,
    /// `#rgb`, `#rrggbb` or `#rrggbbaa`.
    #[serde(alias = "color")]
    Colour,
}

/// One field of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Its name in placeholders and in a task's `fields`.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The value when a task gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Whether a task must give it (a field with a default never is).
    #[serde(default)]
    pub required: bool,
    /// What it is for (the dashboard's form label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A template as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Its name (per account).
    pub name: String,
    /// A task definition (`task_name` and parameters, optionally
    /// `task_metas`) with placeholders.
    pub definition: Map<String, Value>,
    /// Its fields.
    #[serde(default)]
    pub fields: Vec<Field>,
    /// What it makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Whether `name` is a valid template name: letters, digits, `.`, `_`,
/// `-` (it is a URL path segment).
pub fn valid_template_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TEMPLATE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Template {
    /// Check a template before it is stored: its name, fields (unique
    /// names, defaults of their type), and that every placeholder names a
    /// field. Messages by what they are about.
    pub fn check(&self, task_exists: impl Fn(&str) -> bool) -> Problems {
        let mut problems = Problems::new();
        let mut complain = |at: &str, why: String| {
            problems.entry(at.to_owned()).or_default().push(why);
        };
        if !valid_template_name(&self.name) {
            complain(
                "name",
                format!(
                    "a template name is 1 to {MAX_TEMPLATE_NAME} letters, digits, '.', '_' or '-'"
                ),
            );
        }
        match self.definition.get("task_name") {
            Some(Value::String(task)) if task_exists(task) => {}
            Some(Value::String(task)) => {
                complain("definition", format!("\"{task}\" is not a valid task_name"))
            }
            _ => complain("definition", "task_name is missing".into()),
        }
        if self.fields.len() > MAX_FIELDS {
            complain("fields", format!("at most {MAX_FIELDS} fields"));
        }
        for (i, field) in self.fields.iter().enumerate() {
            let at = format!("fields[{i}]");
            if !valid_field_name(&field.name) {
                complain(
                    &at,
                    format!(
                        "{:?} is not a valid field name: a letter or '_', then letters, digits \
                         or '_' (at most {MAX_NAME})",
                        field.name.chars().take(80).collect::<String>()
                    ),
                );
            }
            if self.fields[..i].iter().any(|f| f.name == field.name) {
                complain(&at, format!("field {:?} is declared twice", field.name));
            }
            if let Some(default) = &field.default {
                if field.required {
                    complain(
                        &at,
                        format!(
                            "field {:?} has a default, so it is never required",
                            field.name
                        ),
                    );
                }
                if let Err(why) = coerce(field.kind, default) {
                    complain(&at, format!("the default of {:?} {why}", field.name));
                }
            }
        }
        let mut unknown = Vec::new();
        walk(&Value::Object(self.definition.clone()), &mut |s| {
            for piece in pieces(s) {
                if let Piece::Field(name) = piece
                    && !self.fields.iter().any(|f| f.name == name)
                    && !unknown.contains(&name.to_owned())
                {
                    unknown.push(name.to_owned());
                }
            }
        });
        for name in unknown {
            complain(
                "definition",
                format!("${{{name}}} names no field (declare it in fields)"),
            );
        }
        problems
    }

    /// The task definition for `given` field values (with the defaults),
    /// or the problems, by field name: a required field missing, a value
    /// not of its field's type, a field the template does not have.
    pub fn render(&self, given: &Map<String, Value>) -> Result<Map<String, Value>, Problems> {
        let mut problems = Problems::new();
        for name in given.keys() {
            if !self.fields.iter().any(|f| &f.name == name) {
                let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
                problems.entry(name.clone()).or_default().push(format!(
                    "template {} has no field {name:?} (its fields: {})",
                    self.name,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
            }
        }
        let mut values = BTreeMap::new();
        for field in &self.fields {
            let value = match given.get(&field.name).filter(|v| !v.is_null()) {
                Some(v) => v,
                None => match &field.default {
                    Some(v) => v,
                    None if field.required => {
                        problems
                            .entry(field.name.clone())
                            .or_default()
                            .push(format!("required by template {}", self.name));
                        continue;
                    }
                    // An optional field without a default is empty text.
                    None => &Value::Null,
                },
            };
            if value.is_null() {
                values.insert(field.name.as_str(), Value::from(""));
                continue;
            }
            match coerce(field.kind, value) {
                Ok(v) => {
                    values.insert(field.name.as_str(), v);
                }
                Err(why) => problems.entry(field.name.clone()).or_default().push(why),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut room = MAX_RENDERED_BYTES;
        let rendered: Option<Map<String, Value>> = self
            .definition
            .iter()
            .map(|(k, v)| Some((k.clone(), fill(v, &values, &mut room)?)))
            .collect();
        rendered.ok_or_else(|| {
            let why = format!(
                "with these values template {} would render more than {} MiB \
                 (MAX_RENDERED_BYTES); shorten them",
                self.name,
                MAX_RENDERED_BYTES >> 20
            );
            Problems::from([("fields".to_owned(), vec![why])])
        })
    }
}

fn valid_field_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= MAX_NAME
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `value` as a field of `kind` takes it, or why not.
fn coerce(kind: Kind, value: &Value) -> Result<Value, String> {
    let text = match value {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    match kind {
        Kind::Text => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::from(n.to_string())),
            Value::Bool(b) => Ok(Value::from(b.to_string())),
            _ => Err("is not a valid text (a string)".into()),
        },
        Kind::Number => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n.filter(|n| n.is_finite()) {
                // Integers stay integers (a width of 320, not 320.0).
                Some(n) if n.fract() == 0.0 && n.abs() < 9e15 => Ok(Value::from(n as i64)),
                Some(n) => Ok(Value::from(n)),
                None => Err("is not a valid number".into()),
            }
        }
        Kind::Url => match text {
            Some(s)
                if s.starts_with("http://")
                    || s.starts_with("https://")
                    || s.starts_with(crate::inputs::SCHEME) =>
            {
                Ok(value.clone())
            }
            _ => Err("is not a valid URL (http://, https:// or drake:KEY/NAME)".into()),
        },
        Kind::Colour => match text {
            Some(s)
                if s.strip_prefix('#').is_some_and(|hex| {
                    matches!(hex.len(), 3 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit())
                }) =>
            {
                Ok(value.clone())
            }
            _ => Err("is not a valid colour (#rgb, #rrggbb or #rrggbbaa)".into()),
        },
    }
}

/// A piece of a string with placeholders.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// `s` cut at its placeholders (`$${` is the text `${`).
fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            out.push(Piece::Text(&rest[..at - 1]));
            out.push(Piece::Text("${"));
            rest = &rest[at + 2..];
            continue;
        }
        let name_len = rest[at + 2..].find('}');
        match name_len {
            Some(n) if valid_field_name(&rest[at + 2..at + 2 + n]) => {
                out.push(Piece::Text(&rest[..at]));
                out.push(Piece::Field(&rest[at + 2..at + 2 + n]));
                rest = &rest[at + 3 + n..];
            }
            _ => {
                out.push(Piece::Text(&rest[..at + 2]));
                rest = &rest[at + 2..];
            }
        }
    }
    out.push(Piece::Text(rest));
    out.retain(|p| *p != Piece::Text(""));
    out
}

fn walk(value: &Value, visit: &mut dyn FnMut(&str)) {
    match value {
        Value::String(s) if s.contains("${") => visit(s),
        Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        Value::Object(map) => map.values().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

/// `value` with its placeholders filled from `values` (all present:
/// [`Template::render`] checked them), or `None` once the strings filled
/// exceed `room` bytes in all (it is what is left).
fn fill(value: &Value, values: &BTreeMap<&str, Value>, room: &mut usize) -> Option<Value> {
    Some(match value {
        Value::String(s) if s.contains("${") => {
            let pieces = pieces(s);
            if let [Piece::Field(name)] = pieces[..]
                && let Some(v) = values.get(name)
            {
                *room = room.checked_sub(v.as_str().map_or(0, str::len))?;
                return Some(v.clone());
            }
            let xml = s.trim_start().starts_with('<');
            let mut out = String::with_capacity(s.len());
            // Whether the text so far ends inside a CDATA section, followed
            // piece by piece (each text scanned once).
            let mut cdata = false;
            for piece in pieces {
                match piece {
                    Piece::Text(t) => {
                        out.push_str(t);
                        if xml {
                            cdata = ends_in_cdata(t, cdata);
                        }
                    }
                    Piece::Field(name) => {
                        let text = match values.get(name) {
                            Some(Value::String(t)) => t.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        if !xml {
                            out.push_str(&text);
                        } else if cdata {
                            out.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
                        } else {
                            escape_xml(&text, &mut out);
                        }
                    }
                }
                if out.len() > *room {
                    return None;
                }
            }
            *room -= out.len();
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill(v, values, room))
                .collect::<Option<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Some((k.clone(), fill(v, values, room)?)))
                .collect::<Option<_>>()?,
        ),
        other => other.clone(),
    })
}

/// Whether the end of `text` is inside a CDATA section, given whether its
/// start is: the last opening or closing in it decides.
fn ends_in_cdata(text: &str, starts_in: bool) -> bool {
    match (text.rfind("<![CDATA["), text.rfind("]]>")) {
        (Some(open), Some(close)) => open > close,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (None, None) => starts_in,
    }
}

/// `text` escaped for XML text and attribute values alike.
fn escape_xml(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(definition: Value, fields: Value) -> Template {
        serde_json::from_value(json!({"name": "t", "definition": definition, "fields": fields}))
            .unwrap()
    }

    #[test]
    fn placeholders_are_cut_out_and_dollar_dollar_is_literal() {
        assert_eq!(
            pieces("a ${x} b $${y} {{z}} $ ${1} ${"),
            vec![
                Piece::Text("a "),
                Piece::Field("x"),
                Piece::Text(" b "),
                Piece::Text("${"),
                Piece::Text("y} {{z}} $ ${"),
                Piece::Text("1} ${"),
            ]
        );
    }

    #[test]
    fn whole_values_take_their_type_and_text_is_escaped_where_it_lands() {
        let t = template(
            json!({
                "task_name": "video.create",
                "width": "${w}",
                "title": "Hello ${name}!",
                "definition": "<movie><text>${name}</text><image filename=\"${photo}\"/>\
                               <![CDATA[${name}]]><text value='${name}'/> {{user_movie}}</movie>",
            }),
            json!([
                {"name": "w", "type": "number", "default": 320},
                {"name": "name", "type": "text", "required": true},
                {"name": "photo", "type": "url", "default": "http://x/a.jpg?a=1&b=2"},
            ]),
        );
        assert!(t.check(|_| true).is_empty(), "{:?}", t.check(|_| true));
        let hostile = "<b> & \"q\" 'a' ]]> end";
        let out = t
            .render(json!({"name": hostile, "w": "640"}).as_object().unwrap())
            .unwrap();
        assert_eq!(out["width"], 640);
        assert_eq!(out["title"], format!("Hello {hostile}!"));
        let doc = out["definition"].as_str().unwrap();
        assert_eq!(
            doc,
            "<movie><text>&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos; ]]&gt; end</text>\
             <image filename=\"http://x/a.jpg?a=1&amp;b=2\"/>\
             <![CDATA[<b> & \"q\" 'a' ]]]]><![CDATA[> end]]>\
             <text value='&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos; ]]&gt; end'/> {{user_movie}}</movie>"
        );
    }

    #[test]
    fn fields_are_checked_by_name_and_type() {
        let t = template(
            json!({"task_name": "image.thumb", "url": "${u}", "width": "${w}", "c": "${c}"}),
            json!([
                {"name": "u", "type": "url", "required": true},
                {"name": "w", "type": "number"},
                {"name": "c", "type": "colour", "default": "#fff"},
            ]),
        );
        let problems = t
            .render(
                json!({"w": "wide", "c": "red", "extra": 1})
                    .as_object()
                    .unwrap(),
            )
            .unwrap_err();
        assert_eq!(problems["u"], vec!["required by template t"]);
        assert_eq!(problems["w"], vec!["is not a valid number"]);
        assert!(problems["c"][0].contains("colour"));
        assert!(problems["extra"][0].contains("its fields: u, w, c"));
        let ok = t
            .render(
                json!({"u": "drake:$0/output", "w": 2.5})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(ok["url"], "drake:$0/output");
        assert_eq!(ok["width"], 2.5);
        assert_eq!(ok["c"], "#fff");
        let bad = t.render(json!({"u": "ftp://x"}).as_object().unwrap());
        assert!(bad.unwrap_err()["u"][0].contains("URL"));
    }

    /// A field repeated in every slide cannot multiply a large value into
    /// an unbounded definition: past MAX_RENDERED_BYTES the task fails.
    #[test]
    fn a_rendering_too_large_is_a_field_problem() {
        let doc = format!("<movie>{}</movie>", "<text>${t}</text>".repeat(300));
        let t = template(
            json!({"task_name": "video.create", "definition": doc}),
            json!([{"name": "t", "type": "text", "required": true}]),
        );
        let small = t.render(json!({"t": "x".repeat(1000)}).as_object().unwrap());
        assert!(small.is_ok(), "300 kB fits");
        let big = t
            .render(json!({"t": "x".repeat(10_000)}).as_object().unwrap())
            .unwrap_err();
        assert!(big["fields"][0].contains("MAX_RENDERED_BYTES"), "{big:?}");
        // A whole-value placeholder counts too.
        let whole = template(
            json!({"task_name": "image.info", "a": "${t}", "b": "${t}", "c": "${t}"}),
            json!([{"name": "t", "type": "text"}]),
        );
        let huge = "y".repeat(MAX_RENDERED_BYTES / 2);
        assert!(
            whole
                .render(json!({"t": huge}).as_object().unwrap())
                .is_err()
        );
    }

    #[test]
    fn a_template_is_checked_before_it_is_stored() {
        let t = template(
            json!({"task_name": "nope", "a": "${missing} ${ok}"}),
            json!([
                {"name": "ok", "type": "text"},
                {"name": "ok", "type": "text"},
                {"name": "9x", "type": "text"},
                {"name": "n", "type": "number", "default": "x", "required": true},
            ]),
        );
        let problems = t.check(|name| name == "image.thumb");
        assert!(
            problems["definition"]
                .iter()
                .any(|m| m.contains("not a valid task_name"))
        );
        assert!(
            problems["definition"]
                .iter()
                .any(|m| m.contains("${missing} names no field"))
        );
        assert!(problems["fields[1]"][0].contains("declared twice"));
        assert!(problems["fields[2]"][0].contains("not a valid field name"));
        assert_eq!(problems["fields[3]"].len(), 2, "{problems:?}");
        assert!(!valid_template_name("a/b") && valid_template_name("promo-v2.1"));
        let unknown_key: Result<Template, _> = serde_json::from_value(
            json!({"name": "t", "definition": {}, "fields": [{"name": "a", "type": "date"}]}),
        );
        assert!(unknown_key.is_err());
    }
}
