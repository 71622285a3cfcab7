//! The task store: task rows, their state machine, and the [`TaskStore`]
//! trait that every backend (SQLite for one box, Postgres for many) implements
//! and that [`conformance`] exercises.
//!
//! # States
//!
//! ```text
//!            task_insert                task_claim
//!   (new) ─────────────► queued ───────────────────► running
//!     │                    ▲                            │
//!     │ task_insert        │ task_rescue_stuck          │ task_complete_if_running
//!     │ (invalid params)   │ (lease expired,            ├──────────────────────► succeeded
//!     ▼                    │  attempts left)            │ task_fail_if_running
//!   failed ◄───────────────┴── task_rescue_stuck ◄──────┴──────────────────────► failed
//!                             (no attempts left)
//!
//!   succeeded | failed ──task_delete_expired (expires_at passed)──► (deleted)
//! ```
//!
//! A task that reads other tasks' outputs (`drake:KEY/NAME`, inputs.rs)
//! before they finished is inserted `waiting`, which no claim takes:
//!
//! ```text
//!            task_insert             every input succeeded
//!   (new) ─────────────► waiting ─────────────────────────► queued
//!                           │ an input failed, was cancelled or vanished;
//!                           │ task_cancel
//!                           ▼
//!                         failed (naming the input)
//! ```
//!
//! The transition that finishes an input settles its waiting dependents in
//! the same transaction (`settle` in each backend; a failure travels down
//! a chain), and the rescuer's sweep settles any a dead node left behind.
//! A final task is not reaped while a dependent that reads it is unfinished.
//!
//! Every transition is a conditional `UPDATE` guarded by the current state
//! (and, out of `running`, the lease owner), so a worker that lost its lease
//! cannot overwrite the task another worker now runs. The schema repeats
//! the invariants as CHECK constraints.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(test)]
pub mod conformance;
mod fair;
pub mod postgres;
mod rows;
pub mod sqlite;
mod waits;

/// Microseconds since the Unix epoch (UTC). Every timestamp in the store.
pub type Micros = i64;

/// The current time in [`Micros`].
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A new task key (api.md §1): 128 bits from a CSPRNG, base32 without
/// padding (26 characters). Keys are capabilities, so unguessable; the
/// same randomness names nodes and the demo account's secret.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// Where a task is in its life. Not the wire status: see
/// `api::wire::Status` for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Created, waiting for other tasks whose outputs it reads (no worker
    /// holds it); becomes `queued` once they all succeeded, `failed` when
    /// one fails.
    Waiting,
    /// Created and durable, waiting for a worker. Entered on insert or by
    /// the rescuer; left by a claim.
    Queued,
    /// Claimed by the worker named in `lease_owner` until
    /// `lease_expires_at` (renewed by heartbeats). Left by completion,
    /// failure, or the rescuer when the lease expires.
    Running,
    /// Finished with a result. Terminal; reaped at `expires_at`.
    Succeeded,
    /// Finished with a failure. Terminal; reaped at `expires_at`.
    Failed,
}

impl TaskState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
        }
    }

    /// Whether the task is done.
    pub fn is_final(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed)
    }
}

impl FromStr for TaskState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "waiting" => TaskState::Waiting,
            "queued" => TaskState::Queued,
            "running" => TaskState::Running,
            "succeeded" => TaskState::Succeeded,
            "failed" => TaskState::Failed,
            other => return Err(Error::Corrupt(format!("unknown task state {other:?}"))),
        })
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task failed, stored on the row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// Machine-readable class.
    pub kind: FailureKind,
    /// What the status `result` shows: a string, or
    /// `{"parameters": {...}}`.
    pub public: Value,
    /// Operator-only detail (trap backtraces, stderr); never sent to
    /// clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Class of a [`TaskFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Parameter validation.
    InvalidParameters,
    /// Unusable input media.
    InvalidInput,
    /// A limit (input cap, memory, time) was reached.
    Limit,
    /// The task reported a failure.
    Failed,
    /// A trap or host problem.
    Internal,
    /// The account cancelled it (`POST /v1/cancel`).
    Cancelled,
}

