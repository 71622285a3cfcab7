//! SQLite [`TaskStore`]: the embedded, zero-setup default.
//!
//! WAL journal with `synchronous = FULL`, so a create is on disk before it
//! is acknowledged. Claims are one `UPDATE … WHERE id IN (SELECT … LIMIT n)
//! RETURNING` statement, atomic under SQLite's single writer. Change
//! notifications are an in-process broadcast: one SQLite file serves one
//! node.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Row as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection as _, SqlitePool};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::fair;
use super::rows::{self, row_to_task, to_json};
use super::waits;
use super::{
    Change, ClaimParams, CompleteParams, DueCallback, Error, Micros, NewTask, ProgressParams,
    RescueOutcome, Result, StoredTemplate, TaskFailure, TaskRow, TaskState, TaskStore, Usage,
};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("sql/sqlite_0001_init.sql"),
    include_str!("sql/sqlite_0002_usage.sql"),
    include_str!("sql/sqlite_0003_callbacks.sql"),
    include_str!("sql/sqlite_0004_cancel.sql"),
    include_str!("sql/sqlite_0005_fair.sql"),
    include_str!("sql/sqlite_0006_uploads.sql"),
    include_str!("sql/sqlite_0007_waiting.sql"),
    include_str!("sql/sqlite_0008_templates.sql"),
];

/// Notification fan-out buffer: a slow subscriber that falls this far
/// behind re-reads its tasks instead (broadcast `Lagged`).
const NOTIFY_CAPACITY: usize = 4096;

/// The SQLite task store.
///
/// # Durability
///
/// Two pools on one WAL database. `durable` connections commit with
/// `synchronous = FULL` (the WAL is fsynced): creates go there, in groups
/// ([`commit_inserts`]), so an acknowledged task survives power loss. Every other write (claims,
/// progress, completion) uses `pool` with `synchronous = NORMAL`: it
/// survives a process crash, and after a power cut the worst case is a
/// task that runs again — the at-least-once semantics leases already give.
/// WAL frames are written in order, so the next FULL commit makes every
/// earlier NORMAL commit durable too. This keeps one fsync, not three, on
/// a task's path (an fsync costs milliseconds on common disks).
pub struct SqliteStore {
    pool: SqlitePool,
    changes: broadcast::Sender<Change>,
    /// Inserts waiting for the group committer (see [`commit_inserts`]).
    inserts: mpsc::Sender<PendingInsert>,
    /// Durable commits made so far (each one fsync).
    commits: Arc<AtomicU64>,
}

/// A task to insert, and who waits for it to be durable.
type PendingInsert = (NewTask, oneshot::Sender<Result<()>>);

/// Inserts queued for the committer; past it a create is refused as
/// overloaded (503 + Retry-After): far more than the creates one node
/// has in flight while its disk keeps up.
const INSERT_QUEUE: usize = 4096;

