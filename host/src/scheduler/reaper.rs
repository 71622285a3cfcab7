//! The reaper: statuses and output files live for the retention period
//! (api.md §7). Reads already hide expired tasks; the reaper deletes their
//! rows, then their files.

use std::sync::Arc;
use std::time::Duration;

use crate::outputs::Storage;
use crate::store::{Micros, TaskStore};

/// Delete what expired before `now`; returns the deleted task keys.
pub async fn run_once(
    store: &dyn TaskStore,
    storage: &Storage,
    now: Micros,
) -> crate::store::Result<Vec<String>> {
    let keys = store.task_delete_expired(now).await?;
    for key in &keys {
        // The row is gone, so nothing links to the files any more; a file
        // that fails to delete is logged and found again by no one.
        if let Err(e) = storage.delete_task(key).await {
            tracing::warn!(key = %key, error = %e, "deleting expired files failed");
        }
    }
    if !keys.is_empty() {
        tracing::info!(deleted = keys.len(), "reaped expired tasks");
    }
    Ok(keys)
}

/// Sweep every `interval`, forever.
pub async fn run(store: Arc<dyn TaskStore>, storage: Storage, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        if let Err(e) = run_once(store.as_ref(), &storage, crate::store::now_micros()).await {
            tracing::error!(error = %e, "reaper sweep failed");
        }
    }
}
