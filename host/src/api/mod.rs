//! The HTTP API (api.md §5): routes only. Each route's handler lives in the
//! module of its noun: [`create`] (create, create_file, create_stream),
//! [`status`] (status, status_stream, file), [`files`] (storage), [`ops`]
//! (`/v1/tasks`, health). [`auth`], [`cors`] and [`error`] are the shared
//! edges; [`wire`] renders statuses; [`wait`] waits for task changes.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::config::Config;
use crate::engine::Engine;
use crate::storage::Storage;
use crate::store::TaskStore;

pub mod auth;
pub mod cors;
pub mod create;
pub mod error;
pub mod files;
pub mod ops;
pub mod request;
pub mod status;
pub mod stream;
pub mod wait;
pub mod wire;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Task rows.
    pub store: Arc<dyn TaskStore>,
    /// Loaded task kinds (names, schemas, outputs).
    pub engine: Arc<Engine>,
    /// Output files.
    pub storage: Storage,
    /// Configuration.
    pub config: Arc<Config>,
    /// Base of output URLs.
    pub public_base: Arc<str>,
}

/// The router of every route.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/v1/create", post(create::create))
        .route(
            "/v1/create_file",
            get(create::create_file_get).post(create::create_file_post),
        )
        .route(
            "/v1/create_file/{filename}",
            get(create::create_file_get_named).post(create::create_file_post_named),
        )
        .route("/v1/create_stream", post(create::create_stream))
        .route(
            "/v1/status",
            get(status::status_get).post(status::status_post),
        )
        .route(
            "/v1/status_stream",
            get(status::stream_get).post(status::stream_post),
        )
        .route(
            "/v1/stream",
            get(status::stream_get).post(status::stream_post),
        )
        .route("/v1/file/{filename}", get(status::file))
        .route("/v1/storage/{key}/{name}", get(files::storage))
        .route("/v1/tasks", get(ops::tasks))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::cors,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
