//! The one `bindgen!` of the `drake:task` world for the host, and the host
//! types behind its resources.
//!
//! Every import is async (fetch and publish do I/O) and trappable (a host
//! bug or a misuse the instance must not survive returns a trap, never a
//! panic). The capabilities implement the imports
//! ([`crate::capabilities`]); the engine calls the exports
//! ([`crate::engine`]).

use crate::budget::{Body, BodyBuilder};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "task",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "drake:task/blobs.blob": Blob,
        "drake:task/blobs.writer": Writer,
    },
});

pub use drake::task::{blobs, fetch, ffmpeg, progress, types};

/// A `blob`: an immutable byte string held by the host (a fetched input,
/// a finished output), in memory or spooled to the run's scratch; the
/// guest reads it in slices.
pub struct Blob {
    /// The bytes.
    pub body: Body,
    /// Declared content type.
    pub content_type: String,
    /// Where the bytes came from, after redirects (empty when made here).
    pub url: String,
}

/// A `writer`: an output being written (`None` once finished).
pub struct Writer {
    /// What the guest wrote so far.
    pub builder: Option<BodyBuilder>,
}
