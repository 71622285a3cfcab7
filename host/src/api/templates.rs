//! `/v1/templates` (an extension of dragon's API): an account's named task
//! definitions with `${field}` blanks (templates.rs). Defining, reading
//! and deleting them needs the account's secret; creating tasks from one
//! (`{"template": NAME, "fields": {…}}` in any create) works with either
//! credential.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::auth::Via;
use super::error::{ApiError, ErrorEntry, Location};
use super::extract::{Creator, Owner};
use crate::store::{StoredTemplate, now_micros};
use crate::templates::Template;
use crate::wire::iso8601;

/// Most templates one account keeps: a library of forms, not a database;
/// bounds the rows one tenant adds to a shared store.
const MAX_TEMPLATES: u64 = 1000;

/// `POST /v1/templates`: store (or replace) a template; 201 when new.
pub async fn put(
    State(state): State<AppState>,
    Creator {
        account,
        via,
        mut body,
    }: Creator,
) -> Result<Response, ApiError> {
    if via != Via::Secret {
        return Err(ApiError::unauthorized(
            "secret",
            Location::Body,
            "defining templates needs the account's secret; an api_key only creates tasks",
        ));
    }
    // What `GET` adds: a template read, edited and stored again keeps
    // its shape.
    for stamp in ["created", "updated"] {
        body.remove(stamp);
    }
    let template: Template = serde_json::from_value(Value::Object(body)).map_err(|e| {
        ApiError::invalid(
            "template",
            Location::Body,
            format!(
                "not a valid template ({e}): give name, definition, and fields as \
                 [{{\"name\", \"type\": text|url|number|colour, \"default\"?, \"required\"?}}]"
            ),
        )
    })?;
    let problems = template.check(|task| state.engine.task(task).is_some());
    if !problems.is_empty() {
        let errors = problems
            .into_iter()
            .flat_map(|(at, whys)| {
                whys.into_iter()
                    .map(move |why| ErrorEntry::new(&at, Location::Body, why))
            })
            .collect();
        return Err(ApiError::bad_request(errors));
    }
    let name = template.name.clone();
    let replaces = state
        .store
        .template_get(&account.name, &name)
        .await?
        .is_some();
    if !replaces && state.store.template_count(&account.name).await? >= MAX_TEMPLATES {
        return Err(ApiError::unauthorized(
            "account",
            Location::Body,
            format!("account limit reached: {MAX_TEMPLATES} templates; delete one first"),
        ));
    }
    let body = serde_json::to_string(&template).map_err(ApiError::internal)?;
    let now = now_micros();
    let created = state
        .store
        .template_put(&account.name, &name, &body, now)
        .await?;
    let stored = state
        .store
        .template_get(&account.name, &name)
        .await?
        .ok_or_else(|| ApiError::internal("a template vanished as it was stored"))?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(shown(&stored)?)).into_response())
}

/// `GET /v1/templates`: the account's templates, by name.
pub async fn list(
    State(state): State<AppState>,
    Owner(account): Owner,
) -> Result<Json<Value>, ApiError> {
    let stored = state.store.template_list(&account.name).await?;
    let shown: Result<Vec<Value>, ApiError> = stored.iter().map(shown).collect();
    Ok(Json(Value::Array(shown?)))
}

/// `GET /v1/templates/{name}`.
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Owner(account): Owner,
) -> Result<Json<Value>, ApiError> {
    match state.store.template_get(&account.name, &name).await? {
        Some(stored) => Ok(Json(shown(&stored)?)),
        None => Err(missing(&name)),
    }
}

/// `DELETE /v1/templates/{name}`: tasks already made from it keep what it
/// rendered.
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Owner(account): Owner,
) -> Result<Json<Value>, ApiError> {
    if state.store.template_delete(&account.name, &name).await? {
        Ok(Json(json!({"deleted": name})))
    } else {
        Err(missing(&name))
    }
}

fn missing(name: &str) -> ApiError {
    ApiError::not_found(vec![ErrorEntry::new(
        "name",
        Location::Path,
        format!("the account has no template {name:?}"),
    )])
}

/// A stored template as served: its JSON and when it was stored.
fn shown(stored: &StoredTemplate) -> Result<Value, ApiError> {
    let mut template: Value = serde_json::from_str(&stored.body).map_err(ApiError::internal)?;
    if let Value::Object(map) = &mut template {
        map.insert("created".into(), iso8601(stored.created_at).into());
        map.insert("updated".into(), iso8601(stored.updated_at).into());
    }
    Ok(template)
}
