//! Rows to [`TaskRow`]s, shared by the SQLite and Postgres stores.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde_json::Value;

use super::{Error, OutputFile, Result, StoredTemplate, TaskFailure, TaskRow, TaskState, Usage};

/// `callback_due` of a new task: due as soon as it is final when it asked
/// for a callback or errback (`callbacks::target` picks which), else none.
pub(crate) fn initial_callback_due(options: Option<&Value>) -> Option<i64> {
    let asks = options.is_some_and(|o| {
        ["url_callback", "url_errback"]
            .iter()
            .any(|k| o.get(k).is_some_and(Value::is_string))
    });
    asks.then_some(0)
}

fn json_opt(v: Option<String>) -> Result<Option<Value>> {
    v.map(|s| serde_json::from_str(&s).map_err(|e| Error::Corrupt(e.to_string())))
        .transpose()
}

/// A task row from any backend's row: every integer is a 64-bit integer
/// and every JSON column comes back as text.
pub(crate) fn row_to_task<'r, R>(row: &'r R) -> Result<TaskRow>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let state: String = row.try_get("state")?;
    let params: String = row.try_get("params")?;
    let files: String = row.try_get("files")?;
    let failure: Option<String> = row.try_get("failure")?;
    let progress: Option<i64> = row.try_get("progress")?;
    Ok(TaskRow {
        key: row.try_get("key")?,
        account: row.try_get("account")?,
        task_name: row.try_get("task_name")?,
        params: serde_json::from_str(&params).map_err(|e| Error::Corrupt(e.to_string()))?,
        task_metas: json_opt(row.try_get("task_metas")?)?,
        options: json_opt(row.try_get("options")?)?,
        dedup_hash: row.try_get("dedup_hash")?,
        state: TaskState::from_str(&state)?,
        progress: progress.and_then(|p| u8::try_from(p).ok()),
        result: json_opt(row.try_get("result")?)?,
        files: serde_json::from_str::<BTreeMap<String, OutputFile>>(&files)
            .map_err(|e| Error::Corrupt(e.to_string()))?,
        failure: failure
            .map(|f| serde_json::from_str::<TaskFailure>(&f))
            .transpose()
            .map_err(|e| Error::Corrupt(e.to_string()))?,
        attempt: u32::try_from(row.try_get::<i64, _>("attempt")?).unwrap_or(0),
        max_attempts: u32::try_from(row.try_get::<i64, _>("max_attempts")?).unwrap_or(1),
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finalized_at: row.try_get("finalized_at")?,
        expires_at: row.try_get("expires_at")?,
        usage: json_opt(row.try_get("usage")?)?
            .map(serde_json::from_value::<Usage>)
            .transpose()
            .map_err(|e| Error::Corrupt(e.to_string()))?,
        cancel_requested: row.try_get("cancel_requested")?,
    })
}

pub(crate) fn to_json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(e.to_string()))
}

/// The failure of a task whose last attempt's lease expired.
pub(crate) fn interrupted_too_often() -> TaskFailure {
    TaskFailure {
        kind: super::FailureKind::Internal,
        public: Value::from("the task was interrupted too many times"),
        detail: Some("lease expired on the last attempt".to_owned()),
    }
}

/// `(task_name, state, count)` rows with the count as it is reported.
pub(crate) fn counts(rows: Vec<(String, String, i64)>) -> Vec<(String, String, u64)> {
    rows.into_iter()
        .map(|(task, state, n)| (task, state, u64::try_from(n).unwrap_or(0)))
        .collect()
}

/// A template row `(body, created_at, updated_at)`.
pub(crate) fn template((body, created_at, updated_at): (String, i64, i64)) -> StoredTemplate {
    StoredTemplate {
        body,
        created_at,
        updated_at,
    }
}
