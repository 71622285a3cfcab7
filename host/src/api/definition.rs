//! Task definitions (api.md §5): `{"task_name": …, <parameters>,
//! "task_metas"?, "url_callback"?, "url_errback"?}` in a body's `tasks`
//! (a list or one object), or a `GET create_file` query whose values are
//! coerced to the declared parameter types.

use serde_json::{Map, Value};

use super::AppState;
use super::error::{ApiError, ErrorEntry, Location};
use crate::sign::SIGNED_PARAMS;
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
    })
}

/// The `tasks` field of a body: a list or one definition.
pub fn task_defs(
    state: &AppState,
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
    for (i, v) in list.into_iter().enumerate() {
        match task_def(state, v, &format!("{field}[{i}]")) {
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
/// every other pair, coerced to the parameter's declared type.
pub fn task_def_from_query(
    state: &AppState,
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
