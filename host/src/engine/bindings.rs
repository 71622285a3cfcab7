//! The one `bindgen!` of the `drake:task` world for the host.
//!
//! Every import is async (fetch and publish do I/O) and trappable (a host
//! bug or a misuse the instance must not survive returns a trap, never a
//! panic). The `blobs` resources map to the host types in
//! [`crate::capabilities::blobs`].

wasmtime::component::bindgen!({
    path: "../wit",
    world: "task",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "drake:task/blobs.blob": crate::capabilities::blobs::Blob,
        "drake:task/blobs.writer": crate::capabilities::blobs::Writer,
    },
});

pub use drake::task::{blobs, fetch, ffmpeg, progress, types};
