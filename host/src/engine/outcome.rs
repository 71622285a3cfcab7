//! How a run ended, as the store records it: the failures a run can end
//! in (the task's own error, the time or memory limit, a crash) and the
//! usage measured from its store.

use std::time::Duration;

use serde_json::Value;
use wasmtime::Trap;

use crate::bindings;
use crate::capabilities::HostState;
use crate::store::{FailureKind, TaskFailure, Usage};

/// A finished run's usage from its store's contexts.
pub(super) fn usage(state: &HostState, wall: Duration, guest_cpu_micros: u64) -> Usage {
    use std::sync::atomic::Ordering::Relaxed;
    let meter = &state.ffmpeg.meter;
    let cpu_micros = guest_cpu_micros.saturating_add(meter.cpu_micros.load(Relaxed));
    Usage {
        wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
        cpu_ms: cpu_micros / 1000,
        peak_memory_bytes: state
            .limiter
            .committed()
            .saturating_add(meter.max_rss.load(Relaxed)),
        bytes_in: state.budget.fetched(),
        bytes_out: state.blobs.published(),
    }
}

pub(super) fn internal(detail: String) -> TaskFailure {
    TaskFailure {
        kind: FailureKind::Internal,
        public: Value::from("internal error"),
        detail: Some(detail),
    }
}

/// The failure of a run the account cancelled (`POST /v1/cancel`).
pub fn cancelled() -> TaskFailure {
    TaskFailure {
        kind: FailureKind::Cancelled,
        public: Value::from("cancelled: the account asked to end the task"),
        detail: None,
    }
}

/// The failure of a run that went over one of its `[budgets]`.
pub(super) fn budget_failure(over: &crate::budget::Exceeded) -> TaskFailure {
    TaskFailure {
        kind: FailureKind::Limit,
        public: Value::from(over.to_string()),
        detail: None,
    }
}

pub(super) fn time_limit_failure(limit: Duration) -> TaskFailure {
    TaskFailure {
        kind: FailureKind::Limit,
        public: Value::from(format!(
            "time limit exceeded: the task ran longer than {}",
            humantime::format_duration(limit)
        )),
        detail: None,
    }
}

pub(super) fn task_error(e: bindings::types::TaskError) -> TaskFailure {
    use bindings::types::TaskError as E;
    let (kind, public) = match e {
        E::InvalidParameters(json) => (
            FailureKind::InvalidParameters,
            serde_json::json!({
                "parameters": serde_json::from_str::<Value>(&json).unwrap_or(Value::String(json))
            }),
        ),
        E::InvalidInput(m) => (FailureKind::InvalidInput, Value::from(m)),
        E::Limit(m) => (FailureKind::Limit, Value::from(m)),
        E::Failed(m) => (FailureKind::Failed, Value::from(m)),
    };
    TaskFailure {
        kind,
        public,
        detail: None,
    }
}

/// Classify a trap: the time limit, the memory cap, or a crash.
pub(super) fn trap_failure(
    err: &wasmtime::Error,
    state: &HostState,
    limit: Duration,
) -> TaskFailure {
    let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
    let detail = Some(format!("{err:?}\n--- guest stderr ---\n{stderr}"));
    if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return TaskFailure {
            detail,
            ..time_limit_failure(limit)
        };
    }
    if state.limiter.hit() {
        return TaskFailure {
            kind: FailureKind::Limit,
            public: Value::from(format!(
                "memory limit exceeded: the task needed more than {} MiB",
                state.limiter.limit() >> 20
            )),
            detail,
        };
    }
    TaskFailure {
        kind: FailureKind::Internal,
        public: Value::from("internal error: the task crashed"),
        detail,
    }
}
