//! The one request-level error type: status code + dragon's envelope
//! `{"status": "error", "errors": [{"name", "location", "description"}]}`.
//! Nothing internal reaches the client; internal detail is logged here,
//! at the edge, once.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// Where a request problem is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// The JSON body.
    Body,
    /// The query string.
    Querystring,
    /// A header.
    Header,
    /// The URL path.
    Path,
}

/// One problem.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorEntry {
    /// The field at fault.
    pub name: String,
    /// Where it is.
    pub location: Location,
    /// What is wrong.
    pub description: String,
}

impl ErrorEntry {
    /// A problem.
    pub fn new(name: &str, location: Location, description: impl Into<String>) -> Self {
        ErrorEntry {
            name: name.to_owned(),
            location,
            description: description.into(),
        }
    }
}

/// A request-level error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    errors: Vec<ErrorEntry>,
}

impl ApiError {
    /// 400 with these problems.
    pub fn bad_request(errors: Vec<ErrorEntry>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            errors,
        }
    }

    /// Another status with these problems (413 naming an upload's cap).
    pub fn with_status(status: StatusCode, errors: Vec<ErrorEntry>) -> Self {
        ApiError { status, errors }
    }

    /// 400 with one problem.
    pub fn invalid(name: &str, location: Location, description: impl Into<String>) -> Self {
        Self::bad_request(vec![ErrorEntry::new(name, location, description)])
    }

    /// 401 with one problem.
    pub fn unauthorized(name: &str, location: Location, description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            errors: vec![ErrorEntry::new(name, location, description)],
        }
    }

    /// 404 naming each bad key.
    pub fn not_found(errors: Vec<ErrorEntry>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            errors,
        }
    }

    /// 503 with `Retry-After`: the server is at a limit meant to protect
    /// everyone (too many open waits); the client should come back.
    pub fn overloaded(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            errors: vec![ErrorEntry::new("server", Location::Body, description)],
        }
    }

    /// 500 for a host problem; `detail` is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            errors: vec![ErrorEntry::new(
                "server",
                Location::Body,
                "internal error; please retry",
            )],
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        use crate::store::Error;
        match e {
            // Overload, not failure: 503 with Retry-After.
            Error::Overloaded(_) | Error::Database(sqlx::Error::PoolTimedOut) => {
                tracing::warn!(error = %e, "store overloaded");
                ApiError::overloaded("the server is overloaded; retry after Retry-After")
            }
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errors": self.errors});
        let mut response = (self.status, Json(body)).into_response();
        if matches!(
            self.status,
            StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
