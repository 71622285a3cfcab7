//! Reading routes: `GET|POST /v1/status`, `GET|POST /v1/status_stream`
//! (alias `/v1/stream`), `GET /v1/file/{filename}?task=KEY`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::{ApiError, Location};
use super::extract::{DragonBody, Owner, Peer, QueryPairs, Reader};
use super::{AppState, stream, wait};
use crate::store::TaskState;
use crate::wire;

/// Keys per status request: bounds the reads one request triggers.
const MAX_KEYS: usize = 500;

/// What a reading request asked for.
pub(super) struct ReadRequest {
    /// Task keys, in request order.
    pub keys: Vec<String>,
    /// Answer once every task is final.
    pub block: bool,
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "" => Some(false),
        _ => None,
    }
}

fn from_query(pairs: &[(String, String)]) -> Result<ReadRequest, ApiError> {
    let mut keys = Vec::new();
    let mut block = false;
    for (k, v) in pairs {
        match k.as_str() {
            "tasks" | "task" => keys.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "block" => {
                block = parse_bool(v).ok_or_else(|| {
                    ApiError::invalid(
                        "block",
                        Location::Querystring,
                        "block must be true or false",
                    )
                })?;
            }
            _ => {}
        }
    }
    check_keys(keys, Location::Querystring).map(|keys| ReadRequest { keys, block })
}

pub(super) fn from_body(mut body: Map<String, Value>) -> Result<ReadRequest, ApiError> {
    let keys = match body.remove("tasks") {
        Some(Value::String(k)) => vec![k],
        Some(Value::Array(list)) => list
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::invalid(
                    "tasks",
                    Location::Body,
                    "tasks must be task keys (strings)",
                )),
            })
            .collect::<Result<_, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(ApiError::invalid(
                "tasks",
                Location::Body,
                "tasks must be a key or a list of keys",
            ));
        }
    };
    let block = match body.remove("block") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(ApiError::invalid(
                "block",
                Location::Body,
                "block must be true or false",
            ));
        }
    };
    check_keys(keys, Location::Body).map(|keys| ReadRequest { keys, block })
}

fn check_keys(keys: Vec<String>, location: Location) -> Result<Vec<String>, ApiError> {
    if keys.is_empty() {
        return Err(ApiError::invalid("tasks", location, "tasks is missing"));
    }
    if keys.len() > MAX_KEYS {
        return Err(ApiError::invalid(
            "tasks",
            location,
            format!("at most {MAX_KEYS} task keys per request"),
        ));
    }
    Ok(keys)
}

async fn statuses(
    state: &AppState,
    req: ReadRequest,
    reader: &Reader,
    peer: Option<std::net::IpAddr>,
) -> Result<Response, ApiError> {
    let rows = wait::read_all(state, &req.keys).await?;
    reader.check(&rows)?;
    let _slot = req.block.then(|| state.waiters.enter(peer)).transpose()?;
    let rows = if req.block {
        wait::wait_until(
            state,
            &req.keys,
            state.config.block_timeout,
            wait::all_final,
        )
        .await?
    } else {
        rows
    };
    let out: Vec<Value> = rows.iter().map(|r| wire::status(r, &state.urls)).collect();
    Ok(Json(out).into_response())
}

/// `GET /v1/status?tasks=K1&tasks=K2&block=bool`
pub async fn status_get(
    State(state): State<AppState>,
    reader: Reader,
    Peer(peer): Peer,
    QueryPairs(query): QueryPairs,
) -> Result<Response, ApiError> {
    statuses(&state, from_query(&query)?, &reader, peer).await
}

/// `POST /v1/status` with `{"tasks": [...] | "key", "block": bool}`
pub async fn status_post(
    State(state): State<AppState>,
    reader: Reader,
    Peer(peer): Peer,
    DragonBody(body): DragonBody,
) -> Result<Response, ApiError> {
    statuses(&state, from_body(body)?, &reader, peer).await
}

/// `GET /v1/status_stream?tasks=...`
pub async fn stream_get(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    Peer(peer): Peer,
    QueryPairs(query): QueryPairs,
) -> Result<Response, ApiError> {
    stream_statuses(state, from_query(&query)?, (&reader, peer), &headers).await
}

/// `POST /v1/status_stream` with `{"tasks": [...]}`
pub async fn stream_post(
    State(state): State<AppState>,
    reader: Reader,
    headers: HeaderMap,
    Peer(peer): Peer,
    DragonBody(body): DragonBody,
) -> Result<Response, ApiError> {
    stream_statuses(state, from_body(body)?, (&reader, peer), &headers).await
}

async fn stream_statuses(
    state: AppState,
    req: ReadRequest,
    (reader, peer): (&Reader, Option<std::net::IpAddr>),
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let rows = wait::read_all(&state, &req.keys).await?;
    reader.check(&rows)?;
    let slot = state.waiters.enter(peer)?;
    Ok(stream::respond(
        state,
        rows,
        stream::wants_sse(headers),
        slot,
    ))
}

