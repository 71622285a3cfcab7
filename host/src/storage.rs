//! Output file storage through `object_store`: a local directory by
//! default (S3-compatible stores plug in behind the same type).
//!
//! Objects live at `<TASK KEY>/<name>.<ext>`, so deleting a task's files is
//! deleting one prefix.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt as _;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};

use crate::capabilities::blobs::OutputSink;
use crate::capabilities::progress::RunEvent;
use crate::store::OutputFile;

/// The output store.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<dyn ObjectStore>,
}

/// A file being served.
pub struct Object {
    /// Whole object size.
    pub size: u64,
    /// Entity tag (quoted when sent).
    pub etag: String,
    /// The requested bytes.
    pub body: BoxStream<'static, object_store::Result<Bytes>>,
}

impl Storage {
    /// A store in the local directory `dir` (created if missing).
    pub fn local(dir: &Path) -> anyhow::Result<Storage> {
        std::fs::create_dir_all(dir)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(Storage {
            inner: Arc::new(fs),
        })
    }

    /// Store `bytes` at `path`.
    pub async fn put(&self, path: &str, bytes: Bytes) -> object_store::Result<()> {
        self.inner
            .put(&ObjectPath::from(path), PutPayload::from_bytes(bytes))
            .await
            .map(drop)
    }

    /// Read `range` (or all) of `path`.
    pub async fn get(&self, path: &str, range: Option<Range<u64>>) -> object_store::Result<Object> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .inner
            .get_opts(&ObjectPath::from(path), options)
            .await?;
        let meta = result.meta.clone();
        Ok(Object {
            size: meta.size,
            etag: meta
                .e_tag
                .unwrap_or_else(|| format!("{:x}-{:x}", meta.size, meta.last_modified.timestamp())),
            body: result.into_stream(),
        })
    }

    /// Size and ETag of `path`.
    pub async fn head(&self, path: &str) -> object_store::Result<(u64, String)> {
        let meta = self.inner.head(&ObjectPath::from(path)).await?;
        let etag = meta
            .e_tag
            .unwrap_or_else(|| format!("{:x}-{:x}", meta.size, meta.last_modified.timestamp()));
        Ok((meta.size, etag))
    }

    /// Delete every object of task `key`.
    pub async fn delete_task(&self, key: &str) -> object_store::Result<()> {
        let prefix = ObjectPath::from(key);
        let paths: Vec<ObjectPath> = self
            .inner
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for path in paths {
            match self.inner.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The sink of one task run: files go to `<key>/<name>.<ext>` and are
/// announced as [`RunEvent::File`] so they appear in the partial result.
pub struct TaskSink {
    /// The store.
    pub storage: Storage,
    /// Task key.
    pub key: String,
    /// Where the run's events go.
    pub events: tokio::sync::mpsc::Sender<RunEvent>,
}

#[async_trait::async_trait]
impl OutputSink for TaskSink {
    async fn publish(
        &self,
        name: &str,
        extension: &str,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<(), String> {
        let path = format!("{}/{name}.{extension}", self.key);
        self.storage
            .put(&path, bytes)
            .await
            .map_err(|e| e.to_string())?;
        let file = OutputFile {
            path,
            content_type: content_type.to_owned(),
        };
        self.events
            .send(RunEvent::File(name.to_owned(), file))
            .await
            .map_err(|_| "the run's event receiver is gone".to_owned())
    }
}

/// The sink of `drake run`: files go into a directory and are announced
/// as [`RunEvent::File`] with their local path.
pub struct DirSink {
    /// Output directory.
    pub dir: std::path::PathBuf,
    /// Where the run's events go.
    pub events: tokio::sync::mpsc::Sender<RunEvent>,
}

#[async_trait::async_trait]
impl OutputSink for DirSink {
    async fn publish(
        &self,
        name: &str,
        extension: &str,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<(), String> {
        let path = self.dir.join(format!("{name}.{extension}"));
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let file = OutputFile {
            path: path.display().to_string(),
            content_type: content_type.to_owned(),
        };
        self.events
            .send(RunEvent::File(name.to_owned(), file))
            .await
            .map_err(|_| "the run's event receiver is gone".to_owned())
    }
}
