//! Waiting for tasks to change: `block`, create_file and file wait on the
//! store's change notifications. Each distinct key is read once, however
//! often a request repeats it, and then only when a notification names it
//! without carrying its new row (SQLite's carry it: no read at all);
//! everything is re-read only when notifications were lost (a lagging
//! receiver) or at a slow baseline.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::AppState;
use super::error::{ApiError, ErrorEntry, Location};
use crate::store::{Change, TaskRow, now_micros};

/// Re-read every watched task this often even without a notification:
/// both stores notify every change (SQLite in process, Postgres through
/// LISTEN/NOTIFY), so this only bounds how long a lost one goes unseen.
const BASELINE: Duration = Duration::from_secs(10);

/// The distinct keys of `keys`, in first-seen order.
fn distinct(keys: &[String]) -> Vec<&String> {
    let mut seen = HashSet::new();
    keys.iter().filter(|k| seen.insert(k.as_str())).collect()
}

/// Read each of `keys` once (a repeated key is read once); 404 naming
/// each unknown or expired key.
async fn read_distinct<'k>(
    state: &AppState,
    keys: impl IntoIterator<Item = &'k String>,
    into: &mut HashMap<String, TaskRow>,
) -> Result<(), ApiError> {
    let now = now_micros();
    let mut missing = Vec::new();
    for key in keys {
        match state.store.task_get(key, now).await? {
            Some(row) => {
                into.insert(key.clone(), row);
            }
            None => missing.push(ErrorEntry::new(
                "tasks",
                Location::Body,
                format!("unknown or expired task key: {key}"),
            )),
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::not_found(missing))
    }
}

/// The rows of `keys` in request order, repeats included.
fn in_order(keys: &[String], rows: &HashMap<String, TaskRow>) -> Vec<TaskRow> {
    keys.iter().filter_map(|k| rows.get(k).cloned()).collect()
}

/// Read `keys` in order (each distinct key once); 404 naming each unknown
/// or expired key.
pub async fn read_all(state: &AppState, keys: &[String]) -> Result<Vec<TaskRow>, ApiError> {
    let mut rows = HashMap::new();
    read_distinct(state, distinct(keys), &mut rows).await?;
    Ok(in_order(keys, &rows))
}

/// Wait until `done(rows)` or `timeout`; returns the last rows read, in
/// request order.
pub async fn wait_until(
    state: &AppState,
    keys: &[String],
    timeout: Duration,
    done: impl Fn(&[TaskRow]) -> bool,
) -> Result<Vec<TaskRow>, ApiError> {
    // Subscribe before reading, so no change between the two is missed.
    let changes = state.store.subscribe();
    wait(state, changes, keys, HashMap::new(), timeout, done).await
}

/// [`wait_until`] for the tasks of `rows`, read by the caller after it
/// subscribed to `changes` (a create: the rows it just stored).
pub async fn wait_from(
    state: &AppState,
    changes: tokio::sync::broadcast::Receiver<Change>,
    rows: Vec<TaskRow>,
    timeout: Duration,
    done: impl Fn(&[TaskRow]) -> bool,
) -> Result<Vec<TaskRow>, ApiError> {
    let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let known = rows.into_iter().map(|r| (r.key.clone(), r)).collect();
    wait(state, changes, &keys, known, timeout, done).await
}

