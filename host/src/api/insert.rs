//! From definitions to stored tasks: parameters validated at once (a bad
//! definition ends in `error` without a worker, api.md §3), identical
//! finished tasks reused (`dedup`), the account's hourly limit, then the
//! rows inserted.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::Via;
use super::definition::TaskDef;
use super::error::{ApiError, Location};
use crate::config::Account;
use crate::inputs::{Reference, UPLOAD_TASK};
use crate::store::{FailureKind, NewTask, TaskFailure, TaskRow, new_key, now_micros};

/// The dedup identity of a definition: account, task name, and the
/// parameters in canonical form (sorted keys, nulls dropped), each
/// reference in them replaced by what it resolves to (`contents`: an
/// upload's bytes by their SHA-256, so the same photo uploaded twice is
/// the same input).
pub fn dedup_hash(account: &str, def: &TaskDef, contents: &[(String, String)]) -> String {
    let params: Map<String, Value> = def
        .params
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), resolved(v, contents)))
        .collect();
    let mut h = Sha256::new();
    h.update(account.as_bytes());
    h.update([0]);
    h.update(def.task_name.as_bytes());
    h.update([0]);
    // serde_json's Map is ordered by key: this is canonical.
    h.update(Value::Object(params).to_string().as_bytes());
    hex::encode(h.finalize())
}

/// 401 naming an account limit.
fn over(description: String) -> ApiError {
    ApiError::unauthorized("account", Location::Body, description)
}

/// Check the account's hourly creations for `n` more (tasks or uploads).
pub async fn check_hourly(state: &AppState, account: &Account, n: usize) -> Result<(), ApiError> {
    if let Some(limit) = account.max_tasks_per_hour {
        let since = now_micros() - 3_600_000_000;
        let used = state
            .store
            .task_count_created_since(&account.name, since)
            .await?;
        if used.saturating_add(n as u64) > limit {
            return Err(over(format!(
                "account limit reached: {limit} tasks per hour (max_tasks_per_hour)"
            )));
        }
    }
    Ok(())
}

