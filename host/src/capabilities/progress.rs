//! The `progress` capability: percent done and partial results, sent to
//! whoever runs the task (the scheduler writes them to the store).
//!
//! Guest-driven, so bounded: repeated identical percentages are dropped,
//! a full channel drops progress (only the latest matters) but waits for
//! partial values (they carry data), and partial values are size-capped.

use serde_json::Value;
use tokio::sync::mpsc;

use crate::bindings::progress;
use crate::run::RunEvent;

/// Largest partial-result JSON a guest may send at once: results are
/// small values (durations, sizes), never media.
const MAX_PARTIAL_BYTES: usize = 64 << 10;

/// Per-run progress state.
pub struct ProgressCtx {
    events: mpsc::Sender<RunEvent>,
    last: Option<u8>,
}

impl ProgressCtx {
    /// Report into `events`.
    pub fn new(events: mpsc::Sender<RunEvent>) -> Self {
        ProgressCtx { events, last: None }
    }

    /// The event channel, for capabilities that report progress
    /// themselves (ffmpeg).
    pub fn sender(&self) -> mpsc::Sender<RunEvent> {
        self.events.clone()
    }
}

impl progress::Host for crate::capabilities::HostState {
    async fn report(&mut self, percent: u8) -> wasmtime::Result<()> {
        let percent = percent.min(100);
        if self.progress.last != Some(percent) {
            self.progress.last = Some(percent);
            // Lossy on purpose: a later report supersedes this one.
            let _ = self.progress.events.try_send(RunEvent::Progress(percent));
        }
        Ok(())
    }

    async fn partial(&mut self, values: String) -> wasmtime::Result<()> {
        if values.len() > MAX_PARTIAL_BYTES {
            tracing::warn!(bytes = values.len(), "dropping an oversized partial result");
            return Ok(());
        }
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&values) {
            // The receiver may be gone (`drake run`): nothing to do then.
            let _ = self.progress.events.send(RunEvent::Values(map)).await;
        }
        Ok(())
    }
}
