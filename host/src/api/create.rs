//! Creating routes: `POST /v1/create`, `GET|POST /v1/create_file[/{name}]`,
//! `POST /v1/create_stream`.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::error::{ApiError, Location};
use super::request::{self, TaskDef};
use super::{AppState, status, stream, wait, wire};

fn peer(ext: &Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// An optional boolean body field.
fn flag(body: &mut Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(ApiError::invalid(
            name,
            Location::Body,
            format!("{name} must be true or false"),
        )),
    }
}

/// `POST /v1/create`: `{"tasks": [...] | {...}, "block"?, "dedup"?}`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = request::query_pairs(query.as_deref());
    let mut body = request::json_body(&body)?;
    let account = request::account(&state, &headers, &query, Some(&mut body), peer(&ext), false)?;
    let block = flag(&mut body, "block")?;
    let dedup = flag(&mut body, "dedup")?;
    let defs = request::task_defs(&state, &mut body, "tasks")?;
    let mut rows = request::insert_tasks(&state, account, defs, dedup).await?;
    if block {
        let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
        rows = wait::wait_until(&state, &keys, state.config.block_timeout, wait::all_final).await?;
    }
    let statuses: Vec<Value> = rows.iter().map(|r| wire::status(r, &state.urls)).collect();
    Ok(Json(statuses).into_response())
}

/// `POST /v1/create_stream`: create, then stream statuses.
pub async fn create_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = request::query_pairs(query.as_deref());
    let mut body = request::json_body(&body)?;
    let account = request::account(&state, &headers, &query, Some(&mut body), peer(&ext), false)?;
    let dedup = flag(&mut body, "dedup")?;
    let defs = request::task_defs(&state, &mut body, "tasks")?;
    let rows = request::insert_tasks(&state, account, defs, dedup).await?;
    Ok(stream::respond(state, rows, stream::wants_sse(&headers)))
}

/// `GET /v1/create_file?task_name=...&...`
pub async fn create_file_get(
    state: State<AppState>,
    headers: HeaderMap,
    query: RawQuery,
    ext: Extensions,
) -> Result<Response, ApiError> {
    create_file_from_query(state, headers, query, ext, None).await
}

/// `GET /v1/create_file/{filename}?task_name=...&...`
pub async fn create_file_get_named(
    state: State<AppState>,
    Path(filename): Path<String>,
    headers: HeaderMap,
    query: RawQuery,
    ext: Extensions,
) -> Result<Response, ApiError> {
    create_file_from_query(state, headers, query, ext, Some(filename)).await
}

/// `POST /v1/create_file` with `{"task": {...}}`.
pub async fn create_file_post(
    state: State<AppState>,
    headers: HeaderMap,
    query: RawQuery,
    ext: Extensions,
    body: Bytes,
) -> Result<Response, ApiError> {
    create_file_from_body(state, headers, query, ext, body, None).await
}

/// `POST /v1/create_file/{filename}` with `{"task": {...}}`.
pub async fn create_file_post_named(
    state: State<AppState>,
    Path(filename): Path<String>,
    headers: HeaderMap,
    query: RawQuery,
    ext: Extensions,
    body: Bytes,
) -> Result<Response, ApiError> {
    create_file_from_body(state, headers, query, ext, body, Some(filename)).await
}

async fn create_file_from_query(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
    filename: Option<String>,
) -> Result<Response, ApiError> {
    let query = request::query_pairs(query.as_deref());
    let account = request::account(&state, &headers, &query, None, peer(&ext), true)?;
    let def = request::task_def_from_query(&state, &query)?;
    create_file_for(&state, account, def, filename).await
}

async fn create_file_from_body(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ext: Extensions,
    body: Bytes,
    filename: Option<String>,
) -> Result<Response, ApiError> {
    let query = request::query_pairs(query.as_deref());
    let mut body = request::json_body(&body)?;
    let account = request::account(&state, &headers, &query, Some(&mut body), peer(&ext), false)?;
    let mut defs = request::task_defs(&state, &mut body, "task")?;
    if defs.len() != 1 {
        return Err(ApiError::invalid(
            "task",
            Location::Body,
            "create_file takes exactly one task",
        ));
    }
    let def = defs.remove(0);
    create_file_for(&state, account, def, filename).await
}

/// Create (or reuse, api.md §5 deduplication) one task and answer with its
/// file.
async fn create_file_for(
    state: &AppState,
    account: &crate::config::Account,
    def: TaskDef,
    filename: Option<String>,
) -> Result<Response, ApiError> {
    // Check the name before doing any work.
    let files = state
        .engine
        .task(&def.task_name)
        .map(|t| t.info.files.clone())
        .unwrap_or_default();
    let name = match status::pick_file(&files, filename.as_deref()) {
        Ok(name) => name,
        Err(bad) => return Ok(bad.into_response()),
    };
    let rows = request::insert_tasks(state, account, vec![def], true).await?;
    let Some(row) = rows.into_iter().next() else {
        return Err(ApiError::internal("create_file inserted no task"));
    };
    status::file_when_ready(state, row.key, name).await
}
