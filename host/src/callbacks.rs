//! Task callbacks (api.md §6): when a task ends, its final status is
//! POSTed to `url_callback` (success) or `url_errback` (error, falling
//! back to `url_callback`), signed with the account secret:
//!
//! ```text
//! X-Drake-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//! ```
//!
//! Through the same network policy as every fetch. Network errors and 5xx
//! answers are retried with exponential backoff (`callback_backoff`, ×3 per
//! try, `callback_tries` in all: 90 s gives tries at 0, 1.5, 6, 19.5 and
//! 60 min); any other answer ends the delivery.
//!
//! Deliveries are durable: a task that asks for a callback is stored with
//! `callback_due` set, and every node runs [`Callbacks::run`], which claims
//! due deliveries from the store (leased, so a node that dies mid-delivery
//! leaves them to another), makes one attempt each and records the next
//! due time. A restart or a crash loses no callback; one interrupted
//! between the POST and its record is sent again (at least once — the
//! body's `key` and the signature's `t` let receivers deduplicate).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Semaphore;

use crate::fetcher::{Error as FetchError, Fetcher};
use crate::outputs::FileUrls;
use crate::sign::{CALLBACK_HEADER, callback_signature};
use crate::store::{Change, DueCallback, Micros, TaskRow, TaskState, TaskStore, now_micros};

/// Deliveries claimed per sweep (more are claimed at once when a sweep
/// fills up).
const BATCH: u32 = 32;

/// Deliveries in flight on one node: callbacks are small POSTs, but a slow
/// receiver should not take every connection.
const CONCURRENT: usize = 16;

/// Callback delivery for the whole process.
pub struct Callbacks {
    fetcher: Arc<Fetcher>,
    /// Account name → secret (accounts with only API keys sign nothing).
    secrets: HashMap<String, Option<String>>,
    urls: Arc<FileUrls>,
    backoff: Duration,
    tries: u32,
    /// How long a claimed delivery is this node's: longer than one POST
    /// can take (the fetch timeout).
    lease: Duration,
}

/// Where a finished task's status goes, if anywhere.
fn target(row: &TaskRow) -> Option<String> {
    let options = row.options.as_ref()?;
    let url = |name: &str| {
        options
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    match row.state {
        TaskState::Succeeded => url("url_callback"),
        TaskState::Failed => url("url_errback").or_else(|| url("url_callback")),
        _ => None,
    }
}

fn micros(d: Duration) -> Micros {
    Micros::try_from(d.as_micros()).unwrap_or(Micros::MAX)
}

/// What one attempt came to.
enum Outcome {
    /// Delivered, refused for good, or nothing to deliver.
    Done,
    /// Worth another try.
    Retry(String),
}

impl Callbacks {
    /// Delivery with these accounts (name, secret), statuses rendered with
    /// `urls`, retries every `backoff` × 3ⁿ, `tries` in all, each POST
    /// within `lease`.
    pub fn new(
        fetcher: Arc<Fetcher>,
        accounts: impl IntoIterator<Item = (String, Option<String>)>,
        urls: Arc<FileUrls>,
        backoff: Duration,
        tries: u32,
        lease: Duration,
    ) -> Arc<Callbacks> {
        Arc::new(Callbacks {
            fetcher,
            secrets: accounts.into_iter().collect(),
            urls,
            backoff,
            tries: tries.max(1),
            lease,
        })
    }

    /// Deliver due callbacks forever: woken by the store's change
    /// notifications (a task just ended), polling every `poll` for retries
    /// and other nodes' work.
    pub async fn run(self: Arc<Self>, store: Arc<dyn TaskStore>, poll: Duration) {
        let slots = Arc::new(Semaphore::new(CONCURRENT));
        let mut changes = store.subscribe();
        loop {
            let now = now_micros();
            let claimed = store
                .callbacks_claim(now, now + micros(self.lease), BATCH)
                .await;
            let full = match claimed {
                Ok(due) => {
                    let full = due.len() == BATCH as usize;
                    for d in due {
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            return;
                        };
                        let (this, store) = (self.clone(), store.clone());
                        tokio::spawn(async move {
                            this.attempt(store.as_ref(), d).await;
                            drop(permit);
                        });
                    }
                    full
                }
                Err(e) => {
                    tracing::error!(error = %e, "claiming callbacks failed");
                    false
                }
            };
            if !full {
                // A callback falls due when a task that asked for one
                // ends: other changes (a claim, progress, a task without
                // a callback ending) are not worth a claim query, which
                // would also take SQLite's write lock from the creates.
                let ended = async {
                    loop {
                        match changes.recv().await {
                            Ok(Change { row: Some(r), .. })
                                if !(r.state.is_final() && r.asks_callback()) => {}
                            _ => return,
                        }
                    }
                };
                let _ = tokio::time::timeout(poll, ended).await;
            }
        }
    }

    /// One delivery attempt of a claimed callback, and its record.
    async fn attempt(&self, store: &dyn TaskStore, due: DueCallback) {
        let key = due.task.key.clone();
        let attempt = due.attempts + 1;
        let outcome = match target(&due.task) {
            Some(url) => self.post(&due.task, &url, attempt).await,
            None => Outcome::Done,
        };
        let next = match outcome {
            Outcome::Done => None,
            Outcome::Retry(error) if attempt >= self.tries => {
                tracing::warn!(task = key, attempt, error, "callback given up");
                None
            }
            Outcome::Retry(error) => {
                let delay = self
                    .backoff
                    .saturating_mul(3_u32.saturating_pow(attempt - 1));
                tracing::info!(task = key, attempt, error, retry_in = ?delay, "callback failed");
                Some(now_micros().saturating_add(micros(delay)))
            }
        };
        if let Err(e) = store.callback_record(&key, next, attempt).await {
            // The lease runs out and the delivery is claimed again.
            tracing::error!(task = key, error = %e, "recording a callback attempt failed");
        }
    }

    async fn post(&self, row: &TaskRow, url: &str, attempt: u32) -> Outcome {
        let key = row.key.as_str();
        let status = crate::wire::status(row, &self.urls);
        let body = match serde_json::to_vec(&status) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(task = key, error = %e, "serialising a callback body");
                return Outcome::Done;
            }
        };
        let mut headers = HeaderMap::new();
        if let Some(secret) = self.secrets.get(&row.account).and_then(Option::as_deref) {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if let Ok(v) = HeaderValue::from_str(&callback_signature(secret, t, &body)) {
                headers.insert(HeaderName::from_static(CALLBACK_HEADER), v);
            }
        }
        match self.fetcher.post_json(url, body, headers).await {
            Ok(code) if code < 500 => {
                tracing::info!(task = key, code, attempt, "callback delivered");
                Outcome::Done
            }
            Ok(code) => Outcome::Retry(format!("HTTP {code}")),
            // The policy or the URL will not change: no retry.
            Err(e @ (FetchError::Blocked(_) | FetchError::InvalidUrl(_))) => {
                tracing::warn!(task = key, error = %e, "callback refused");
                Outcome::Done
            }
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        let body = br#"{"status":"success"}"#;
        let s = callback_signature("k3y", 1_700_000_000, body);
        // The same HMAC over the whole "<t>.<body>" string at once.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"k3y")
            .unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(br#"1700000000.{"status":"success"}"#);
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(s, format!("t=1700000000,v1={expected}"));
        assert_ne!(
            callback_signature("k3y", 1, body),
            callback_signature("k3y", 2, body)
        );
        assert_ne!(
            callback_signature("k3y", 1, body),
            callback_signature("other", 1, body)
        );
    }
}
