//! The `fetch` capability: the guest names a URL, the host downloads it
//! with the policy-guarded [`Fetcher`] into a [`Body`](crate::budget::Body)
//! (in memory when small, else streamed to the run's scratch), counting
//! every byte against the run's `fetch_bytes` budget, and hands back a blob
//! handle. A `drake:KEY/NAME` reference is read from the stored outputs
//! instead ([`crate::inputs`]), counted against the same budget.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::Blob;
use crate::bindings::fetch::{self, FetchError};
use crate::budget::{BodyBuilder, BodyError};
use crate::fetcher::{self as client, Fetcher};
use crate::inputs::SCHEME;
use crate::run::{InputSource, StoredInput};

/// Per-run fetch state.
pub struct FetchCtx {
    fetcher: Arc<Fetcher>,
    inputs: Option<Arc<dyn InputSource>>,
}

impl FetchCtx {
    /// A context using the process-wide `fetcher`, and `inputs` for
    /// references (none outside a server).
    pub fn new(fetcher: Arc<Fetcher>, inputs: Option<Arc<dyn InputSource>>) -> Self {
        FetchCtx { fetcher, inputs }
    }
}

/// A download in progress: from the network or from the blob store.
enum Source {
    Http(Box<client::Opened>),
    Stored(StoredInput),
}

impl Source {
    async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, FetchError> {
        match self {
            Source::Http(opened) => opened.chunk().await.map_err(convert_error),
            Source::Stored(input) => match futures::StreamExt::next(&mut input.body).await {
                None => Ok(None),
                Some(Ok(chunk)) => Ok(Some(chunk)),
                Some(Err(e)) => Err(FetchError::Network(format!("the blob store: {e}"))),
            },
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
        let (mut source, declared, content_type, url) = if url.starts_with(SCHEME) {
            let Some(inputs) = self.fetch.inputs.clone() else {
                return Ok(Err(FetchError::InvalidUrl(format!(
                    "{url}: references to stored outputs work on a server (drake serve), \
                     not in drake run"
                ))));
            };
            let input = match inputs.open(&url).await {
                Ok(input) => input,
                Err(why) => return Ok(Err(FetchError::InvalidUrl(why))),
            };
            if let Some(cap) = max_bytes.filter(|&cap| input.size > cap) {
                return Ok(Err(FetchError::TooLarge(cap)));
            }
            let (size, content_type) = (input.size, input.content_type.clone());
            (Source::Stored(input), Some(size), content_type, url)
        } else {
            // The fetcher logs denials with their stable `error.type`.
            let opened = match self.fetch.fetcher.open(&url, max_bytes).await {
                Ok(opened) => opened,
                Err(e) => return Ok(Err(convert_error(e))),
            };
            let (declared, content_type) = (opened.declared, opened.content_type.clone());
            let url = opened.final_url.to_string();
            (Source::Http(Box::new(opened)), declared, content_type, url)
        };
        // A budget overrun ends the run (a trap; the engine reports the
        // budget by name, whatever the guest would make of an error).
        if let Some(n) = declared {
            self.budget.fetch_fits(n)?;
        }
        let mut body = BodyBuilder::new(self.budget.clone(), self.scratch.clone(), declared);
        loop {
            let chunk = match source.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Ok(Err(e)),
            };
            self.budget.fetch(chunk.len() as u64)?;
            body.push(&chunk).await.map_err(trap)?;
        }
        let blob = Blob {
            body: body.finish().await.map_err(trap)?,
            content_type,
            url,
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
