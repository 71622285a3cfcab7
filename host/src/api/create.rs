//! Creating routes: `POST /v1/create`, `GET|POST /v1/create_file[/{name}]`,
//! `POST /v1/create_stream`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::auth::Via;
use super::definition::{self, TaskDef};
use super::error::{ApiError, Location};
use super::extract::{Creator, Peer, QueryCreator};
use super::insert::insert_tasks;
use super::{AppState, status, stream, wait};
use crate::config::Account;
use crate::wire;

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
    Peer(peer): Peer,
    Creator {
        account,
        via,
        mut body,
    }: Creator,
) -> Result<Response, ApiError> {
    let block = flag(&mut body, "block")?;
    let dedup = flag(&mut body, "dedup")?;
    let defs = definition::task_defs(&state, &account.name, &mut body, "tasks").await?;
    // A place among the open waits before anything is created.
    let slot = block.then(|| state.waiters.enter(peer)).transpose()?;
    // Listening from before the insert, the wait starts from the rows the
    // insert stored without missing a change.
    let changes = block.then(|| state.store.subscribe());
    let mut rows = insert_tasks(&state, (&account, via), defs, dedup).await?;
    if let (Some(_), Some(changes)) = (&slot, changes) {
        let timeout = state.config.block_timeout;
        rows = wait::wait_from(&state, changes, rows, timeout, wait::all_final).await?;
    }
    let statuses: Vec<Value> = rows.iter().map(|r| wire::status(r, &state.urls)).collect();
    Ok(Json(statuses).into_response())
}

/// `POST /v1/create_stream`: create, then stream statuses.
pub async fn create_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Peer(peer): Peer,
    Creator {
        account,
        via,
        mut body,
    }: Creator,
) -> Result<Response, ApiError> {
    let dedup = flag(&mut body, "dedup")?;
    let defs = definition::task_defs(&state, &account.name, &mut body, "tasks").await?;
    let slot = state.waiters.enter(peer)?;
    let rows = insert_tasks(&state, (&account, via), defs, dedup).await?;
    Ok(stream::respond(
        state,
        rows,
        stream::wants_sse(&headers),
        slot,
    ))
}

/// `GET /v1/create_file?task_name=...&...`
pub async fn create_file_get(
    State(state): State<AppState>,
    Peer(peer): Peer,
    creator: QueryCreator,
) -> Result<Response, ApiError> {
    let _slot = state.waiters.enter(peer)?;
    create_file_from_query(&state, creator, None).await
}

/// `GET /v1/create_file/{filename}?task_name=...&...`
pub async fn create_file_get_named(
    State(state): State<AppState>,
    Path(filename): Path<String>,
    Peer(peer): Peer,
    creator: QueryCreator,
) -> Result<Response, ApiError> {
    let _slot = state.waiters.enter(peer)?;
    create_file_from_query(&state, creator, Some(filename)).await
}

/// `POST /v1/create_file` with `{"task": {...}}`.
pub async fn create_file_post(
    State(state): State<AppState>,
    Peer(peer): Peer,
    creator: Creator,
) -> Result<Response, ApiError> {
    let _slot = state.waiters.enter(peer)?;
    create_file_from_body(&state, creator, None).await
}

/// `POST /v1/create_file/{filename}` with `{"task": {...}}`.
pub async fn create_file_post_named(
    State(state): State<AppState>,
    Path(filename): Path<String>,
    Peer(peer): Peer,
    creator: Creator,
) -> Result<Response, ApiError> {
    let _slot = state.waiters.enter(peer)?;
    create_file_from_body(&state, creator, Some(filename)).await
}

async fn create_file_from_query(
    state: &AppState,
    QueryCreator {
        account,
        via,
        query,
    }: QueryCreator,
    filename: Option<String>,
) -> Result<Response, ApiError> {
    let def = definition::task_def_from_query(state, &account.name, &query).await?;
    create_file_for(state, (&account, via), def, filename).await
}

async fn create_file_from_body(
    state: &AppState,
    Creator {
        account,
        via,
        mut body,
    }: Creator,
    filename: Option<String>,
) -> Result<Response, ApiError> {
    let mut defs = definition::task_defs(state, &account.name, &mut body, "task").await?;
    if defs.len() != 1 {
        return Err(ApiError::invalid(
            "task",
            Location::Body,
            "create_file takes exactly one task",
        ));
    }
    let def = defs.remove(0);
    create_file_for(state, (&account, via), def, filename).await
}

/// Create (or reuse, api.md §5 deduplication) one task and answer with its
/// file.
async fn create_file_for(
    state: &AppState,
    caller: (&Account, Via),
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
    let rows = insert_tasks(state, caller, vec![def], true).await?;
    let Some(row) = rows.into_iter().next() else {
        return Err(ApiError::internal("create_file inserted no task"));
    };
    status::file_when_ready(state, row.key, name).await
}
