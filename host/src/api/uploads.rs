//! `POST /v1/uploads`: a file from the client's disk, kept as the one
//! output (`output`) of a finished task named `upload`, so it is read,
//! linked, reaped and referred to (`drake:KEY/output`) like any task's
//! output. The body is the file itself (any `Content-Type`) or a
//! `multipart/form-data` form whose first file field is taken.
//!
//! The account is proved by a header or the query (the body is the
//! file): its secret, or an `api_key` with a whitelisted Referer (a
//! browser page). The file is streamed to the blob store, at most the
//! account's `max_upload_bytes`.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::AppState;
use super::auth::Via;
use super::error::{ApiError, ErrorEntry, Location};
use super::extract::{Caller, query_pairs};
use super::insert::check_hourly;
use crate::inputs::UPLOAD_TASK;
use crate::outputs::PutError;
use crate::store::{
    CompleteParams, NewTask, OutputFile, ProgressParams, Usage, new_key, now_micros,
};

/// Longest file name kept: a name is for people; this bounds a status.
const MAX_FILENAME: usize = 255;

/// `POST /v1/uploads[?filename=NAME]`.
pub async fn upload(
    State(state): State<AppState>,
    Caller { account, via }: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    check_hourly(&state, &account, 1).await?;
    let cap = upload_cap(&state, &account).await?;
    let query = query_pairs(request.uri().query());
    let named = query
        .iter()
        .find(|(k, _)| k == "filename")
        .map(|(_, v)| v.clone());
    let headers = request.headers().clone();
    let key = new_key();
    let path = |filename: &Option<String>, content_type: &str| {
        format!(
            "{key}/output.{}",
            extension(filename.as_deref(), content_type)
        )
    };
    let kept = match multipart_boundary(&headers) {
        Some(boundary) => {
            let body = request.into_body().into_data_stream();
            let mut form = multer::Multipart::new(body, boundary);
            loop {
                let field = form.next_field().await.map_err(|e| bad_form(&e))?;
                let Some(field) = field else {
                    return Err(ApiError::invalid(
                        "file",
                        Location::Body,
                        "the form has no file field",
                    ));
                };
                if field.file_name().is_none() && field.name() != Some("file") {
                    continue;
                }
                let filename = named.clone().or(field.file_name().map(str::to_owned));
                let declared = field.content_type().map(ToString::to_string);
                let content_type = content_type(declared.as_deref(), filename.as_deref());
                let path = path(&filename, &content_type);
                let stored = state.outputs.put_stream(&path, field, cap.bytes).await;
                break keep(stored, &cap, path, filename, content_type)?;
            }
        }
        None => {
            let declared = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let content_type = content_type(declared.as_deref(), named.as_deref());
            let path = path(&named, &content_type);
            let body = request.into_body().into_data_stream();
            let stored = state.outputs.put_stream(&path, body, cap.bytes).await;
            keep(stored, &cap, path, named, content_type)?
        }
    };
    if kept.size == 0 {
        if let Err(e) = state.outputs.delete_task(&key).await {
            tracing::warn!(error = %e, "deleting an empty upload failed");
        }
        return Err(ApiError::invalid(
            "body",
            Location::Body,
            "the file is empty",
        ));
    }
    // A file without its row is reaped by nothing: it goes too.
    let row = match record(&state, (&account, via), &key, kept).await {
        Ok(row) => row,
        Err(e) => {
            if let Err(e) = state.outputs.delete_task(&key).await {
                tracing::warn!(error = %e, "deleting an unrecorded upload failed");
            }
            return Err(e);
        }
    };
    let mut status = crate::wire::status(&row, &state.urls);
    status["reference"] = format!("{}{key}/output", crate::inputs::SCHEME).into();
    Ok((StatusCode::OK, Json(status)).into_response())
}

