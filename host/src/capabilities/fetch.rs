//! The `fetch` capability: the guest names a URL, the host downloads it
//! with the policy-guarded [`Fetcher`] and hands back a blob handle.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::Blob;
use crate::bindings::fetch::{self, FetchError};
use crate::fetcher::{self as client, Fetcher};

/// Per-run fetch state.
pub struct FetchCtx {
    fetcher: Arc<Fetcher>,
    /// Bytes downloaded by this run (usage accounting).
    pub bytes_in: u64,
}

impl FetchCtx {
    /// A context using the process-wide `fetcher`.
    pub fn new(fetcher: Arc<Fetcher>) -> Self {
        FetchCtx {
            fetcher,
            bytes_in: 0,
        }
    }
}

/// The one mapping from the fetcher's errors to the WIT variant.
fn convert_error(e: client::Error) -> FetchError {
    match e {
        client::Error::InvalidUrl(m) => FetchError::InvalidUrl(m),
        client::Error::Blocked(m) => FetchError::Blocked(m),
        client::Error::TooLarge(n) => FetchError::TooLarge(n),
        client::Error::Timeout => FetchError::Timeout,
        client::Error::HttpStatus(c) => FetchError::HttpStatus(c),
        other => FetchError::Network(other.to_string()),
    }
}

impl fetch::Host for crate::capabilities::HostState {
    async fn get(
        &mut self,
        url: String,
        max_bytes: Option<u64>,
    ) -> wasmtime::Result<Result<Resource<Blob>, FetchError>> {
        let fetcher = self.fetch.fetcher.clone();
        match fetcher.get(&url, max_bytes).await {
            Ok(fetched) => {
                self.fetch.bytes_in += fetched.bytes.len() as u64;
                let blob = Blob {
                    bytes: fetched.bytes,
                    content_type: fetched.content_type,
                    url: fetched.final_url.to_string(),
                };
                Ok(Ok(self.table.push(blob)?))
            }
            // The fetcher logs denials with their stable `error.type`.
            Err(e) => Ok(Err(convert_error(e))),
        }
    }
}