/// An output file of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Object path in the blob store (`<KEY>/output.jpg`).
    pub path: String,
    /// Content type.
    pub content_type: String,
}

/// One task changed: what the store's notifications carry.
#[derive(Debug, Clone)]
pub struct Change {
    /// The task's key.
    pub key: String,
    /// The row as this change left it, when the backend has it at hand
    /// (SQLite's writes return it; a Postgres `NOTIFY` carries the key
    /// only): a waiter takes it instead of reading the task again.
    /// Notifications of two concurrent writes to one task may arrive in
    /// either order, so a final row is never replaced by a later-arriving
    /// running one ([`TaskRow::supersedes`]).
    pub row: Option<std::sync::Arc<TaskRow>>,
}

impl Change {
    /// A change known by its key only: subscribers read the task.
    pub fn key(key: impl Into<String>) -> Change {
        Change {
            key: key.into(),
            row: None,
        }
    }

    /// A change and the row it left.
    pub fn row(row: TaskRow) -> Change {
        Change {
            key: row.key.clone(),
            row: Some(std::sync::Arc::new(row)),
        }
    }
}

impl TaskRow {
    /// Whether this row, carried by a change notification, replaces
    /// `known`: always, unless `known` is final and this is not (a final
    /// task never changes again, so this is an earlier write's
    /// notification overtaken by the final one's).
    pub fn supersedes(&self, known: Option<&TaskRow>) -> bool {
        !known.is_some_and(|k| k.state.is_final() && !self.state.is_final())
    }

    /// Whether the task asked for a callback or errback.
    pub fn asks_callback(&self) -> bool {
        rows::initial_callback_due(self.options.as_ref()).is_some()
    }
}

/// A task row.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    /// The public key (26 chars base32): a capability.
    pub key: String,
    /// Owning account.
    pub account: String,
    /// Dragon task name.
    pub task_name: String,
    /// Parameters given to the component (auth and host options removed).
    pub params: Value,
    /// `task_metas` echoed in every status.
    pub task_metas: Option<Value>,
    /// Host options (`url_callback`, `url_errback`).
    pub options: Option<Value>,
    /// Hash of (account, task, normalised params) for create_file dedup.
    pub dedup_hash: Option<String>,
    /// State machine position.
    pub state: TaskState,
    /// Last reported progress, 0–100.
    pub progress: Option<u8>,
    /// Output values: partial while running, whole once succeeded.
    pub result: Option<Value>,
    /// Output files by name: partial while running.
    pub files: BTreeMap<String, OutputFile>,
    /// Set once failed.
    pub failure: Option<TaskFailure>,
    /// Claims so far (a rescued task is claimed again).
    pub attempt: u32,
    /// Claims allowed before a stuck task fails for good.
    pub max_attempts: u32,
    /// Worker holding the lease while running.
    pub lease_owner: Option<String>,
    /// Lease end while running.
    pub lease_expires_at: Option<Micros>,
    /// Insert time (`events.queued`).
    pub created_at: Micros,
    /// First claim (`events.started`).
    pub started_at: Option<Micros>,
    /// Terminal transition (`events.completed`).
    pub finalized_at: Option<Micros>,
    /// After this the task and its files are gone (404).
    pub expires_at: Micros,
    /// What the run used (set when a run ended).
    pub usage: Option<Usage>,
    /// When the account asked to cancel it while it ran (the running node
    /// ends it).
    pub cancel_requested: Option<Micros>,
}

/// What one run of a task used, measured (never estimated): echoed as
/// `usage` in final statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Wall time of the run, instantiation included.
    pub wall_ms: u64,
    /// CPU time: the guest's (thread CPU time while wasmtime ran it) plus
    /// every ffmpeg process's user + system time (rusage at reaping).
    pub cpu_ms: u64,
    /// The guest's linear-memory high-water mark plus the largest resident
    /// set of its ffmpeg processes (they run one at a time, while the
    /// guest's memory stays allocated).
    pub peak_memory_bytes: u64,
    /// Bytes fetched from the network.
    pub bytes_in: u64,
    /// Bytes of the output files published.
    pub bytes_out: u64,
}

