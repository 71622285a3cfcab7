//! The scheduler: claim → run → complete, with leases.
//!
//! - [`Scheduler::run`] is the dispatcher: it holds one permit per worker
//!   slot, claims a queued task when a slot is free (accounts taking turns
//!   by share: store/fair.rs), and runs it on its own tokio task; the
//!   `spare_slots` claim only for accounts with nothing running. It wakes on the store's change notifications and polls as
//!   a baseline (other nodes' tasks, lost notifications). On shutdown it
//!   stops claiming and waits for the running tasks (the drain).
//! - [`Scheduler::execute`] runs one claimed task: heartbeats renew the
//!   lease, progress events are written as they come, and the final
//!   transition is conditional on still holding the lease.
//! - [`rescuer`] puts tasks of dead workers (expired leases) back in the
//!   queue; [`reaper`] deletes expired tasks and their files.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::broadcast::error::RecvError;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, watch};
use tracing::Instrument as _;

use crate::config::{Config, SchedulerConfig};
use crate::engine::Engine;
use crate::inputs::StoredInputs;
use crate::outputs::{Storage, TaskSink};
use crate::run::{RunEnv, RunEvent, RunOutcome};
use crate::store::{
    Change, ClaimParams, CompleteParams, FailureKind, Lease, ProgressParams, Share, TaskFailure,
    TaskRow, TaskState, TaskStore, now_micros,
};

pub mod reaper;
pub mod rescuer;

/// Events a run may queue before a guest's `partial` call waits: progress
/// is written as fast as SQLite allows, so a short buffer is enough.
const EVENT_BUFFER: usize = 32;

/// The scheduler.
pub struct Scheduler {
    store: Arc<dyn TaskStore>,
    engine: Arc<Engine>,
    outputs: Storage,
    /// This node's identity in `lease_owner`.
    node_id: String,
    /// Concurrent runs on this node.
    workers: usize,
    /// The accounts' parts in claims.
    shares: Arc<[Share]>,
    config: SchedulerConfig,
    /// One permit per worker slot.
    slots: Arc<Semaphore>,
    /// Whether [`Scheduler::run`] is dispatching (not before it starts, on
    /// an API-only node, or once it drains): only then may a create take
    /// a slot ([`Scheduler::take_slot`]).
    dispatching: AtomicBool,
}

