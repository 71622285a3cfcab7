//! drake-host: the drake server and CLI as a library.
//!
//! Layered, each module using only those above it in this list (a test,
//! `tests/tests/modules.rs`, fails on an import circle):
//!
//! - [`config`]: the TOML file and `DRAKE_*` overrides, one struct per
//!   section, validated once; [`budget`]: what one run may take from the
//!   node (bytes fetched and sent, scratch disk, held memory) and the
//!   bodies it holds;
//! - [`registry`]: which tasks this build serves (generated from the task
//!   crates) and how their components are named;
//! - [`sign`]: every HMAC drake computes (signed URLs, callbacks);
//! - [`store`]: task rows, their state machine, task keys (SQLite,
//!   Postgres);
//! - [`run`]: what a task run reports and where its files go;
//! - [`outputs`]: output files — where they are stored, how they are
//!   linked; [`wire`]: a task's status as clients see it; [`inputs`]:
//!   task outputs and uploads as inputs (`drake:KEY/NAME` references);
//! - [`fetcher`]: the one policy-guarded HTTP client;
//! - [`bindings`]: the WIT world; [`capabilities`]: the host side of its
//!   imports; [`engine`]: wasmtime, components, per-run sandboxes;
//! - [`scheduler`]: claim → run → complete, rescuer, reaper;
//!   [`callbacks`]: signed status POSTs; [`metrics`]: `/metrics`;
//! - [`api`]: the HTTP API (dragon v1); [`server`]: the connections under
//!   it (caps, timeouts, graceful shutdown); [`app`]: wiring and serving;
//! - [`local`] (`drake run`) and [`client`] (`drake create | status |
//!   stream`): the CLI's commands.

pub mod api;
pub mod app;
pub mod bindings;
pub mod budget;
pub mod callbacks;
pub mod capabilities;
pub mod client;
pub mod config;
pub mod engine;
pub mod fetcher;
pub mod inputs;
pub mod local;
pub mod metrics;
pub mod outputs;
pub mod registry;
pub mod run;
pub mod scheduler;
pub mod server;
pub mod sign;
pub mod store;
pub mod templates;
pub mod wire;
