//! The `fetch` capability: the guest names a URL, the host downloads it
//! with the policy-guarded [`Fetcher`] into a [`Body`](crate::budget::Body)
//! (in memory when small, else streamed to the run's scratch), counting
//! every byte against the run's `fetch_bytes` budget, and hands back a blob
//! handle.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::Blob;
use crate::bindings::fetch::{self, FetchError};
use crate::budget::{BodyBuilder, BodyError};
use crate::fetcher::{self as client, Fetcher};

/// Per-run fetch state.
pub struct FetchCtx {
    fetcher: Arc<Fetcher>,
}

impl FetchCtx {
    /// A context using the process-wide `fetcher`.
    pub fn new(fetcher: Arc<Fetcher>) -> Self {
        FetchCtx { fetcher }
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
        // The fetcher logs denials with their stable `error.type`.
        let mut opened = match fetcher.open(&url, max_bytes).await {
            Ok(opened) => opened,
            Err(e) => return Ok(Err(convert_error(e))),
        };
        // A budget overrun ends the run (a trap; the engine reports the
        // budget by name, whatever the guest would make of an error).
        if let Some(n) = opened.declared {
            self.budget.fetch_fits(n)?;
        }
        let mut body = BodyBuilder::new(self.budget.clone(), self.scratch.clone(), opened.declared);
        loop {
            let chunk = match opened.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Ok(Err(convert_error(e))),
            };
            self.budget.fetch(chunk.len() as u64)?;
            body.push(&chunk).await.map_err(trap)?;
        }
        let blob = Blob {
            body: body.finish().await.map_err(trap)?,
            content_type: opened.content_type,
            url: opened.final_url.to_string(),
        };
        Ok(Ok(self.table.push(blob)?))
    }
}

/// A body that could not be kept ends the run: over budget (reported by
/// name), or the scratch disk failing (the host's problem).
pub(crate) fn trap(e: BodyError) -> wasmtime::Error {
    match e {
        BodyError::Exceeded(e) => e.into(),
        BodyError::Io(e) => wasmtime::format_err!("scratch disk: {e}"),
    }
}
