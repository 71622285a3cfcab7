//! CORS for browsers calling the API with an api_key (api.md §1): every
//! `/v1/*` route answers preflights, and responses carry
//! `Access-Control-Allow-Origin` — the caller's origin when some account
//! whitelists it, `*` on read routes (the task key is the capability).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::host_matches;

fn is_read_route(path: &str) -> bool {
    [
        "/v1/status",
        "/v1/stream",
        "/v1/file/",
        "/v1/storage/",
        "/v1/tasks",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

fn allowed_origin(state: &AppState, headers: &HeaderMap, path: &str) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| u.host_str().map(str::to_owned));
    let whitelisted = host.is_some_and(|h| {
        state
            .config
            .accounts
            .iter()
            .flat_map(|a| &a.referrers)
            .any(|p| host_matches(p, &h))
    });
    if whitelisted {
        Some(origin.clone())
    } else if is_read_route(path) {
        Some(HeaderValue::from_static("*"))
    } else {
        None
    }
}

/// The CORS middleware.
pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !path.starts_with("/v1/") {
        return next.run(request).await;
    }
    let origin = allowed_origin(&state, request.headers(), &path);
    let mut response = if request.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin {
        let echoes = origin != "*";
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if echoes {
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    response
}
