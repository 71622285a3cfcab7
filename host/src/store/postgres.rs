//! Postgres [`TaskStore`]: many stateless nodes on one database.
//!
//! The SQLite store's twin, statement for statement, with what a shared
//! database needs:
//!
//! - claims lock their rows with `FOR UPDATE SKIP LOCKED`, so claimers on
//!   every node take disjoint tasks without waiting for each other;
//! - a trigger announces every created or visibly changed row with
//!   `pg_notify('drake_tasks', key)` at commit, and each node `LISTEN`s, so
//!   `block` and the streams on any node see changes made by every node;
//! - migrations run under an advisory lock, so nodes starting together
//!   migrate once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row as _;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::broadcast;

use super::fair;
use super::rows::{self, row_to_task, to_json};
use super::waits;
use super::{
    Change, ClaimParams, CompleteParams, DueCallback, Micros, NewTask, ProgressParams,
    RescueOutcome, Result, StoredTemplate, TaskFailure, TaskRow, TaskState, TaskStore, Usage,
};

/// Schema migrations, applied in order; `drake_migrations` records them.
const MIGRATIONS: &[&str] = &[
    include_str!("sql/postgres_0001_init.sql"),
    include_str!("sql/postgres_0002_callbacks.sql"),
    include_str!("sql/postgres_0003_cancel.sql"),
    include_str!("sql/postgres_0004_fair.sql"),
    include_str!("sql/postgres_0005_uploads.sql"),
    include_str!("sql/postgres_0006_waiting.sql"),
    include_str!("sql/postgres_0007_templates.sql"),
];

/// The channel every node listens on.
const CHANNEL: &str = "drake_tasks";

/// Any constant: the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x6472_616b_6531;

/// Notification fan-out buffer, as SQLite's.
const NOTIFY_CAPACITY: usize = 4096;

/// JSONB columns come back as text, so rows decode as SQLite's do.
/// The advisory lock claims take on Postgres (store/fair.rs): any fixed
/// number; "drake" in ASCII.
const CLAIM_LOCK: i64 = 0x0064_7261_6b65;

const COLUMNS: &str = "key, account, task_name, params::text AS params, \
     task_metas::text AS task_metas, options::text AS options, dedup_hash, state, progress, \
     result::text AS result, files::text AS files, failure::text AS failure, attempt, \
     max_attempts, lease_owner, lease_expires_at, created_at, started_at, finalized_at, \
     expires_at, usage::text AS usage, cancel_requested";

