//! Tasks that wait for other tasks' outputs: what a dependent is told
//! when an input will never be there. The statements that settle
//! dependents live in each backend (`settle`), run in the transaction of
//! the transition that finished the input.

use serde_json::Value;

use super::{FailureKind, TaskFailure, TaskState};

/// The failure of a task that waited for `upstream`, which ended in
/// `state` with `failure` (`None`: the row is gone).
pub(crate) fn upstream_failed(
    upstream: &str,
    state: Option<TaskState>,
    failure: Option<&TaskFailure>,
) -> TaskFailure {
    let what = match (state, failure.map(|f| f.kind)) {
        (None, _) => "no longer exists (it expired)",
        (_, Some(FailureKind::Cancelled)) => "was cancelled",
        _ => "failed",
    };
    TaskFailure {
        kind: FailureKind::InvalidInput,
        public: Value::from(format!(
            "input task {upstream} {what}, so this task did not run"
        )),
        detail: None,
    }
}

/// Most upstreams the rescuer's sweep settles per pass: bounds one
/// transaction; the next pass takes the rest.
pub(crate) const SWEEP_BATCH: i64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_names_the_upstream_and_why() {
        let cancelled = TaskFailure {
            kind: FailureKind::Cancelled,
            public: Value::from("cancelled"),
            detail: None,
        };
        let f = upstream_failed("K", Some(TaskState::Failed), Some(&cancelled));
        assert_eq!(
            f.public,
            "input task K was cancelled, so this task did not run"
        );
        let f = upstream_failed("K", None, None);
        assert!(
            f.public
                .as_str()
                .unwrap_or("")
                .contains("K no longer exists")
        );
        assert_eq!(f.kind, FailureKind::InvalidInput);
    }
}
