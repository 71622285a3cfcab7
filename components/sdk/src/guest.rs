//! The wasm side of [`Ctx`](crate::Ctx): calls into the host imports, and
//! the glue behind [`task!`](crate::task).

use crate::bindings::drake::task::{blobs, fetch, progress, types};
use crate::{Ctx, FetchError, Input, Task, TaskError, Values};

/// `describe` for `T`.
pub fn describe<T: Task>() -> types::TaskInfo {
    let info = crate::info::<T>();
    types::TaskInfo {
        name: info.name,
        summary: info.summary,
        params_schema: info.params_schema,
        values: info.values,
        files: info.files,
    }
}

/// `run` for `T`: validate, decode, run, map errors.
pub fn run<T: Task>(params: &str) -> Result<types::TaskOutput, types::TaskError> {
    let mut ctx = HostCtx;
    match crate::run_json::<T>(&mut ctx, params) {
        Ok(values) => Ok(types::TaskOutput {
            values: serde_json::Value::Object(values).to_string(),
        }),
        Err(e) => Err(match e {
            TaskError::InvalidParameters(map) => types::TaskError::InvalidParameters(
                serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned()),
            ),
            TaskError::InvalidInput(m) => types::TaskError::InvalidInput(m),
            TaskError::Limit(m) => types::TaskError::Limit(m),
            TaskError::Failed(m) => types::TaskError::Failed(m),
        }),
    }
}

struct HostCtx;

struct HostBlob(blobs::Blob);

impl Input for HostBlob {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn content_type(&self) -> String {
        self.0.content_type()
    }
    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        self.0.read(offset, len).unwrap_or_default()
    }
}

impl Ctx for HostCtx {
    fn fetch(&mut self, url: &str, max_bytes: Option<u64>) -> Result<Box<dyn Input>, FetchError> {
        match fetch::get(url, max_bytes) {
            Ok(blob) => Ok(Box::new(HostBlob(blob))),
            Err(e) => Err(match e {
                fetch::FetchError::InvalidUrl(m) => FetchError::InvalidUrl(m),
                fetch::FetchError::Blocked(m) => FetchError::Blocked(m),
                fetch::FetchError::TooLarge(n) => FetchError::TooLarge(n),
                fetch::FetchError::Timeout => FetchError::Timeout,
                fetch::FetchError::HttpStatus(c) => FetchError::HttpStatus(c),
                fetch::FetchError::Network(m) => FetchError::Network(m),
            }),
        }
    }

    fn publish(
        &mut self,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        extension: &str,
    ) -> Result<(), TaskError> {
        let writer = blobs::Writer::new();
        let map = |e: blobs::BlobError| match e {
            blobs::BlobError::TooLarge(cap) => {
                TaskError::Limit(format!("output is larger than the limit of {cap} bytes"))
            }
            blobs::BlobError::OutOfRange => TaskError::Failed("output write out of range".into()),
            blobs::BlobError::Invalid(m) => TaskError::Failed(m),
        };
        // Chunked so a large output never needs one huge canonical-ABI copy.
        for chunk in bytes.chunks(1 << 20) {
            writer.write(chunk).map_err(map)?;
        }
        let blob = writer.finish().map_err(map)?;
        blobs::publish(name, &blob, content_type, extension).map_err(map)
    }

    fn progress(&mut self, percent: u8) {
        progress::report(percent.min(100));
    }

    fn partial(&mut self, values: &Values) {
        progress::partial(&serde_json::Value::Object(values.clone()).to_string());
    }
}
