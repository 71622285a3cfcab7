//! Output files: where they are stored and how clients reach them. The
//! store is `object_store`'s: a local directory by default, or an
//! S3-compatible bucket shared by every node (`[blobs]`); the links are
//! [`FileUrls`] (served by drake, a public base, or S3 pre-signed GETs).
//!
//! Objects live at `<TASK KEY>/<name>.<ext>` (under the bucket's prefix),
//! so deleting a task's files is deleting one prefix. A served run writes
//! through a [`TaskSink`].

mod urls;

pub use urls::{FileUrls, Presigner};

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use futures::TryStreamExt as _;
use futures::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};

use crate::config::{BlobsLocation, Config, OutputUrls};
use crate::run::{OutputSink, RunEvent};
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

    /// The store `[blobs]` configures, and how its files are linked.
    pub fn open(config: &Config) -> anyhow::Result<(Storage, FileUrls)> {
        let blobs = &config.blobs;
        let location = blobs
            .location(&config.data_dir)
            .map_err(anyhow::Error::msg)?;
        let urls = match (blobs.output_urls, &location) {
            (OutputUrls::Drake, _) => FileUrls::drake(&config.public_base()),
            (OutputUrls::Public, _) => FileUrls::Public {
                base: blobs.public_base().map_err(anyhow::Error::msg)?,
            },
            (OutputUrls::Presigned, BlobsLocation::S3 { bucket, prefix }) => FileUrls::Presigned(
                Presigner::for_s3(&blobs.s3, bucket, prefix).map_err(anyhow::Error::msg)?,
            ),
            (OutputUrls::Presigned, BlobsLocation::Dir(_)) => {
                anyhow::bail!("blobs.output_urls: \"presigned\" needs an s3:// blobs.url")
            }
        };
        let storage = match location {
            BlobsLocation::Dir(dir) => Storage::local(&dir)
                .with_context(|| format!("opening the blob directory {}", dir.display()))?,
            BlobsLocation::S3 { bucket, prefix } => {
                let s3 = &blobs.s3;
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&bucket)
                    .with_region(&s3.region)
                    .with_allow_http(s3.allow_http);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
                }
                if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
                    builder = builder
                        .with_access_key_id(id)
                        .with_secret_access_key(secret);
                }
                let bucket_store = builder
                    .build()
                    .with_context(|| format!("blobs.url: the S3 bucket {bucket:?}"))?;
                let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(bucket_store)
                } else {
                    Arc::new(PrefixStore::new(bucket_store, prefix.as_str()))
                };
                Storage { inner }
            }
        };
        Ok((storage, urls))
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
            etag: etag(&meta),
            body: result.into_stream(),
        })
    }

    /// Size and ETag of `path`.
    pub async fn head(&self, path: &str) -> object_store::Result<(u64, String)> {
        let meta = self.inner.head(&ObjectPath::from(path)).await?;
        Ok((meta.size, etag(&meta)))
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

/// An object's entity tag, unquoted (S3 sends it quoted, the local
/// store not at all); size and time when the backend has none.
fn etag(meta: &object_store::ObjectMeta) -> String {
    match &meta.e_tag {
        Some(tag) => tag.trim_matches('"').to_owned(),
        None => format!("{:x}-{:x}", meta.size, meta.last_modified.timestamp()),
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