/// `GET /v1/file/{filename}?task=KEY`
pub async fn file(
    State(state): State<AppState>,
    Path(filename): Path<String>,
    reader: Reader,
    Peer(peer): Peer,
    QueryPairs(query): QueryPairs,
) -> Result<Response, ApiError> {
    let key = query
        .iter()
        .find(|(k, _)| k == "task")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ApiError::invalid("task", Location::Querystring, "task is missing"))?;
    let rows = wait::read_all(&state, std::slice::from_ref(&key)).await?;
    reader.check(&rows)?;
    let files = rows
        .first()
        .and_then(|r| state.engine.task(&r.task_name))
        .map(|t| t.info.files.clone())
        .unwrap_or_default();
    let name = match pick_file(&files, Some(&filename)) {
        Ok(name) => name,
        Err(bad) => return Ok(bad.into_response()),
    };
    let _slot = state.waiters.enter(peer)?;
    file_when_ready(&state, key, name).await
}

/// The output name a request means: a single-file task's only file
/// whatever the name (`cat.jpg`); otherwise the name itself or its stem
/// (`preview.mp4` → `preview`). Else the dragon 404.
pub fn pick_file(files: &[String], filename: Option<&str>) -> Result<String, BadFilename> {
    if let [only] = files {
        return Ok(only.clone());
    }
    let wanted = filename.unwrap_or("");
    let stem = wanted.split('.').next().unwrap_or(wanted);
    files
        .iter()
        .find(|f| *f == wanted || *f == stem)
        .cloned()
        .ok_or_else(|| {
            let choices: Vec<String> = files.iter().map(|f| format!("'{f}'")).collect();
            BadFilename(if files.is_empty() {
                "this task has no output file".to_owned()
            } else {
                format!(
                    "'{wanted}' is not a valid filename, choose one of: {}",
                    choices.join(", ")
                )
            })
        })
}

/// A filename the task does not produce: dragon's 404
/// `{"status": "error", "message": ...}`.
#[derive(Debug)]
pub struct BadFilename(pub String);

impl IntoResponse for BadFilename {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "message": self.0});
        (StatusCode::NOT_FOUND, Json(body)).into_response()
    }
}

/// Wait for output `name` of task `key`: 302 as soon as it exists (even
/// while executing), 400 with the status if the task fails, 404 if it
/// succeeds without that file, 503 at the block cap.
pub async fn file_when_ready(
    state: &AppState,
    key: String,
    name: String,
) -> Result<Response, ApiError> {
    let keys = [key];
    let rows = wait::wait_until(state, &keys, state.config.block_timeout, |rows| {
        rows.iter()
            .all(|r| r.state.is_final() || r.files.contains_key(&name))
    })
    .await?;
    let Some(row) = rows.into_iter().next() else {
        return Err(ApiError::internal("a waited task vanished"));
    };
    if let Some(file) = row.files.get(&name) {
        let url = state
            .urls
            .url(&file.path, row.expires_at, crate::store::now_micros());
        let mut response = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&url) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(response);
    }
    let status = wire::status(&row, &state.urls);
    Ok(match row.state {
        TaskState::Failed => (StatusCode::BAD_REQUEST, Json(status)).into_response(),
        TaskState::Succeeded => {
            let mut body = Map::new();
            body.insert("status".into(), "error".into());
            body.insert(
                "message".into(),
                format!("the task produced no '{name}' file").into(),
            );
            (StatusCode::NOT_FOUND, Json(Value::Object(body))).into_response()
        }
        // Still running at the block cap: come back later.
        TaskState::Waiting | TaskState::Queued | TaskState::Running => {
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(status)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    })
}

/// Recent tasks listed when `limit` is not given (a dashboard page).
const RECENT_DEFAULT: u32 = 50;
/// The most one request lists: bounds the rows one request reads.
const RECENT_MAX: u32 = 200;

/// `GET /v1/recent?limit=N` + auth: the caller's newest tasks, newest
/// first, each status with its `task_name` (the dashboard's list).
pub async fn recent(
    State(state): State<AppState>,
    Owner(account): Owner,
    QueryPairs(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let limit = match pairs.iter().find(|(k, _)| k == "limit") {
        None => RECENT_DEFAULT,
        Some((_, v)) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=RECENT_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    Location::Querystring,
                    format!("limit must be an integer from 1 to {RECENT_MAX}"),
                )
            })?,
    };
    let rows = state
        .store
        .task_list_recent(&account.name, crate::store::now_micros(), limit)
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut status = wire::status(row, &state.urls);
            status["task_name"] = Value::from(row.task_name.clone());
            status
        })
        .collect();
    Ok(Json(list).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let one = vec!["output".to_owned()];
        assert_eq!(pick_file(&one, Some("cat.jpg")).ok(), Some("output".into()));
        assert_eq!(pick_file(&one, None).ok(), Some("output".into()));
        let many: Vec<String> = ["preview", "export", "thumbnail"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            pick_file(&many, Some("preview.mp4")).ok(),
            Some("preview".into())
        );
        assert_eq!(pick_file(&many, Some("export")).ok(), Some("export".into()));
        assert_eq!(
            pick_file(&many, Some("medium")).err().map(|b| b.0),
            Some(
                "'medium' is not a valid filename, choose one of: 'preview', 'export', 'thumbnail'"
                    .into()
            )
        );
    }
}
