//! The bytes a run holds for its guest: [`Body`] (in memory, or spooled
//! to a file in the run's [`Scratch`] directory), built by streaming into
//! a [`BodyBuilder`].
//!
//! A body stays in memory when it is small ([`SPILL_BYTES`]) and the
//! node's pool of held memory has room for it; otherwise it goes to disk
//! as it arrives, charged to the run's scratch budget. Nothing waits for
//! memory: a run that waited while holding some could wait forever for
//! another that does the same, and disk is there to take the rest.

use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWriteExt as _, BufWriter};

use super::{Exceeded, Held, RunBudget};

/// Largest body kept in memory: a photo or a page; anything larger (media
/// a task hands to ffmpeg) goes to disk, where ffmpeg reads it anyway.
pub const SPILL_BYTES: u64 = 8 << 20;

/// Write buffer of a spooling body: a few large writes instead of one per
/// network chunk.
const WRITE_BUFFER: usize = 1 << 20;

/// The run's scratch directory (`run-*` under the ffmpeg scratch root),
/// made on first use and removed with the run.
pub struct Scratch {
    root: PathBuf,
    dir: Mutex<Option<tempfile::TempDir>>,
    files: AtomicU64,
}

impl Scratch {
    /// A run directory to be made under `root`.
    pub fn new(root: &Path) -> Arc<Scratch> {
        Arc::new(Scratch {
            root: root.to_path_buf(),
            dir: Mutex::new(None),
            files: AtomicU64::new(0),
        })
    }

    /// Remove the directory and what is left in it (the run is over; a
    /// later [`Scratch::new_path`] would make a new one).
    pub fn remove(&self) {
        if let Ok(mut dir) = self.dir.lock() {
            drop(dir.take());
        }
    }

    /// A fresh file name in the directory (names are never reused: a
    /// deleted file may still be linked into a running ffmpeg job).
    pub fn new_path(&self) -> io::Result<PathBuf> {
        let mut dir = self
            .dir
            .lock()
            .map_err(|_| io::Error::other("scratch lock poisoned"))?;
        let dir = match &mut *dir {
            Some(dir) => dir,
            empty => empty.insert(
                tempfile::Builder::new()
                    .prefix("run-")
                    .tempdir_in(&self.root)?,
            ),
        };
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        Ok(dir.path().join(format!("body{n}")))
    }
}

/// Why a body could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// A budget ran out.
    #[error(transparent)]
    Exceeded(#[from] Exceeded),
    /// The scratch disk failed (the host's problem).
    #[error("scratch disk: {0}")]
    Io(#[from] io::Error),
}

/// An immutable byte string held for a run: cheap to clone, freed (memory
/// back to the pool, file deleted and its scratch given back) when the
/// last clone goes.
#[derive(Clone)]
pub struct Body(Arc<Inner>);

enum Inner {
    Memory { bytes: Bytes, _held: Option<Held> },
    File(Spooled),
}

/// A body's file, deleted with it.
struct Spooled {
    path: PathBuf,
    len: u64,
    /// Open for reading once written.
    file: Option<std::fs::File>,
    budget: Arc<RunBudget>,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        // Best effort: the run directory goes with the run anyway.
        let _ = std::fs::remove_file(&self.path);
        self.budget.scratch_give(self.len);
    }
}

impl Body {
    /// Bytes made by the host (a writer's output, ffmpeg's), not charged
    /// to the pool: the caps that produced them bound them.
    pub fn from_bytes(bytes: Bytes) -> Body {
        Body(Arc::new(Inner::Memory { bytes, _held: None }))
    }

    /// Its length.
    pub fn len(&self) -> u64 {
        match &*self.0 {
            Inner::Memory { bytes, .. } => bytes.len() as u64,
            Inner::File(f) => f.len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An identity for maps keyed by body (stable while a clone lives).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// The file holding it, when spooled.
    pub fn path(&self) -> Option<&Path> {
        match &*self.0 {
            Inner::File(f) => Some(&f.path),
            Inner::Memory { .. } => None,
        }
    }

    /// The bytes, when in memory.
    pub fn bytes(&self) -> Option<&Bytes> {
        match &*self.0 {
            Inner::Memory { bytes, .. } => Some(bytes),
            Inner::File(_) => None,
        }
    }

    /// Up to `len` bytes from `offset` (fewer at the end; none past it).
    pub async fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let end = offset.saturating_add(len as u64).min(self.len());
        let want = usize::try_from(end.saturating_sub(offset)).unwrap_or(0);
        match &*self.0 {
            Inner::Memory { bytes, .. } => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                Ok(bytes
                    .get(start..start.saturating_add(want))
                    .unwrap_or_default()
                    .to_vec())
            }
            Inner::File(_) => {
                let this = self.clone();
                tokio::task::spawn_blocking(move || {
                    let Inner::File(f) = &*this.0 else {
                        return Ok(Vec::new());
                    };
                    let file = f
                        .file
                        .as_ref()
                        .ok_or_else(|| io::Error::other("body not written"))?;
                    let mut buf = vec![0; want];
                    file.read_exact_at(&mut buf, offset)?;
                    Ok(buf)
                })
                .await
                .map_err(io::Error::other)?
            }
        }
    }