/// A task to insert.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Public key.
    pub key: String,
    /// Owning account.
    pub account: String,
    /// Task name.
    pub task_name: String,
    /// Component parameters.
    pub params: Value,
    /// Echoed metadata.
    pub task_metas: Option<Value>,
    /// Host options.
    pub options: Option<Value>,
    /// Dedup hash.
    pub dedup_hash: Option<String>,
    /// Claims allowed.
    pub max_attempts: u32,
    /// Insert time.
    pub created_at: Micros,
    /// Expiry.
    pub expires_at: Micros,
    /// `Some` to insert the task already failed (parameter errors found
    /// at create time).
    pub failure: Option<TaskFailure>,
    /// `Some` to insert the task already claimed (running, first attempt)
    /// by a node with a free worker slot; ignored with `failure` or
    /// `waits_for`.
    pub lease: Option<Lease>,
    /// Keys of the tasks whose outputs it reads that had not succeeded at
    /// create time: non-empty inserts it `waiting` (ignored with
    /// `failure`).
    pub waits_for: Vec<String>,
}

/// A claim's lease: who runs the task, and until when unless renewed.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// The node (`lease_owner`).
    pub owner: String,
    /// `lease_expires_at`.
    pub expires_at: Micros,
}

/// What an insert stores for a new task's state: queued, failed (at
/// create time) or claimed.
pub(crate) struct Initial<'a> {
    pub state: TaskState,
    pub finalized_at: Option<Micros>,
    pub failure: Option<&'a TaskFailure>,
    pub lease: Option<&'a Lease>,
    /// `attempt` and `started_at` (claimed: the first attempt, now).
    pub attempt: u32,
    pub started_at: Option<Micros>,
}

impl NewTask {
    /// The row an insert of this task stores, as `task_get` would read it
    /// back right after: a create answers from it without reading.
    pub(crate) fn initial(&self) -> Initial<'_> {
        let queued = Initial {
            state: TaskState::Queued,
            finalized_at: None,
            failure: None,
            lease: None,
            attempt: 0,
            started_at: None,
        };
        match (&self.failure, &self.lease) {
            (None, _) if !self.waits_for.is_empty() => Initial {
                state: TaskState::Waiting,
                ..queued
            },
            (Some(f), _) => Initial {
                state: TaskState::Failed,
                finalized_at: Some(self.created_at),
                failure: Some(f),
                ..queued
            },
            (None, Some(lease)) => Initial {
                state: TaskState::Running,
                lease: Some(lease),
                attempt: 1,
                started_at: Some(self.created_at),
                ..queued
            },
            (None, None) => queued,
        }
    }

    pub fn row(&self) -> TaskRow {
        let initial = self.initial();
        TaskRow {
            key: self.key.clone(),
            account: self.account.clone(),
            task_name: self.task_name.clone(),
            params: self.params.clone(),
            task_metas: self.task_metas.clone(),
            options: self.options.clone(),
            dedup_hash: self.dedup_hash.clone(),
            state: initial.state,
            progress: None,
            result: None,
            files: BTreeMap::new(),
            failure: initial.failure.cloned(),
            attempt: initial.attempt,
            max_attempts: self.max_attempts,
            lease_owner: initial.lease.map(|l| l.owner.clone()),
            lease_expires_at: initial.lease.map(|l| l.expires_at),
            created_at: self.created_at,
            started_at: initial.started_at,
            finalized_at: initial.finalized_at,
            expires_at: self.expires_at,
            usage: None,
            cancel_requested: None,
        }
    }
}

/// Arguments of [`TaskStore::task_claim`].
#[derive(Debug, Clone)]
pub struct ClaimParams {
    /// The claiming worker.
    pub owner: String,
    /// Claim time.
    pub now: Micros,
    /// Lease end.
    pub lease_expires_at: Micros,
    /// How many tasks at most.
    pub limit: u32,
    /// The configured accounts' parts in claims (empty: oldest first).
    pub shares: std::sync::Arc<[Share]>,
    /// Claim only for accounts with nothing running (a spare slot).
    pub idle_only: bool,
}