async fn wait(
    state: &AppState,
    mut changes: tokio::sync::broadcast::Receiver<Change>,
    keys: &[String],
    mut rows: HashMap<String, TaskRow>,
    timeout: Duration,
    done: impl Fn(&[TaskRow]) -> bool,
) -> Result<Vec<TaskRow>, ApiError> {
    let deadline = Instant::now() + timeout;
    let watched = distinct(keys);
    let mut stale: HashSet<&String> = watched
        .iter()
        .copied()
        .filter(|k| !rows.contains_key(*k))
        .collect();
    loop {
        read_distinct(state, stale.drain(), &mut rows).await?;
        let ordered = in_order(keys, &rows);
        if done(&ordered) || Instant::now() >= deadline {
            return Ok(ordered);
        }
        let baseline = (Instant::now() + BASELINE).min(deadline);
        let mut fresh = false;
        while stale.is_empty() && !fresh {
            match tokio::time::timeout_at(baseline, changes.recv()).await {
                Ok(Ok(change)) => {
                    let Some(k) = watched.iter().find(|k| ***k == change.key) else {
                        continue;
                    };
                    match change.row {
                        Some(row) if row.supersedes(rows.get(*k)) => {
                            rows.insert((*k).clone(), (*row).clone());
                            fresh = true;
                        }
                        Some(_) => {}
                        None => {
                            stale.insert(k);
                        }
                    }
                }
                Ok(Err(RecvError::Lagged(_))) | Err(_) => stale.extend(watched.iter().copied()),
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep_until(baseline).await;
                    stale.extend(watched.iter().copied());
                }
            }
        }
    }
}

/// Whether every row is final.
pub fn all_final(rows: &[TaskRow]) -> bool {
    rows.iter().all(|r| r.state.is_final())
}

/// Requests waiting for tasks (`block`, `create_file`, `file`, streams)
/// open at once, in all and per client address. Each holds a connection
/// and re-reads tasks as they change; past a cap the request is answered
/// 503 with `Retry-After` instead of piling up.
pub struct Waiters {
    total: usize,
    per_client: usize,
    open: std::sync::Mutex<(usize, HashMap<std::net::IpAddr, usize>)>,
}

/// One open wait; dropping it frees its place.
pub struct WaitSlot {
    waiters: std::sync::Arc<Waiters>,
    client: Option<std::net::IpAddr>,
}

impl Waiters {
    /// Caps of `total` open waits, `per_client` from one address.
    pub fn new(total: usize, per_client: usize) -> std::sync::Arc<Waiters> {
        std::sync::Arc::new(Waiters {
            total,
            per_client,
            open: std::sync::Mutex::default(),
        })
    }

    /// A place for one more wait from `client`, or 503.
    pub fn enter(
        self: &std::sync::Arc<Self>,
        client: Option<std::net::IpAddr>,
    ) -> Result<WaitSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.0 >= self.total {
            return Err(ApiError::overloaded(format!(
                "{} requests are already waiting for tasks; retry later",
                self.total
            )));
        }
        if let Some(ip) = client {
            let mine = open.1.entry(ip).or_default();
            if *mine >= self.per_client {
                return Err(ApiError::overloaded(format!(
                    "this address already has {} requests waiting for tasks; retry later",
                    self.per_client
                )));
            }
            *mine += 1;
        }
        open.0 += 1;
        Ok(WaitSlot {
            waiters: self.clone(),
            client,
        })
    }
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        let mut open = self.waiters.open.lock().unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(ip) = self.client
            && let Some(mine) = open.1.get_mut(&ip)
        {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                open.1.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_capped_in_all_and_per_client() {
        let waiters = Waiters::new(3, 2);
        let a: std::net::IpAddr = [10, 0, 0, 1].into();
        let b: std::net::IpAddr = [10, 0, 0, 2].into();
        let first = waiters.enter(Some(a));
        let second = waiters.enter(Some(a));
        assert!(first.is_ok() && second.is_ok());
        let third = waiters.enter(Some(a));
        assert_eq!(third.err().map(|e| e.status().as_u16()), Some(503));
        let other = waiters.enter(Some(b));
        assert!(other.is_ok());
        let full = waiters.enter(Some([10, 0, 0, 3].into()));
        assert_eq!(full.err().map(|e| e.status().as_u16()), Some(503));
        drop(first);
        assert!(
            waiters.enter(Some(a)).is_ok(),
            "a freed place is taken again"
        );
    }
}
