//! Waiting for tasks to change: `block`, create_file and file wait on the
//! store's change notifications, re-reading only the tasks they watch,
//! with a slow poll as the baseline (lost or lagged notifications).

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::AppState;
use super::error::{ApiError, ErrorEntry, Location};
use crate::store::{TaskRow, now_micros};

/// Re-read watched tasks at least this often even without a notification.
const POLL: Duration = Duration::from_secs(1);

/// Read `keys` in order; 404 naming each unknown or expired key.
pub async fn read_all(state: &AppState, keys: &[String]) -> Result<Vec<TaskRow>, ApiError> {
    let now = now_micros();
    let mut rows = Vec::with_capacity(keys.len());
    let mut missing = Vec::new();
    for key in keys {
        match state.store.task_get(key, now).await? {
            Some(row) => rows.push(row),
            None => missing.push(ErrorEntry::new(
                "tasks",
                Location::Body,
                format!("unknown or expired task key: {key}"),
            )),
        }
    }
    if missing.is_empty() {
        Ok(rows)
    } else {
        Err(ApiError::not_found(missing))
    }
}

/// Wait until `done(rows)` or `timeout`; returns the last rows read.
pub async fn wait_until(
    state: &AppState,
    keys: &[String],
    timeout: Duration,
    done: impl Fn(&[TaskRow]) -> bool,
) -> Result<Vec<TaskRow>, ApiError> {
    // Subscribe before reading, so no change between the two is missed.
    let mut changes = state.store.subscribe();
    let deadline = Instant::now() + timeout;
    loop {
        let rows = read_all(state, keys).await?;
        if done(&rows) || Instant::now() >= deadline {
            return Ok(rows);
        }
        let poll_at = (Instant::now() + POLL).min(deadline);
        loop {
            match tokio::time::timeout_at(poll_at, changes.recv()).await {
                Ok(Ok(key)) if keys.contains(&key) => break,
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(_))) | Err(_) => break,
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep_until(poll_at).await;
                    break;
                }
            }
        }
    }
}

/// Whether every row is final.
pub fn all_final(rows: &[TaskRow]) -> bool {
    rows.iter().all(|r| r.state.is_final())
}
