//! Status streams (create_stream, status_stream): newline-delimited JSON,
//! or SSE `data:` events with `Accept: text/event-stream` (api.md §5).
//!
//! Line 1 is the array of current statuses in request order; then one
//! status per change of any task; a keep-alive line (the current status of
//! an unfinished task) after `stream_keepalive` without change; the stream
//! ends after the last task's final status.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::AppState;
use super::wait::WaitSlot;
use crate::store::{Change, TaskRow, now_micros};
use crate::wire;

/// Lines buffered for a slow client before the producer waits.
const LINE_BUFFER: usize = 16;

/// Re-read every watched task this often even without a notification:
/// both stores notify every change, so this only bounds how long a lost
/// notification goes unseen (a lagging receiver re-reads at once).
const BASELINE: Duration = Duration::from_secs(10);

/// Whether the client asked for SSE.
pub fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

fn frame(json: &Value, sse: bool) -> Bytes {
    // serde_json's compact form never contains a raw newline.
    if sse {
        Bytes::from(format!("data: {json}\n\n"))
    } else {
        Bytes::from(format!("{json}\n"))
    }
}

/// Stream the statuses of `rows` (already read, in request order),
/// holding `slot` (a place among the open waits) until the stream ends.
pub fn respond(state: AppState, rows: Vec<TaskRow>, sse: bool, slot: WaitSlot) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(LINE_BUFFER);
    // Subscribe now, before the producer starts, so nothing is missed
    // between the read and the first wait.
    let changes = state.store.subscribe();
    tokio::spawn(async move {
        produce(state, rows, sse, tx, changes).await;
        drop(slot);
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let content_type = if sse {
        "text/event-stream"
    } else {
        "application/x-ndjson"
    };
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies (nginx) must not buffer a stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

async fn produce(
    state: AppState,
    rows: Vec<TaskRow>,
    sse: bool,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    mut changes: tokio::sync::broadcast::Receiver<Change>,
) {
    let urls = state.urls.clone();
    // Each distinct key is watched (and read) once, however often the
    // request repeats it.
    let mut keys: Vec<String> = Vec::new();
    for row in &rows {
        if !keys.contains(&row.key) {
            keys.push(row.key.clone());
        }
    }
    let mut last: HashMap<String, (Value, bool)> = HashMap::new();
    let first: Vec<Value> = rows
        .iter()
        .map(|r| {
            let s = wire::status(r, &urls);
            last.insert(r.key.clone(), (s.clone(), r.state.is_final()));
            s
        })
        .collect();
    if tx.send(Ok(frame(&Value::Array(first), sse))).await.is_err() {
        return;
    }
    let keepalive = state.config.stream_keepalive;
    let mut idle_since = tokio::time::Instant::now();
    let mut reread_at = tokio::time::Instant::now() + BASELINE;
    let mut rotate = 0usize;
    while last.values().any(|(_, done)| !done) {
        let wake = reread_at.min(idle_since + keepalive);
        let received = tokio::select! {
            received = tokio::time::timeout_at(wake, changes.recv()) => received,
            // The client went away: free its place now, not at the next
            // line.
            () = tx.closed() => return,
        };
        // Changed keys, with their new rows when the notification carries
        // them (then nothing is read).
        let changed: Vec<Change> = match received {
            Ok(Ok(change)) if last.contains_key(&change.key) => vec![change],
            Ok(Ok(_)) => Vec::new(),
            // Keep-alive time, not yet the baseline: nothing to read.
            Err(_) if tokio::time::Instant::now() < reread_at => Vec::new(),
            // Notifications lost, or the baseline: read everything.
            Ok(Err(RecvError::Lagged(_))) | Err(_) => {
                reread_at = tokio::time::Instant::now() + BASELINE;
                keys.iter().cloned().map(Change::key).collect()
            }
            Ok(Err(RecvError::Closed)) => {
                tokio::time::sleep_until(wake).await;
                reread_at = tokio::time::Instant::now() + BASELINE;
                keys.iter().cloned().map(Change::key).collect()
            }
        };
        let now = now_micros();
        for Change { key, row } in changed {
            // A final task's line was sent; nothing after it can be newer.
            if last.get(&key).is_some_and(|(_, done)| *done) {
                continue;
            }
            let row = match row {
                Some(row) => TaskRow::clone(&row),
                None => match state.store.task_get(&key, now).await {
                    Ok(Some(row)) => row,
                    // Expired mid-stream or a store error: stop watching it.
                    Ok(None) | Err(_) => {
                        last.insert(key, (Value::Null, true));
                        continue;
                    }
                },
            };
            let status = wire::status(&row, &urls);
            let done = row.state.is_final();
            if last.get(&key).is_some_and(|(prev, _)| *prev == status) {
                continue;
            }
            last.insert(key, (status.clone(), done));
            if tx.send(Ok(frame(&status, sse))).await.is_err() {
                return;
            }
            idle_since = tokio::time::Instant::now();
        }
        if idle_since.elapsed() >= keepalive {
            let pending: Vec<&String> = keys
                .iter()
                .filter(|k| last.get(*k).is_some_and(|(_, done)| !done))
                .collect();
            if let Some(key) = pending.get(rotate % pending.len().max(1)) {
                rotate += 1;
                if let Some((status, _)) = last.get(*key)
                    && tx.send(Ok(frame(status, sse))).await.is_err()
                {
                    return;
                }
            }
            idle_since = tokio::time::Instant::now();
        }
    }
}