/// An account's part in claims (store/fair.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Account name.
    pub account: String,
    /// Its weight: an account of share 2 holds twice the workers of one
    /// of share 1 while both have work.
    pub share: u32,
    /// Its running tasks at most, across nodes (`None`: no limit).
    pub max_running: Option<u32>,
}

/// Arguments of [`TaskStore::task_progress_if_running`].
#[derive(Debug, Clone)]
pub struct ProgressParams {
    /// Task key.
    pub key: String,
    /// Lease owner.
    pub owner: String,
    /// New progress, if changed.
    pub progress: Option<u8>,
    /// Values to merge into the partial result.
    pub values: Option<serde_json::Map<String, Value>>,
    /// A file to add to the partial result.
    pub file: Option<(String, OutputFile)>,
}

/// Arguments of [`TaskStore::task_complete_if_running`].
#[derive(Debug, Clone)]
pub struct CompleteParams {
    /// Task key.
    pub key: String,
    /// Lease owner.
    pub owner: String,
    /// Output values.
    pub values: serde_json::Map<String, Value>,
    /// What the run used.
    pub usage: Usage,
    /// Completion time.
    pub now: Micros,
}

/// What the rescuer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueOutcome {
    /// Keys put back in the queue.
    pub requeued: Vec<String>,
    /// Keys failed for good (attempts exhausted).
    pub failed: Vec<String>,
}

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A row does not decode.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The store takes no more writes for now (its queue is full): the
    /// caller should come back shortly.
    #[error("the store is overloaded: {0}")]
    Overloaded(&'static str),
    /// An unsupported store URL.
    #[error("unsupported store URL {0:?} (expected sqlite://PATH or postgres://…)")]
    UnsupportedUrl(String),
}