/// A worker slot a create took, to store its task already claimed by this
/// node and run it at once ([`Scheduler::start`]).
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Scheduler {
    /// A scheduler over these parts, with `config`'s `workers` and
    /// `[scheduler]`, claiming as `node_id`.
    pub fn new(
        store: Arc<dyn TaskStore>,
        engine: Arc<Engine>,
        outputs: Storage,
        config: &Config,
        node_id: String,
    ) -> Arc<Self> {
        Arc::new(Scheduler {
            store,
            engine,
            outputs,
            node_id,
            workers: config.workers,
            shares: config
                .accounts
                .iter()
                .map(|a| Share {
                    account: a.name.clone(),
                    share: a.share,
                    max_running: a.max_running,
                })
                .collect(),
            config: config.scheduler.clone(),
            slots: Arc::new(Semaphore::new(config.workers)),
            dispatching: AtomicBool::new(false),
        })
    }

    /// Dispatch until `stop` turns true, then drain: claim nothing more
    /// and wait up to `drain` for the running tasks to end. Returns how
    /// many were still running at the deadline (their leases expire and
    /// another node re-runs them).
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>, drain: Duration) -> usize {
        let (workers, spare) = (self.workers, self.config.spare_slots);
        let slots = self.slots.clone();
        let spares = Arc::new(Semaphore::new(spare));
        self.dispatching.store(true, Ordering::SeqCst);
        tokio::join!(
            self.clone().dispatch(slots.clone(), None, stop.clone()),
            self.clone()
                .dispatch(spares.clone(), Some(slots.clone()), stop),
        );
        self.dispatching.store(false, Ordering::SeqCst);
        let in_use = |s: &Semaphore, all: usize| all - s.available_permits();
        let running = in_use(&slots, workers) + in_use(&spares, spare);
        tracing::info!(running, "draining: no new claims");
        let all = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let drained = async {
            let _ = tokio::join!(
                slots.acquire_many(all(workers)),
                spares.acquire_many(all(spare))
            );
        };
        match tokio::time::timeout(drain, drained).await {
            Ok(()) => 0,
            Err(_) => {
                let left = in_use(&slots, workers) + in_use(&spares, spare);
                tracing::warn!(left, "drain timeout: leaving tasks to other nodes");
                left
            }
        }
    }

    /// A free worker slot for a task of `account` about to be created,
    /// when this node dispatches and the account has no `max_running`
    /// (which only the claim query counts). A slot free now means no
    /// claimable task is queued (the dispatcher would have taken it), so
    /// the new task takes no one's turn; it skips the claim's round trip
    /// through the store's notifications.
    pub fn take_slot(&self, account: &str) -> Option<Slot> {
        if !self.dispatching.load(Ordering::SeqCst)
            || self
                .shares
                .iter()
                .any(|s| s.account == account && s.max_running.is_some())
        {
            return None;
        }
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        Some(Slot { _permit: permit })
    }

    /// The lease a task stored already claimed by this node starts with.
    pub fn lease(&self, now: i64) -> Lease {
        Lease {
            owner: self.node_id.clone(),
            expires_at: now + micros(self.config.lease),
        }
    }

    /// Run `task`, stored already claimed with [`Scheduler::lease`], in
    /// `slot`; `changes` was subscribed before the insert.
    pub fn start(
        self: &Arc<Self>,
        task: TaskRow,
        slot: Slot,
        changes: broadcast::Receiver<Change>,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            this.execute(task, changes).await;
            drop(slot);
        });
    }

    /// Claim and start tasks while `slots` are free, until `stop`.
    /// `spare_for`: these are the spare slots beside those workers' slots,
    /// claiming only for accounts with nothing running, and only while
    /// every worker slot is taken (a free worker claims whatever a spare
    /// could; both claiming on every change would double the queries).
    /// Stopping interrupts only waits, never a claim in flight (a task
    /// claimed and then dropped would sit out its lease).
    async fn dispatch(
        self: Arc<Self>,
        slots: Arc<Semaphore>,
        spare_for: Option<Arc<Semaphore>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let idle_only = spare_for.is_some();
        let ends_matter = idle_only || self.shares.iter().any(|s| s.max_running.is_some());
        let mut changes = self.store.subscribe();
        loop {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
                _ = stop.wait_for(|stopped| *stopped) => return,
            };
            let workers_free = spare_for
                .as_ref()
                .is_some_and(|w| w.available_permits() > 0);
            // Subscribed before the claim, so the run hears of a cancel
            // made between the claim and its start.
            let watch = self.store.subscribe();
            let now = now_micros();
            let claimed = if workers_free {
                Ok(Vec::new())
            } else {
                self.store
                    .task_claim(ClaimParams {
                        owner: self.node_id.clone(),
                        now,
                        lease_expires_at: now + micros(self.config.lease),
                        limit: 1,
                        shares: self.shares.clone(),
                        idle_only,
                    })
                    .await
            };
            match claimed {
                Ok(mut tasks) if !tasks.is_empty() => {
                    let task = tasks.remove(0);
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.execute(task, watch).await;
                        drop(permit);
                    });
                }
                Ok(_) => {
                    drop(permit);
                    // Sleep until something may be claimable or the poll
                    // interval: a task queued, or one ended while an
                    // account's turn may depend on it (below max_running
                    // again; idle again, for the spares). A claim or
                    // progress is not worth a claim query, which would also
                    // take SQLite's write lock from the creates.
                    let claimable = async {
                        loop {
                            match changes.recv().await {
                                Ok(Change { row: Some(r), .. })
                                    if matches!(
                                        r.state,
                                        TaskState::Running | TaskState::Waiting
                                    ) || (r.state.is_final() && !ends_matter) => {}
                                _ => return,
                            }
                        }
                    };
                    tokio::select! {
                        _ = tokio::time::timeout(self.config.poll_interval, claimable) => {}
                        _ = stop.wait_for(|stopped| *stopped) => return,
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::error!(error = %e, "claiming tasks failed");
                    tokio::select! {
                        () = tokio::time::sleep(self.config.poll_interval) => {}
                        _ = stop.wait_for(|stopped| *stopped) => return,
                    }
                }
            }
        }
    }

    /// Run one claimed task to its final state (or until the lease is
    /// lost), hearing of changes on `changes` (subscribed before the
    /// claim).
    pub async fn execute(&self, task: TaskRow, changes: broadcast::Receiver<Change>) {
        let span = tracing::info_span!("task", key = %task.key, task = %task.task_name, account = %task.account);
        self.execute_in_span(task, changes).instrument(span).await;
    }

    async fn execute_in_span(&self, task: TaskRow, changes: broadcast::Receiver<Change>) {
        let owner = self.node_id.clone();
        let key = task.key.clone();
        let started = std::time::Instant::now();
        let (events_tx, mut events_rx) = mpsc::channel::<RunEvent>(EVENT_BUFFER);
        let sink = Arc::new(TaskSink {
            storage: self.outputs.clone(),
            key: key.clone(),
            events: events_tx.clone(),
        });
        let env = RunEnv {
            sink,
            events: events_tx,
            inputs: Some(Arc::new(StoredInputs {
                store: self.store.clone(),
                storage: self.outputs.clone(),
                account: task.account.clone(),
            })),
        };

        // Events → store, in order, while the run goes on; once it has
        // returned (`ended`), the events it sent are drained (its senders
        // may outlive it: the instance is freed in the background).
        let store = self.store.clone();
        let (k, o) = (key.clone(), owner.clone());
        let (end, mut ended) = tokio::sync::oneshot::channel::<()>();
        let writer = tokio::spawn(async move {
            let mut draining = false;
            loop {
                let event = if draining {
                    events_rx.try_recv().ok()
                } else {
                    tokio::select! {
                        biased;
                        event = events_rx.recv() => event,
                        _ = &mut ended => {
                            draining = true;
                            events_rx.try_recv().ok()
                        }
                    }
                };
                let Some(event) = event else { break };
                let mut p = ProgressParams {
                    key: k.clone(),
                    owner: o.clone(),
                    progress: None,
                    values: None,
                    file: None,
                };
                match event {
                    RunEvent::Progress(n) => p.progress = Some(n),
                    RunEvent::Values(v) => p.values = Some(v),
                    RunEvent::File(name, file) => p.file = Some((name, file)),
                }
                if let Err(e) = store.task_progress_if_running(p).await {
                    tracing::warn!(error = %e, "recording progress failed");
                }
            }
        });

        let heartbeat = self.heartbeat(key.clone());
        let run = self.engine.run(
            &task.task_name,
            &task.params,
            env,
            self.cancelled(&key, task.cancel_requested.is_some(), changes),
        );
        let outcome = tokio::select! {
            outcome = run => Some(outcome),
            () = heartbeat => None,
        };
        // The run is over: the writer drains what it sent and ends.
        drop(end);
        let _ = writer.await;

        let now = now_micros();
        let elapsed_ms = started.elapsed().as_millis();
        let Some(RunOutcome { result, usage }) = outcome else {
            tracing::warn!("lease lost; another worker owns the task now");
            return;
        };
        let recorded = match result {
            Ok(values) => {
                tracing::info!(elapsed_ms, cpu_ms = usage.cpu_ms, "task succeeded");
                self.store
                    .task_complete_if_running(CompleteParams {
                        key: key.clone(),
                        owner: owner.clone(),
                        values,
                        usage,
                        now,
                    })
                    .await
            }
            Err(failure) => {
                tracing::info!(
                    elapsed_ms,
                    cpu_ms = usage.cpu_ms,
                    kind = ?failure.kind,
                    detail = failure.detail.as_deref().unwrap_or(""),
                    "task failed"
                );
                self.store
                    .task_fail_if_running(&key, &owner, &failure, Some(&usage), now)
                    .await
            }
        };
        match recorded {
            // Its callback, if any, is due now: callbacks::Callbacks::run.
            Ok(true) => {}
            Ok(false) => tracing::warn!("task finished after its lease was lost; result dropped"),
            Err(e) => {
                tracing::error!(error = %e, "recording the outcome failed");
                // Try to leave a failure rather than a task stuck running
                // until its lease expires.
                let failure = TaskFailure {
                    kind: FailureKind::Internal,
                    public: Value::from("internal error: could not record the result"),
                    detail: Some(e.to_string()),
                };
                let _ = self
                    .store
                    .task_fail_if_running(&key, &owner, &failure, Some(&usage), now)
                    .await;
            }
        }
    }

    /// Returns once the account asks to cancel task `key`
    /// (`cancel_requested`; `requested`: already when claimed): woken by
    /// the store's notifications for it (every node's, on Postgres), taking
    /// the row a notification carries or reading it, and re-reading every
    /// third of a lease in case a notification was lost.
    async fn cancelled(
        &self,
        key: &str,
        requested: bool,
        mut changes: broadcast::Receiver<Change>,
    ) {
        let baseline = self.config.lease / 3;
        let mut requested = requested;
        loop {
            if requested {
                tracing::info!("cancel requested: ending the run");
                return;
            }
            let read = match tokio::time::timeout(baseline, changes.recv()).await {
                Ok(Ok(change)) if change.key == key => match change.row {
                    Some(row) => {
                        requested = row.cancel_requested.is_some();
                        false
                    }
                    None => true,
                },
                Ok(Ok(_)) => false,
                Ok(Err(RecvError::Lagged(_))) | Err(_) => true,
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep(baseline).await;
                    true
                }
            };
            if read && let Ok(Some(row)) = self.store.task_get(key, now_micros()).await {
                requested = row.cancel_requested.is_some();
            }
        }
    }

    /// Renew the lease every third of its length; returns when it is lost.
    async fn heartbeat(&self, key: String) {
        let every = self.config.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let until = now_micros() + micros(self.config.lease);
            match self
                .store
                .task_heartbeat_if_running(&key, &self.node_id, until)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                // A store hiccup is not a lost lease; try again next beat.
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
    }
}
