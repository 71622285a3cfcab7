//! What one task run may take from the node, enforced by the host whatever
//! the guest does (`[budgets]`):
//!
//! - bytes downloaded (`fetch` and `wasi:http` responses) and uploaded
//!   (`wasi:http` request bodies), counted as they flow;
//! - scratch disk in use at once: fetched bodies and outputs spooled to
//!   the run's directory, and the files its ffmpeg processes write;
//! - memory: bodies small enough to stay in memory take their bytes from
//!   one pool shared by every run on the node ([`HeldPool`]); when it has
//!   no room, they go to disk instead.
//!
//! A run that goes over a budget ends in a `limit` error naming it
//! ([`Exceeded`]): the host call that went over traps the instance, and a
//! run whose guest caught the error still ends that way
//! ([`RunBudget::exceeded`]).
//!
//! [`body`] holds the bytes themselves: [`Body`] (in memory or spooled),
//! [`BodyBuilder`] (streams into one), [`Scratch`] (the run's directory).

mod body;

pub use body::{Body, BodyBuilder, BodyError, SPILL_BYTES, Scratch};

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::TaskBudgets;

/// The budget a run went over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The `[budgets]` key (`fetch_bytes`, `send_bytes`, `scratch_bytes`).
    pub key: &'static str,
    /// Its value for this run.
    pub limit: u64,
}

impl Exceeded {
    fn what(&self) -> &'static str {
        match self.key {
            "fetch_bytes" => "downloaded more than",
            "send_bytes" => "uploaded more than",
            _ => "needed more scratch disk than",
        }
    }
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "budget exceeded: the task {} {} (budgets.{})",
            self.what(),
            human_bytes(self.limit),
            self.key
        )
    }
}

impl std::error::Error for Exceeded {}

/// `1 GiB`, `512 MiB`, `1500 bytes`: a size as a person reads it.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u32); 3] = [("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    match UNITS.iter().find(|(_, shift)| n >= 1 << shift) {
        Some((unit, shift)) => format!("{:.1} {unit}", n as f64 / f64::from(1u32 << shift)),
        None => format!("{n} bytes"),
    }
}

/// Bytes of media held in memory by every run of this node together
/// (`[budgets] held_bytes`), counted in KiB permits.
pub struct HeldPool {
    permits: Arc<Semaphore>,
    kib: u64,
}

impl HeldPool {
    /// A pool of `bytes` (at least 1 MiB: a pool smaller than one body
    /// would fail every run).
    pub fn new(bytes: u64) -> Arc<HeldPool> {
        // Semaphore permits are usize and at most usize::MAX >> 3.
        let kib = (bytes >> 10).clamp(1 << 10, (u32::MAX >> 1) as u64);
        Arc::new(HeldPool {
            permits: Arc::new(Semaphore::new(kib as usize)),
            kib,
        })
    }

    /// The pool's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.kib << 10
    }

    /// Bytes held right now (`/metrics`).
    pub fn held(&self) -> u64 {
        (self.kib - self.permits.available_permits() as u64) << 10
    }
}

/// Memory held by one body, given back to the pool when the body goes.
pub struct Held(OwnedSemaphorePermit);

impl Held {
    /// Take `other` into this hold.
    fn merge(&mut self, other: Held) {
        self.0.merge(other.0);
    }

    /// KiB held.
    fn kib(&self) -> u64 {
        self.0.num_permits() as u64
    }
}

/// One run's budgets and what it has used of them. Shared by the run's
/// capabilities (and by `wasi:http` body streams, which outlive calls).
pub struct RunBudget {
    limits: TaskBudgets,
    pool: Arc<HeldPool>,
    fetched: AtomicU64,
    sent: AtomicU64,
    scratch: AtomicU64,
    exceeded: Mutex<Option<Exceeded>>,
}

impl RunBudget {
    /// A fresh budget of `limits`, holding memory from `pool`.
    pub fn new(limits: TaskBudgets, pool: Arc<HeldPool>) -> Arc<RunBudget> {
        Arc::new(RunBudget {
            limits,
            pool,
            fetched: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            scratch: AtomicU64::new(0),
            exceeded: Mutex::new(None),
        })
    }