/// Most inserts one commit takes: bounds one transaction's length.
const MAX_GROUP: usize = 512;

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and migrate it.
    /// `:memory:` gives a private in-memory database (tests).
    pub async fn open(path: &str) -> Result<Self> {
        let memory = path == ":memory:";
        let options = if memory {
            SqliteConnectOptions::from_str("sqlite::memory:")?
        } else {
            if let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Corrupt(format!("cannot create {}: {e}", dir.display())))?;
            }
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        }
        // Writers queue on SQLite's lock instead of failing at once.
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
        // Switch to WAL and migrate on one connection before the pool opens
        // more: changing the journal mode with other connections open fails
        // with SQLITE_BUSY instead of waiting.
        if !memory {
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            migrate(&mut conn).await?;
            sqlx::Connection::close(conn).await?;
        }
        let pool_options = || {
            SqlitePoolOptions::new()
                // An in-memory database exists per connection: keep one.
                .max_connections(if memory { 1 } else { 8 })
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                // A local file's connection cannot go stale, and the
                // ping would cost a round trip to its thread per query.
                .test_before_acquire(false)
        };
        let pool = pool_options().connect_with(options.clone()).await?;
        let durable = if memory {
            pool.clone()
        } else {
            pool_options()
                .max_connections(4)
                .connect_with(options.synchronous(SqliteSynchronous::Full))
                .await?
        };
        let (inserts, queued) = mpsc::channel(INSERT_QUEUE);
        let store = SqliteStore {
            pool,
            changes: broadcast::channel(NOTIFY_CAPACITY).0,
            inserts,
            commits: Arc::default(),
        };
        tokio::spawn(commit_inserts(
            durable,
            queued,
            store.changes.clone(),
            store.commits.clone(),
        ));
        if memory {
            let mut conn = store.pool.acquire().await?;
            migrate(&mut conn).await?;
        }
        Ok(store)
    }

    fn notify(&self, change: Change) {
        // No subscriber is fine.
        let _ = self.changes.send(change);
    }

    /// Notify the change a write returned `row` for; whether it changed
    /// a row at all.
    fn notify_row(&self, row: Option<&SqliteRow>) -> Result<bool> {
        let Some(row) = row else { return Ok(false) };
        self.notify(Change::row(row_to_task(row)?));
        Ok(true)
    }

    /// End a transition: settle the dependents of the task `row` (the one
    /// the transition changed, if it did) in its transaction `tx`, commit,
    /// and notify both. Whether the transition changed a row.
    async fn finish(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        row: Option<SqliteRow>,
        now: Micros,
    ) -> Result<bool> {
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let task = row_to_task(&row)?;
        let settled = settle(&mut tx, vec![task.key.clone()], now).await?;
        tx.commit().await?;
        self.notify(Change::row(task));
        for row in settled {
            self.notify(Change::row(row));
        }
        Ok(true)
    }

    /// Durable commits made so far: each is one fsync of the WAL, shared by
    /// every insert it took.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

/// Group commit: acknowledged creates must be on disk (one fsync each,
/// `synchronous = FULL`), so inserts that arrive while a commit is in
/// flight wait and go together in the next one. A lone insert commits at
/// once (nothing waits for company); under load, the fsyncs per task fall
/// far below one. Insert order is arrival order (claims go oldest first).
async fn commit_inserts(
    durable: SqlitePool,
    mut queued: mpsc::Receiver<PendingInsert>,
    changes: broadcast::Sender<Change>,
    commits: Arc<AtomicU64>,
) {
    while let Some(first) = queued.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP
            && let Ok(next) = queued.try_recv()
        {
            group.push(next);
        }
        let outcomes = insert_group(&durable, &group).await;
        commits.fetch_add(1, Ordering::Relaxed);
        for ((task, reply), outcome) in group.into_iter().zip(outcomes) {
            let outcome = outcome.map(|settled| {
                let _ = changes.send(Change::row(task.row()));
                for row in settled {
                    let _ = changes.send(Change::row(row));
                }
            });
            let _ = reply.send(outcome);
        }
    }
}

/// Insert `group` in one transaction (a lone insert that waits for no
/// input is one statement, atomic by itself): each insert's own outcome
/// (a duplicate key fails that insert only) with the rows it settled, or
/// the commit's error for all.
async fn insert_group(durable: &SqlitePool, group: &[PendingInsert]) -> Vec<Result<Vec<TaskRow>>> {
    if let [(task, _)] = group
        && task.waits_for.is_empty()
    {
        let outcome = match durable.acquire().await {
            Ok(mut conn) => insert_one(&mut conn, task).await,
            Err(e) => Err(Error::Corrupt(format!("commit failed: {e}"))),
        };
        return vec![outcome];
    }
    let failed_all = |e: &sqlx::Error| {
        group
            .iter()
            .map(|_| Err(Error::Corrupt(format!("commit failed: {e}"))))
            .collect()
    };
    let mut tx = match durable.begin().await {
        Ok(tx) => tx,
        Err(e) => return failed_all(&e),
    };
    let mut outcomes = Vec::with_capacity(group.len());
    for (task, _) in group {
        outcomes.push(insert_one(&mut tx, task).await);
    }
    match tx.commit().await {
        Ok(()) => outcomes,
        Err(e) => failed_all(&e),
    }
}

