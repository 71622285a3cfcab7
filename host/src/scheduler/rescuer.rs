//! The rescuer: a worker that dies (kill -9, a lost node) leaves its tasks
//! `running` with a lease nobody renews. Once the lease has expired they go
//! back to the queue, or fail for good after `max_attempts` claims.
//! The same sweep settles tasks left waiting for inputs that have finished
//! (a node that died between an input's transition and its settling).

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Micros, RescueOutcome, TaskStore};

/// Sweep once at `now`.
pub async fn run_once(store: &dyn TaskStore, now: Micros) -> crate::store::Result<RescueOutcome> {
    let outcome = store.task_rescue_stuck(now).await?;
    if !outcome.requeued.is_empty() || !outcome.failed.is_empty() {
        tracing::warn!(
            requeued = outcome.requeued.len(),
            failed = outcome.failed.len(),
            "rescued tasks with expired leases"
        );
    }
    Ok(outcome)
}

/// Sweep every `interval`, forever (tasks failed for good get their
/// callbacks from the store, like every final task).
pub async fn run(store: Arc<dyn TaskStore>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        if let Err(e) = run_once(store.as_ref(), crate::store::now_micros()).await {
            tracing::error!(error = %e, "rescuer sweep failed");
        }
    }
}