/// `value` with every reference in `contents` replaced by its content.
fn resolved(value: &Value, contents: &[(String, String)]) -> Value {
    match value {
        Value::String(s) if !contents.is_empty() && s.contains(crate::inputs::SCHEME) => {
            let mut s = s.clone();
            for (reference, content) in contents {
                s = s.replace(reference.as_str(), content);
            }
            Value::String(s)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolved(v, contents)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolved(v, contents)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Check the account's limits for `n` more tasks: its hourly creations
/// and its tasks queued now (api.md §3: 401, naming the limit).
pub async fn check_limits(state: &AppState, account: &Account, n: usize) -> Result<(), ApiError> {
    check_hourly(state, account, n).await?;
    if n > 0 {
        let (n, limit) = (n as u64, account.max_queued);
        if state.queued.admits(&account.name, n, limit) {
            return Ok(());
        }
        let queued = state.store.task_count_queued(&account.name).await?;
        if queued.saturating_add(n) > limit {
            return Err(over(format!(
                "account limit reached: {limit} tasks queued at once (max_queued); \
                 {queued} are waiting"
            )));
        }
        state
            .queued
            .counted(&account.name, queued.saturating_add(n));
    }
    Ok(())
}

/// How long a counted number of queued tasks stands in for a count: a
/// create then checks `max_queued` without a query of its own (one
/// round trip less on every create), and another node's creates in this
/// window are the most the limit can be passed by.
const QUEUED_COUNT_FRESH: Duration = Duration::from_secs(1);

/// Each account's tasks queued, as last counted plus this node's creates
/// since: an estimate that only ever overshoots on this node (claims since
/// the count are not subtracted), so it admits a create without a query
/// while far enough from the limit and defers to a fresh count near it.
#[derive(Default)]
pub struct QueuedCounts(
    std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u64)>>,
);

impl QueuedCounts {
    /// Whether `n` more tasks stay within `limit` by a fresh estimate
    /// (counted as created if so).
    fn admits(&self, account: &str, n: u64, limit: u64) -> bool {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match counts.get_mut(account) {
            Some((at, queued))
                if at.elapsed() < QUEUED_COUNT_FRESH && queued.saturating_add(n) <= limit =>
            {
                *queued += n;
                true
            }
            _ => false,
        }
    }

    /// `queued` counted just now (the creates being admitted included).
    fn counted(&self, account: &str, queued: u64) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        counts.insert(account.to_owned(), (std::time::Instant::now(), queued));
    }
}

/// Store the tasks of `account`, proved `via` a credential (or reuse
/// earlier identical successes when `dedup`); returns their rows in
/// request order. A task may read an earlier one's output by its index
/// (`drake:$0/output`): the reference is rewritten to that task's key,
/// and a task whose inputs have not finished is stored waiting for them.
pub async fn insert_tasks(
    state: &AppState,
    (account, via): (&Account, Via),
    defs: Vec<TaskDef>,
    dedup: bool,
) -> Result<Vec<TaskRow>, ApiError> {
    let now = now_micros();
    let retention = account.retention.unwrap_or(state.config.retention);
    // Every task's row as answered, in request order: the tasks its later
    // definitions may refer to.
    let mut rows: Vec<TaskRow> = Vec::with_capacity(defs.len());
    let mut fresh: Vec<(usize, NewTask)> = Vec::new();
    for mut def in defs {
        resolve_indices(&mut def.params, &rows);
        let References {
            problems,
            contents,
            waits_for,
        } = check_references(state, (account, via), &def.params, now, &rows).await?;
        let hash = dedup_hash(&account.name, &def, &contents);
        // A reference the caller may not read reuses nothing either.
        if dedup
            && problems.is_empty()
            && let Some(row) = state
                .store
                .task_find_dedup(&account.name, &hash, now)
                .await?
        {
            rows.push(row);
            continue;
        }
        let failure = validate(state, &mut def, via, problems);
        let task = NewTask {
            key: new_key(),
            account: account.name.clone(),
            task_name: def.task_name,
            params: Value::Object(def.params),
            task_metas: def.task_metas,
            options: (!def.options.is_empty()).then_some(Value::Object(def.options)),
            dedup_hash: Some(hash),
            max_attempts: state.config.scheduler.max_attempts,
            created_at: now,
            expires_at: now.saturating_add(micros(retention)),
            waits_for: if failure.is_none() {
                waits_for
            } else {
                Vec::new()
            },
            failure,
            lease: None,
        };
        rows.push(task.row());
        fresh.push((rows.len() - 1, task));
    }
    check_limits(state, account, fresh.len()).await?;
    // Tasks this node will run at once: stored already claimed, each in a
    // worker slot free now, watched for changes (a cancel) from before
    // the insert.
    let mut starts = Vec::new();
    for (slot, task) in &mut fresh {
        if task.failure.is_some() || !task.waits_for.is_empty() {
            continue;
        }
        let Some(worker) = state.scheduler.take_slot(&account.name) else {
            break;
        };
        task.lease = Some(state.scheduler.lease(now));
        rows[*slot] = task.row();
        starts.push((*slot, worker, state.store.subscribe()));
    }
    // In request order, committed together (one fsync for the request,
    // shared with other creates in flight). Answered from what was
    // stored, without reading it back.
    let tasks = fresh.into_iter().map(|(_, task)| task).collect();
    state.store.task_insert_many(tasks).await?;
    for (slot, worker, changes) in starts {
        state.scheduler.start(rows[slot].clone(), worker, changes);
    }
    Ok(rows)
}

/// Rewrite each `drake:$N/` in `params` to `drake:KEY/`, KEY being the
/// key of the request's task `N` among the `earlier` ones. An index that
/// names no earlier task is left as written, for [`check_references`] to
/// refuse.
fn resolve_indices(params: &mut Map<String, Value>, earlier: &[TaskRow]) {
    fn visit(value: &mut Value, earlier: &[TaskRow]) {
        match value {
            Value::String(s) if s.contains("drake:$") => {
                let mut out = String::with_capacity(s.len());
                let mut rest = s.as_str();
                while let Some(at) = rest.find("drake:$") {
                    let (before, tail) = rest.split_at(at);
                    out.push_str(before);
                    let digits = &tail["drake:$".len()..];
                    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
                    let row = digits[..n]
                        .parse::<usize>()
                        .ok()
                        .filter(|_| (1..=3).contains(&n) && digits[n..].starts_with('/'))
                        .and_then(|i| earlier.get(i));
                    match row {
                        Some(row) => {
                            out.push_str(crate::inputs::SCHEME);
                            out.push_str(&row.key);
                            rest = &digits[n..];
                        }
                        None => {
                            out.push_str("drake:$");
                            rest = digits;
                        }
                    }
                }
                out.push_str(rest);
                *s = out;
            }
            Value::Array(items) => items.iter_mut().for_each(|v| visit(v, earlier)),
            Value::Object(map) => map.values_mut().for_each(|v| visit(v, earlier)),
            _ => {}
        }
    }
    params.values_mut().for_each(|v| visit(v, earlier));
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Messages by parameter name (a failed task's `parameters`).
type Problems = BTreeMap<String, Vec<String>>;

/// Check the `drake:` references among a definition's parameters before
/// the task is stored, so a reference that cannot be read fails the task
/// at once, naming its parameter: the task must be the account's (or one
/// of the request's `own` tasks before this one), not have failed, and
/// once succeeded have that output. A task not finished yet is waited for.
/// An `api_key` (public: it sits in browser pages) or a signed URL may
/// refer only to its own request's tasks and to uploads made with an
/// `api_key` — not to the account's other tasks, whose keys it could have
/// learnt elsewhere.
async fn check_references(
    state: &AppState,
    (account, via): (&Account, Via),
    params: &Map<String, Value>,
    now: i64,
    own: &[TaskRow],
) -> Result<References, ApiError> {
    let mut problems = Problems::new();
    let mut contents = Vec::new();
    let mut waits_for = Vec::new();
    // A list may name one task many times (a GIF of the same frame): each
    // key is read once.
    let mut rows = std::collections::HashMap::<&str, Option<TaskRow>>::new();
    for (param, url) in crate::inputs::references(params) {
        let mut complain = |why: String| problems.entry(param.to_owned()).or_default().push(why);
        let reference = match Reference::parse(url) {
            Some(Ok(r)) => r,
            Some(Err(why)) => {
                complain(why);
                continue;
            }
            None => continue,
        };
        if reference.is_index() {
            complain(match own.len() {
                0 => format!(
                    "{reference}: the first task of a request has no earlier task to refer to"
                ),
                n => format!(
                    "{reference}: a task may refer only to the tasks before it in its request \
                     ($0 to ${})",
                    n - 1
                ),
            });
            continue;
        }
        let mine = own.iter().find(|r| r.key == reference.key);
        let row = match (mine, rows.get(reference.key)) {
            (Some(row), _) => Some(row),
            (None, Some(row)) => row.as_ref(),
            (None, None) => {
                let row = state
                    .store
                    .task_get(reference.key, now)
                    .await?
                    .filter(|row| row.account == account.name);
                rows.entry(reference.key).or_insert(row).as_ref()
            }
        };
        match row {
            Some(row) if !row.state.is_final() => {
                if !waits_for.iter().any(|k| k == &row.key) {
                    waits_for.push(row.key.clone());
                }
            }
            row => {
                if let Err(why) = crate::inputs::readable(&reference, row) {
                    complain(why);
                    continue;
                }
            }
        }
        let upload = row.filter(|r| r.task_name == UPLOAD_TASK);
        if let Some(sha256) = upload.and_then(|r| r.result.as_ref()?["sha256"].as_str())
            && !contents.iter().any(|(r, _)| r == url)
        {
            contents.push((url.to_owned(), format!("upload:sha256:{sha256}")));
        }
        let public_upload = upload.is_some_and(|r| r.params["via"] == "api_key");
        if via != Via::Secret && !public_upload && mine.is_none() {
            complain(format!(
                "{reference}: a request made with an api_key may refer only to its own tasks \
                 and to uploads made with an api_key (the account's other tasks need its secret)"
            ));
        }
    }
    Ok(References {
        problems,
        contents,
        waits_for,
    })
}

/// What [`check_references`] found.
struct References {
    /// Why references cannot be read, by parameter.
    problems: Problems,
    /// Each readable upload reference, and its content (for dedup).
    contents: Vec<(String, String)>,
    /// The keys of the unfinished tasks it reads.
    waits_for: Vec<String>,
}

/// Options only a secret may set: a callback is signed with the account's
/// secret, so an API key holder (the key is public) setting one would get
/// validly signed webhooks of its own making (this narrows api.md §6).
const SECRET_ONLY_OPTIONS: [&str; 2] = ["url_callback", "url_errback"];

/// Validate parameters against the component's schema right away, so a
/// bad definition ends in `error` without a worker (api.md §3). The
/// component validates again; this is the same code (drake-rules). Options
/// the credential may not set are refused by name and dropped, so the
/// failed task sends nothing.
fn validate(
    state: &AppState,
    def: &mut TaskDef,
    via: Via,
    mut problems: Problems,
) -> Option<TaskFailure> {
    if via != Via::Secret {
        for name in SECRET_ONLY_OPTIONS {
            if def.options.remove(name).is_some() {
                problems.entry(name.to_owned()).or_default().push(
                    "only a request with the account's secret may set it (callbacks are signed with the secret)"
                        .into(),
                );
            }
        }
    }
    // A template's fields that did not fit: the parameters are not
    // rendered, so only the fields are named.
    let rendered = def.problems.is_empty();
    problems.append(&mut def.problems);
    if rendered && let Some(task) = state.engine.task(&def.task_name) {
        problems.extend(drake_rules::validate::check_params(
            &Value::Object(def.params.clone()),
            &task.schema,
        ));
    }
    for (name, value) in &def.options {
        if !value.is_string() {
            problems
                .entry(name.clone())
                .or_default()
                .push("not a valid string".into());
        }
    }
    if let Some(metas) = &def.task_metas
        && !metas.is_object()
    {
        problems
            .entry("task_metas".into())
            .or_default()
            .push("not a valid object".into());
    }
    (!problems.is_empty()).then(|| TaskFailure {
        kind: FailureKind::InvalidParameters,
        public: serde_json::json!({ "parameters": problems }),
        detail: None,
    })
}
