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
//! 60 min); any other answer ends the delivery. Deliveries live in this
//! process: a node that stops drops its pending retries (logged), the task
//! itself is safe in the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::capabilities::fetch::client::{Error as FetchError, Fetcher};
use crate::storage::FileUrls;
use crate::store::{TaskRow, TaskState, TaskStore};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-drake-signature";

/// Callback delivery for the whole process.
pub struct Callbacks {
    fetcher: Arc<Fetcher>,
    /// Account name → secret (accounts with only API keys sign nothing).
    secrets: HashMap<String, Option<String>>,
    urls: Arc<FileUrls>,
    backoff: Duration,
    tries: u32,
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: u64, body: &[u8]) -> String {
    let v1 = crate::api::auth::hmac_hex(secret, &[format!("{t}.").as_bytes(), body]);
    format!("t={t},v1={v1}")
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

impl Callbacks {
    /// Delivery with these accounts (name, secret), statuses rendered with
    /// `urls`, retries every `backoff` × 3ⁿ, `tries` in all.
    pub fn new(
        fetcher: Arc<Fetcher>,
        accounts: impl IntoIterator<Item = (String, Option<String>)>,
        urls: Arc<FileUrls>,
        backoff: Duration,
        tries: u32,
    ) -> Arc<Callbacks> {
        Arc::new(Callbacks {
            fetcher,
            secrets: accounts.into_iter().collect(),
            urls,
            backoff,
            tries: tries.max(1),
        })
    }

    /// Start delivering `row`'s final status, if it asked for a callback.
    pub fn dispatch(self: &Arc<Self>, row: &TaskRow) {
        let Some(url) = target(row) else { return };
        let status = crate::api::wire::status(row, &self.urls);
        let body = match serde_json::to_vec(&status) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "serialising a callback body");
                return;
            }
        };
        let secret = self.secrets.get(&row.account).cloned().flatten();
        let key = row.key.clone();
        let this = self.clone();
        tokio::spawn(async move { this.deliver(&key, &url, body, secret.as_deref()).await });
    }

    async fn deliver(&self, key: &str, url: &str, body: Vec<u8>, secret: Option<&str>) {
        let mut delay = self.backoff;
        for attempt in 1..=self.tries {
            let mut headers = HeaderMap::new();
            if let Some(secret) = secret {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if let Ok(v) = HeaderValue::from_str(&signature(secret, t, &body)) {
                    headers.insert(HeaderName::from_static(SIGNATURE_HEADER), v);
                }
            }
            let outcome = self.fetcher.post_json(url, body.clone(), headers).await;
            let retry = match &outcome {
                Ok(code) if *code < 500 => {
                    tracing::info!(task = key, code, attempt, "callback delivered");
                    return;
                }
                Ok(code) => format!("HTTP {code}"),
                // The policy or the URL will not change: no retry.
                Err(e @ (FetchError::Blocked(_) | FetchError::InvalidUrl(_))) => {
                    tracing::warn!(task = key, error = %e, "callback refused");
                    return;
                }
                Err(e) => e.to_string(),
            };
            if attempt == self.tries {
                tracing::warn!(task = key, attempt, error = retry, "callback given up");
                return;
            }
            tracing::info!(task = key, attempt, error = retry, retry_in = ?delay, "callback failed");
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(3);
        }
    }
}

/// Read `key` and dispatch its callback (a task that just ended).
pub async fn dispatch_key(callbacks: &Arc<Callbacks>, store: &dyn TaskStore, key: &str) {
    match store.task_get(key, crate::store::now_micros()).await {
        Ok(Some(row)) => callbacks.dispatch(&row),
        Ok(None) => {}
        Err(e) => tracing::error!(task = key, error = %e, "reading a task for its callback"),
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
        let s = signature("k3y", 1_700_000_000, body);
        // The same HMAC over the whole "<t>.<body>" string at once.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"k3y")
            .unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(br#"1700000000.{"status":"success"}"#);
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(s, format!("t=1700000000,v1={expected}"));
        assert_ne!(signature("k3y", 1, body), signature("k3y", 2, body));
        assert_ne!(signature("k3y", 1, body), signature("other", 1, body));
    }
}