/// Store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A task store backend. Every state change goes through a `task_*`
/// method; nothing else writes `state`.
#[async_trait::async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Insert a task; durable when this returns.
    async fn task_insert(&self, task: NewTask) -> Result<()>;
    /// Insert tasks in order (one request's), committed together; durable
    /// when this returns.
    async fn task_insert_many(&self, tasks: Vec<NewTask>) -> Result<()>;
    /// A task by key, unless expired at `now`.
    async fn task_get(&self, key: &str, now: Micros) -> Result<Option<TaskRow>>;
    /// The newest unexpired task with this dedup hash that has not failed
    /// (succeeded, or still in flight: identical requests share one run).
    async fn task_find_dedup(
        &self,
        account: &str,
        hash: &str,
        now: Micros,
    ) -> Result<Option<TaskRow>>;
    /// The newest `limit` unexpired tasks of `account`, newest first (the
    /// dashboard's recent tasks).
    async fn task_list_recent(
        &self,
        account: &str,
        now: Micros,
        limit: u32,
    ) -> Result<Vec<TaskRow>>;
    /// Tasks created by `account` since `since` (account limits).
    async fn task_count_created_since(&self, account: &str, since: Micros) -> Result<u64>;
    /// Bytes of `account`'s uploads kept now (`max_stored_upload_bytes`):
    /// the `usage.bytes_in` of its unexpired `upload` tasks.
    async fn upload_bytes_kept(&self, account: &str, now: Micros) -> Result<u64>;
    /// Store template `name` of `account` (its JSON `body`) at `now`,
    /// replacing one of that name; whether it is new.
    async fn template_put(
        &self,
        account: &str,
        name: &str,
        body: &str,
        now: Micros,
    ) -> Result<bool>;
    /// Template `name` of `account`.
    async fn template_get(&self, account: &str, name: &str) -> Result<Option<StoredTemplate>>;
    /// Every template of `account`, by name.
    async fn template_list(&self, account: &str) -> Result<Vec<StoredTemplate>>;
    /// Delete template `name` of `account`; whether there was one.
    async fn template_delete(&self, account: &str, name: &str) -> Result<bool>;
    /// How many templates `account` has (`max_templates`).
    async fn template_count(&self, account: &str) -> Result<u64>;
    /// Tasks of `account` queued now (`max_queued`).
    async fn task_count_queued(&self, account: &str) -> Result<u64>;
    /// Claim up to `limit` queued tasks, accounts taking turns by share
    /// (store/fair.rs), each account's oldest first.
    async fn task_claim(&self, params: ClaimParams) -> Result<Vec<TaskRow>>;
    /// Extend the lease; false if the lease was lost.
    async fn task_heartbeat_if_running(
        &self,
        key: &str,
        owner: &str,
        lease_expires_at: Micros,
    ) -> Result<bool>;
    /// Record progress / partial results; false if the lease was lost.
    async fn task_progress_if_running(&self, params: ProgressParams) -> Result<bool>;
    /// Finish with success; false if the lease was lost.
    async fn task_complete_if_running(&self, params: CompleteParams) -> Result<bool>;
    /// Finish with failure (and what the run used, when it ran); false if
    /// the lease was lost.
    async fn task_fail_if_running(
        &self,
        key: &str,
        owner: &str,
        failure: &TaskFailure,
        usage: Option<&Usage>,
        now: Micros,
    ) -> Result<bool>;
    /// Cancel task `key` of `account` at `now`: a queued task fails at once
    /// with `failure`; a running one is marked (`cancel_requested`, which
    /// notifies), and the node running it ends the run and records it
    /// failed; a final one is left as it is. Returns the state the task was
    /// found in, or `None` when `account` has no such unexpired task.
    async fn task_cancel(
        &self,
        key: &str,
        account: &str,
        failure: &TaskFailure,
        now: Micros,
    ) -> Result<Option<TaskState>>;
    /// Re-queue (or fail, when out of attempts) running tasks whose lease
    /// expired before `now`.
    async fn task_rescue_stuck(&self, now: Micros) -> Result<RescueOutcome>;
    /// Delete tasks expired at `now`; returns their keys (to delete their
    /// files).
    async fn task_delete_expired(&self, now: Micros) -> Result<Vec<String>>;
    /// Subscribe to "task K changed" notifications (every node's changes
    /// on a shared backend).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change>;
    /// Durable commits this node made for creates (each one fsync), when
    /// the backend counts them (`/metrics`: group commit at work).
    fn durable_commits(&self) -> Option<u64> {
        None
    }
    /// A cheap liveness query for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// Rows by task name and state, `(task_name, state, count)` sorted
    /// (`/metrics`).
    async fn task_counts(&self) -> Result<Vec<(String, String, u64)>>;
    /// Claim up to `limit` unexpired final tasks whose callback is due at
    /// `now`, moving their due time to `lease_until`: a node that dies
    /// mid-delivery leaves them to whichever node claims them next.
    async fn callbacks_claim(
        &self,
        now: Micros,
        lease_until: Micros,
        limit: u32,
    ) -> Result<Vec<DueCallback>>;
    /// After a delivery attempt: when the next is due (`None`: delivered,
    /// refused or given up) and how many were made.
    async fn callback_record(
        &self,
        key: &str,
        next_due: Option<Micros>,
        attempts: u32,
    ) -> Result<()>;
}

/// A stored template (templates.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTemplate {
    /// Its JSON.
    pub body: String,
    /// First stored.
    pub created_at: Micros,
    /// Last replaced.
    pub updated_at: Micros,
}

/// A final task whose callback delivery was claimed.
#[derive(Debug, Clone)]
pub struct DueCallback {
    /// The task.
    pub task: TaskRow,
    /// Attempts already made.
    pub attempts: u32,
}

/// Open the store named by `url`.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn TaskStore>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(path).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            postgres::PostgresStore::open(url).await?,
        ))
    } else {
        Err(Error::UnsupportedUrl(url.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_26_base32_chars() {
        let k = super::new_key();
        assert_eq!(k.len(), 26);
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert_ne!(super::new_key(), k);
    }
}