/// The finished `upload` task of a stored file.
async fn record(
    state: &AppState,
    (account, via): (&crate::config::Account, Via),
    key: &str,
    kept: Kept,
) -> Result<crate::store::TaskRow, ApiError> {
    let Kept {
        path,
        filename,
        content_type,
        size,
        sha256,
    } = kept;
    // Stored claimed by this node, its file recorded, then completed: the
    // store's own transitions, so an upload is a task like any other. A
    // node dying in between leaves a claimed row the rescuer fails (no
    // component runs "upload").
    let now = now_micros();
    let retention = account.retention.unwrap_or(state.config.retention);
    let lease = state.scheduler.lease(now);
    let owner = lease.owner.clone();
    let via_name = match via {
        Via::Secret => "secret",
        Via::ApiKey | Via::Signed => "api_key",
    };
    let mut params = Map::new();
    if let Some(name) = &filename {
        params.insert("filename".into(), name.as_str().into());
    }
    params.insert("via".into(), via_name.into());
    state
        .store
        .task_insert(NewTask {
            waits_for: Vec::new(),
            key: key.to_owned(),
            account: account.name.clone(),
            task_name: UPLOAD_TASK.into(),
            params: Value::Object(params),
            task_metas: None,
            options: None,
            dedup_hash: None,
            max_attempts: 1,
            created_at: now,
            expires_at: now
                .saturating_add(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX)),
            failure: None,
            lease: Some(lease),
        })
        .await?;
    state
        .store
        .task_progress_if_running(ProgressParams {
            key: key.to_owned(),
            owner: owner.clone(),
            progress: None,
            values: None,
            file: Some((
                "output".into(),
                OutputFile {
                    path,
                    content_type: content_type.clone(),
                },
            )),
        })
        .await?;
    let mut values = Map::new();
    values.insert("size".into(), size.into());
    values.insert("sha256".into(), hex::encode(sha256).into());
    values.insert("content_type".into(), content_type.into());
    if let Some(name) = filename {
        values.insert("filename".into(), name.into());
    }
    state
        .store
        .task_complete_if_running(CompleteParams {
            key: key.to_owned(),
            owner,
            values,
            usage: Usage {
                bytes_in: size,
                ..Usage::default()
            },
            now: now_micros(),
        })
        .await?;
    state
        .store
        .task_get(key, now_micros())
        .await?
        .ok_or_else(|| ApiError::internal(format!("upload {key} vanished once stored")))
}

/// How many bytes this upload may have: the account's per-file cap, or
/// less when its uploads kept already come near its total.
async fn upload_cap(state: &AppState, account: &crate::config::Account) -> Result<Cap, ApiError> {
    let file = account
        .max_upload_bytes
        .unwrap_or(state.config.max_upload_bytes);
    let total = account
        .max_stored_upload_bytes
        .unwrap_or(state.config.max_stored_upload_bytes);
    let kept = state
        .store
        .upload_bytes_kept(&account.name, now_micros())
        .await?;
    let room = total.saturating_sub(kept);
    Ok(if room < file {
        Cap {
            bytes: room,
            why: format!(
                "the account's uploads kept come to {kept} bytes of its {total} \
                 (max_stored_upload_bytes): this file does not fit until some expire"
            ),
        }
    } else {
        Cap {
            bytes: file,
            why: format!(
                "the file is larger than this account's upload limit of {file} bytes \
                 (max_upload_bytes)"
            ),
        }
    })
}

/// The most bytes an upload may have, and the message when it has more.
struct Cap {
    bytes: u64,
    why: String,
}

/// An upload stored.
struct Kept {
    path: String,
    filename: Option<String>,
    content_type: String,
    size: u64,
    sha256: [u8; 32],
}

/// The request-level answer for a failed store.
fn keep<E: std::fmt::Display>(
    stored: Result<(u64, [u8; 32]), PutError<E>>,
    cap: &Cap,
    path: String,
    filename: Option<String>,
    content_type: String,
) -> Result<Kept, ApiError> {
    match stored {
        Ok((size, sha256)) => Ok(Kept {
            path,
            filename: filename.map(|n| clean_filename(&n)),
            content_type,
            size,
            sha256,
        }),
        Err(PutError::TooLarge(_)) => Err(ApiError::with_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            vec![ErrorEntry::new("body", Location::Body, cap.why.clone())],
        )),
        Err(PutError::Body(e)) => Err(ApiError::invalid(
            "body",
            Location::Body,
            format!("the upload could not be read: {e}"),
        )),
        Err(PutError::Store(e)) => Err(ApiError::internal(format!("storing an upload: {e}"))),
    }
}

