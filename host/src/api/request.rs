//! From request to stored tasks: JSON body parsing (any content type),
//! task definitions, query-string coercion, account limits, dedup, key
//! generation and insertion. Shared by every creating route.

use std::time::Duration;

use axum::http::HeaderMap;
use rand::RngCore as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::{self, Sources};
use super::error::{ApiError, ErrorEntry, Location};
use crate::config::Account;
use crate::store::{FailureKind, NewTask, TaskFailure, TaskRow, now_micros};

/// Most tasks one request may create: bounds the work a single request
/// can queue and the size of its response.
const MAX_TASKS_PER_REQUEST: usize = 100;

/// Host options every task accepts; not given to the component.
const HOST_OPTIONS: &[&str] = &["url_callback", "url_errback"];

/// Parse a body as a JSON object, whatever its content type (api.md §1).
pub fn json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "body",
            Location::Body,
            "the body is empty; expected a JSON object",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid(
            "body",
            Location::Body,
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::invalid(
            "body",
            Location::Body,
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

/// Query pairs in order (repeated keys kept).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

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

pub use drake_sdk::query::{coerce, declared_type, group};

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
                !(*k == "secret" || *k == "api_key" || (signed && auth::SIGNED_PARAMS.contains(k)))
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

/// The caller's account, from the body, headers or query (a signed query
/// too when `signed_ok`: GET create_file only).
pub fn account<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: Option<&mut Map<String, Value>>,
    peer: Option<std::net::SocketAddr>,
    signed_ok: bool,
) -> Result<&'a Account, ApiError> {
    let mut src = Sources {
        headers,
        query,
        body,
        peer,
        signed_ok,
    };
    let found = auth::extract(&mut src)?;
    auth::authenticate(
        &state.config.accounts,
        found,
        &src,
        state.config.allow_insecure_secrets,
    )
}

/// A new task key: 128 CSPRNG bits, base32 without padding (26 chars).
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// The dedup identity of a definition: account, task name, and the
/// parameters in canonical form (sorted keys, nulls dropped).
pub fn dedup_hash(account: &str, def: &TaskDef) -> String {
    let params: Map<String, Value> = def
        .params
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut h = Sha256::new();
    h.update(account.as_bytes());
    h.update([0]);
    h.update(def.task_name.as_bytes());
    h.update([0]);
    // serde_json's Map is ordered by key: this is canonical.
    h.update(Value::Object(params).to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Check the account's hourly limit for `n` more tasks (api.md §3: 401).
pub async fn check_limits(state: &AppState, account: &Account, n: usize) -> Result<(), ApiError> {
    let Some(limit) = account.max_tasks_per_hour else {
        return Ok(());
    };
    let since = now_micros() - 3_600_000_000;
    let used = state
        .store
        .task_count_created_since(&account.name, since)
        .await?;
    if used.saturating_add(n as u64) > limit {
        return Err(ApiError::unauthorized(
            "account",
            Location::Body,
            format!("account limit reached: {limit} tasks per hour"),
        ));
    }
    Ok(())
}

/// Store the tasks (or reuse earlier identical successes when `dedup`);
/// returns their rows in request order.
pub async fn insert_tasks(
    state: &AppState,
    account: &Account,
    defs: Vec<TaskDef>,
    dedup: bool,
) -> Result<Vec<TaskRow>, ApiError> {
    let now = now_micros();
    let retention = account.retention.unwrap_or(state.config.retention);
    let mut rows = Vec::with_capacity(defs.len());
    let mut fresh = Vec::new();
    for def in defs {
        let hash = dedup_hash(&account.name, &def);
        if dedup
            && let Some(row) = state
                .store
                .task_find_dedup(&account.name, &hash, now)
                .await?
        {
            rows.push(Some(row));
            continue;
        }
        rows.push(None);
        fresh.push((rows.len() - 1, def, hash));
    }
    check_limits(state, account, fresh.len()).await?;
    for (slot, def, hash) in fresh {
        let failure = validate(state, &def);
        let key = new_key();
        let task = NewTask {
            key: key.clone(),
            account: account.name.clone(),
            task_name: def.task_name,
            params: Value::Object(def.params),
            task_metas: def.task_metas,
            options: (!def.options.is_empty()).then_some(Value::Object(def.options)),
            dedup_hash: Some(hash),
            max_attempts: state.config.scheduler.max_attempts,
            created_at: now,
            expires_at: now.saturating_add(micros(retention)),
            failure,
        };
        state.store.task_insert(task).await?;
        let row = state
            .store
            .task_get(&key, now)
            .await?
            .ok_or_else(|| ApiError::internal("a task vanished right after its insert"))?;
        rows[slot] = Some(row);
    }
    Ok(rows.into_iter().flatten().collect())
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Validate parameters against the component's schema right away, so a
/// bad definition ends in `error` without a worker (api.md §3). The
/// component validates again; this is the same code (drake-sdk).
fn validate(state: &AppState, def: &TaskDef) -> Option<TaskFailure> {
    let task = state.engine.task(&def.task_name)?;
    let problems =
        drake_sdk::validate::check_params(&Value::Object(def.params.clone()), &task.schema);
    let mut problems = problems;
    for (name, value) in &def.options {
        if !value.is_string() {
            problems
                .entry(name.clone())
                .or_default()
                .push("not a valid string".into());
        }
    }
    if let Some(metas) = &def.task_metas
        && !metas.is_object()
    {
        problems
            .entry("task_metas".into())
            .or_default()
            .push("not a valid object".into());
    }
    (!problems.is_empty()).then(|| TaskFailure {
        kind: FailureKind::InvalidParameters,
        public: serde_json::json!({ "parameters": problems }),
        detail: None,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn keys_are_26_base32_chars() {
        let k = new_key();
        assert_eq!(k.len(), 26);
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert_ne!(new_key(), k);
    }

    #[test]
    fn bodies_parse_or_name_the_problem() {
        assert!(json_body(b"{\"tasks\": []}").is_ok());
        for bad in [&b""[..], b"  ", b"nope", b"[1]", b"{\"a\":"] {
            assert_eq!(json_body(bad).unwrap_err().status().as_u16(), 400);
        }
    }
}
