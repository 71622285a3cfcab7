//! drake-host: the drake server and CLI as a library.
//!
//! - [`config`]: the TOML file and `DRAKE_*` overrides;
//! - [`app`]: wiring only — builds the parts below and serves;
//! - [`api`]: the HTTP API (dragon v1);
//! - [`store`]: task rows and their state machine (SQLite);
//! - [`storage`]: output files (object_store);
//! - [`scheduler`]: claim → run → complete, rescuer, reaper;
//! - [`engine`]: wasmtime, components, per-run sandboxes;
//! - [`capabilities`]: the host side of the WIT imports;
//! - [`metrics`]: `/metrics` (Prometheus text);
//! - [`registry`]: which tasks exist and how they are named;
//! - [`client`]: the API client behind `drake create | status | stream`.

pub mod api;
pub mod app;
pub mod callbacks;
pub mod capabilities;
pub mod client;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod registry;
pub mod scheduler;
pub mod storage;
pub mod store;
