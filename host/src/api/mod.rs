//! The HTTP API (api.md §5): routes only. Each route's handler lives in the
//! module of its noun: [`create`] (create, create_file, create_stream),
//! [`status`] (status, status_stream, file, recent), [`cancel`], [`files`] (storage),
//! [`ops`] (`/v1/tasks`, health, metrics), [`openapi`], [`dashboard`].
//!
//! The shared edges: [`extract`] (what handlers start with: the query,
//! the JSON body, the caller, as extractors), [`auth`] (credentials to an
//! account), [`cors`], [`error`] (the one error envelope). Creating goes
//! [`definition`] (the task definitions of a request) → [`insert`]
//! (validation, dedup, limits, rows); [`wait`] waits for task changes and
//! [`stream`] streams them; statuses are rendered by [`crate::wire`].

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::routing::MethodRouter;
use tower_http::timeout::TimeoutBody;

use crate::config::Config;
use crate::engine::Engine;
use crate::outputs::{FileUrls, Storage};
use crate::store::TaskStore;
use openapi::Operation;

pub mod auth;
pub mod cancel;
pub mod cors;
pub mod create;
pub mod dashboard;
pub mod definition;
mod docs;
pub mod error;
pub mod extract;
pub mod files;
pub mod insert;
pub mod openapi;
pub mod ops;
pub mod status;
pub mod stream;
pub mod templates;
pub mod uploads;
pub mod wait;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Task rows.
    pub store: Arc<dyn TaskStore>,
    /// Loaded task kinds (names, schemas, outputs).
    pub engine: Arc<Engine>,
    /// Output files.
    pub outputs: Storage,
    /// Configuration.
    pub config: Arc<Config>,
    /// drake's public base URL.
    pub public_base: Arc<str>,
    /// How output files are linked.
    pub urls: Arc<FileUrls>,
    /// Requests waiting for tasks, capped.
    pub waiters: Arc<wait::Waiters>,
    /// `/openapi.json`, built once.
    pub openapi: Arc<std::sync::OnceLock<serde_json::Value>>,
    /// This node's scheduler: a create runs its tasks at once in free
    /// worker slots.
    pub scheduler: Arc<crate::scheduler::Scheduler>,
    /// Accounts' queued tasks, counted recently (`max_queued`).
    pub queued: Arc<insert::QueuedCounts>,
}

/// One path: its handlers and their documentation. The router and
/// `/openapi.json` are both built from [`routes`], so the document cannot
/// miss a route or describe one that is not served.
pub struct Route {
    /// Path in axum's (and OpenAPI's) `{param}` syntax.
    pub path: &'static str,
    /// The handlers.
    pub handlers: MethodRouter<AppState>,
    /// One documented operation per handler.
    pub ops: Vec<Operation>,
}

impl Route {
    fn new(path: &'static str) -> Route {
        Route {
            path,
            handlers: MethodRouter::new(),
            ops: Vec::new(),
        }
    }

    fn get<H: Handler<T, AppState>, T: 'static>(mut self, handler: H, op: Operation) -> Route {
        debug_assert_eq!(op.method, axum::http::Method::GET);
        self.handlers = self.handlers.get(handler);
        self.ops.push(op);
        self
    }

    fn post<H: Handler<T, AppState>, T: 'static>(mut self, handler: H, op: Operation) -> Route {
        debug_assert_eq!(op.method, axum::http::Method::POST);
        self.handlers = self.handlers.post(handler);
        self.ops.push(op);
        self
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(mut self, handler: H, op: Operation) -> Route {
        debug_assert_eq!(op.method, axum::http::Method::DELETE);
        self.handlers = self.handlers.delete(handler);
        self.ops.push(op);
        self
    }
}

/// Every route, in the order `/openapi.json` lists them.
pub fn routes() -> Vec<Route> {
    use docs::*;
    vec![
        Route::new("/v1/create").post(create::create, CREATE),
        Route::new("/v1/create_file")
            .get(create::create_file_get, CREATE_FILE_GET)
            .post(create::create_file_post, CREATE_FILE_POST),
        Route::new("/v1/create_file/{filename}")
            .get(create::create_file_get_named, CREATE_FILE_GET_NAMED)
            .post(create::create_file_post_named, CREATE_FILE_POST_NAMED),
        Route::new("/v1/create_stream").post(create::create_stream, CREATE_STREAM),
        Route::new("/v1/status")
            .get(status::status_get, STATUS_GET)
            .post(status::status_post, STATUS_POST),
        Route::new("/v1/status_stream")
            .get(status::stream_get, STATUS_STREAM_GET)
            .post(status::stream_post, STATUS_STREAM_POST),
        Route::new("/v1/stream")
            .get(status::stream_get, STREAM_GET)
            .post(status::stream_post, STREAM_POST),
        Route::new("/v1/file/{filename}").get(status::file, FILE),
        Route::new("/v1/recent").get(status::recent, RECENT),
        Route::new("/v1/cancel").post(cancel::cancel, CANCEL),
        Route::new("/v1/uploads").post(uploads::upload, UPLOAD),
        Route::new("/v1/templates")
            .get(templates::list, TEMPLATES_LIST)
            .post(templates::put, TEMPLATE_PUT),
        Route::new("/v1/templates/{name}")
            .get(templates::get, TEMPLATE_GET)
            .delete(templates::delete, TEMPLATE_DELETE),
        Route::new("/v1/storage/{key}/{*name}").get(files::storage, STORAGE),
        Route::new("/v1/tasks").get(ops::tasks, TASKS),
        Route::new("/healthz").get(ops::healthz, HEALTHZ),
        Route::new("/readyz").get(ops::readyz, READYZ),
        Route::new("/metrics").get(ops::metrics, METRICS),
        Route::new("/openapi.json").get(openapi::document, OPENAPI),
        Route::new("/").get(dashboard::page, DASHBOARD),
        Route::new("/dashboard.js").get(dashboard::script, DASHBOARD_SCRIPT),
        Route::new("/player.js").get(dashboard::player, PLAYER_SCRIPT),
    ]
}

/// The probes and metrics only: what a `--worker-only` node serves.
pub fn ops_router(state: AppState) -> Router {
    routes()
        .into_iter()
        .filter(|route| matches!(route.path, "/healthz" | "/readyz" | "/metrics"))
        .fold(Router::new(), |router, route| {
            router.route(route.path, route.handlers)
        })
        .layer(axum::middleware::map_response(nosniff))
        .with_state(state)
}

/// The router of every route.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let body_timeout = state.config.body_read_timeout;
    routes()
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, route.handlers)
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::cors,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_request(
            move |request: Request| async move {
                // A pause longer than this within a body ends the request.
                request.map(|body| Body::new(TimeoutBody::new(body_timeout, body)))
            },
        ))
        .layer(axum::middleware::map_response(nosniff))
        .with_state(state)
}

/// Every answer is what its `Content-Type` says: browsers must not sniff
/// an output file (a guest chose its bytes) into HTML or script.
async fn nosniff(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}
