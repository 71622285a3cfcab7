//! `GET /v1/storage/{KEY}/{name}` (and `{KEY}/{name}/{part path}`, the
//! segments of a playlist): output files from the blob store with
//! content type, length, ETag (and `If-None-Match`), single byte ranges,
//! and cache headers bounded by the task's expiry.

use std::ops::Range;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorEntry, Location};
use super::extract::Reader;
use crate::store::now_micros;

fn not_found(what: &str) -> ApiError {
    ApiError::not_found(vec![ErrorEntry::new(
        "file",
        Location::Path,
        format!("{what} not found or expired"),
    )])
}

/// A `Range` header's single range, clamped to `size`. `None` = serve
/// whole; `Err` = unsatisfiable (416).
fn parse_range(value: &str, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    // Several ranges (multipart) are rare for media; serve the whole file.
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        size.saturating_sub(n)..size
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .saturating_add(1)
                .min(size)
        };
        start..end
    };
    if range.start >= size || range.start >= range.end {
        return Err(());
    }
    Ok(Some(range))
}

/// Serve an output file (with `require_auth_for_reads`, to the task's
/// account only, as its status).
pub async fn storage(
    State(state): State<AppState>,
    Path((key, name)): Path<(String, String)>,
    reader: Reader,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = now_micros();
    let Some(row) = state.store.task_get(&key, now).await? else {
        return Err(not_found("task"));
    };
    reader.check(std::slice::from_ref(&row))?;
    let path = format!("{key}/{name}");
    // `<output>/<part path>`: a part of a published output (a playlist's
    // segments), typed by its extension; otherwise a published file.
    let content_type = match name.split_once('/') {
        Some((output, part)) => match crate::outputs::part_content_type(part) {
            Some(t) if row.files.contains_key(output) => t.to_owned(),
            _ => return Err(not_found("file")),
        },
        None => match row.files.values().find(|f| f.path == path) {
            Some(file) => file.content_type.clone(),
            None => return Err(not_found("file")),
        },
    };
    let (size, etag) = match state.outputs.head(&path).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Err(not_found("file")),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let etag = format!("\"{etag}\"");
    let max_age = (row.expires_at - now).max(0) / 1_000_000;
    let mut out = HeaderMap::new();
    let set = |out: &mut HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    set(&mut out, header::CONTENT_TYPE, &content_type);
    set(&mut out, header::ETAG, &etag);
    set(&mut out, header::ACCEPT_RANGES, "bytes");
    set(
        &mut out,
        header::CACHE_CONTROL,
        // Owner-only files must not sit in shared caches.
        &format!(
            "{}, max-age={max_age}, immutable",
            if state.config.require_auth_for_reads {
                "private"
            } else {
                "public"
            }
        ),
    );

    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => match parse_range(v, size) {
            Ok(r) => r,
            Err(()) => {
                set(&mut out, header::CONTENT_RANGE, &format!("bytes */{size}"));
                return Ok((StatusCode::RANGE_NOT_SATISFIABLE, out).into_response());
            }
        },
        None => None,
    };
    let (status, len) = match &range {
        Some(r) => {
            set(
                &mut out,
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{size}", r.start, r.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, r.end - r.start)
        }
        None => (StatusCode::OK, size),
    };
    set(&mut out, header::CONTENT_LENGTH, &len.to_string());
    let object = match state.outputs.get(&path, range).await {
        Ok(o) => o,
        Err(object_store::Error::NotFound { .. }) => return Err(not_found("file")),
        Err(e) => return Err(ApiError::internal(e)),
    };
    Ok((status, out, Body::from_stream(object.body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=50-1000", 100), Ok(Some(50..100)));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=9-3", 100), Err(()));
        assert_eq!(parse_range("bytes=x-3", 100), Err(()));
        assert_eq!(parse_range("items=1-2", 100), Ok(None));
    }
}