/// The Postgres task store.
pub struct PostgresStore {
    pool: PgPool,
    changes: broadcast::Sender<Change>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user:pass@host:port/db`), migrate, and
    /// start listening for changes.
    pub async fn open(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            // A node's claims, heartbeats and reads; Postgres' default
            // max_connections (100) serves a dozen nodes.
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        migrate(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let changes = broadcast::channel(NOTIFY_CAPACITY).0;
        let sender = changes.clone();
        let listener = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    // No subscriber is fine.
                    Ok(n) => drop(sender.send(Change::key(n.payload()))),
                    // recv reconnects on its next call; changes made
                    // meanwhile reach waiters at their next poll.
                    Err(e) => {
                        tracing::warn!(error = %e, "postgres LISTEN connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(PostgresStore {
            pool,
            changes,
            listener,
        })
    }
}

/// Apply the migrations `drake_migrations` lacks, one node at a time.
async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS drake_migrations (version BIGINT PRIMARY KEY)")
        .execute(&mut *tx)
        .await?;
    let applied: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM drake_migrations")
        .fetch_one(&mut *tx)
        .await?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO drake_migrations (version) VALUES ($1)")
            .bind(i64::try_from(i + 1).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn insert_one(tx: &mut sqlx::PgConnection, task: &NewTask) -> Result<()> {
    let initial = task.initial();
    sqlx::query(
        "INSERT INTO tasks (key, account, task_name, params, task_metas, options, dedup_hash, \
         state, failure, max_attempts, created_at, finalized_at, expires_at, callback_due, \
         attempt, started_at, lease_owner, lease_expires_at) \
         VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7, $8, $9::jsonb, $10, $11, \
         $12, $13, $14, $15, $16, $17, $18)",
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
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO task_inputs (task_key, upstream_key) SELECT $1, u FROM unnest($2::text[]) u \
         ON CONFLICT DO NOTHING",
    )
    .bind(&task.key)
    .bind(&task.waits_for)
    .execute(&mut *tx)
    .await?;
    // An input of another request may finish while this commits: locked,
    // its transition waits for this insert (and then sees the new
    // dependent), or finished first (and settle below sees it).
    sqlx::query("SELECT 1 FROM tasks WHERE key = ANY($1) ORDER BY key FOR SHARE")
        .bind(&task.waits_for)
        .execute(&mut *tx)
        .await?;
    settle(tx, task.waits_for.clone(), task.created_at).await
}

/// Settle the waiting dependents of `finished` in the caller's transaction
/// (SQLite's `settle`; the trigger notifies). Dependents are locked before
/// a release is decided, so two inputs of one task finishing at once
/// cannot each see the other unfinished: the second waits for the first
/// to commit, and its next statement sees it.
async fn settle(conn: &mut sqlx::PgConnection, finished: Vec<String>, now: Micros) -> Result<()> {
    let mut pending = finished;
    while let Some(upstream) = pending.pop() {
        let found: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT state, failure::text FROM tasks WHERE key = $1")
                .bind(&upstream)
                .fetch_optional(&mut *conn)
                .await?;
        let state = found
            .as_ref()
            .map(|(s, _)| TaskState::from_str(s))
            .transpose()?;
        match state {
            Some(TaskState::Succeeded) => {
                let waiting: Vec<String> = sqlx::query_scalar(
                    "SELECT key FROM tasks WHERE state = 'waiting' \
                     AND key IN (SELECT task_key FROM task_inputs WHERE upstream_key = $1) \
                     ORDER BY key FOR UPDATE",
                )
                .bind(&upstream)
                .fetch_all(&mut *conn)
                .await?;
                if waiting.is_empty() {
                    continue;
                }
                sqlx::query(
                    "UPDATE tasks SET state = 'queued' WHERE state = 'waiting' \
                     AND key = ANY($1) \
                     AND NOT EXISTS (SELECT 1 FROM task_inputs i \
                       LEFT JOIN tasks u ON u.key = i.upstream_key \
                       WHERE i.task_key = tasks.key AND (u.state IS NULL OR u.state <> 'succeeded'))",
                )
                .bind(&waiting)
                .execute(&mut *conn)
                .await?;
            }
            Some(TaskState::Failed) | None => {
                let theirs = found
                    .and_then(|(_, f)| f)
                    .map(|f| serde_json::from_str::<TaskFailure>(&f))
                    .transpose()
                    .map_err(|e| super::Error::Corrupt(e.to_string()))?;
                let failure = waits::upstream_failed(&upstream, state, theirs.as_ref());
                let failed: Vec<String> = sqlx::query_scalar(
                    "UPDATE tasks SET state = 'failed', failure = $1::jsonb, usage = $2::jsonb, \
                     progress = NULL, finalized_at = $3 WHERE state = 'waiting' \
                     AND key IN (SELECT task_key FROM task_inputs WHERE upstream_key = $4) \
                     RETURNING key",
                )
                .bind(to_json(&failure)?)
                .bind(to_json(&Usage::default())?)
                .bind(now)
                .bind(&upstream)
                .fetch_all(&mut *conn)
                .await?;
                pending.extend(failed);
            }
            Some(TaskState::Waiting | TaskState::Queued | TaskState::Running) => {}
        }
    }
    Ok(())
}

/// End a transition that `changed` task `key` (or found it elsewhere):
/// settle its dependents in the same transaction `tx`, and commit.
async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    changed: bool,
    key: &str,
    now: Micros,
) -> Result<bool> {
    if !changed {
        tx.rollback().await?;
        return Ok(false);
    }
    settle(&mut tx, vec![key.to_owned()], now).await?;
    tx.commit().await?;
    Ok(true)
}

#[async_trait::async_trait]
impl TaskStore for PostgresStore {
    async fn task_insert(&self, task: NewTask) -> Result<()> {
        self.task_insert_many(vec![task]).await
    }

    async fn task_insert_many(&self, tasks: Vec<NewTask>) -> Result<()> {
        // One transaction, in order: one WAL flush for the request (and
        // Postgres groups concurrent commits' flushes itself).
        let mut tx = self.pool.begin().await?;
        for task in &tasks {
            insert_one(&mut tx, task).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn task_get(&self, key: &str, now: Micros) -> Result<Option<TaskRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE key = $1 AND expires_at > $2"
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
            "SELECT {COLUMNS} FROM tasks WHERE account = $1 AND dedup_hash = $2 \
             AND state <> 'failed' AND expires_at > $3 ORDER BY id DESC LIMIT 1"
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
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE account = $1 AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(account)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_task).collect()
    }

    async fn task_count_created_since(&self, account: &str, since: Micros) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE account = $1 AND created_at >= $2",
        )
        .bind(account)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn upload_bytes_kept(&self, account: &str, now: Micros) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM((usage->>'bytes_in')::BIGINT), 0)::BIGINT FROM tasks \
             WHERE account = $1 AND task_name = 'upload' AND expires_at > $2 \
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
             VALUES ($1, $2, $3::jsonb, $4, $4) ON CONFLICT (account, name) \
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
            "SELECT body::text, created_at, updated_at FROM templates \
             WHERE account = $1 AND name = $2",
        )
        .bind(account)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(rows::template))
    }

    async fn template_list(&self, account: &str) -> Result<Vec<StoredTemplate>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT body::text, created_at, updated_at FROM templates WHERE account = $1 \
             ORDER BY name",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(rows::template).collect())
    }

    async fn template_delete(&self, account: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM templates WHERE account = $1 AND name = $2")
            .bind(account)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn template_count(&self, account: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM templates WHERE account = $1")
            .bind(account)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn task_count_queued(&self, account: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE account = $1 AND state IN ('queued', 'waiting')",
        )
        .bind(account)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn task_claim(&self, params: ClaimParams) -> Result<Vec<TaskRow>> {
        let Some(sql) = fair::claim_sql(fair::Dialect::Postgres, &params, COLUMNS) else {
            return Ok(Vec::new());
        };
        let mut tasks = Vec::new();
        while tasks.len() < params.limit as usize {
            // Claims of every node take turns (a few hundred microseconds
            // each), so none sees an account below its max_running that
            // another is about to fill.
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(CLAIM_LOCK)
                .execute(&mut *tx)
                .await?;
            let mut query = sqlx::query(&sql);
            for share in params.shares.iter() {
                let (account, weight, max_running) = fair::binds(share);
                query = query.bind(account).bind(weight).bind(max_running);
            }
            let row = query
                .bind(&params.owner)
                .bind(params.lease_expires_at)
                .bind(params.now)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            match row {
                Some(row) => tasks.push(row_to_task(&row)?),
                None => break,
            }
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
            "UPDATE tasks SET lease_expires_at = $1 \
             WHERE key = $2 AND state = 'running' AND lease_owner = $3",
        )
        .bind(lease_expires_at)
        .bind(key)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn task_progress_if_running(&self, p: ProgressParams) -> Result<bool> {
        let values = p
            .values
            .filter(|v| !v.is_empty())
            .map(|v| to_json(&v))
            .transpose()?;
        let (file_name, file) = match &p.file {
            Some((name, file)) => (Some(name.clone()), Some(to_json(file)?)),
            None => (None, None),
        };
        // Values merge key by key (`||`), files are set by name.
        let done = sqlx::query(
            "UPDATE tasks SET progress = COALESCE($1, progress), \
             result = CASE WHEN $2::jsonb IS NULL THEN result \
                      ELSE COALESCE(result, '{}'::jsonb) || $2::jsonb END, \
             files = CASE WHEN $3::text IS NULL THEN files \
                     ELSE jsonb_set(files, ARRAY[$3::text], $4::jsonb) END \
             WHERE key = $5 AND state = 'running' AND lease_owner = $6",
        )
        .bind(p.progress.map(i64::from))
        .bind(values)
        .bind(file_name)
        .bind(file)
        .bind(&p.key)
        .bind(&p.owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn task_complete_if_running(&self, p: CompleteParams) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE tasks SET state = 'succeeded', result = $1::jsonb, usage = $2::jsonb, \
             progress = NULL, finalized_at = $3, lease_owner = NULL, lease_expires_at = NULL \
             WHERE key = $4 AND state = 'running' AND lease_owner = $5",
        )
        .bind(to_json(&p.values)?)
        .bind(to_json(&p.usage)?)
        .bind(p.now)
        .bind(&p.key)
        .bind(&p.owner)
        .execute(&mut *tx)
        .await?;
        finish(tx, done.rows_affected() == 1, &p.key, p.now).await
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
        let done = sqlx::query(
            "UPDATE tasks SET state = 'failed', failure = $1::jsonb, usage = $2::jsonb, \
             progress = NULL, finalized_at = $3, lease_owner = NULL, lease_expires_at = NULL \
             WHERE key = $4 AND state = 'running' AND lease_owner = $5",
        )
        .bind(to_json(failure)?)
        .bind(usage.map(to_json).transpose()?)
        .bind(now)
        .bind(key)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        finish(tx, done.rows_affected() == 1, key, now).await
    }

    async fn task_cancel(
        &self,
        key: &str,
        account: &str,
        failure: &TaskFailure,
        now: Micros,
    ) -> Result<Option<TaskState>> {
        let mut tx = self.pool.begin().await?;
        // Locked, so a claim or a completion waits for this decision.
        let found: Option<String> = sqlx::query_scalar(
            "SELECT state FROM tasks WHERE key = $1 AND account = $2 AND expires_at > $3 \
             FOR UPDATE",
        )
        .bind(key)
        .bind(account)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(state) = found.map(|s| TaskState::from_str(&s)).transpose()? else {
            return Ok(None);
        };
        let state = match state {
            TaskState::Waiting | TaskState::Queued => {
                sqlx::query(
                    "UPDATE tasks SET state = 'failed', failure = $1::jsonb, usage = $2::jsonb, \
                     progress = NULL, finalized_at = $3 WHERE key = $4 \
                     AND state IN ('queued', 'waiting')",
                )
                .bind(to_json(failure)?)
                .bind(to_json(&Usage::default())?)
                .bind(now)
                .bind(key)
                .execute(&mut *tx)
                .await?;
                settle(&mut tx, vec![key.to_owned()], now).await?;
                // A waiting task reads as queued (its wire status).
                TaskState::Queued
            }
            TaskState::Running => {
                sqlx::query(
                    "UPDATE tasks SET cancel_requested = COALESCE(cancel_requested, $1) \
                     WHERE key = $2 AND state = 'running'",
                )
                .bind(now)
                .bind(key)
                .execute(&mut *tx)
                .await?;
                state
            }
            TaskState::Succeeded | TaskState::Failed => state,
        };
        tx.commit().await?;
        Ok(Some(state))
    }

    async fn task_rescue_stuck(&self, now: Micros) -> Result<RescueOutcome> {
        let failure = to_json(&super::rows::interrupted_too_often())?;
        let mut tx = self.pool.begin().await?;
        let failed: Vec<String> = sqlx::query_scalar(
            "UPDATE tasks SET state = 'failed', failure = $1::jsonb, progress = NULL, \
             finalized_at = $2, lease_owner = NULL, lease_expires_at = NULL \
             WHERE state = 'running' AND lease_expires_at < $2 AND attempt >= max_attempts \
             RETURNING key",
        )
        .bind(&failure)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let requeued: Vec<String> = sqlx::query_scalar(
            "UPDATE tasks SET state = 'queued', progress = NULL, lease_owner = NULL, \
             lease_expires_at = NULL \
             WHERE state = 'running' AND lease_expires_at < $1 RETURNING key",
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
                 LIMIT $1",
            )
            .bind(waits::SWEEP_BATCH)
            .fetch_all(&mut *tx)
            .await?,
        );
        settle(&mut tx, finished, now).await?;
        tx.commit().await?;
        Ok(RescueOutcome { requeued, failed })
    }

    async fn task_delete_expired(&self, now: Micros) -> Result<Vec<String>> {
        // A task whose unfinished dependents will read it stays until they
        // finish, past its own expiry.
        let keys: Vec<String> = sqlx::query_scalar(
            "DELETE FROM tasks WHERE expires_at <= $1 AND NOT EXISTS (SELECT 1 FROM task_inputs i \
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
            "UPDATE tasks SET callback_due = $1 \
             WHERE id IN (SELECT id FROM tasks WHERE callback_due IS NOT NULL \
             AND callback_due <= $2 AND state IN ('succeeded', 'failed') AND expires_at > $2 \
             ORDER BY callback_due LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING {COLUMNS}, callback_attempts"
        ))
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let attempts: i32 = row.try_get("callback_attempts")?;
                Ok(DueCallback {
                    task: row_to_task(row)?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
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
        sqlx::query("UPDATE tasks SET callback_due = $1, callback_attempts = $2 WHERE key = $3")
            .bind(next_due)
            .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
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

/// A throwaway Postgres for tests: the server at `DATABASE_URL` with a
/// fresh database, or one started here (`initdb` + `pg_ctl` on a temporary
/// directory and a free port, as the `postgres` user when running as root)
/// and stopped on drop. Never skipped: no server is a failure. For the test
/// suites (here and in `tests/`), not for serving.
#[doc(hidden)]
pub mod testing {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A database for one test.
    pub struct TestDb {
        /// Its URL.
        pub url: String,
        server: Option<(PathBuf, tempfile::TempDir)>,
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            if let Some((bin, dir)) = &self.server {
                let _ = as_postgres(&bin.join("pg_ctl"))
                    .args(["stop", "-m", "immediate", "-D"])
                    .arg(dir.path().join("data"))
                    .output();
            }
        }
    }

    /// Debian's server binaries (`postgresql` package).
    fn bin_dir() -> PathBuf {
        let root = Path::new("/usr/lib/postgresql");
        let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .collect()
            })
            .unwrap_or_default();
        versions.sort();
        versions
            .pop()
            .filter(|b| b.join("initdb").is_file())
            .unwrap_or_else(|| {
                panic!(
                    "no Postgres server in {}: `make test` installs postgresql",
                    root.display()
                )
            })
    }

    fn as_postgres(program: &Path) -> Command {
        // initdb refuses to run as root.
        if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    fn is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false)
    }

    fn run(mut cmd: Command) {
        let out = cmd.output().expect("running a Postgres tool");
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fresh, empty database.
    pub async fn database() -> TestDb {
        use sqlx::Connection as _;
        let name = format!("drake_test_{}", crate::store::new_key().to_lowercase());
        if let Ok(base) = std::env::var("DATABASE_URL") {
            let mut conn = sqlx::PgConnection::connect(&base)
                .await
                .expect("DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("CREATE DATABASE");
            let url = match base.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{name}"),
                None => base,
            };
            return TestDb { url, server: None };
        }
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        if is_root() {
            run({
                let mut c = Command::new("chown");
                c.args(["postgres:postgres"]).arg(dir.path());
                c
            });
        }
        run({
            let mut c = as_postgres(&bin.join("initdb"));
            c.args(["-A", "trust", "-U", "drake", "-D"]).arg(&data);
            c
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        run({
            let mut c = as_postgres(&bin.join("pg_ctl"));
            c.args(["-w", "-l"])
                .arg(dir.path().join("log"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                // Loopback only, its socket in the temporary directory; no
                // fsync (a test server's data dies with it anyway).
                .arg(format!(
                    "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
                    dir.path().display()
                ))
                .arg("start");
            c
        });
        let server = format!("postgres://drake@127.0.0.1:{port}");
        let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("connect to the test server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        TestDb {
            url: format!("{server}/{name}"),
            server: Some((bin, dir)),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_with_concurrent_claims() {
        let db = testing::database().await;
        let store = PostgresStore::open(&db.url).await.unwrap();
        super::super::conformance::exercise(&store).await;
        super::super::conformance::concurrent_claims(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_see_each_others_changes_and_migrate_once() {
        let db = testing::database().await;
        let (a, b) = tokio::join!(PostgresStore::open(&db.url), PostgresStore::open(&db.url));
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut on_b = b.subscribe();
        a.task_insert(super::super::conformance::new_task("N1", 1_000_000))
            .await
            .unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(10), on_b.recv()).await;
        assert_eq!(seen.unwrap().unwrap().key, "N1");
        // A heartbeat is not news.
        let claimed = b
            .task_claim(ClaimParams {
                owner: "w".into(),
                now: 1_000_001,
                lease_expires_at: 2_000_000,
                limit: 1,
                shares: std::sync::Arc::from([]),
                idle_only: false,
            })
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(on_b.recv().await.unwrap().key, "N1");
        assert!(
            a.task_heartbeat_if_running("N1", "w", 3_000_000)
                .await
                .unwrap()
        );
        let quiet = tokio::time::timeout(Duration::from_millis(300), on_b.recv()).await;
        assert!(quiet.is_err(), "a heartbeat notified: {quiet:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_schema_refuses_impossible_rows() {
        let db = testing::database().await;
        let store = PostgresStore::open(&db.url).await.unwrap();
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
    }
}
