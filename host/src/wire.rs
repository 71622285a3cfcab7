//! Wire statuses: the JSON a client sees for a task, built from a store
//! row in exactly one place.

use serde_json::{Map, Value, json};

use crate::outputs::FileUrls;
use crate::store::{Micros, TaskRow, TaskState, now_micros};

/// The wire `status` of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a worker.
    Queued,
    /// Running.
    Executing,
    /// Done with a result.
    Success,
    /// Done with an error.
    Error,
}

impl From<TaskState> for Status {
    fn from(state: TaskState) -> Self {
        match state {
            TaskState::Waiting | TaskState::Queued => Status::Queued,
            TaskState::Running => Status::Executing,
            TaskState::Succeeded => Status::Success,
            TaskState::Failed => Status::Error,
        }
    }
}

impl Status {
    /// `success` or `error`.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Success | Status::Error)
    }

    /// The spelling on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Executing => "executing",
            Status::Success => "success",
            Status::Error => "error",
        }
    }
}

/// `2013-04-03T15:47:27.703674+00:00` (api.md §1).
pub fn iso8601(t: Micros) -> String {
    let secs = t.div_euclid(1_000_000);
    let micros = t.rem_euclid(1_000_000);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(dt) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        ),
        Err(_) => String::from("1970-01-01T00:00:00.000000+00:00"),
    }
}

/// The result object: values plus every file as an absolute URL.
fn result_object(row: &TaskRow, urls: &FileUrls) -> Map<String, Value> {
    let mut result = match &row.result {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for (name, file) in &row.files {
        let url = urls.url(&file.path, row.expires_at, now_micros());
        result.insert(name.clone(), Value::from(url));
    }
    result
}

/// The keys of the tasks whose outputs a waiting task reads, in the order
/// its parameters name them (each once).
fn waiting_for(row: &TaskRow) -> Vec<&str> {
    let mut keys = Vec::new();
    if let Value::Object(params) = &row.params {
        for (_, url) in crate::inputs::references(params) {
            if let Some(Ok(r)) = crate::inputs::Reference::parse(url)
                && !keys.contains(&r.key)
            {
                keys.push(r.key);
            }
        }
    }
    keys
}

/// The status JSON of a task.
pub fn status(row: &TaskRow, urls: &FileUrls) -> Value {
    let status = Status::from(row.state);
    let mut events = Map::new();
    events.insert("queued".into(), iso8601(row.created_at).into());
    if let Some(t) = row.started_at {
        events.insert("started".into(), iso8601(t).into());
    }
    if let Some(t) = row.finalized_at {
        events.insert("completed".into(), iso8601(t).into());
    }
    let mut out = Map::new();
    out.insert("status".into(), status.as_str().into());
    out.insert("key".into(), row.key.clone().into());
    match status {
        Status::Queued if row.state == TaskState::Waiting => {
            out.insert("waiting_for".into(), json!(waiting_for(row)));
        }
        Status::Queued => {}
        Status::Executing => {
            out.insert("progress".into(), json!(row.progress.unwrap_or(0)));
            let partial = result_object(row, urls);
            if !partial.is_empty() {
                out.insert("result".into(), Value::Object(partial));
            }
        }
        Status::Success => {
            out.insert("progress".into(), Value::Null);
            out.insert("result".into(), Value::Object(result_object(row, urls)));
        }
        Status::Error => {
            out.insert("progress".into(), Value::Null);
            let public = row
                .failure
                .as_ref()
                .map_or_else(|| Value::from("unknown error"), |f| f.public.clone());
            out.insert("result".into(), public);
        }
    }
    out.insert("events".into(), Value::Object(events));
    if status.is_final() {
        // A task that failed before running (its parameters) used nothing.
        let usage = row.usage.unwrap_or_default();
        out.insert("usage".into(), json!(usage));
    }
    if let Some(metas) = &row.task_metas {
        out.insert("task_metas".into(), metas.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_have_microseconds_and_offset() {
        assert_eq!(
            iso8601(1_365_004_047_703_674),
            "2013-04-03T15:47:27.703674+00:00"
        );
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
    }
}