    /// The first budget the run went over, if any: the run ends in that
    /// error whatever its guest made of it.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded.lock().ok().and_then(|e| e.clone())
    }

    fn over(&self, key: &'static str, limit: u64) -> Exceeded {
        let e = Exceeded { key, limit };
        if let Ok(mut first) = self.exceeded.lock() {
            first.get_or_insert_with(|| e.clone());
        }
        e
    }

    fn add(
        &self,
        counter: &AtomicU64,
        n: u64,
        limit: u64,
        key: &'static str,
    ) -> Result<(), Exceeded> {
        let total = counter.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        if total > limit {
            return Err(self.over(key, limit));
        }
        Ok(())
    }

    /// Bytes downloaded so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Count `n` bytes downloaded.
    pub fn fetch(&self, n: u64) -> Result<(), Exceeded> {
        self.add(&self.fetched, n, self.limits.fetch_bytes, "fetch_bytes")
    }

    /// Whether a body that declares `n` bytes still fits: refused before
    /// a byte of it is read.
    pub fn fetch_fits(&self, n: u64) -> Result<(), Exceeded> {
        if self.fetched().saturating_add(n) > self.limits.fetch_bytes {
            return Err(self.over("fetch_bytes", self.limits.fetch_bytes));
        }
        Ok(())
    }

    /// Count `n` bytes uploaded.
    pub fn send(&self, n: u64) -> Result<(), Exceeded> {
        self.add(&self.sent, n, self.limits.send_bytes, "send_bytes")
    }

    /// Count `n` more bytes of scratch disk in use.
    pub fn scratch_take(&self, n: u64) -> Result<(), Exceeded> {
        self.add(&self.scratch, n, self.limits.scratch_bytes, "scratch_bytes")
    }

    /// `n` bytes of scratch disk freed.
    pub fn scratch_give(&self, n: u64) {
        let _ = self
            .scratch
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }

    /// Scratch disk still free for this run.
    pub fn scratch_left(&self) -> u64 {
        self.limits
            .scratch_bytes
            .saturating_sub(self.scratch.load(Ordering::Relaxed))
    }

    /// A scratch-disk overrun found by someone else (ffmpeg hitting the
    /// file-size limit the budget set).
    pub fn scratch_exceeded(&self) -> Exceeded {
        self.over("scratch_bytes", self.limits.scratch_bytes)
    }

    /// Hold `n` bytes of memory from the node's pool, if it has room
    /// now (no waiting: see [`body`]).
    pub fn try_hold(&self, n: u64) -> Option<Held> {
        let kib = u32::try_from(n.div_ceil(1 << 10)).ok()?;
        let permits = self.pool.permits.clone().try_acquire_many_owned(kib);
        permits.ok().map(Held)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn budget(fetch: u64, pool: u64) -> Arc<RunBudget> {
        let limits = TaskBudgets {
            fetch_bytes: fetch,
            send_bytes: 100,
            scratch_bytes: 1000,
        };
        RunBudget::new(limits, HeldPool::new(pool))
    }

    #[test]
    fn counters_refuse_past_the_limit_and_remember_the_first() {
        let b = budget(100, 1 << 20);
        assert!(b.fetch(60).is_ok());
        assert!(b.fetch_fits(40).is_ok());
        assert!(b.fetch_fits(41).is_err());
        // A declared size refused is the first overrun.
        assert_eq!(b.exceeded().unwrap().key, "fetch_bytes");
        assert!(b.send(100).is_ok() && b.send(1).is_err());
        assert!(b.scratch_take(900).is_ok());
        b.scratch_give(500);
        assert_eq!(b.scratch_left(), 600);
        assert!(b.scratch_take(601).is_err());
        assert_eq!(b.exceeded().unwrap().key, "fetch_bytes", "the first stays");
        assert_eq!(
            b.exceeded().unwrap().to_string(),
            "budget exceeded: the task downloaded more than 100 bytes (budgets.fetch_bytes)"
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(1_500_000), "1.4 MiB");
        assert_eq!(human_bytes(999), "999 bytes");
    }

    /// Holds come from the node's pool and go back to it; none is given
    /// past its size.
    #[test]
    fn the_pool_is_shared_and_bounded() {
        let pool = HeldPool::new(1 << 20);
        let limits = TaskBudgets {
            fetch_bytes: u64::MAX,
            send_bytes: u64::MAX,
            scratch_bytes: u64::MAX,
        };
        let a = RunBudget::new(limits.clone(), pool.clone());
        let b = RunBudget::new(limits, pool.clone());
        let mut first = a.try_hold(600 << 10).unwrap();
        first.merge(a.try_hold(300 << 10).unwrap());
        assert_eq!(pool.held(), 900 << 10);
        assert!(b.try_hold(500 << 10).is_none(), "no room: b spools instead");
        drop(first);
        assert!(b.try_hold(500 << 10).is_some());
        assert_eq!(pool.held(), 0);
        assert!(a.try_hold(2 << 20).is_none(), "more than the pool");
    }
}
