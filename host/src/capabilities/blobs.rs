//! The `blobs` capability: host-held byte strings the guest reads in
//! slices, output writers, and `publish`, which hands an output file to the
//! run's [`OutputSink`] (the blob store, or a directory for `drake run`).
//!
//! Every guest-driven size is capped here: read slices, the run's total
//! output bytes, the set of output names.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::blobs::{self, BlobError};
use crate::bindings::{Blob, Writer};
use crate::budget::BodyBuilder;
use crate::capabilities::fetch::trap;
use crate::run::OutputSink;

/// Largest slice one `read` returns: guest-controlled, so bounded; 16 MiB
/// keeps the number of host calls low for a whole-file read.
const MAX_READ: u32 = 16 << 20;

/// Most parts one run may publish: each is an object in the store. A
/// three-hour ladder of six renditions in 4 s segments is 16,200.
const MAX_PARTS: u32 = 20_000;

/// Per-run blob state.
pub struct BlobsCtx {
    sink: Arc<dyn OutputSink>,
    names: Vec<String>,
    max_output_bytes: u64,
    written: u64,
    published: u64,
    parts: u32,
}

impl BlobsCtx {
    /// A context publishing to `sink` the names `names`, at most
    /// `max_output_bytes` in all.
    pub fn new(sink: Arc<dyn OutputSink>, names: Vec<String>, max_output_bytes: u64) -> Self {
        BlobsCtx {
            sink,
            names,
            max_output_bytes,
            written: 0,
            published: 0,
            parts: 0,
        }
    }

    /// Bytes of the files published so far.
    pub fn published(&self) -> u64 {
        self.published
    }

    fn reserve(&mut self, n: usize) -> Result<(), BlobError> {
        let total = self.written.saturating_add(n as u64);
        if total > self.max_output_bytes {
            return Err(BlobError::TooLarge(self.max_output_bytes));
        }
        self.written = total;
        Ok(())
    }
}

fn valid_extension(ext: &str) -> bool {
    !ext.is_empty() && ext.len() <= 8 && ext.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn valid_content_type(ct: &str) -> bool {
    ct.len() <= 100
        && ct.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && ct
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"/+-.;= ".contains(&c))
        })
}

impl blobs::Host for crate::capabilities::HostState {
    async fn publish(
        &mut self,
        name: String,
        blob: Resource<Blob>,
        content_type: String,
        extension: String,
    ) -> wasmtime::Result<Result<(), BlobError>> {
        if !self.blobs.names.contains(&name) {
            return Ok(Err(BlobError::Invalid(format!(
                "{name:?} is not an output of this task (expected one of {:?})",
                self.blobs.names
            ))));
        }
        if !valid_extension(&extension) || !valid_content_type(&content_type) {
            return Ok(Err(BlobError::Invalid(format!(
                "invalid extension {extension:?} or content type {content_type:?}"
            ))));
        }
        let body = self.table.get(&blob)?.body.clone();
        let size = body.len();
        let sink = self.blobs.sink.clone();
        match sink.publish(&name, &extension, &content_type, body).await {
            Ok(()) => {
                self.blobs.published += size;
                Ok(Ok(()))
            }
            // A storage failure is the host's problem: end the run.
            Err(e) => Err(wasmtime::format_err!("publishing {name}: {e}")),
        }
    }

    async fn publish_part(
        &mut self,
        name: String,
        path: String,
        blob: Resource<Blob>,
    ) -> wasmtime::Result<Result<(), BlobError>> {
        if !self.blobs.names.contains(&name) {
            return Ok(Err(BlobError::Invalid(format!(
                "{name:?} is not an output of this task (expected one of {:?})",
                self.blobs.names
            ))));
        }
        if crate::outputs::part_content_type(&path).is_none() {
            return Ok(Err(BlobError::Invalid(format!(
                "invalid part path {path:?}"
            ))));
        }
        if self.blobs.parts >= MAX_PARTS {
            return Ok(Err(BlobError::Invalid(format!(
                "more than {MAX_PARTS} output parts"
            ))));
        }
        let body = self.table.get(&blob)?.body.clone();
        let size = body.len();
        let sink = self.blobs.sink.clone();
        match sink.publish_part(&name, &path, body).await {
            Ok(()) => {
                self.blobs.parts += 1;
                self.blobs.published += size;
                Ok(Ok(()))
            }
            Err(e) => Err(wasmtime::format_err!("publishing {name}/{path}: {e}")),
        }
    }
}

impl blobs::HostBlob for crate::capabilities::HostState {
    async fn size(&mut self, blob: Resource<Blob>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&blob)?.body.len())
    }

    async fn content_type(&mut self, blob: Resource<Blob>) -> wasmtime::Result<String> {
        Ok(self.table.get(&blob)?.content_type.clone())
    }

    async fn url(&mut self, blob: Resource<Blob>) -> wasmtime::Result<String> {
        Ok(self.table.get(&blob)?.url.clone())
    }

    async fn read(
        &mut self,
        blob: Resource<Blob>,
        offset: u64,
        len: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, BlobError>> {
        let body = self.table.get(&blob)?.body.clone();
        if offset > body.len() {
            return Ok(Err(BlobError::OutOfRange));
        }
        let read = body.read(offset, len.min(MAX_READ) as usize).await;
        Ok(Ok(read.map_err(|e| {
            wasmtime::format_err!("reading a blob from scratch: {e}")
        })?))
    }

    async fn drop(&mut self, blob: Resource<Blob>) -> wasmtime::Result<()> {
        let blob = self.table.delete(blob)?;
        self.ffmpeg.forget(&blob.body);
        Ok(())
    }
}

impl blobs::HostWriter for crate::capabilities::HostState {
    async fn new(&mut self) -> wasmtime::Result<Resource<Writer>> {
        let builder = BodyBuilder::new(self.budget.clone(), self.scratch.clone(), None);
        Ok(self.table.push(Writer {
            builder: Some(builder),
        })?)
    }

    async fn write(
        &mut self,
        writer: Resource<Writer>,
        bytes: Vec<u8>,
    ) -> wasmtime::Result<Result<(), BlobError>> {
        if let Err(e) = self.blobs.reserve(bytes.len()) {
            return Ok(Err(e));
        }
        match &mut self.table.get_mut(&writer)?.builder {
            Some(builder) => builder.push(&bytes).await.map_err(trap)?,
            None => return Ok(Err(BlobError::OutOfRange)),
        }
        Ok(Ok(()))
    }

    async fn finish(
        &mut self,
        writer: Resource<Writer>,
    ) -> wasmtime::Result<Result<Resource<Blob>, BlobError>> {
        let Some(builder) = self.table.get_mut(&writer)?.builder.take() else {
            return Ok(Err(BlobError::OutOfRange));
        };
        let blob = Blob {
            body: builder.finish().await.map_err(trap)?,
            content_type: String::new(),
            url: String::new(),
        };
        Ok(Ok(self.table.push(blob)?))
    }

    async fn drop(&mut self, writer: Resource<Writer>) -> wasmtime::Result<()> {
        self.table.delete(writer)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_caps_and_names() {
        let mut ctx = BlobsCtx::new(Arc::new(crate::run::NoOutputs), vec!["output".into()], 10);
        assert!(ctx.reserve(6).is_ok());
        assert!(matches!(ctx.reserve(5), Err(BlobError::TooLarge(10))));
        assert!(valid_extension("jpg") && !valid_extension("../x") && !valid_extension(""));
        assert!(valid_content_type("image/jpeg") && valid_content_type("audio/ogg; codecs=opus"));
        assert!(!valid_content_type("text/html\r\nX-Evil: 1"));
    }
}
