//! drake-rules: what drake's host and its guests must decide the same way,
//! compiled once for both (native for the host, `wasm32-wasip2` for the
//! task components and the Spin entry point of `drake-sdk`).
//!
//! - [`validate`]: task parameters against a task's JSON Schema, with
//!   dragon's per-field messages — the host checks a definition when it is
//!   created, the component again when it runs;
//! - [`query`]: query strings coerced to the declared parameter types
//!   (`GET /v1/create_file`, the CLI, Spin's `GET /v1/run/<task>`);
//! - [`net`]: the network policy of every fetch (api.md §8): blocked
//!   ranges, the allow-list and its `DRAKE_FETCH_ALLOW` form, redirects;
//! - [`auth`]: where a credential may be given (api.md §2) and how keys
//!   are compared.
//!
//! Nothing here does I/O; every function is a decision over its inputs.

pub mod auth;
pub mod net;
pub mod query;
pub mod validate;
