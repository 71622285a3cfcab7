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
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};

use crate::budget::Body;
use crate::config::{BlobsLocation, Config, OutputUrls};
use crate::run::{OutputSink, RunEvent};

/// Part size of a streamed put: above S3's 5 MiB minimum part, small
/// enough that a few in flight stay a few tens of MiB of memory.
const PART_BYTES: usize = 8 << 20;
/// Parts uploaded at once while the next is read.
const PARTS_IN_FLIGHT: usize = 2;
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
            (OutputUrls::Presigned, BlobsLocation::S3 { bucket, prefix }) => FileUrls::Presigned {
                presigner: Presigner::for_s3(&blobs.s3, bucket, prefix)
                    .map_err(anyhow::Error::msg)?,
                drake: config.public_base().trim_end_matches('/').to_owned(),
            },
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

    /// Store `body` at `path`: a body in memory in one put, one spooled to
    /// disk streamed from its file in parts (an output of gigabytes never
    /// enters memory whole).
    pub async fn put_body(&self, path: &str, body: &Body) -> object_store::Result<()> {
        let file = match (body.bytes(), body.path()) {
            (Some(bytes), _) => return self.put(path, bytes.clone()).await,
            (None, Some(file)) => file,
            (None, None) => return self.put(path, Bytes::new()).await,
        };
        let io = |e: std::io::Error| object_store::Error::Generic {
            store: "scratch",
            source: Box::new(e),
        };
        let mut file = tokio::fs::File::open(file).await.map_err(io)?;
        let upload = self.inner.put_multipart(&ObjectPath::from(path)).await?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf)
                .await
                .map_err(io)?;
            if n == 0 {
                break;
            }
            parts.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            parts.write(&buf[..n]);
        }
        parts.finish().await.map(drop)
    }

    /// Store the bytes of `chunks` at `path`, at most `cap` of them,
    /// streamed in parts (an upload of gigabytes never enters memory
    /// whole); answers their number and SHA-256. Past the cap, or when
    /// the stream fails, nothing is kept.
    pub async fn put_stream<S, E>(
        &self,
        path: &str,
        mut chunks: S,
        cap: u64,
    ) -> Result<(u64, [u8; 32]), PutError<E>>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
    {
        use sha2::Digest as _;
        let upload = self.inner.put_multipart(&ObjectPath::from(path)).await?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut hash = sha2::Sha256::new();
        let mut size = 0u64;
        let failed = loop {
            let chunk = match futures::StreamExt::next(&mut chunks).await {
                None => break None,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => break Some(PutError::Body(e)),
            };
            size += chunk.len() as u64;
            if size > cap {
                break Some(PutError::TooLarge(cap));
            }
            hash.update(&chunk);
            if let Err(e) = parts.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break Some(PutError::Store(e));
            }
            parts.write(&chunk);
        };
        match failed {
            None => {
                parts.finish().await?;
                Ok((size, hash.finalize().into()))
            }
            Some(e) => {
                if let Err(abort) = parts.abort().await {
                    tracing::warn!(error = %abort, path, "abandoning a partial upload failed");
                }
                Err(e)
            }
        }
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

/// Why [`Storage::put_stream`] kept nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError<E> {
    /// More bytes than the cap.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// The stream failed (the client's body).
    #[error("the body failed: {0}")]
    Body(E),
    /// The blob store failed.
    #[error("the blob store failed: {0}")]
    Store(#[from] object_store::Error),
}

/// Most path segments of an output's part (`720p/17.m4s` is two): deep
/// enough for a ladder's renditions, shallow enough to list cheaply.
const PART_DEPTH: usize = 3;

/// The content type of an output part at `path` (relative to its output),
/// or `None` when the path is not one a part may have: one to
/// [`PART_DEPTH`] segments of `[A-Za-z0-9_-]` (no dots but the last
/// segment's extension, so no `..`), ending in a streaming media
/// extension. The host decides the type: a guest cannot make drake serve
/// HTML or script from a part.
pub fn part_content_type(path: &str) -> Option<&'static str> {
    let (stem, ext) = path.rsplit_once('.')?;
    let segments: Vec<&str> = stem.split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if segments.len() > PART_DEPTH || !segments.iter().all(plain) {
        return None;
    }
    Some(match ext {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "mp4" => "video/mp4",
        "m4s" => "video/iso.segment",
        "m4a" => "audio/mp4",
        "ts" => "video/mp2t",
        "vtt" => "text/vtt",
        "webm" => "video/webm",
        _ => return None,
    })
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
        body: Body,
    ) -> Result<(), String> {
        let path = format!("{}/{name}.{extension}", self.key);
        self.storage
            .put_body(&path, &body)
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

    async fn publish_part(&self, name: &str, path: &str, body: Body) -> Result<(), String> {
        let path = format!("{}/{name}/{path}", self.key);
        self.storage
            .put_body(&path, &body)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use crate::budget::{HeldPool, RunBudget, Scratch};
    use crate::config::TaskBudgets;

    /// Part paths: plain segments, a known media extension, at most three
    /// deep; nothing that climbs, hides or could be served as a page.
    #[test]
    fn part_paths() {
        for (path, ct) in [
            ("360p.m3u8", "application/vnd.apple.mpegurl"),
            ("360p/init.mp4", "video/mp4"),
            ("360p/17.m4s", "video/iso.segment"),
            ("a_b-c/1.ts", "video/mp2t"),
            ("x/y/z.vtt", "text/vtt"),
        ] {
            assert_eq!(part_content_type(path), Some(ct), "{path}");
        }
        for path in [
            "../x.m4s",
            "a/../../x.m4s",
            "a/./x.m4s",
            ".m4s",
            "a//x.m4s",
            "/x.m4s",
            "a/b/c/d.m4s",
            "x.html",
            "x.m4s.html",
            "x.y.m4s",
            "x",
            "é.m4s",
            "a\\b.m4s",
            "a b.m4s",
        ] {
            assert_eq!(part_content_type(path), None, "{path}");
        }
    }

    /// A body spooled to disk is stored whole, in parts (more than one
    /// here), byte for byte; a memory body in one put.
    #[tokio::test]
    async fn put_body_streams_spooled_files() {
        let out = tempfile::tempdir().unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(out.path()).unwrap();
        let storage = Storage {
            inner: Arc::new(fs),
        };
        let root = tempfile::tempdir().unwrap();
        let limits = TaskBudgets {
            fetch_bytes: u64::MAX,
            send_bytes: u64::MAX,
            scratch_bytes: u64::MAX,
        };
        let budget = RunBudget::new(limits, HeldPool::new(1 << 20));
        let scratch = Scratch::new(root.path());
        let data: Bytes = (0..PART_BYTES * 2 + 12_345)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into();
        let spooled = Body::spool(&data, &budget, &scratch).await.unwrap();
        assert!(spooled.path().is_some(), "the body is on disk");
        storage.put_body("K/video.mp4", &spooled).await.unwrap();
        assert_eq!(std::fs::read(out.path().join("K/video.mp4")).unwrap(), data);
        let small = Body::from_bytes(Bytes::from_static(b"thumb"));
        storage.put_body("K/thumb.jpg", &small).await.unwrap();
        assert_eq!(
            std::fs::read(out.path().join("K/thumb.jpg")).unwrap(),
            b"thumb"
        );
    }
}
