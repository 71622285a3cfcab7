//! `POST /v1/cancel` (an extension of dragon's API): `{"tasks": [...] |
//! "key", "block"?}` with the account's secret. Queued tasks end at once;
//! running ones end promptly on whichever node runs them (the instance and
//! any ffmpeg killed, their directories removed); each ends in `error`
//! with a `cancelled` message and what it used so far. Final tasks are
//! left as they are. A key that is not one of the account's unexpired
//! tasks is a 404 naming it, and then nothing is cancelled.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::Via;
use super::error::{ApiError, ErrorEntry, Location};
use super::extract::{Creator, Peer};
use super::{AppState, status, wait};
use crate::store::now_micros;
use crate::wire;

/// `POST /v1/cancel`: the statuses after the request, in request order
/// (with `block`, once every task is final).
pub async fn cancel(
    State(state): State<AppState>,
    Peer(peer): Peer,
    Creator { account, via, body }: Creator,
) -> Result<Response, ApiError> {
    if via != Via::Secret {
        return Err(ApiError::unauthorized(
            "secret",
            Location::Body,
            "cancelling needs the account's secret; an api_key only creates tasks",
        ));
    }
    let req = status::from_body(body)?;
    // Every key first: another account's task is as unknown as a wrong
    // key, and nothing is cancelled unless all are the caller's.
    let rows = wait::read_all(&state, &req.keys).await?;
    let foreign: Vec<ErrorEntry> = rows
        .iter()
        .filter(|row| row.account != account.name)
        .map(|row| {
            ErrorEntry::new(
                "tasks",
                Location::Body,
                format!("unknown or expired task key: {}", row.key),
            )
        })
        .collect();
    if !foreign.is_empty() {
        return Err(ApiError::not_found(foreign));
    }
    let failure = crate::engine::cancelled();
    let now = now_micros();
    for row in &rows {
        state
            .store
            .task_cancel(&row.key, &account.name, &failure, now)
            .await?;
    }
    let rows = if req.block {
        let _slot = state.waiters.enter(peer)?;
        wait::wait_until(
            &state,
            &req.keys,
            state.config.block_timeout,
            wait::all_final,
        )
        .await?
    } else {
        wait::read_all(&state, &req.keys).await?
    };
    let statuses: Vec<Value> = rows.iter().map(|r| wire::status(r, &state.urls)).collect();
    Ok(Json(statuses).into_response())
}