    /// All of it in memory (publishing a spooled body).
    pub async fn to_bytes(&self) -> io::Result<Bytes> {
        match &*self.0 {
            Inner::Memory { bytes, .. } => Ok(bytes.clone()),
            Inner::File(f) => tokio::fs::read(&f.path).await.map(Bytes::from),
        }
    }

    /// The finished file `path` (`len` bytes, on the scratch root's file
    /// system) moved into `scratch`, charged to `budget`'s scratch.
    pub async fn adopt(
        path: &Path,
        len: u64,
        budget: &Arc<RunBudget>,
        scratch: &Scratch,
    ) -> Result<Body, BodyError> {
        let to = scratch.new_path()?;
        budget.scratch_take(len)?;
        let mut spooled = Spooled {
            path: to,
            len,
            file: None,
            budget: budget.clone(),
        };
        tokio::fs::rename(path, &spooled.path).await?;
        spooled.file = Some(std::fs::File::open(&spooled.path)?);
        Ok(Body(Arc::new(Inner::File(spooled))))
    }

    /// `bytes` written to a file of `scratch`, charged to `budget`'s
    /// scratch (a memory body an ffmpeg job reads).
    pub async fn spool(
        bytes: &Bytes,
        budget: &Arc<RunBudget>,
        scratch: &Arc<Scratch>,
    ) -> Result<Body, BodyError> {
        let mut builder = BodyBuilder {
            budget: budget.clone(),
            scratch: scratch.clone(),
            state: State::Unopened,
        };
        builder.write(bytes).await?;
        builder.finish().await
    }
}

/// A body being received: in memory while it is small and the pool has
/// room, then (or from the start, when its declared length is large) in a
/// scratch file.
pub struct BodyBuilder {
    budget: Arc<RunBudget>,
    scratch: Arc<Scratch>,
    state: State,
}

enum State {
    Memory {
        buf: BytesMut,
        held: Option<Held>,
    },
    /// Bound for disk; the file is made on the first write.
    Unopened,
    File {
        spooled: Spooled,
        out: BufWriter<tokio::fs::File>,
    },
}

impl BodyBuilder {
    /// A builder for a body of `declared` length, if known.
    pub fn new(budget: Arc<RunBudget>, scratch: Arc<Scratch>, declared: Option<u64>) -> Self {
        let state = if declared.is_some_and(|n| n > SPILL_BYTES) {
            State::Unopened
        } else {
            State::Memory {
                buf: BytesMut::new(),
                held: None,
            }
        };
        BodyBuilder {
            budget,
            scratch,
            state,
        }
    }