fn bad_form(e: &multer::Error) -> ApiError {
    ApiError::invalid(
        "body",
        Location::Body,
        format!("not a valid multipart/form-data body: {e}"),
    )
}

/// The boundary of a `multipart/form-data` body, if it is one.
fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(value).ok()
}

/// Media types an upload keeps as given (or guessed from its name):
/// whatever else is served as `application/octet-stream`, so a file
/// someone uploads is never a page or a script on drake's origin.
fn content_type(declared: Option<&str>, filename: Option<&str>) -> String {
    let essence = |t: &str| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let declared = declared
        .map(essence)
        .filter(|t| !t.is_empty() && t != "application/octet-stream");
    let guessed = || {
        filename
            .and_then(|n| mime_guess::from_path(n).first())
            .map(|m| essence(m.essence_str()))
    };
    match declared.or_else(guessed) {
        Some(t) if inert(&t) => t,
        _ => "application/octet-stream".into(),
    }
}

/// Whether a browser shows `media_type` without running anything in it.
fn inert(media_type: &str) -> bool {
    let Some((kind, sub)) = media_type.split_once('/') else {
        return false;
    };
    let token = !sub.is_empty()
        && sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    token
        && match kind {
            // SVG is a document with scripts.
            "image" => !sub.contains("svg"),
            "audio" | "video" => true,
            "text" => matches!(sub, "plain" | "vtt" | "csv"),
            "application" => matches!(sub, "x-subrip" | "pdf" | "zip" | "gzip" | "ogg" | "mp4"),
            _ => false,
        }
}

/// The extension the stored object gets: the file name's when plain,
/// else the content type's, else `bin`.
fn extension(filename: Option<&str>, content_type: &str) -> String {
    let from_name = filename
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| {
            (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    from_name
        .or_else(|| {
            // mime_guess lists `aaf` first for octet-stream.
            if content_type == "application/octet-stream" {
                return None;
            }
            mime_guess::get_mime_extensions_str(content_type)
                .and_then(|exts| exts.first())
                .map(|ext| (*ext).to_owned())
        })
        .unwrap_or_else(|| "bin".into())
}

/// A file name as kept: its last path segment, without control
/// characters, at most [`MAX_FILENAME`] characters.
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inert_types_are_kept() {
        for (declared, name, want) in [
            (Some("image/jpeg"), None, "image/jpeg"),
            (Some("IMAGE/PNG; charset=x"), None, "image/png"),
            (None, Some("clip.mp4"), "video/mp4"),
            (
                Some("application/octet-stream"),
                Some("a.webp"),
                "image/webp",
            ),
            (Some("text/html"), Some("a.jpg"), "application/octet-stream"),
            (None, Some("page.html"), "application/octet-stream"),
            (Some("image/svg+xml"), None, "application/octet-stream"),
            (
                Some("application/javascript"),
                None,
                "application/octet-stream",
            ),
            (Some("text/vtt"), None, "text/vtt"),
            (Some("image/x<y"), None, "application/octet-stream"),
            (None, None, "application/octet-stream"),
        ] {
            assert_eq!(content_type(declared, name), want, "{declared:?} {name:?}");
        }
    }

    #[test]
    fn extensions_and_names() {
        assert_eq!(extension(Some("Photo.JPG"), "image/jpeg"), "jpg");
        assert_eq!(extension(Some("noext"), "image/png"), "png");
        assert_eq!(extension(Some("a.../x"), "application/octet-stream"), "bin");
        assert_eq!(extension(None, "video/mp4"), "mp4");
        assert_eq!(clean_filename("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(clean_filename("../../a\nb.png"), "ab.png");
        assert_eq!(clean_filename(&"x".repeat(1000)).len(), MAX_FILENAME);
    }
}
