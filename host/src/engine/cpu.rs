//! Guest CPU time: the calling thread's CPU clock read around every poll of
//! a run's future. A guest only executes inside those polls (wasmtime runs
//! it on the polling thread, yielding at epoch ticks), so the sum is the
//! CPU the run used on this node, whichever worker threads polled it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// CPU time the calling thread has used.
pub fn thread_cpu_time() -> Duration {
    // SAFETY: all-zero is a valid timespec.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Run `fut`, adding the CPU time of each of its polls to `micros` (kept
/// outside so a run cut short by a timeout is still counted).
pub async fn metered<F: Future>(fut: F, micros: &AtomicU64) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let before = thread_cpu_time();
        let poll = fut.as_mut().poll(cx);
        let used = thread_cpu_time().saturating_sub(before);
        micros.fetch_add(
            u64::try_from(used.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        poll
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_busy_polls_not_sleeps() {
        let micros = AtomicU64::new(0);
        metered(
            async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let start = thread_cpu_time();
                let mut x = 0u64;
                while thread_cpu_time() - start < Duration::from_millis(30) {
                    x = x.wrapping_add(1);
                }
                std::hint::black_box(x);
            },
            &micros,
        )
        .await;
        let used = Duration::from_micros(micros.load(Ordering::Relaxed));
        assert!(
            used >= Duration::from_millis(30) && used < Duration::from_millis(75),
            "{used:?}"
        );
    }
}