    /// Append `chunk`.
    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        if let State::Memory { buf, held } = &mut self.state {
            let total = buf.len() as u64 + chunk.len() as u64;
            // Whole KiB held for the whole body, not rounded up per chunk.
            let more = total.div_ceil(1 << 10) - held.as_ref().map_or(0, Held::kib);
            let fits = total <= SPILL_BYTES;
            if let Some(more) = fits.then(|| self.budget.try_hold(more << 10)).flatten() {
                match held {
                    Some(h) => h.merge(more),
                    None => *held = Some(more),
                }
                buf.extend_from_slice(chunk);
                return Ok(());
            }
            // Too large, or no memory to spare: what came so far goes to
            // disk (its memory back to the pool with `held`).
            let so_far = std::mem::take(buf).freeze();
            self.state = State::Unopened;
            self.write(&so_far).await?;
        }
        self.write(chunk).await
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        if matches!(self.state, State::Unopened) {
            let path = self.scratch.new_path()?;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            self.state = State::File {
                spooled: Spooled {
                    path,
                    len: 0,
                    file: None,
                    budget: self.budget.clone(),
                },
                out: BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file)),
            };
        }
        let State::File { spooled, out } = &mut self.state else {
            return Err(io::Error::other("a body in memory written as a file").into());
        };
        self.budget.scratch_take(chunk.len() as u64)?;
        // Counted before the write, so a failed write is given back too.
        spooled.len += chunk.len() as u64;
        out.write_all(chunk).await?;
        Ok(())
    }

    /// The finished body.
    pub async fn finish(self) -> Result<Body, BodyError> {
        match self.state {
            State::Memory { buf, held } => Ok(Body(Arc::new(Inner::Memory {
                bytes: buf.freeze(),
                _held: held,
            }))),
            // Announced large, and nothing came.
            State::Unopened => Ok(Body::from_bytes(Bytes::new())),
            State::File {
                mut spooled,
                mut out,
            } => {
                out.flush().await?;
                spooled.file = Some(out.into_inner().into_std().await);
                Ok(Body(Arc::new(Inner::File(spooled))))
            }
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use crate::budget::HeldPool;
    use crate::config::TaskBudgets;

    fn run(
        scratch_bytes: u64,
        pool: &Arc<HeldPool>,
    ) -> (Arc<RunBudget>, Arc<Scratch>, tempfile::TempDir) {
        let limits = TaskBudgets {
            fetch_bytes: u64::MAX,
            send_bytes: u64::MAX,
            scratch_bytes,
        };
        let root = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(root.path());
        (RunBudget::new(limits, pool.clone()), scratch, root)
    }

    async fn build(
        budget: &Arc<RunBudget>,
        scratch: &Arc<Scratch>,
        declared: Option<u64>,
        parts: &[&[u8]],
    ) -> Result<Body, BodyError> {
        let mut b = BodyBuilder::new(budget.clone(), scratch.clone(), declared);
        for part in parts {
            b.push(part).await?;
        }
        b.finish().await
    }

    #[tokio::test]
    async fn small_bodies_stay_in_memory_until_the_pool_is_full() {
        let pool = HeldPool::new(1 << 20);
        let (budget, scratch, _root) = run(u64::MAX, &pool);
        let small = build(&budget, &scratch, None, &[b"hello ", b"world"])
            .await
            .unwrap();
        assert!(small.bytes().is_some());
        assert_eq!(small.read(6, 100).await.unwrap(), b"world");
        assert_eq!(pool.held(), 1 << 10, "held from the pool, in KiB");
        let full = vec![7u8; 1 << 20];
        let spilled = build(&budget, &scratch, None, &[&full]).await.unwrap();
        assert!(
            spilled.path().is_some(),
            "no room left in the pool: on disk"
        );
        drop(small);
        assert_eq!(pool.held(), 0, "given back with the body");
        assert_eq!(spilled.read((1 << 20) - 2, 10).await.unwrap(), [7, 7]);
    }

    #[tokio::test]
    async fn large_bodies_spool_within_the_scratch_budget() {
        let pool = HeldPool::new(64 << 20);
        let (budget, scratch, _root) = run(SPILL_BYTES * 3, &pool);
        let part = vec![1u8; (SPILL_BYTES / 2) as usize];
        // Unknown length: starts in memory, moves to disk past SPILL_BYTES.
        let body = build(&budget, &scratch, None, &[&part, &part, &part])
            .await
            .unwrap();
        let path = body.path().unwrap().to_path_buf();
        assert_eq!(body.len(), SPILL_BYTES * 3 / 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), body.len());
        assert_eq!(pool.held(), 0, "its memory went back when it spilled");
        assert_eq!(budget.scratch_left(), SPILL_BYTES * 3 / 2);
        // A declared large body goes straight to disk, and is refused as
        // soon as it outgrows what is left.
        let over = build(
            &budget,
            &scratch,
            Some(SPILL_BYTES * 2),
            &[&part, &part, &part, &part],
        )
        .await;
        assert!(matches!(over, Err(BodyError::Exceeded(e)) if e.key == "scratch_bytes"));
        drop(body);
        assert!(!path.exists(), "the file goes with the body");
        assert_eq!(budget.exceeded().unwrap().key, "scratch_bytes");
    }

    #[tokio::test]
    async fn adopted_and_spooled_files_are_charged_and_freed() {
        let pool = HeldPool::new(1 << 20);
        let (budget, scratch, root) = run(1000, &pool);
        let made = root.path().join("out0");
        std::fs::write(&made, [3u8; 600]).unwrap();
        let adopted = Body::adopt(&made, 600, &budget, &scratch).await.unwrap();
        assert!(!made.exists() && adopted.path().is_some());
        assert_eq!(adopted.to_bytes().await.unwrap().len(), 600);
        let copy = Body::spool(&Bytes::from_static(&[1; 300]), &budget, &scratch)
            .await
            .unwrap();
        assert_eq!(budget.scratch_left(), 100);
        drop((adopted, copy));
        assert_eq!(budget.scratch_left(), 1000);
    }
}
