//! The dashboard at `/`: one static page and its script, compiled into the
//! binary. The page builds a form per task from `/v1/tasks`, submits with
//! `create_stream`, follows statuses live, previews outputs and lists the
//! account's recent tasks (`/v1/recent`). It talks to the same public API
//! as any client; the account secret stays in the browser tab
//! (sessionStorage).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;

/// Only this origin's script; outputs may live on another host (an object
/// store), so images and media may come from anywhere. The player fetches
/// manifests and segments: from this origin, and from the public bucket
/// when output links point there (`connect_origin`).
fn csp(connect_origin: Option<&str>) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src * data: blob:; media-src * blob:; connect-src 'self'{}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        connect_origin.map(|o| format!(" {o}")).unwrap_or_default()
    )
}

/// The origin (`scheme://host[:port]`) of public output links, when
/// outputs are linked to a public bucket rather than served by drake.
fn public_origin(config: &crate::config::Config) -> Option<String> {
    if config.blobs.output_urls != crate::config::OutputUrls::Public {
        return None;
    }
    let base = url::Url::parse(&config.blobs.public_base().ok()?).ok()?;
    Some(base.origin().ascii_serialization())
}

/// `GET /`.
pub async fn page(State(state): State<AppState>) -> impl IntoResponse {
    let policy = csp(public_origin(&state.config).as_deref());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
        include_str!("dashboard/index.html"),
    )
}

/// `GET /player.js`: the HLS/DASH player the dashboard previews ladders
/// with (Media Source Extensions; no third-party script under the CSP).
pub async fn player() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("dashboard/player.js"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_opens_connections_to_the_public_bucket_only() {
        assert!(csp(None).contains("connect-src 'self';"));
        assert!(
            csp(Some("https://cdn.example")).contains("connect-src 'self' https://cdn.example;")
        );
    }
}