/// Insert `task`; a waiting one also records its inputs and is settled at
/// once against them (an input of another request may have finished
/// since the create checked it): the rows that changed.
async fn insert_one(tx: &mut sqlx::SqliteConnection, task: &NewTask) -> Result<Vec<TaskRow>> {
    let initial = task.initial();
    sqlx::query(
        "INSERT INTO tasks (key, account, task_name, params, task_metas, options, dedup_hash, \
         state, failure, max_attempts, created_at, finalized_at, expires_at, callback_due, \
         attempt, started_at, lease_owner, lease_expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&task.key)
    .bind(&task.account)
    .bind(&task.task_name)
    .bind(to_json(&task.params)?)
    .bind(task.task_metas.as_ref().map(to_json).transpose()?)
    .bind(task.options.as_ref().map(to_json).transpose()?)
    .bind(&task.dedup_hash)
    .bind(initial.state.as_str())
    .bind(initial.failure.map(to_json).transpose()?)
    .bind(i64::from(task.max_attempts))
    .bind(task.created_at)
    .bind(initial.finalized_at)
    .bind(task.expires_at)
    .bind(rows::initial_callback_due(task.options.as_ref()))
    .bind(i64::from(initial.attempt))
    .bind(initial.started_at)
    .bind(initial.lease.map(|l| l.owner.as_str()))
    .bind(initial.lease.map(|l| l.expires_at))
    .execute(&mut *tx)
    .await?;
    if initial.state != TaskState::Waiting {
        return Ok(Vec::new());
    }
    for upstream in &task.waits_for {
        sqlx::query("INSERT OR IGNORE INTO task_inputs (task_key, upstream_key) VALUES (?, ?)")
            .bind(&task.key)
            .bind(upstream)
            .execute(&mut *tx)
            .await?;
    }
    settle(tx, task.waits_for.clone(), task.created_at).await
}

/// Settle the waiting dependents of `finished` (tasks that just ended, or
/// a new task's inputs), in the caller's transaction: each is released to
/// the queue once all its inputs succeeded, or failed naming an input that
/// failed or is gone — and its own dependents then fail in turn. Inputs
/// still unfinished leave their dependents waiting. Returns the rows it
/// changed (to notify).
async fn settle(
    conn: &mut sqlx::SqliteConnection,
    finished: Vec<String>,
    now: Micros,
) -> Result<Vec<TaskRow>> {
    let mut changed = Vec::new();
    let mut pending = finished;
    while let Some(upstream) = pending.pop() {
        let found: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT state, failure FROM tasks WHERE key = ?")
                .bind(&upstream)
                .fetch_optional(&mut *conn)
                .await?;
        let state = found
            .as_ref()
            .map(|(s, _)| TaskState::from_str(s))
            .transpose()?;
        let rows = match state {
            Some(TaskState::Succeeded) => {
                sqlx::query(&format!(
                    "UPDATE tasks SET state = 'queued' WHERE state = 'waiting' \
                     AND key IN (SELECT task_key FROM task_inputs WHERE upstream_key = ?) \
                     AND NOT EXISTS (SELECT 1 FROM task_inputs i \
                       LEFT JOIN tasks u ON u.key = i.upstream_key \
                       WHERE i.task_key = tasks.key AND (u.state IS NULL OR u.state <> 'succeeded')) \
                     RETURNING {COLUMNS}"
                ))
                .bind(&upstream)
                .fetch_all(&mut *conn)
                .await?
            }
            Some(TaskState::Failed) | None => {
                let theirs = found
                    .and_then(|(_, f)| f)
                    .map(|f| serde_json::from_str::<TaskFailure>(&f))
                    .transpose()
                    .map_err(|e| Error::Corrupt(e.to_string()))?;
                let failure = waits::upstream_failed(&upstream, state, theirs.as_ref());
                let rows = sqlx::query(&format!(
                    "UPDATE tasks SET state = 'failed', failure = ?, usage = ?, progress = NULL, \
                     finalized_at = ? WHERE state = 'waiting' \
                     AND key IN (SELECT task_key FROM task_inputs WHERE upstream_key = ?) \
                     RETURNING {COLUMNS}"
                ))
                .bind(to_json(&failure)?)
                .bind(to_json(&Usage::default())?)
                .bind(now)
                .bind(&upstream)
                .fetch_all(&mut *conn)
                .await?;
                for row in &rows {
                    pending.push(row.try_get("key")?);
                }
                rows
            }
            Some(TaskState::Waiting | TaskState::Queued | TaskState::Running) => Vec::new(),
        };
        for row in &rows {
            changed.push(row_to_task(row)?);
        }
    }
    Ok(changed)
}

/// Apply the migrations `PRAGMA user_version` says are missing.
async fn migrate(conn: &mut sqlx::SqliteConnection) -> Result<()> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?;
    let applied = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::raw_sql(&format!("PRAGMA user_version = {}", i + 1))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

const COLUMNS: &str = "key, account, task_name, params, task_metas, options, dedup_hash, state, \
     progress, result, files, failure, attempt, max_attempts, lease_owner, lease_expires_at, \
     created_at, started_at, finalized_at, expires_at, usage, cancel_requested";

#[async_trait::async_trait]
impl TaskStore for SqliteStore {
    async fn task_insert(&self, task: NewTask) -> Result<()> {
        self.task_insert_many(vec![task]).await
    }

    async fn task_insert_many(&self, tasks: Vec<NewTask>) -> Result<()> {
        // Queued in order, then awaited: the committer takes them in one
        // group (with whatever else is waiting).
        let gone = || Error::Corrupt("the store is closing".into());
        let mut waiting = Vec::with_capacity(tasks.len());
        for task in tasks {
            let (reply, done) = oneshot::channel();
            self.inserts.try_send((task, reply)).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    Error::Overloaded("more creates waiting for the disk than it commits")
                }
                mpsc::error::TrySendError::Closed(_) => gone(),
            })?;
            waiting.push(done);
        }
        for done in waiting {
            done.await.map_err(|_| gone())??;
        }
        Ok(())
    }

    async fn task_get(&self, key: &str, now: Micros) -> Result<Option<TaskRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE key = ? AND expires_at > ?"
        ))
        .bind(key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_task).transpose()
    }

    async fn task_find_dedup(
        &self,
        account: &str,
        hash: &str,
        now: Micros,
    ) -> Result<Option<TaskRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE account = ? AND dedup_hash = ? \
             AND state <> 'failed' AND expires_at > ? ORDER BY id DESC LIMIT 1"
        ))
        .bind(account)
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_task).transpose()
    }

    async fn task_list_recent(
        &self,
        account: &str,
        now: Micros,
        limit: u32,
    ) -> Result<Vec<TaskRow>> {
        // tasks_account_created, walked backwards; id breaks ties in a
        // microsecond.
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE account = ? AND expires_at > ? \
             ORDER BY created_at DESC, id DESC LIMIT ?"
        ))
        .bind(account)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_task).collect()
    }

    async fn task_count_created_since(&self, account: &str, since: Micros) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE account = ? AND created_at >= ?")
                .bind(account)
                .bind(since)
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn upload_bytes_kept(&self, account: &str, now: Micros) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(json_extract(usage, '$.bytes_in')), 0) FROM tasks \
             WHERE account = ? AND task_name = 'upload' AND expires_at > ? \
             AND state = 'succeeded'",
        )
        .bind(account)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn template_put(
        &self,
        account: &str,
        name: &str,
        body: &str,
        now: Micros,
    ) -> Result<bool> {
        let created: i64 = sqlx::query_scalar(
            "INSERT INTO templates (account, name, body, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (account, name) \
             DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at \
             RETURNING created_at",
        )
        .bind(account)
        .bind(name)
        .bind(body)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(created == now)
    }

    async fn template_get(&self, account: &str, name: &str) -> Result<Option<StoredTemplate>> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT body, created_at, updated_at FROM templates WHERE account = ? AND name = ?",
        )
        .bind(account)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(rows::template))
    }

    async fn template_list(&self, account: &str) -> Result<Vec<StoredTemplate>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT body, created_at, updated_at FROM templates WHERE account = ? ORDER BY name",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(rows::template).collect())
    }

    async fn template_delete(&self, account: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM templates WHERE account = ? AND name = ?")
            .bind(account)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn template_count(&self, account: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM templates WHERE account = ?")
            .bind(account)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn task_count_queued(&self, account: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE account = ? AND state IN ('queued', 'waiting')",
        )
        .bind(account)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn task_claim(&self, params: ClaimParams) -> Result<Vec<TaskRow>> {
        let Some(sql) = fair::claim_sql(fair::Dialect::Sqlite, &params, COLUMNS) else {
            return Ok(Vec::new());
        };
        let mut tasks = Vec::new();
        while tasks.len() < params.limit as usize {
            // One statement: SQLite runs one writer at a time, so the pick
            // and the update see the same counts.
            let mut query = sqlx::query(&sql);
            for share in params.shares.iter() {
                let (account, weight, max_running) = fair::binds(share);
                query = query.bind(account).bind(weight).bind(max_running);
            }
            let row = query
                .bind(&params.owner)
                .bind(params.lease_expires_at)
                .bind(params.now)
                .fetch_optional(&self.pool)
                .await?;
            match row {
                Some(row) => tasks.push(row_to_task(&row)?),
                None => break,
            }
        }
        for t in &tasks {
            self.notify(Change::row(t.clone()));
        }
        Ok(tasks)
    }

    async fn task_heartbeat_if_running(
        &self,
        key: &str,
        owner: &str,
        lease_expires_at: Micros,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET lease_expires_at = ? \
             WHERE key = ? AND state = 'running' AND lease_owner = ?",
        )
        .bind(lease_expires_at)
        .bind(key)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn task_progress_if_running(&self, p: ProgressParams) -> Result<bool> {
        // One statement (merge in SQL), so no read-then-write transaction
        // can deadlock against another writer.
        let values = p
            .values
            .filter(|v| !v.is_empty())
            .map(|v| to_json(&v))
            .transpose()?;
        // File names come from the task's declared outputs (checked by the
        // blobs capability), so they are safe inside a JSON path.
        let (file_path, file) = match &p.file {
            Some((name, file)) => (Some(format!("$.\"{name}\"")), Some(to_json(file)?)),
            None => (None, None),
        };
        let row = sqlx::query(&format!(
            "UPDATE tasks SET progress = COALESCE(?1, progress), \
             result = CASE WHEN ?2 IS NULL THEN result ELSE json_patch(COALESCE(result, '{{}}'), ?2) END, \
             files = CASE WHEN ?3 IS NULL THEN files ELSE json_set(files, ?3, json(?4)) END \
             WHERE key = ?5 AND state = 'running' AND lease_owner = ?6 RETURNING {COLUMNS}"
        ))
        .bind(p.progress.map(i64::from))
        .bind(values)
        .bind(file_path)
        .bind(file)
        .bind(&p.key)
        .bind(&p.owner)
        .fetch_optional(&self.pool)
        .await?;
        self.notify_row(row.as_ref())
    }

    async fn task_complete_if_running(&self, p: CompleteParams) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE tasks SET state = 'succeeded', result = ?, usage = ?, progress = NULL, \
             finalized_at = ?, lease_owner = NULL, lease_expires_at = NULL \
             WHERE key = ? AND state = 'running' AND lease_owner = ? RETURNING {COLUMNS}"
        ))
        .bind(to_json(&p.values)?)
        .bind(to_json(&p.usage)?)
        .bind(p.now)
        .bind(&p.key)
        .bind(&p.owner)
        .fetch_optional(&mut *tx)
        .await?;
        self.finish(tx, row, p.now).await
    }

    async fn task_fail_if_running(
        &self,
        key: &str,
        owner: &str,
        failure: &TaskFailure,
        usage: Option<&Usage>,
        now: Micros,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE tasks SET state = 'failed', failure = ?, usage = ?, progress = NULL, \
             finalized_at = ?, lease_owner = NULL, lease_expires_at = NULL \
             WHERE key = ? AND state = 'running' AND lease_owner = ? RETURNING {COLUMNS}"
        ))
        .bind(to_json(failure)?)
        .bind(usage.map(to_json).transpose()?)
        .bind(now)
        .bind(key)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
        self.finish(tx, row, now).await
    }

    async fn task_cancel(
        &self,
        key: &str,
        account: &str,
        failure: &TaskFailure,
        now: Micros,
    ) -> Result<Option<TaskState>> {
        // Each statement is atomic and guarded by the state it changes, so
        // a claim between the two finds the task running and marked.
        let mut tx = self.pool.begin().await?;
        let queued = sqlx::query(&format!(
            "UPDATE tasks SET state = 'failed', failure = ?, usage = ?, progress = NULL, \
             finalized_at = ? WHERE key = ? AND account = ? AND expires_at > ? \
             AND state IN ('queued', 'waiting') RETURNING {COLUMNS}"
        ))
        .bind(to_json(failure)?)
        .bind(to_json(&Usage::default())?)
        .bind(now)
        .bind(key)
        .bind(account)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let found = if queued.is_some() {
            // What it was: a waiting task cancelled reads as queued (its
            // wire status).
            self.finish(tx, queued, now).await?;
            Some(TaskState::Queued)
        } else {
            tx.rollback().await?;
            let running = sqlx::query(&format!(
                "UPDATE tasks SET cancel_requested = COALESCE(cancel_requested, ?) \
                 WHERE key = ? AND account = ? AND expires_at > ? AND state = 'running' \
                 RETURNING {COLUMNS}"
            ))
            .bind(now)
            .bind(key)
            .bind(account)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if self.notify_row(running.as_ref())? {
                Some(TaskState::Running)
            } else {
                let state: Option<String> = sqlx::query_scalar(
                    "SELECT state FROM tasks WHERE key = ? AND account = ? AND expires_at > ?",
                )
                .bind(key)
                .bind(account)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                state.map(|s| TaskState::from_str(&s)).transpose()?
            }
        };
        Ok(found)
    }

    async fn task_rescue_stuck(&self, now: Micros) -> Result<RescueOutcome> {
        let failure = to_json(&super::rows::interrupted_too_often())?;
        let mut tx = self.pool.begin().await?;
        let failed: Vec<String> = sqlx::query_scalar(
            "UPDATE tasks SET state = 'failed', failure = ?, progress = NULL, finalized_at = ?, \
             lease_owner = NULL, lease_expires_at = NULL \
             WHERE state = 'running' AND lease_expires_at < ? AND attempt >= max_attempts \
             RETURNING key",
        )
        .bind(&failure)
        .bind(now)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let requeued: Vec<String> = sqlx::query_scalar(
            "UPDATE tasks SET state = 'queued', progress = NULL, lease_owner = NULL, \
             lease_expires_at = NULL \
             WHERE state = 'running' AND lease_expires_at < ? RETURNING key",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        // The dependents of tasks failed for good, and any a node left
        // waiting when it died between a transition and its settling.
        let mut finished = failed.clone();
        finished.extend(
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT i.upstream_key FROM tasks d \
                 JOIN task_inputs i ON i.task_key = d.key \
                 LEFT JOIN tasks u ON u.key = i.upstream_key \
                 WHERE d.state = 'waiting' AND (u.state IS NULL OR u.state IN ('succeeded', 'failed')) \
                 LIMIT ?",
            )
            .bind(waits::SWEEP_BATCH)
            .fetch_all(&mut *tx)
            .await?,
        );
        let settled = settle(&mut tx, finished, now).await?;
        tx.commit().await?;
        for key in failed.iter().chain(&requeued) {
            self.notify(Change::key(key.as_str()));
        }
        for row in settled {
            self.notify(Change::row(row));
        }
        Ok(RescueOutcome { requeued, failed })
    }

    async fn task_delete_expired(&self, now: Micros) -> Result<Vec<String>> {
        // A task whose unfinished dependents will read it stays until they
        // finish, past its own expiry.
        let keys: Vec<String> = sqlx::query_scalar(
            "DELETE FROM tasks WHERE expires_at <= ? AND NOT EXISTS (SELECT 1 FROM task_inputs i \
             JOIN tasks d ON d.key = i.task_key WHERE i.upstream_key = tasks.key \
             AND d.state IN ('waiting', 'queued', 'running')) RETURNING key",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(keys)
    }

    async fn callbacks_claim(
        &self,
        now: Micros,
        lease_until: Micros,
        limit: u32,
    ) -> Result<Vec<DueCallback>> {
        let rows = sqlx::query(&format!(
            "UPDATE tasks SET callback_due = ? \
             WHERE id IN (SELECT id FROM tasks WHERE callback_due IS NOT NULL \
             AND callback_due <= ? AND state IN ('succeeded', 'failed') AND expires_at > ? \
             ORDER BY callback_due LIMIT ?) \
             RETURNING {COLUMNS}, callback_attempts"
        ))
        .bind(lease_until)
        .bind(now)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let attempts: i64 = row.try_get("callback_attempts")?;
                Ok(DueCallback {
                    task: row_to_task(row)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn callback_record(
        &self,
        key: &str,
        next_due: Option<Micros>,
        attempts: u32,
    ) -> Result<()> {
        sqlx::query("UPDATE tasks SET callback_due = ?, callback_attempts = ? WHERE key = ?")
            .bind(next_due)
            .bind(i64::from(attempts))
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn durable_commits(&self) -> Option<u64> {
        Some(self.commits())
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn task_counts(&self) -> Result<Vec<(String, String, u64)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT task_name, state, COUNT(*) FROM tasks GROUP BY task_name, state \
             ORDER BY task_name, state",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(super::rows::counts(rows))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance_in_memory() {
        let store = SqliteStore::open(":memory:").await.unwrap();
        super::super::conformance::exercise(&store).await;
    }

    #[tokio::test]
    async fn conformance_on_disk_with_concurrent_claims() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        super::super::conformance::exercise(&store).await;
        super::super::conformance::concurrent_claims(&store).await;
    }

    /// 64 creates at once share commits (one fsync each), every one is
    /// durable and in arrival order; a duplicate fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_inserts_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db").to_str().unwrap())
            .await
            .unwrap();
        let keys: Vec<String> = (0..64).map(|i| format!("G{i:02}")).collect();
        let before = store.commits();
        // Created at 0, 1, 2, … µs: claims order by creation.
        let inserts = keys
            .iter()
            .zip(0..)
            .map(|(key, at)| store.task_insert(super::super::conformance::new_task(key, at)));
        for outcome in futures::future::join_all(inserts).await {
            outcome.unwrap();
        }
        let commits = store.commits() - before;
        assert!(commits < 32, "{commits} commits for 64 creates");
        for key in &keys {
            assert!(store.task_get(key, 1_000).await.unwrap().is_some(), "{key}");
        }
        let again = store
            .task_insert(super::super::conformance::new_task("G00", 1))
            .await;
        assert!(again.is_err(), "a duplicate key is refused");
        // Claims go in arrival order.
        let claimed = store
            .task_claim(ClaimParams {
                owner: "w".into(),
                now: 1_000,
                lease_expires_at: 10_000,
                limit: 64,
                shares: std::sync::Arc::from([]),
                idle_only: false,
            })
            .await
            .unwrap();
        let order: Vec<&str> = claimed.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(order, keys);
    }

    /// A node that died between an input's transition and its settling
    /// leaves a dependent waiting: the rescuer's sweep settles it.
    #[tokio::test]
    async fn the_rescuer_settles_what_a_dead_node_left_waiting() {
        use super::super::conformance::new_task;
        let store = SqliteStore::open(":memory:").await.unwrap();
        let mut up = new_task("U", 0);
        up.lease = Some(super::super::Lease {
            owner: "w".into(),
            expires_at: 1_000_000_000,
        });
        let mut ok = new_task("D1", 0);
        ok.waits_for = vec!["U".into()];
        let mut gone = new_task("D2", 0);
        gone.waits_for = vec!["U".into(), "V".into()];
        store.task_insert_many(vec![up, ok, gone]).await.unwrap();
        // V never existed: D2 failed at insert.
        let state = |key: &'static str| {
            let store = &store;
            async move { store.task_get(key, 1).await.unwrap().unwrap().state }
        };
        assert_eq!(state("D2").await, TaskState::Failed);
        sqlx::query(
            "UPDATE tasks SET state = 'succeeded', result = '{}', finalized_at = 1, \
             lease_owner = NULL, lease_expires_at = NULL WHERE key = 'U'",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        assert_eq!(state("D1").await, TaskState::Waiting);
        store.task_rescue_stuck(2).await.unwrap();
        assert_eq!(state("D1").await, TaskState::Queued);
    }

    /// A database made before waiting tasks existed migrates with its rows.
    #[tokio::test]
    async fn the_waiting_migration_keeps_rows() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        for sql in &MIGRATIONS[..6] {
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
        sqlx::raw_sql("PRAGMA user_version = 6")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO tasks (key, account, task_name, params, state, max_attempts, \
             created_at, expires_at, callback_due, cancel_requested) \
             VALUES ('k', 'a', 't', '{}', 'queued', 1, 5, 9, 0, 7)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrate(&mut conn).await.unwrap();
        let row: (String, i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT state, expires_at, callback_due, cancel_requested FROM tasks WHERE key = 'k'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(row, ("queued".into(), 9, Some(0), Some(7)));
        let indexes: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'tasks' \
             AND name LIKE 'tasks_%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(indexes, 10, "every index rebuilt, and tasks_waiting");
    }

    #[tokio::test]
    async fn the_schema_refuses_impossible_rows() {
        let store = SqliteStore::open(":memory:").await.unwrap();
        let bad = sqlx::query(
            "INSERT INTO tasks (key, account, task_name, params, state, max_attempts, \
             created_at, expires_at) VALUES ('k', 'a', 't', '{}', 'succeeded', 1, 0, 1)",
        )
        .execute(&store.pool)
        .await;
        assert!(
            bad.is_err(),
            "a succeeded row needs finalized_at and result"
        );
        let bad = sqlx::query(
            "INSERT INTO tasks (key, account, task_name, params, state, max_attempts, \
             created_at, expires_at) VALUES ('k', 'a', 't', '{}', 'done', 1, 0, 1)",
        )
        .execute(&store.pool)
        .await;
        assert!(bad.is_err(), "unknown state");
    }
}
