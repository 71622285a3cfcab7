//! The dashboard at `/`: one static page and its script, compiled into the
//! binary. The page builds a form per task from `/v1/tasks`, submits with
//! `create_stream`, follows statuses live, previews outputs and lists the
//! account's recent tasks (`/v1/recent`). It talks to the same public API
//! as any client; the account secret stays in the browser tab
//! (sessionStorage).

use axum::http::header;
use axum::response::IntoResponse;

/// Only this origin's script; outputs may live on another host (an object
/// store), so images and media may come from anywhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src * data: blob:; media-src * blob:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `GET /`.
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        include_str!("dashboard/index.html"),
    )
}

/// `GET /dashboard.js`.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("dashboard/app.js"),
    )
}
