//! Task definitions (api.md §5): `{"task_name": …, <parameters>,
//! "task_metas"?, "url_callback"?, "url_errback"?}` in a body's `tasks`
//! (a list or one object), or a `GET create_file` query whose values are
//! coerced to the declared parameter types. A definition may instead name
//! a template of the account, `{"template": NAME, "fields": {…},
//! "task_metas"?, "url_callback"?, "url_errback"?}` (a query:
//! `template=NAME` and the fields): it is rendered here, as the template
//! is now (templates.rs).

use serde_json::{Map, Value};

use super::AppState;
use super::error::{ApiError, ErrorEntry, Location};
use crate::sign::SIGNED_PARAMS;
use crate::templates::Template;
use drake_rules::query::{coerce, declared_type, group};

/// Most tasks one request may create: bounds the work a single request
/// can queue and the size of its response.
const MAX_TASKS_PER_REQUEST: usize = 100;

/// Host options every task accepts; not given to the component.
const HOST_OPTIONS: &[&str] = &["url_callback", "url_errback"];

/// A parsed task definition.
#[derive(Debug, Clone)]
pub struct TaskDef {
    /// Task name.
    pub task_name: String,
    /// Component parameters.
    pub params: Map<String, Value>,
    /// Echoed metadata.
    pub task_metas: Option<Value>,
    /// Host options.
    pub options: Map<String, Value>,
    /// Problems found before validation (a template's fields, by field
    /// name): the task fails with them.
    pub problems: crate::templates::Problems,
}

/// Parse one definition; `at` names it in errors (`tasks[2]`).
pub fn task_def(state: &AppState, value: Value, at: &str) -> Result<TaskDef, ErrorEntry> {
    let Value::Object(mut params) = value else {
        return Err(ErrorEntry::new(
            at,
            Location::Body,
            format!("{at} must be a JSON object"),
        ));
    };
    let task_name = match params.remove("task_name") {
        Some(Value::String(s)) => s,
        None => {
            return Err(ErrorEntry::new(
                "task_name",
                Location::Body,
                format!("{at}: task_name is missing"),
            ));
        }
        Some(_) => {
            return Err(ErrorEntry::new(
                "task_name",
                Location::Body,
                format!("{at}: task_name must be a string"),
            ));
        }
    };
    if state.engine.task(&task_name).is_none() {
        let names: Vec<&str> = state.engine.tasks().keys().map(String::as_str).collect();
        return Err(ErrorEntry::new(
            "task_name",
            Location::Body,
            format!(
                "\"{task_name}\" is not a valid task_name, choose one of: {}",
                names.join(", ")
            ),
        ));
    }
    // Account credentials never become parameters, even inside a
    // definition — unless the task declares a parameter of that name
    // (video.upload.fb's `api_key` is the Facebook app's, not ours).
    let declared = |name: &str| {
        state
            .engine
            .task(&task_name)
            .is_some_and(|t| t.schema["properties"].get(name).is_some())
    };
    for credential in ["secret", "api_key"] {
        if !declared(credential) {
            params.remove(credential);
        }
    }
    let task_metas = params.remove("task_metas").filter(|v| !v.is_null());
    let mut options = Map::new();
    for name in HOST_OPTIONS {
        if let Some(v) = params.remove(*name) {
            options.insert((*name).to_owned(), v);
        }
    }
    Ok(TaskDef {
        task_name,
        params,
        task_metas,
        options,
        problems: crate::templates::Problems::new(),
    })
}

/// What a template definition may carry beside its fields: the rest of
/// the task is the template's.
const TEMPLATE_KEYS: &[&str] = &[
    "template",
    "fields",
    "task_metas",
    "url_callback",
    "url_errback",
];

/// The templates one request uses, each read once.
#[derive(Default)]
pub struct Templates(std::collections::HashMap<String, Option<Template>>);

impl Templates {
    /// Template `name` of `account`, from the store the first time.
    async fn get(
        &mut self,
        state: &AppState,
        account: &str,
        name: &str,
    ) -> Result<Option<&Template>, ApiError> {
        if !self.0.contains_key(name) {
            let stored = state.store.template_get(account, name).await?;
            let template = stored
                .map(|t| serde_json::from_str::<Template>(&t.body))
                .transpose()
                .map_err(|e| ApiError::internal(format!("stored template {name}: {e}")))?;
            self.0.insert(name.to_owned(), template);
        }
        Ok(self.0.get(name).and_then(Option::as_ref))
    }
}

