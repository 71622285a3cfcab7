//! Every end-to-end test in one binary: the host and the harness are
//! compiled and linked once, not once per file. One file's tests:
//! `cargo test --release -p drake-tests --test e2e images::`.

mod common;

mod api;
mod audio;
mod captions;
mod dashboard;
mod html;
mod images;
mod modules;
mod pipelines;
mod reliability;
mod scale;
mod spin;
mod streaming;
mod sxml_corpus;
mod sxml_property;
mod templates;
mod tenants;
mod upload;
mod video;
mod video_create;