/// Render a template definition (`{"template": …}`) of `account` into
/// a task definition; `at` names it in errors. A template that does not
/// exist is a request error; fields that do not fit are the task's
/// problems (it fails naming them).
async fn render(
    state: &AppState,
    account: &str,
    templates: &mut Templates,
    mut value: Map<String, Value>,
    at: &str,
) -> Result<TaskDef, ErrorEntry> {
    let bad =
        |name: &str, why: String| ErrorEntry::new(name, Location::Body, format!("{at}: {why}"));
    if let Some(extra) = value.keys().find(|k| !TEMPLATE_KEYS.contains(&k.as_str())) {
        return Err(bad(
            extra,
            format!(
                "a task made from a template takes only {}; {extra:?} belongs in the template \
                 (or make it a field)",
                TEMPLATE_KEYS.join(", ")
            ),
        ));
    }
    let name = match value.remove("template") {
        Some(Value::String(name)) => name,
        _ => return Err(bad("template", "template must be a template's name".into())),
    };
    let fields = match value.remove("fields") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err(bad("fields", "fields must be an object".into())),
    };
    let template = match templates.get(state, account, &name).await {
        Ok(Some(template)) => template,
        Ok(None) => {
            return Err(bad(
                "template",
                format!("the account has no template {name:?}"),
            ));
        }
        Err(e) => {
            tracing::warn!(error = ?e, "reading a template failed");
            return Err(bad(
                "template",
                format!("template {name:?} could not be read"),
            ));
        }
    };
    let (mut definition, problems) = match template.render(&fields) {
        Ok(definition) => (definition, crate::templates::Problems::new()),
        // The task fails naming the fields; it keeps the template's task.
        Err(problems) => {
            let mut definition = Map::new();
            definition.insert("task_name".into(), template.definition["task_name"].clone());
            (definition, problems)
        }
    };
    // The request's own metadata and callbacks win over the template's.
    definition.extend(value);
    let mut def = task_def(state, Value::Object(definition), at)?;
    def.problems = problems;
    Ok(def)
}

/// The `tasks` field of a body: a list or one definition (templates of
/// `account` rendered).
pub async fn task_defs(
    state: &AppState,
    account: &str,
    body: &mut Map<String, Value>,
    field: &str,
) -> Result<Vec<TaskDef>, ApiError> {
    let list = match body.remove(field) {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                field,
                Location::Body,
                format!("{field} is missing"),
            ));
        }
        Some(Value::Array(list)) => list,
        Some(one) => vec![one],
    };
    if list.is_empty() {
        return Err(ApiError::invalid(
            field,
            Location::Body,
            format!("{field} is empty"),
        ));
    }
    if list.len() > MAX_TASKS_PER_REQUEST {
        return Err(ApiError::invalid(
            field,
            Location::Body,
            format!("at most {MAX_TASKS_PER_REQUEST} tasks per request"),
        ));
    }
    let mut defs = Vec::new();
    let mut errors = Vec::new();
    let mut templates = Templates::default();
    for (i, v) in list.into_iter().enumerate() {
        let at = format!("{field}[{i}]");
        let def = match v {
            Value::Object(map) if map.contains_key("template") => {
                render(state, account, &mut templates, map, &at).await
            }
            v => task_def(state, v, &at),
        };
        match def {
            Ok(d) => defs.push(d),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(defs)
    } else {
        Err(ApiError::bad_request(errors))
    }
}

/// A definition from a query string (GET create_file): `task_name` plus
/// every other pair, coerced to the parameter's declared type; or
/// `template` plus its fields (each field's type takes its text).
pub async fn task_def_from_query(
    state: &AppState,
    account: &str,
    pairs: &[(String, String)],
) -> Result<TaskDef, ApiError> {
    let signed = pairs.iter().any(|(k, _)| k == "signature");
    let raw = group(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| {
                !(*k == "secret" || *k == "api_key" || (signed && SIGNED_PARAMS.contains(k)))
            }),
    );
    let template = raw
        .iter()
        .find(|(k, _)| *k == "template")
        .and_then(|(_, v)| v.first().copied());
    if let Some(name) = template {
        let mut def = Map::new();
        let mut fields = Map::new();
        def.insert("template".into(), Value::from(name));
        for (k, values) in raw.iter().filter(|(k, _)| *k != "template") {
            let value = Value::from(values.last().copied().unwrap_or_default());
            if TEMPLATE_KEYS.contains(k) {
                def.insert((*k).to_owned(), value);
            } else {
                fields.insert((*k).to_owned(), value);
            }
        }
        def.insert("fields".into(), Value::Object(fields));
        let mut templates = Templates::default();
        return render(state, account, &mut templates, def, "query")
            .await
            .map_err(|mut e| {
                e.location = Location::Querystring;
                ApiError::bad_request(vec![e])
            });
    }
    let task_name = raw
        .iter()
        .find(|(k, _)| *k == "task_name")
        .and_then(|(_, v)| v.first().copied())
        .ok_or_else(|| {
            ApiError::invalid("task_name", Location::Querystring, "task_name is missing")
        })?;
    let schema = state.engine.task(task_name).map(|t| t.schema.clone());
    let mut def = Map::new();
    def.insert("task_name".into(), Value::from(task_name));
    for (k, values) in raw.iter().filter(|(k, _)| *k != "task_name") {
        let declared = schema
            .as_ref()
            .and_then(|s| declared_type(s, k))
            .unwrap_or_default();
        def.insert((*k).to_owned(), coerce(k, values, &declared));
    }
    task_def(state, Value::Object(def), "query").map_err(|mut e| {
        e.location = Location::Querystring;
        ApiError::bad_request(vec![e])
    })
}
